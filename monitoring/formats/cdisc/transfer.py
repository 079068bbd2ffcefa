"""A sponsor's transfer: CDISC files imported in dependency order, one transaction each."""

from dataclasses import dataclass, field

from monitoring.formats.cdisc.datasets import ADLB, ADSL, DM, EX, LB, ORDER, open_dataset
from monitoring.formats.cdisc.exposure import import_exposure
from monitoring.formats.cdisc.labs import import_labs
from monitoring.formats.cdisc.subject_level import import_subject_level
from monitoring.formats.csv_import import BadRow

IMPORTERS = {
    DM: import_subject_level,
    ADSL: import_subject_level,
    EX: import_exposure,
    LB: import_labs,
    ADLB: import_labs,
}


@dataclass
class Outcome:
    summaries: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # BadRow, or (path, message)
    changed: set = field(default_factory=set)  # subject pks to evaluate


def import_files(paths, study_code=None, reason=None, *, user=None) -> Outcome:
    """Import CDISC files in dependency order (DM/ADSL, then EX, then LB/ADLB), each in its own
    transaction, credited to `user` when given (the web import's signed-in staff user). Returns
    what was imported and the subjects whose data changed; evaluating them is the caller's
    (evaluation.runner.request_evaluation), once for all files."""
    outcome, datasets = Outcome(), []
    for path in paths:
        try:
            datasets.append(open_dataset(path))
        except BadRow as bad:
            outcome.errors.append(bad)
    for data in sorted(datasets, key=lambda d: ORDER[d.name]):
        try:
            summary = IMPORTERS[data.name](data, study_code, reason, user=user)
        except BadRow as bad:
            outcome.errors.append(bad)
            continue
        outcome.summaries.append(summary)
        outcome.changed |= summary.subjects
    return outcome
