"""A FHIR feed's readings grouped into draws, checked as a labs CSV row is, written (a
transaction all or nothing, a batch entry by entry) and answered with a response Bundle."""

from django.db import transaction

from monitoring.evaluation import runner
from monitoring.formats import csv_import, lab_csv
from monitoring.formats.fhir.observations import (
    CHANGE_REASON,
    FhirError,
    Outcome,
    Problem,
    operation_outcome,
    read_bundle,
    read_single,
)
from monitoring.models import LabResult, ObservationIdentifier


def draws_of(readings, outcome: Outcome):
    """parse_labs' draws from Readings: {(subject_pk, collected_at): {...}}, by entry number
    where csv_import has a line; a conflict inside the Bundle is a problem of its entry."""
    draws, seen_ids = {}, {}
    for r in readings:
        if r.identifier is not None:
            if r.identifier in seen_ids:
                outcome.bad(
                    r.entry,
                    Problem(f"{r.where}.identifier", f"is on entry {seen_ids[r.identifier]} too"),
                )
                continue
            seen_ids[r.identifier] = r.entry
        draw = draws.setdefault(
            (r.subject_pk, r.collected_at),
            {"line": r.entry, "symptoms": None, "results": {}, "resulted_at": r.resulted_at},
        )
        if draw["resulted_at"] != r.resulted_at:
            outcome.bad(
                r.entry,
                Problem(
                    f"{r.where}.issued",
                    f"differs from entry {draw['line']}: the results of a draw share one",
                ),
            )
            continue
        if r.analyte in draw["results"]:
            earlier = draw["results"][r.analyte][0]
            outcome.bad(
                r.entry,
                Problem(f"{r.where}.code", f"{r.analyte} of this draw is on entry {earlier} too"),
            )
            continue
        if r.symptoms is not None:
            draw["symptoms"] = bool(draw["symptoms"]) or r.symptoms
        draw["results"][r.analyte] = (r.entry, (r.value, r.unit, r.uln))
    return draws


def identifier_problems(readings, outcome: Outcome):
    """An identifier already stored for another result than the Observation's natural key."""
    given = {r.identifier: r for r in readings if r.identifier}
    if not given:
        return
    stored = ObservationIdentifier.objects.filter(value__in={v for _, v in given}).select_related(
        "result__draw__subject"
    )
    for known in stored:
        r = given.get((known.system, known.value))
        if r is None:
            continue
        result = known.result
        if (result.draw.subject_id, result.draw.collected_at, result.analyte) != (
            r.subject_pk,
            r.collected_at,
            r.analyte,
        ):
            outcome.bad(
                r.entry,
                Problem(
                    f"{r.where}.identifier",
                    f"already names the {result.analyte} result of {result.draw.subject} "
                    f"collected {result.draw.collected_at:%Y-%m-%d %H:%M} UTC",
                    "conflict",
                ),
            )


# ---- writing ------------------------------------------------------------------------------


def receive(data, scope, *, user, single=False) -> Outcome:
    """Read, check and write a Bundle (or one Observation) for a sender who may write to the
    subjects of `scope` ({subject_id: pk}). A transaction (or an Observation) with any problem
    raises FhirError and writes nothing; a batch writes its good entries, its bad ones are in
    the Outcome. Evaluation of what changed is queued once this commits."""
    outcome = Outcome()
    readings = read_single(data, scope, outcome) if single else read_bundle(data, scope, outcome)
    atomic = single or data.get("type") == "transaction"
    with transaction.atomic():
        readings = checked(readings, outcome)
        if outcome.problems and atomic:
            raise FhirError([p for _, ps in sorted(outcome.problems.items()) for p in ps])
        readings = [r for r in readings if r.entry not in outcome.problems]
        write(readings, outcome, user)
    changed = sorted(outcome.subjects)
    transaction.on_commit(lambda: runner.request_evaluation(changed))
    return outcome


def checked(readings, outcome):
    """The readings left once conflicts in the Bundle, with stored identifiers and changes
    without a note are problems of their entries (a bad entry's readings all go)."""
    draws_of(readings, outcome)
    identifier_problems(readings, outcome)
    readings = [r for r in readings if r.entry not in outcome.problems]
    notes = {r.entry: r.note for r in readings}
    for change in lab_csv.lab_changes(draws_of(readings, Outcome())):
        if not notes.get(change.line):
            outcome.bad(
                change.line,
                Problem(
                    f"{where_of(readings, change.line)}.note",
                    f"{change.subject_id} {change.what}: {change.old} → {change.new} changes a "
                    "stored value; say why in note.text",
                    "business-rule",
                ),
            )
    return [r for r in readings if r.entry not in outcome.problems]


def where_of(readings, entry):
    return next(r.where for r in readings if r.entry == entry)


def write(readings, outcome, user):
    """Changes first, each with its Observation's note as the reason; then the new draws and
    results (lab_csv.write_labs, which then finds nothing left to change)."""
    draws = draws_of(readings, Outcome())
    summary = csv_import.Summary("FHIR")
    changes = lab_csv.lab_changes(draws)
    notes = {r.entry: r.note for r in readings}
    by_note = {}
    for change in changes:
        by_note.setdefault(notes[change.line], []).append(change)
    for note, group in by_note.items():
        csv_import.apply_changes(group, note, summary, user)
    changed_entries = {c.line for c in changes}
    before = stored_results(draws)
    lab_csv.write_labs(draws, summary, CHANGE_REASON, user=user)
    after = stored_results(draws)
    links = []
    for r in readings:
        pk = after[(r.subject_pk, r.collected_at, r.analyte)]
        if r.entry in changed_entries:
            status = "200 OK"
        elif (r.subject_pk, r.collected_at, r.analyte) in before:
            status = "200 OK"  # the same result again
        else:
            status = "201 Created"
        outcome.written[r.entry] = (status, pk)
        if r.identifier is not None:
            links.append(
                ObservationIdentifier(system=r.identifier[0], value=r.identifier[1], result_id=pk)
            )
    ObservationIdentifier.objects.bulk_create(links, ignore_conflicts=True)
    outcome.subjects |= summary.subjects


def stored_results(draws):
    """{(subject_pk, collected_at, analyte): LabResult pk} of the results these draws name."""
    if not draws:
        return {}
    found = {}
    rows = LabResult.objects.filter(
        draw__subject_id__in={pk for pk, _ in draws},
        draw__collected_at__in={at for _, at in draws},
    ).values_list("draw__subject_id", "draw__collected_at", "analyte", "pk")
    for subject_pk, collected_at, analyte, pk in rows:
        found[(subject_pk, collected_at, analyte)] = pk
    return found


# ---- answers ------------------------------------------------------------------------------


def response_bundle(data, outcome: Outcome):
    """A transaction-response or batch-response Bundle: an entry per entry of the request."""
    kind = f"{data.get('type')}-response"
    entries = []
    for number in range(len(data.get("entry") or [])):
        if number in outcome.problems:
            status = (
                "404 Not Found"
                if all(p.code == "not-found" for p in outcome.problems[number])
                else "400 Bad Request"
            )
            entries.append(
                {
                    "response": {
                        "status": status,
                        "outcome": operation_outcome(outcome.problems[number]),
                    }
                }
            )
        elif number in outcome.written:
            status, pk = outcome.written[number]
            entries.append({"response": {"status": status, "location": f"Observation/{pk}"}})
        else:
            entries.append({"response": {"status": "200 OK"}})
    return {"resourceType": "Bundle", "type": kind, "entry": entries}
