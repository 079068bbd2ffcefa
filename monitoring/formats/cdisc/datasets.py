"""CDISC datasets from SAS XPORT or CSV, told apart by their variables; a file's summary."""

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from monitoring.formats import csv_import, xpt
from monitoring.formats.csv_import import BadRow

DM, ADSL, EX, LB, ADLB = "DM", "ADSL", "EX", "LB", "ADLB"
ORDER = {DM: 0, ADSL: 0, EX: 1, LB: 2, ADLB: 2}


@dataclass
class Dataset:
    path: str
    name: str
    columns: list

    def records(self):
        """Yield (number, {VARIABLE: text}): CSV line numbers, or XPORT records from 1."""
        if is_xpt(self.path):
            yield from _xpt_records(self.path)
        else:
            for line, row in csv_import.read_rows(self.path, ()):
                yield line, {k.upper(): (v or "").strip() for k, v in row.items() if k}


def is_xpt(path) -> bool:
    return Path(path).suffix.lower() == ".xpt"


def _xpt_records(path):
    try:
        yield from xpt.records(path)
    except xpt.XptError as exc:
        raise BadRow(path, 0, "file", str(exc)) from None


def open_dataset(path) -> Dataset:
    """The file's dataset, told by its variables; BadRow when it is none hepwatch reads."""
    if is_xpt(path):
        try:
            names = xpt.columns(path)
        except xpt.XptError as exc:
            raise BadRow(path, 0, "file", str(exc)) from None
    else:
        names = _csv_header(path)
    names = [n.strip().upper() for n in names]
    name = detect(names)
    if name is None:
        raise BadRow(
            path,
            1,
            "file",
            "not a DM, ADSL, EX, LB or ADLB dataset (its variables: "
            + ", ".join(names[:12])
            + (", ..." if len(names) > 12 else "")
            + ")",
        )
    return Dataset(str(path), name, names)


def _csv_header(path):
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except OSError as exc:
        raise BadRow(path, 0, "file", exc.strerror or str(exc)) from None
    except (UnicodeDecodeError, csv.Error):
        raise BadRow(path, 1, "file", "not a UTF-8 CSV file") from None


def detect(columns) -> str | None:
    """DM, ADSL, EX, LB or ADLB from a dataset's variables; None for any other."""
    names = set(columns)
    if {"PARAMCD", "AVAL"} <= names and names & {"A1HI", "ANRHI", "A1LO", "ANRLO", "LBSEQ"}:
        return ADLB
    if {"USUBJID", "EXSTDTC", "EXDOSE"} <= names:
        return EX
    if {"USUBJID", "LBTESTCD"} <= names and names & {"LBORRES", "LBSTRESN"}:
        return LB
    if "PARAMCD" in names:
        return None
    if {"USUBJID", "SEX"} <= names and names & {"TRT01A", "TRT01P"}:
        return ADSL
    if {"USUBJID", "SEX", "SITEID"} <= names and names & {"ARMCD", "ARM"}:
        return DM
    return None


# ---- summary ------------------------------------------------------------------------------


@dataclass
class CdiscSummary(csv_import.Summary):
    dataset: str = ""
    study: str = ""
    skipped: Counter = field(default_factory=Counter)  # reason -> records
    merged: Counter = field(default_factory=Counter)  # reason -> records
    notes: list = field(default_factory=list)

    def __str__(self):
        what = "results" if self.dataset in (LB, ADLB) else "administrations"
        what = "subjects" if self.dataset in (DM, ADSL) else what
        text = (
            f"{self.path}: {self.dataset} of {self.study}, {self.rows} records: {what} "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        )
        lines = [text]
        if self.merged:
            lines.append("  merged: " + _counted(self.merged))
        if self.skipped:
            lines.append("  skipped: " + _counted(self.skipped))
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def _counted(counter):
    return "; ".join(f"{n} {reason}" for reason, n in counter.most_common())
