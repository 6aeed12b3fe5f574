"""The online conversion of a table to range partitions: a mirroring trigger, a batched copy, a
snapshot verification and a short swap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from ..progress import Count, Reporter, Step
from . import introspect
from .connect import DatabaseError, Shard
from .sql import ident

if TYPE_CHECKING:
    pass
from .locks import abandon, clean_leftovers, retry_locked
from .periods import (
    MAX_PARTITIONS,
    bound_literal,
    default_name,
    next_start,
    partition_name,
    periods,
    short_name,
)
from .shape import NEW_SUFFIX, SYNC_SUFFIX, Shape, TableSpec, index_statement, read_shape

OLD_SUFFIX = "__floyo_old"

# --- report -----------------------------------------------------------------------------------


@dataclass
class TableResult:
    shard: int
    table: str
    action: str  # "converted", "premade", "unchanged", "would convert", "would premake"
    statements: list[str] = field(default_factory=list)  # SQL run (or, in a dry run, to run)
    rows_copied: int = 0
    partitions_created: list[str] = field(default_factory=list)
    default_rows: int = 0  # rows left in the default partition (NULL or infinite keys)
    rows_moved: int = 0  # rows moved out of the default partition into their own partitions
    swap_seconds: float = 0.0
    swap_attempts: int = 0


# --- entry point ------------------------------------------------------------------------------


@dataclass
class Options:
    premake: int = 3
    batch_rows: int = 10_000
    lock_timeout_ms: int = 300
    swap_attempts: int = 20
    today: date | None = None


def today_of(options: Options) -> date:
    return options.today or datetime.now(UTC).date()


def count_default_rows(conn: psycopg.Connection[Any], spec: TableSpec) -> int:
    name = default_name(spec.table)
    if not introspect.relation_exists(conn, spec.schema, name):
        return 0
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1000000) s").format(
            ident(spec.schema, name)
        )
    ).fetchone()
    return int(row[0]) if row else 0


def refuse_unplaceable(
    conn: psycopg.Connection[Any], spec: TableSpec, relation: str, key_columns: list[str]
) -> None:
    """A row whose partition column is NULL or +/-infinity belongs to no period: it would
    stay in the default partition for ever (and infinity is no date to name a partition by).
    Refused before anything is changed, the first such row named by its primary key."""
    column = sql.Identifier(spec.column)
    keys = sql.SQL(", ").join(map(sql.Identifier, key_columns))
    row = conn.execute(
        sql.SQL(
            "SELECT {c}::text, row({k})::text FROM {t} "
            "WHERE {c} IS NULL OR NOT isfinite({c}) LIMIT 1"
        ).format(c=column, k=keys, t=ident(spec.schema, relation))
    ).fetchone()
    if row is None:
        return
    value, key = row
    shown = "NULL" if value is None else value
    where = sql.SQL("{c} IS NULL OR NOT isfinite({c})").format(c=column).as_string(conn)
    raise UsageError(
        f"row ({', '.join(key_columns)}) = {key} of {spec.schema}.{relation} has {spec.column} "
        f"{shown}, which belongs to no {spec.interval} partition",
        f"nothing was changed. Give such rows a real {spec.column} (or delete them): find them "
        f"with SELECT * FROM {ident(spec.schema, relation).as_string(conn)} WHERE {where}; "
        "then run the command again",
    )


def convert_table(
    conn: psycopg.Connection[Any],
    shard: Shard,
    spec: TableSpec,
    tbl: introspect.Table,
    column_type: str,
    dry_run: bool,
    options: Options,
    report: Reporter,
    where: str,
) -> TableResult:
    res = TableResult(shard.index, spec.name, "would convert" if dry_run else "converted")
    shape = read_shape(conn, spec, tbl)
    new_name = short_name(spec.table, NEW_SUFFIX)
    new = ident(spec.schema, new_name)
    old = ident(spec.schema, spec.table)
    sync = short_name(spec.table, SYNC_SUFFIX)

    # Anything left by an interrupted run (before the swap) is only a copy: start it again.
    # (each in a transaction of its own, trigger first: clean_leftovers)
    leftover: list[sql.Composed] = []
    if conn.execute(
        "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = %s",
        (spec.schema, sync),
    ).fetchone():
        leftover.append(sql.SQL("DROP FUNCTION {}() CASCADE").format(ident(spec.schema, sync)))
    if introspect.relation_exists(conn, spec.schema, new_name):
        leftover.append(sql.SQL("DROP TABLE {}").format(new))

    refuse_unplaceable(conn, spec, spec.table, shape.pk_columns)
    bounds = conn.execute(
        sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(c=sql.Identifier(spec.column), t=old)
    ).fetchone()
    today = today_of(options)
    lo = _to_date(bounds[0]) if bounds and bounds[0] is not None else today
    hi = max(_to_date(bounds[1]) if bounds and bounds[1] is not None else today, today)
    wanted = periods(lo, hi, spec.interval)
    if len(wanted) > MAX_PARTITIONS:
        raise UsageError(
            f"table {spec.name} holds {spec.column} values from {lo} to {hi}: more than "
            f"{MAX_PARTITIONS} {spec.interval} partitions",
            "archive or delete the oldest rows first, or choose a longer interval",
        )
    last = wanted[-1][1]
    for _ in range(options.premake):
        wanted.append((last, next_start(last, spec.interval)))
        last = wanted[-1][1]

    create: list[sql.Composed] = [
        sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING "
            "GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS INCLUDING "
            "COMPRESSION) PARTITION BY RANGE ({})"
        ).format(new, old, sql.Identifier(spec.column))
    ]
    for start, end in wanted:
        create.append(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                ident(spec.schema, partition_name(spec.table, start)),
                new,
                bound_literal(start, column_type),
                bound_literal(end, column_type),
            )
        )
    create.append(
        sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
            ident(spec.schema, default_name(spec.table)), new
        )
    )
    for name, kind, key_cols in shape.keys:
        if spec.column not in key_cols:
            key_cols = [*key_cols, spec.column]
        create.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} ({})").format(
                new,
                sql.Identifier(short_name(name, NEW_SUFFIX)),
                sql.SQL("PRIMARY KEY" if kind == "p" else "UNIQUE"),
                sql.SQL(", ").join(map(sql.Identifier, key_cols)),
            )
        )
    for name, definition in shape.foreign_keys:
        create.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                new, sql.Identifier(short_name(name, NEW_SUFFIX))
            )
            + sql.SQL(definition)  # a definition PostgreSQL printed
        )
    for name, definition in shape.indexes:
        create.append(index_statement(conn, spec, name, definition))

    cols = sql.SQL(", ").join(map(sql.Identifier, shape.columns))
    new_cols = sql.SQL(", ").join(sql.SQL("NEW.") + sql.Identifier(c) for c in shape.columns)
    pk_match = sql.SQL(" AND ").join(
        sql.SQL("{} = OLD.{}").format(sql.Identifier(c), sql.Identifier(c))
        for c in shape.pk_columns
    )
    overriding = sql.SQL(" OVERRIDING SYSTEM VALUE" if shape.identity else "")
    body = sql.SQL(
        "BEGIN\n"
        "  IF TG_OP IN ('UPDATE', 'DELETE') THEN DELETE FROM {new} WHERE {pk}; END IF;\n"
        "  IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
        "    INSERT INTO {new} ({cols}){ov} VALUES ({vals});\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END"
    ).format(new=new, pk=pk_match, cols=cols, ov=overriding, vals=new_cols)
    body_text = body.as_string(conn)
    trigger = [
        sql.SQL(
            "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp AS {}"
        ).format(ident(spec.schema, sync), sql.Literal(body_text)),
        sql.SQL(
            "CREATE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW "
            "EXECUTE FUNCTION {}()"
        ).format(sql.Identifier(sync), old, ident(spec.schema, sync)),
    ]
    pk_cols = sql.SQL(", ").join(map(sql.Identifier, shape.pk_columns))
    copy_sql = sql.SQL(
        "WITH batch AS (SELECT {cols} FROM {old} WHERE {cond} ORDER BY {pk} "
        "LIMIT {n} FOR SHARE), "
        "ins AS (INSERT INTO {new} ({cols}){ov} SELECT {cols} FROM batch "
        "ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT {pk}, (SELECT count(*) FROM batch), (SELECT count(*) FROM ins) FROM batch "
        "ORDER BY {pk_desc} LIMIT 1"
    )
    pk_desc = sql.SQL(", ").join(
        sql.SQL("{} DESC").format(sql.Identifier(c)) for c in shape.pk_columns
    )

    def copy_statement(after: tuple[Any, ...] | None) -> sql.Composed:
        return copy_sql.format(
            cols=cols,
            old=old,
            new=new,
            ov=overriding,
            pk=pk_cols,
            pk_desc=pk_desc,
            n=sql.Literal(options.batch_rows),
            cond=sql.SQL("({}) > ({})").format(
                pk_cols, sql.SQL(", ").join(sql.Literal(v) for v in after)
            )
            if after is not None
            else sql.SQL("true"),
        )

    swap = _swap_statements(conn, spec, tbl, shape)
    size_row = conn.execute("SELECT pg_total_relation_size(%s)", (tbl.oid,)).fetchone()
    size_mb = (int(size_row[0]) if size_row else 0) / 1e6
    res.statements = [
        f"-- the copy needs about {size_mb:,.0f} MB of free disk (the table with its indexes) "
        "until the old table is dropped, and writes about as much WAL (each batch locks the "
        "rows it copies)"
    ]
    res.statements += [s.as_string(conn) for s in [*leftover, *create, *trigger]]
    res.statements.append(
        "-- repeated until no row is left, "
        f"{options.batch_rows} rows at a time, each batch after the last key copied:\n"
        + copy_statement(None).as_string(conn).replace("WHERE true", "WHERE (<key>) > (<last key>)")
    )
    res.statements.append(
        "-- then, in one REPEATABLE READ snapshot: every row of the table checked to be in "
        "the copy by primary key, and the counts equal; only then the swap, in one "
        f"transaction with lock_timeout {options.lock_timeout_ms}ms (retried):"
    )
    res.statements.extend(s.as_string(conn) for s in swap)
    res.statements.append(
        "-- then:\n"
        + sql.SQL("DROP TABLE {}")
        .format(ident(spec.schema, short_name(spec.table, OLD_SUFFIX)))
        .as_string(conn)
    )
    res.partitions_created = [partition_name(spec.table, s) for s, _ in wanted] + [
        default_name(spec.table)
    ]
    if dry_run:
        return res

    report(Step(where, "prepare", f"partitioned copy with {len(wanted)} partitions"))
    clean_leftovers(conn, spec, options)
    with conn.transaction():
        for statement in create:
            conn.execute(statement)
    retry_locked(conn, trigger, options)  # CREATE TRIGGER briefly locks out writes
    report(Step(where, "prepare", done=True))

    try:
        # Copy: keyset pagination on the primary key.
        total_row = conn.execute(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s", (tbl.oid,)
        ).fetchone()
        total = int(total_row[0]) if total_row and total_row[0] else None
        report(Step(where, "copy rows"))
        statement = copy_statement(None)
        while True:
            with conn.transaction():
                row = conn.execute(statement).fetchone()
            if row is None:
                break
            key = tuple(row[: len(shape.pk_columns)])
            res.rows_copied += int(row[-1])
            report(Count(where, "copy rows", res.rows_copied, total, "rows"))
            if int(row[-2]) < options.batch_rows:
                break
            statement = copy_statement(key)
        report(Step(where, "copy rows", f"{res.rows_copied} rows", done=True))

        _verify(conn, spec, shape.pk_columns, report, where)
        report(Step(where, "swap"))
        started = time.monotonic()

        def identity_position(c: psycopg.Connection[Any]) -> None:
            new_text = ident(spec.schema, spec.table).as_string(c)
            old_text = ident(spec.schema, short_name(spec.table, OLD_SUFFIX)).as_string(c)
            for column in shape.identity:
                seq = c.execute(
                    "SELECT pg_get_serial_sequence(%s, %s)", (old_text, column)
                ).fetchone()
                if not seq or not seq[0]:
                    continue
                state = c.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(
                        sql.SQL(seq[0])
                    )  # a regclass PostgreSQL printed
                ).fetchone()
                if state:
                    c.execute(
                        "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                        (new_text, column, state[0], state[1]),
                    )

        res.swap_attempts = retry_locked(conn, swap, options, after=identity_position)
        res.swap_seconds = time.monotonic() - started
    except BaseException:
        # Stopped before the swap (an error, Ctrl-C): take the trigger off the application's
        # table now rather than leave every write doubled until the next run. Best effort:
        # the next run removes whatever is left before it starts over.
        abandon(conn, spec, options)
        raise
    report(Step(where, "swap", f"{res.swap_seconds * 1000:.0f} ms", done=True))
    new_tbl = introspect.table(conn, spec.schema, spec.table)
    old_tbl = introspect.table(conn, spec.schema, short_name(spec.table, OLD_SUFFIX))
    assert new_tbl is not None and old_tbl is not None
    finish_conversion(conn, spec, new_tbl, old_tbl, res, report, where)
    return res


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value if isinstance(value, date) else date.today()


def _swap_statements(
    conn: psycopg.Connection[Any], spec: TableSpec, tbl: introspect.Table, shape: Shape
) -> list[sql.Composed]:
    old = ident(spec.schema, spec.table)
    old_renamed = short_name(spec.table, OLD_SUFFIX)
    new_name = short_name(spec.table, NEW_SUFFIX)
    sync = short_name(spec.table, SYNC_SUFFIX)
    out: list[sql.Composed] = [
        sql.SQL("LOCK TABLE {}, {} IN ACCESS EXCLUSIVE MODE").format(
            old, ident(spec.schema, new_name)
        ),
        sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(sync), old),
        sql.SQL("DROP FUNCTION {}()").format(ident(spec.schema, sync)),
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(old, sql.Identifier(old_renamed)),
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            ident(spec.schema, new_name), sql.Identifier(spec.table)
        ),
    ]
    renamed_old = ident(spec.schema, old_renamed)
    for name, _, _ in shape.keys:
        out.append(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                renamed_old, sql.Identifier(name), sql.Identifier(short_name(name, OLD_SUFFIX))
            )
        )
        out.append(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                old, sql.Identifier(short_name(name, NEW_SUFFIX)), sql.Identifier(name)
            )
        )
    for name, _ in shape.foreign_keys:
        out.append(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                old, sql.Identifier(short_name(name, NEW_SUFFIX)), sql.Identifier(name)
            )
        )
    for name, _ in shape.indexes:
        out.append(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                ident(spec.schema, name), sql.Identifier(short_name(name, OLD_SUFFIX))
            )
        )
        out.append(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                ident(spec.schema, short_name(name, NEW_SUFFIX)), sql.Identifier(name)
            )
        )
    for column, sequence in shape.serial_sequences:
        out.append(
            sql.SQL("ALTER SEQUENCE {} OWNED BY {}").format(
                sql.SQL(sequence),  # a regclass PostgreSQL printed
                ident(spec.schema, spec.table, column),
            )
        )
    # Grants: exactly the old table's (default privileges may have added others to the new one)
    out.append(
        sql.SQL(
            "DO $$DECLARE r record; BEGIN FOR r IN SELECT DISTINCT CASE WHEN a.grantee = 0 "
            "THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS who "
            "FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = {}::regclass "
            "AND a.grantee <> c.relowner LOOP EXECUTE format('REVOKE ALL ON %s FROM %s', "
            "{}, r.who); END LOOP; END$$"
        ).format(
            sql.Literal(old.as_string(conn)),
            sql.Literal(old.as_string(conn)),
        )
    )
    for grantee, privilege, grantable in shape.grants:
        if grantee == tbl.owner:
            continue
        out.append(
            sql.SQL("GRANT {} ON {} TO {}{}").format(
                sql.SQL(privilege),  # from aclexplode
                old,
                sql.SQL("PUBLIC") if grantee == "public" else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )
    out.extend(shape.policies)
    if tbl.rls:
        out.append(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(old))
        out.append(
            sql.SQL(
                "DO $$DECLARE r record; BEGIN FOR r IN SELECT inhrelid::regclass AS p "
                "FROM pg_inherits WHERE inhparent = {}::regclass LOOP "
                "EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.p); "
                "END LOOP; END$$"
            ).format(sql.Literal(old.as_string(conn)))
        )
    if tbl.force_rls:
        out.append(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(old))
    for definition in shape.triggers:
        out.append(sql.SQL(definition))  # type: ignore[arg-type]  # pg_get_triggerdef: same name now
    for publication in shape.publications:
        out.append(
            sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(
                sql.Identifier(publication), renamed_old
            )
        )
        out.append(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(sql.Identifier(publication), old)
        )
    out.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(renamed_old, sql.Literal(VERIFIED)))
    if tbl.replica_identity == "f":
        out.append(sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(old))
    if shape.comment is not None:
        out.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(old, sql.Literal(shape.comment)))
    me = conn.execute("SELECT current_user").fetchone()
    if me and me[0] != tbl.owner:
        out.append(sql.SQL("ALTER TABLE {} OWNER TO {}").format(old, sql.Identifier(tbl.owner)))
    return out


VERIFIED = "floyo-scale: every row is in the partitioned table (checked before the swap)"


def _verify(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    pk_columns: list[str],
    report: Reporter,
    where: str,
) -> None:
    """Before the swap, in one snapshot (REPEATABLE READ): the trigger writes both tables in
    the writer's own transaction, so in any snapshot they must hold the same rows."""
    report(Step(where, "verify"))
    match = sql.SQL(" AND ").join(
        sql.SQL("n.{c} = o.{c}").format(c=sql.Identifier(c)) for c in pk_columns
    )
    old = ident(spec.schema, spec.table)
    new = ident(spec.schema, short_name(spec.table, NEW_SUFFIX))
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute(
            sql.SQL(
                "SELECT (SELECT count(*) FROM {old} o WHERE NOT EXISTS "
                "(SELECT 1 FROM {new} n WHERE {m})), (SELECT count(*) FROM {old}), "
                "(SELECT count(*) FROM {new})"
            ).format(old=old, new=new, m=match)
        ).fetchone()
    assert row is not None
    missing, in_old, in_new = (int(v) for v in row)
    if missing or in_old != in_new:
        raise DatabaseError(
            f"the partitioned copy of {spec.name} does not match it: {missing} row(s) missing, "
            f"{in_old} rows in the table and {in_new} in the copy",
            f"nothing was swapped or dropped; {spec.name} is untouched. Run `db partition` "
            "again (it starts the copy over); if it happens again, report it",
        )
    report(Step(where, "verify", f"{in_old} rows in both", done=True))


