"""`db partition`: each table in the phase's `database.partitioning` range-partitioned by its
column and interval, on every shard (see docs/db.md).

A table that is already partitioned gets its next `premake` partitions and a default
partition. A table that is not is converted online:

1. A partitioned table of the same shape is created beside it (`<table>__floyo_new`, from
   `LIKE ... INCLUDING ALL` but indexes), with partitions covering the rows there are and the
   next `premake` periods, plus a default partition; its indexes and constraints are created
   under temporary names while it is empty.
2. A trigger on the old table mirrors every insert, update and delete into the new one.
3. The rows are copied by primary key in batches (`batch_rows`); each batch holds a `FOR SHARE`
   lock on the rows it copies (so an update cannot slip between read and copy) and skips rows
   the trigger already copied (`ON CONFLICT DO NOTHING`). Inserts are never waited on.
4. One short transaction (`lock_timeout`, retried) swaps the names, moves the sequence
   ownership, sets the identity position, and applies grants, row-level security, policies,
   triggers, publication membership, replica identity, owner and comment.
5. Every row of the old table is checked to be in the new one (by primary key) and only then
   the old table is dropped.

A primary key or unique constraint must include the partition column on a partitioned table:
the column is appended to it (`PRIMARY KEY (id)` becomes `PRIMARY KEY (id, created_at)`). The
ids stay unique in practice (they come from a sequence), but the database no longer enforces
`id` alone, so a foreign key that references the table cannot be kept: such a table is refused
with the referencing constraints named.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from ..progress import Reporter, Step, ignore
from . import introspect
from .connect import DatabaseError, Shard, connect, database_error, hold_lock
from .locks import retry_locked, under_lock_timeout
from .sql import ident

if TYPE_CHECKING:
    from ..spec.models import Partition as PartitionSpec
from .convert import (
    OLD_SUFFIX,
    Options,
    TableResult,
    convert_table,
    count_default_rows,
    finish_conversion,
    refuse_unplaceable,
    today_of,
)
from .periods import (
    MAX_PARTITIONS,
    as_datetime,
    bound_literal,
    default_name,
    next_start,
    partition_name,
    period_start,
    short_name,
)
from .shape import TableSpec


def table_specs(partitioning: Mapping[str, PartitionSpec]) -> list[TableSpec]:
    return [
        TableSpec(name, p.column, p.interval, p.retention_days, p.archive_bucket)
        for name, p in sorted(partitioning.items())
    ]


@dataclass
class PartitionReport:
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(t.action not in ("unchanged",) for t in self.tables)


def partition(
    shards: Iterable[Shard],
    specs: Iterable[TableSpec],
    *,
    dry_run: bool = False,
    options: Options | None = None,
    report: Reporter = ignore,
) -> PartitionReport:
    """Partition every table in `specs` on every shard; see the module docstring."""
    options = options or Options()
    if options.premake < 0:
        raise UsageError(f"--premake must be 0 or more, not {options.premake}")
    result = PartitionReport(dry_run=dry_run)
    specs = list(specs)
    for shard in shards:
        with connect(shard) as conn:
            _session(conn)
            if not dry_run:
                hold_lock(conn, shard)
            for spec in specs:
                where = f"shard {shard.index} {spec.name}"
                try:
                    result.tables.append(_one(conn, shard, spec, dry_run, options, report, where))
                except psycopg.Error as exc:
                    raise database_error(
                        shard,
                        f"partitioning {spec.name}",
                        exc,
                        "nothing is lost: the original table keeps every row until the copy "
                        "is verified; fix the cause and run `db partition` again (it resumes)",
                    ) from None
    return result


def _session(conn: psycopg.Connection[Any]) -> None:
    # TimeZone, DateStyle and float output: fixed by connect() for every session
    # our statements are bounded (batches); the checks scan a whole table, which a role's
    # statement_timeout (Supabase sets some) must not cut short
    conn.execute("SET statement_timeout = 0")


def _one(
    conn: psycopg.Connection[Any],
    shard: Shard,
    spec: TableSpec,
    dry_run: bool,
    options: Options,
    report: Reporter,
    where: str,
) -> TableResult:
    tbl = introspect.table(conn, spec.schema, spec.table)
    old = introspect.table(conn, spec.schema, short_name(spec.table, OLD_SUFFIX))
    if tbl is not None and tbl.kind == "p" and old is not None:
        # a conversion swapped names but did not finish verifying and dropping the old table
        if dry_run:
            return TableResult(shard.index, spec.name, "would finish converting")
        res = TableResult(shard.index, spec.name, "converted")
        finish_conversion(conn, spec, tbl, old, res, report, where)
        return res
    if tbl is None:
        raise UsageError(
            f"table {spec.name} does not exist on {shard.label}",
            "create it (the application's migrations do), or remove it from "
            "database.partitioning in the phase",
        )
    col = tbl.column(spec.column)
    if col is None:
        raise UsageError(
            f"table {spec.name} has no column {spec.column!r} on {shard.label} "
            f"(its columns: {', '.join(c.name for c in tbl.columns)})",
            "set database.partitioning." + spec.name + ".column to a date or timestamp column",
        )
    column_type = introspect.time_type(col.type)
    if column_type is None:
        raise UsageError(
            f"column {spec.name}.{spec.column} is {col.type}; partitioning by date needs a "
            "date or timestamp column",
            "set database.partitioning." + spec.name + ".column to a date or timestamp column",
        )
    if tbl.kind == "p":
        key = introspect.partition_key(conn, tbl.oid)
        if key != ("r", [spec.column]):
            raise UsageError(
                f"table {spec.name} is already partitioned, but not by range of {spec.column}",
                "partition it by hand or change database.partitioning to match it",
            )
        return _premake(conn, shard, spec, tbl, column_type, dry_run, options, report, where)
    return convert_table(conn, shard, spec, tbl, column_type, dry_run, options, report, where)


# --- premake ----------------------------------------------------------------------------------


def _missing_partitions(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    tbl: introspect.Table,
    column_type: str,
    wanted: list[tuple[date, date]],
) -> list[tuple[str, sql.Composed]]:
    existing = introspect.partitions(conn, tbl.oid)
    statements: list[tuple[str, sql.Composed]] = []
    for start, end in wanted:
        lo, hi = as_datetime(start), as_datetime(end)
        overlaps = any(
            not p.default
            and (p.lower is None or p.lower < hi)
            and (p.upper is None or p.upper > lo)
            for p in existing
        )
        if overlaps:
            continue
        name = partition_name(spec.table, start)
        statements.append(
            (
                name,
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    ident(spec.schema, name),
                    ident(tbl.schema, tbl.name),
                    bound_literal(start, column_type),
                    bound_literal(end, column_type),
                ),
            )
        )
    if not any(p.default for p in existing):
        name = default_name(spec.table)
        statements.append(
            (
                name,
                sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
                    ident(spec.schema, name), ident(tbl.schema, tbl.name)
                ),
            )
        )
    return statements


def _ahead(options: Options, interval: str) -> list[tuple[date, date]]:
    today = today_of(options)
    first = period_start(today, interval)
    out = [(first, next_start(first, interval))]
    for _ in range(options.premake):
        start = out[-1][1]
        out.append((start, next_start(start, interval)))
    return out


def _premake(
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
    res = TableResult(shard.index, spec.name, "unchanged")
    moved = _move_default_rows(conn, spec, tbl, column_type, dry_run, options, report, where, res)
    todo = _missing_partitions(conn, spec, tbl, column_type, _ahead(options, spec.interval))
    if dry_run:  # those the move would create are not premade again
        todo = [(n, s) for n, s in todo if n not in moved]
    for name, statement in todo:
        text = statement.as_string(conn)
        extra = _partition_security(tbl, spec.schema, name)
        res.statements.append(text)
        res.statements.extend(s.as_string(conn) for s in extra)
        res.partitions_created.append(name)
        if dry_run:
            continue
        report(Step(where, "create partition", name))
        retry_locked(conn, [statement, *extra], options)
        report(Step(where, "create partition", name, done=True))
    if todo or moved:
        res.action = "would premake" if dry_run else "premade"
    res.default_rows = count_default_rows(conn, spec)
    return res


def _move_default_rows(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    tbl: introspect.Table,
    column_type: str,
    dry_run: bool,
    options: Options,
    report: Reporter,
    where: str,
    res: TableResult,
) -> dict[str, int]:
    """Rows the application wrote into the default partition (a date no partition covered
    yet) moved into partitions of their own, as pg_partman's partition_data_proc does:
    PostgreSQL refuses to create a partition while the default holds rows of its range, so
    left there they would stop premake for ever.

    One batch per period, each its own transaction under a short lock_timeout (retried with
    backoff): the default partition locked, the period's rows copied into a new table shaped
    like the parent, deleted from the default, the counts compared, the table attached as the
    period's partition (a CHECK of its range spares ATTACH its scan). A failure rolls the
    batch back: the rows are in the default partition or in their partition, never neither.
    Returns {partition: rows moved} (in a dry run, what would be)."""
    parts = introspect.partitions(conn, tbl.oid)
    default = next((p for p in parts if p.default), None)
    if default is None:
        return {}
    column = sql.Identifier(spec.column)
    source = ident(default.schema, default.name)
    starts = conn.execute(
        sql.SQL("SELECT DISTINCT date_trunc({u}, {c})::date FROM {t} WHERE isfinite({c})").format(
            u=sql.Literal(spec.interval), c=column, t=source
        )
    ).fetchall()
    if (
        not starts
        and not conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(source)).fetchone()
    ):
        return {}
    refuse_unplaceable(conn, spec, default.name, _key_columns(conn, tbl.oid))
    periods_found = sorted({period_start(row[0], spec.interval) for row in starts})
    if len(periods_found) > MAX_PARTITIONS:
        raise UsageError(
            f"{spec.schema}.{default.name} holds rows of {len(periods_found)} {spec.interval}s",
            "more partitions than floyo-scale creates at once; move or delete the oldest rows",
        )
    columns = [c.name for c in tbl.columns if not c.generated]
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    moved: dict[str, int] = {}
    for start in periods_found:
        end = next_start(start, spec.interval)
        lo, hi = as_datetime(start), as_datetime(end)
        clash = next(
            (
                p
                for p in parts
                if not p.default
                and (p.lower is None or p.lower < hi)
                and (p.upper is None or p.upper > lo)
            ),
            None,
        )
        if clash is not None:
            raise UsageError(
                f"rows of {spec.schema}.{default.name} fall in {start} .. {end}, which partition "
                f"{clash.name} covers in part (the interval was changed?)",
                f"move them by hand into a partition of their range, or set "
                f"database.partitioning.{spec.name}.interval back to the partitions' interval",
            )
        name = partition_name(spec.table, start)
        target = ident(spec.schema, name)
        low, high = bound_literal(start, column_type), bound_literal(end, column_type)
        in_range = sql.SQL("{c} >= {lo} AND {c} < {hi}").format(c=column, lo=low, hi=high)
        check = sql.Identifier(short_name(name, "_range"))
        statements = [
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(source),
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)"
            ).format(target, ident(tbl.schema, tbl.name)),
            sql.SQL("INSERT INTO {} ({c}) SELECT {c} FROM {} WHERE {}").format(
                target, source, in_range, c=cols
            ),
            sql.SQL("DELETE FROM {} WHERE {}").format(source, in_range),
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL AND {})").format(
                target, check, column, in_range
            ),
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                ident(tbl.schema, tbl.name), target, low, high
            ),
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, check),
            *_partition_security(tbl, spec.schema, name),
        ]
        res.statements.extend(
            [f"-- the rows of {start} .. {end} in {default.name}, moved in one transaction:"]
            + [s.as_string(conn) for s in statements]
        )
        res.partitions_created.append(name)
        if dry_run:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(source, in_range)
            ).fetchone()
            moved[name] = int(count[0]) if count else 0
            continue
        report(Step(where, "move default rows", f"{start} .. {end} into {name}"))
        counts: list[int] = []
        batch = functools.partial(
            _move_batch, conn, statements, target, f"{spec.schema}.{default.name}", name, counts
        )
        if _retry_locked_run(conn, batch, options) is None:
            raise DatabaseError(
                f"could not move {spec.schema}.{default.name}'s rows of {start} .. {end}: its "
                f"table stayed locked through {options.swap_attempts} tries",
                "a long transaction holds it (pg_stat_activity shows it); run `db partition` "
                "again later",
            )
        moved[name] = counts[0]
        parts = introspect.partitions(conn, tbl.oid)
        report(Step(where, "move default rows", f"{counts[0]:,} rows into {name}", done=True))
    res.rows_moved = sum(moved.values())
    return moved


def _move_batch(
    conn: psycopg.Connection[Any],
    statements: list[sql.Composed],
    target: sql.Identifier,
    source: str,
    name: str,
    counts: list[int],
) -> None:
    """One period's move (in the caller's transaction): the rows copied, deleted, attached;
    `counts` gets (copied, deleted, in the partition), which must be equal."""
    counts.clear()
    for statement in statements:
        cur = conn.execute(statement)
        if statement.as_string(conn).startswith(("INSERT", "DELETE")):
            counts.append(cur.rowcount)
    kept = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()
    counts.append(int(kept[0]) if kept else -1)
    if len(set(counts)) != 1:
        raise DatabaseError(
            f"moving {source}'s rows into {name} does not add up: {counts[0]} copied, "
            f"{counts[1]} deleted, {counts[2]} in the partition",
            "nothing was changed (the move is one transaction); run `db partition` again, and "
            "report it if it happens again",
        )


def _retry_locked_run(conn: psycopg.Connection[Any], run: Any, options: Options) -> int | None:
    return under_lock_timeout(
        conn,
        run,
        lock_timeout_ms=options.lock_timeout_ms,
        attempts=options.swap_attempts,
        backoff=lambda attempt: min(0.05 * 2**attempt, 2.0),
    )


def _key_columns(conn: psycopg.Connection[Any], oid: int) -> list[str]:
    """The table's primary key columns (to name a row by), else its ctid."""
    row = conn.execute(
        "SELECT ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) "
        "FROM pg_constraint c WHERE c.conrelid = %s AND c.contype = 'p'",
        (oid,),
    ).fetchone()
    return list(row[0]) if row and row[0] else ["ctid"]


def _partition_security(tbl: introspect.Table, schema: str, name: str) -> list[sql.Composed]:
    """A partition is a table of its own: PostgREST would serve it and skip the parent's
    policies. When the parent has row-level security, so does each partition (no policy: no
    rows for anyone but the owner and BYPASSRLS roles)."""
    if not tbl.rls:
        return []
    return [sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident(schema, name))]
