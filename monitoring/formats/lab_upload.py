"""The web lab import's upload: limits, safe storage between preview and confirm, and the preview.

An upload is written to a private temporary directory under a random name; the session holds
that name and the file's SHA-256, so only the session that uploaded a file can confirm it, a
guessed or tampered token finds nothing, and a file changed on disk is refused. The file is
removed on confirm, on cancel, on the next upload, and after MAX_AGE.
"""

import hashlib
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from monitoring.formats import csv_import, lab_csv
from subjects import access
from subjects.models import Subject

MAX_BYTES = 10 * 1024 * 1024
MAX_AGE_SECONDS = 6 * 3600
SESSION_KEY = "hepwatch_lab_upload"
TOKEN = re.compile(r"^[0-9a-f]{32}$")
CSV_TYPES = {
    "text/csv",
    "text/plain",
    "application/csv",
    "text/comma-separated-values",
    "application/vnd.ms-excel",  # what Windows browsers send for .csv when Excel is installed
}
PREVIEW_DRAWS = 200


def upload_dir() -> Path:
    path = Path(getattr(settings, "HEPWATCH_UPLOAD_DIR", "") or tempfile.gettempdir())
    path = path / "hepwatch-lab-uploads"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def check_upload(upload) -> str | None:
    """Why this upload cannot be a labs CSV, in words for the user; None when it may be."""
    if upload is None:
        return "Choose a CSV file to upload."
    name = upload.name or ""
    if upload.size == 0:
        return f"{name} is empty."
    if upload.size > MAX_BYTES:
        return (
            f"{name} is {upload.size / 1048576:.1f} MB; the limit is "
            f"{MAX_BYTES // 1048576} MB. Split the file and upload the parts one by one."
        )
    if not name.lower().endswith(".csv"):
        return f"{name} is not a .csv file. Save the sheet as “CSV UTF-8” and upload that."
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type and content_type not in CSV_TYPES:
        return f"{name} was sent as {content_type}, not as CSV text."
    head = next(upload.chunks(8192), b"")
    upload.seek(0)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return f"{name} is a spreadsheet workbook, not CSV. Save it as “CSV UTF-8” first."
    if b"\x00" in head:
        return f"{name} is not text (it holds binary data)."
    return None


@dataclass
class Stored:
    token: str
    name: str
    size: int
    sha256: str

    @property
    def path(self) -> Path:
        return upload_dir() / f"{self.token}.csv"


def store(session, upload) -> Stored:
    _sweep()
    token = secrets.token_hex(16)
    digest = hashlib.sha256()
    path = upload_dir() / f"{token}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        for chunk in upload.chunks():
            digest.update(chunk)
            handle.write(chunk)
    stored = Stored(token, os.path.basename(upload.name)[:200], upload.size, digest.hexdigest())
    session[SESSION_KEY] = stored.__dict__.copy()
    return stored


def stored(session, token) -> Stored | None:
    """The session's upload when `token` names it and the file is still there, unchanged."""
    data = session.get(SESSION_KEY)
    if not data or not TOKEN.match(token or "") or data.get("token") != token:
        return None
    item = Stored(**data)
    try:
        content = item.path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(content).hexdigest() != item.sha256:
        return None
    return item


def discard(session):
    data = session.pop(SESSION_KEY, None)
    if data and TOKEN.match(data.get("token", "")):
        (upload_dir() / f"{data['token']}.csv").unlink(missing_ok=True)


def _sweep():
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in upload_dir().glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


# ---- the preview --------------------------------------------------------------------------


@dataclass
class BadLine:
    line: int
    field: str
    reason: str


@dataclass
class DrawPreview:
    subject_id: str
    collected_at: object
    tests: list  # [(test, value, unit, uln)]
    new: bool
    symptoms: bool | None


@dataclass
class Preview:
    rows: int = 0
    draws: list = field(default_factory=list)
    draw_count: int = 0
    subjects: int = 0
    new_draws: int = 0
    bad_rows: list = field(default_factory=list)
    changes: list = field(default_factory=list)  # subjects.services.Change: what it would change
    error: str = ""  # a problem with the whole file (encoding, missing column)

    @property
    def stored_draws(self):
        return self.draw_count - self.new_draws

    @property
    def ok(self):
        return not self.error and not self.bad_rows and self.rows > 0


def preview(path, user) -> Preview:
    """Every bad row of the file (lab_csv.check_labs, plus rows for subjects the user may not
    import to), the draws it would write and the stored values it would change (old and new).
    Writes nothing."""
    from monitoring.models import LabDraw

    study = csv_import.default_study()
    result = Preview()
    bad = []
    try:
        draws, summary = lab_csv.parse_labs(path, study, bad)
    except csv_import.BadRow as problem:
        result.error = f"line {problem.line}: {problem.field}: {problem.reason}"
        return result
    result.rows = summary.rows
    if result.rows == 0:
        result.error = "The file has a header but no rows."
    scope = set(access.import_scope(user).filter(study=study).values_list("subject_id", flat=True))
    limited = not user.is_staff
    outside = []
    for line, row in csv_import.read_rows(path, lab_csv.LAB_COLUMNS):
        subject_id = (row.get("subject_id") or "").strip()
        if subject_id and subject_id not in scope and limited:
            outside.append(line)
    sites = ", ".join(sorted(access.import_sites(user))) if limited else ""

    def unknown(subject_id):
        return f"unknown subject {subject_id!r} at your sites ({sites or 'none'})"

    by_line = {}
    for b in bad:
        reason = b.reason
        if limited and b.field == "subject_id" and reason.startswith("unknown subject"):
            reason = unknown(reason.split(" ", 2)[2].strip("'\""))
        by_line.setdefault(b.line, BadLine(b.line, b.field, reason))
    if outside:
        rows = {line: row for line, row in csv_import.read_rows(path, lab_csv.LAB_COLUMNS)}
        for line in outside:
            # Worded like a subject that does not exist: another site's subject stays hidden.
            by_line[line] = BadLine(line, "subject_id", unknown(rows[line]["subject_id"].strip()))
    result.bad_rows = sorted(by_line.values(), key=lambda b: b.line)

    if limited:
        # Draws of subjects outside the user's sites are bad rows above, never shown here.
        allowed = set(access.import_scope(user).values_list("pk", flat=True))
        draws = {key: data for key, data in draws.items() if key[0] in allowed}
    pks = {pk for pk, _ in draws}
    names = dict(Subject.objects.filter(pk__in=pks).values_list("pk", "subject_id"))
    existing = set(
        LabDraw.objects.filter(subject_id__in=pks).values_list("subject_id", "collected_at")
    )
    items = sorted(draws.items(), key=lambda kv: (names.get(kv[0][0], ""), kv[0][1]))
    result.draw_count = len(items)
    result.subjects = len(pks)
    result.new_draws = sum(1 for key, _ in items if key not in existing)
    result.changes = sorted(lab_csv.lab_changes(draws), key=lambda c: c.line)
    for (pk, collected_at), data in items[:PREVIEW_DRAWS]:
        tests = [
            (test, value, unit, uln) for test, (_, (value, unit, uln)) in data["results"].items()
        ]
        result.draws.append(
            DrawPreview(
                names.get(pk, "?"),
                collected_at,
                tests,
                (pk, collected_at) not in existing,
                data["symptoms"],
            )
        )
    return result