def finish_conversion(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    new: introspect.Table,
    old: introspect.Table,
    res: TableResult,
    report: Reporter,
    where: str,
) -> None:
    """After the swap: drop the old table (verified before the swap, which marked it) and give
    the identity sequence its final name."""
    mark = conn.execute("SELECT obj_description(%s, 'pg_class')", (old.oid,)).fetchone()
    if not mark or mark[0] != VERIFIED:
        raise DatabaseError(
            f"{spec.schema}.{old.name} is left from an earlier conversion but is not marked "
            "as verified",
            f"compare it with {spec.name}, then drop it by hand and run `db partition` again",
        )
    with conn.transaction():
        conn.execute(sql.SQL("DROP TABLE {}").format(ident(spec.schema, old.name)))
        for p in introspect.partitions(conn, new.oid):
            if p.name.endswith(NEW_SUFFIX):
                final = p.name[: -len(NEW_SUFFIX)]
                conn.execute(
                    sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        ident(p.schema, p.name), sql.Identifier(final)
                    )
                )
        for seq_name, column in conn.execute(
            "SELECT s.relname, a.attname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.refobjid = %s AND s.relkind = 'S' AND d.deptype = 'i'",
            (new.oid,),
        ).fetchall():
            wanted = f"{spec.table}_{column}_seq"
            if seq_name != wanted and not introspect.relation_exists(conn, spec.schema, wanted):
                conn.execute(
                    sql.SQL("ALTER SEQUENCE {} RENAME TO {}").format(
                        ident(spec.schema, seq_name), sql.Identifier(wanted)
                    )
                )
    report(Step(where, "drop old table", done=True))
    res.default_rows = count_default_rows(conn, spec)
