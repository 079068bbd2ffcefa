"""Insert many rows with their audit history in one go.

On PostgreSQL the rows and their history rows travel by COPY, with primary keys taken from the
table's sequence first (COPY returns none); elsewhere, django-simple-history's bulk_create. Same
rows, same history either way; COPY is about ten times faster for a central lab's transfer.
"""

from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

ANALYZE_AFTER = 10_000


def insert_with_history(objs, model, *, change_reason, user=None):
    """Save new, unsaved instances of `model` (pks are set on them) and their '+' history."""
    if not objs:
        return objs
    if connection.vendor != "postgresql":
        return bulk_create_with_history(
            objs, model, batch_size=2000, default_user=user, default_change_reason=change_reason
        )
    _set_auto_now_add(objs, model)
    _take_primary_keys(objs, model)
    fields = model._meta.concrete_fields
    _copy(model._meta.db_table, [f.column for f in fields], _rows(objs, fields))

    history_model = model.history.model
    history_fields = [f for f in history_model._meta.concrete_fields if f.attname != "history_id"]
    now = timezone.now()
    fixed = {
        "history_date": now,
        "history_change_reason": change_reason,
        "history_type": "+",
        "history_user_id": user.pk if user is not None else None,
    }
    plain = [f for f in history_fields if f.attname not in fixed]
    columns = [f.column for f in plain] + [f.column for f in history_fields if f.attname in fixed]
    tail = [fixed[f.attname] for f in history_fields if f.attname in fixed]
    _copy(
        history_model._meta.db_table,
        columns,
        ([getattr(obj, f.attname) for f in plain] + tail for obj in objs),
    )
    if len(objs) >= ANALYZE_AFTER:
        # Fresh planner statistics now, not when autovacuum gets round to it: the pages that
        # read these tables would otherwise plan for the table as it was before the import.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return objs


def _set_auto_now_add(objs, model):
    now = timezone.now()
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            for obj in objs:
                if getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, now)


def _take_primary_keys(objs, model):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias


def _rows(objs, fields):
    for obj in objs:
        yield [getattr(obj, f.attname) for f in fields]


def _copy(table, columns, rows):
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
