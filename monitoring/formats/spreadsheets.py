"""Datasets as files: a named table of plain values, its cells made safe for spreadsheets, and
its CSV, XLSX, zip of CSVs and download. Every file the app writes for people goes through here.

Spreadsheet formula injection (OWASP "CSV Injection"): a text cell that begins with =, +, -, @,
tab or carriage return is written with a leading apostrophe in CSV, and as a typed string with
Excel's quote prefix in XLSX (the value itself stays exact there). Numbers are written as numbers
and never escaped, so a negative number stays a number and re-imports as one; only text is.
"""

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

from django.http import HttpResponse
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from monitoring import units

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
    "pdf": "application/pdf",
}


# ---- cells --------------------------------------------------------------------------------


def iso(moment) -> str:
    """ISO 8601: dates as YYYY-MM-DD, date-times in UTC with a Z."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def escape_text(text: str) -> str:
    """A text cell a spreadsheet will show, never run."""
    return "'" + text if is_formula_like(text) else text


def plain(value):
    """A cell's value for a file: numbers stay numbers (Decimal without trailing zeros),
    moments become ISO 8601 text, booleans true/false, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return units.as_decimal(value, 6).normalize()
    if isinstance(value, Decimal):
        return value.normalize() if value else Decimal(0)
    if isinstance(value, datetime | date):
        return iso(value)
    return value


def csv_cell(value) -> str:
    value = plain(value)
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


# ---- datasets ----------------------------------------------------------------------------


class Dataset:
    """A named table: header and rows of plain Python values."""

    def __init__(self, name, header, rows):
        self.name, self.header, self.rows = name, list(header), rows

    def __iter__(self):
        return iter(self.rows)


# ---- writers ------------------------------------------------------------------------------


def write_csv(data: Dataset, handle):
    """Write a dataset to a text handle opened with newline=""."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([escape_text(h) for h in data.header])
    for row in data:
        writer.writerow([csv_cell(v) for v in row])


def csv_bytes(data: Dataset) -> bytes:
    buffer = io.StringIO(newline="")
    write_csv(data, buffer)
    return buffer.getvalue().encode("utf-8")


def add_sheet(workbook, data: Dataset):
    sheet = workbook.create_sheet(data.name[:31])
    sheet.append(data.header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(h) for h in data.header]
    for row in data:
        values = [plain(v) for v in row]
        sheet.append(values)
        for i, (cell, value) in enumerate(zip(sheet[sheet.max_row], values, strict=True)):
            if isinstance(value, str):
                # Typed as text, with Excel's quote prefix: shown as typed, never run.
                cell.data_type = "s"
                if is_formula_like(value):
                    cell.quotePrefix = True
            widths[i] = max(widths[i], min(60, len(str(value))))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width + 2
    sheet.freeze_panes = "A2"
    return sheet


def xlsx_bytes(datasets) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for data in datasets:
        add_sheet(workbook, data)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_zip_bytes(datasets) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for data in datasets:
            archive.writestr(f"{data.name}.csv", csv_bytes(data))
    return buffer.getvalue()


def download(content, filename, kind, inline=False) -> HttpResponse:
    """A file for the browser to save (or, inline, to show)."""
    response = HttpResponse(content, content_type=CONTENT_TYPES[kind])
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def dataset_download(data: Dataset, fmt, filename) -> HttpResponse:
    """One dataset as a CSV file or a one-sheet workbook (`filename` without its extension)."""
    content = xlsx_bytes([data]) if fmt == "xlsx" else csv_bytes(data)
    return download(content, f"{filename}.{fmt}", fmt)
