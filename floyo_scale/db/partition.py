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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from ..progress import Reporter, Step, ignore
from . import introspect
from .connect import Shard, connect, database_error, hold_lock
from .sql import ident

if TYPE_CHECKING:
    from ..spec.models import Partition as PartitionSpec
from .convert import (
    OLD_SUFFIX,
    Options,
    TableResult,
    _convert,
    _default_rows,
    _finish,
    _retry_locked,
    _today,
)
from .periods import _as_dt, _bound, _short, default_name, next_start, partition_name, period_start
from .periods import periods as periods  # re-exported
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
    old = introspect.table(conn, spec.schema, _short(spec.table, OLD_SUFFIX))
    if tbl is not None and tbl.kind == "p" and old is not None:
        # a conversion swapped names but did not finish verifying and dropping the old table
        if dry_run:
            return TableResult(shard.index, spec.name, "would finish converting")
        res = TableResult(shard.index, spec.name, "converted")
        _finish(conn, spec, tbl, old, res, report, where)
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
    if col.type not in introspect.TIME_TYPES:
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
        return _premake(conn, shard, spec, tbl, col.type, dry_run, options, report, where)
    return _convert(conn, shard, spec, tbl, col.type, dry_run, options, report, where)


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
        lo, hi = _as_dt(start), _as_dt(end)
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
                    _bound(start, column_type),
                    _bound(end, column_type),
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
    today = _today(options)
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
    todo = _missing_partitions(conn, spec, tbl, column_type, _ahead(options, spec.interval))
    res = TableResult(shard.index, spec.name, "unchanged")
    for name, statement in todo:
        text = statement.as_string(conn)
        extra = _partition_security(tbl, spec.schema, name)
        res.statements.append(text)
        res.statements.extend(s.as_string(conn) for s in extra)
        res.partitions_created.append(name)
        if dry_run:
            continue
        report(Step(where, "create partition", name))
        _retry_locked(conn, [statement, *extra], options)
        report(Step(where, "create partition", name, done=True))
    if todo:
        res.action = "would premake" if dry_run else "premade"
    res.default_rows = _default_rows(conn, spec)
    return res


def _partition_security(tbl: introspect.Table, schema: str, name: str) -> list[sql.Composed]:
    """A partition is a table of its own: PostgREST would serve it and skip the parent's
    policies. When the parent has row-level security, so does each partition (no policy: no
    rows for anyone but the owner and BYPASSRLS roles)."""
    if not tbl.rls:
        return []
    return [sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident(schema, name))]
