"""Insert and update many rows with their audit history in one go.

On PostgreSQL the rows travel by COPY, with primary keys taken from the table's sequence first
(COPY returns none), and their '+' history rows are copied from them inside the server;
elsewhere, django-simple-history's bulk_create. Same rows, same history either way; COPY is about
ten times faster for a central lab's transfer.
"""

from functools import lru_cache

from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

ANALYZE_AFTER = 10_000
BATCH = 2000


def insert_with_history(objs, model, *, change_reason, user=None):
    """Save new, unsaved instances of `model` and their '+' history. Their pks are set, so a
    later save() updates them."""
    if not objs:
        return objs
    if connection.vendor != "postgresql":
        return bulk_create_with_history(
            objs, model, batch_size=BATCH, default_user=user, default_change_reason=change_reason
        )
    _set_auto_now_add(objs, model)
    fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    rows = [[getattr(obj, name) for name in fields] for obj in objs]
    pks = insert_rows(model, fields, rows, change_reason=change_reason, user=user)
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
    return objs


def update_with_history(changes, *, reason, user=None):
    """Set each change's `fields` on its `record` and save them, with their history and the
    reason, one bulk update per model."""
    by_model = {}
    for change in changes:
        for name, value in change.fields.items():
            setattr(change.record, name, value)
        by_model.setdefault(type(change.record), ({}, set()))
        records, names = by_model[type(change.record)]
        records[change.record.pk] = change.record
        names |= set(change.fields)
    for model, (records, names) in by_model.items():
        bulk_update_with_history(
            list(records.values()),
            model,
            sorted(names),
            batch_size=BATCH,
            default_user=user,
            default_change_reason=reason,
        )


def insert_rows(model, fields, rows, *, change_reason, user=None, keys=None):
    """Insert plain rows (sequences of values for the attnames `fields`) of `model` with their
    '+' history; returns their new primary keys, in order. For bulk writers that never need
    model instances (a central lab's transfer). `keys`, one per row, are the primary keys to
    give them (PostgreSQL only); by default they are taken from the table's sequence."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        insert_with_history(objs, model, change_reason=change_reason, user=user)
        return [obj.pk for obj in objs]
    opts = model._meta
    pks = take_primary_keys(model, len(rows)) if keys is None else list(keys)
    column = _columns(opts)
    columns = [opts.pk.column] + [column[f] for f in fields]
    _copy(opts.db_table, columns, ([pk, *row] for pk, row in zip(pks, rows, strict=True)))
    _copy_history(model, pks, change_reason, user)
    if len(rows) >= ANALYZE_AFTER:
        # Fresh planner statistics now, not when autovacuum gets round to it: the pages that
        # read these tables would otherwise plan for the table as it was before the import.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(opts.db_table)}")
    return pks


def _columns(opts):
    """{attname: column} of a model's concrete fields."""
    return {f.attname: f.column for f in opts.concrete_fields}


def _set_auto_now_add(objs, model):
    now = timezone.now()
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            for obj in objs:
                if getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, now)


def take_primary_keys(model, count):
    """`count` new primary keys from `model`'s sequence; another writer may take some between
    them, so they need not be one run."""
    opts = model._meta
    sequence = _sequence(connection.alias, opts.db_table, opts.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count]
        )
        return [pk for (pk,) in cursor.fetchall()]


@lru_cache(maxsize=64)
def _sequence(alias, table, column):
    """The sequence of a table's key, looked up once per process (a table's sequence does not
    change while the app runs): pg_get_serial_sequence per row cost five times the nextval
    itself, and once per insert it is a round trip of every entry's evaluation."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        return cursor.fetchone()[0]


def _copy_history(model, pks, change_reason, user):
    """The '+' history rows of freshly inserted rows, copied from them inside the server."""
    opts, history = model._meta, model.history.model._meta
    fixed = {
        "history_date": timezone.now(),
        "history_change_reason": change_reason,
        "history_type": "+",
        "history_user_id": user.pk if user is not None else None,
    }
    copied = [f.column for f in history.concrete_fields if f.attname not in {"history_id", *fixed}]
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in copied)
    column = _columns(history)
    fixed_names = ", ".join(quote(column[f]) for f in fixed)
    pk = quote(opts.pk.column)
    if max(pks) - min(pks) + 1 == len(pks):
        # Contiguous keys (no other writer took one meanwhile): the range holds exactly these
        # rows, and the server need not be sent every key.
        which, keys = f"{pk} BETWEEN %s AND %s", [min(pks), max(pks)]
    else:
        which, keys = f"{pk} = ANY(%s)", [pks]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history.db_table)} ({names}, {fixed_names}) "
            f"SELECT {names}, {', '.join(['%s'] * len(fixed))} FROM {quote(opts.db_table)} "
            f"WHERE {which}",
            [*fixed.values(), *keys],
        )


def _copy(table, columns, rows):
    """COPY through psycopg's own cursor, its errors raised as Django's (DatabaseError and its
    kin), as every other statement's are."""
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
