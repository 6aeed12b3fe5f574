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

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from . import introspect
from .connect import DatabaseError, Shard, connect, database_error, hold_lock
from .progress import Count, Reporter, Step, ignore
from .sql import ident, split_name

if TYPE_CHECKING:
    from ..spec.models import Partition as PartitionSpec

MAX_IDENT = 63
NEW_SUFFIX = "__floyo_new"
OLD_SUFFIX = "__floyo_old"
SYNC_SUFFIX = "__floyo_sync"
MAX_PARTITIONS = 1000  # more than this many periods of data: refuse rather than flood the catalog


@dataclass(frozen=True)
class TableSpec:
    """One entry of `database.partitioning`: the table (optionally `schema.table`) and how."""

    name: str
    column: str
    interval: str
    retention_days: int
    archive_bucket: str | None

    @property
    def schema(self) -> str:
        return split_name(self.name)[0]

    @property
    def table(self) -> str:
        return split_name(self.name)[1]


def table_specs(partitioning: Mapping[str, PartitionSpec]) -> list[TableSpec]:
    return [
        TableSpec(name, p.column, p.interval, p.retention_days, p.archive_bucket)
        for name, p in sorted(partitioning.items())
    ]


# --- periods ----------------------------------------------------------------------------------


def period_start(day: date, interval: str) -> date:
    """The first day of the period holding `day` (weeks start on Monday, as ISO weeks do)."""
    if interval == "month":
        return day.replace(day=1)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day


def next_start(start: date, interval: str) -> date:
    if interval == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if interval == "week":
        return start + timedelta(days=7)
    return start + timedelta(days=1)


def periods(first: date, last: date, interval: str) -> list[tuple[date, date]]:
    """[(start, end)] covering `first` .. `last` (inclusive), whole periods."""
    out: list[tuple[date, date]] = []
    start = period_start(first, interval)
    while start <= last:
        end = next_start(start, interval)
        out.append((start, end))
        start = end
        if len(out) > MAX_PARTITIONS:
            break
    return out


def partition_name(table: str, start: date) -> str:
    """`events_p20261101`: the table and the first day of the range it holds."""
    return f"{table}_p{start:%Y%m%d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _short(name: str, suffix: str) -> str:
    return name[: MAX_IDENT - len(suffix)] + suffix


def _bound(value: date, column_type: str) -> sql.Literal:
    if column_type == "date":
        return sql.Literal(value.isoformat())
    if column_type == "timestamp with time zone":
        return sql.Literal(f"{value.isoformat()} 00:00:00+00")
    return sql.Literal(f"{value.isoformat()} 00:00:00")


def _as_dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- report -----------------------------------------------------------------------------------


@dataclass
class TableResult:
    shard: int
    table: str
    action: str  # "converted", "premade", "unchanged", "would convert", "would premake"
    statements: list[str] = field(default_factory=list)  # SQL run (or, in a dry run, to run)
    rows_copied: int = 0
    partitions_created: list[str] = field(default_factory=list)
    default_rows: int = 0  # rows in the default partition (outside every range): look at them
    swap_seconds: float = 0.0
    swap_attempts: int = 0


@dataclass
class PartitionReport:
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(t.action not in ("unchanged",) for t in self.tables)


# --- entry point ------------------------------------------------------------------------------


@dataclass
class Options:
    premake: int = 3
    batch_rows: int = 10_000
    lock_timeout_ms: int = 300
    swap_attempts: int = 20
    today: date | None = None


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
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET DateStyle = 'ISO'")
    # our statements are bounded (batches); the checks scan a whole table, which a role's
    # statement_timeout (Supabase sets some) must not cut short
    conn.execute("SET statement_timeout = 0")


def _today(options: Options) -> date:
    return options.today or datetime.now(UTC).date()


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


def _default_rows(conn: psycopg.Connection[Any], spec: TableSpec) -> int:
    name = default_name(spec.table)
    if not introspect.relation_exists(conn, spec.schema, name):
        return 0
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1000000) s").format(
            ident(spec.schema, name)
        )
    ).fetchone()
    return int(row[0]) if row else 0


def _retry_locked(
    conn: psycopg.Connection[Any],
    statements: list[sql.Composed],
    options: Options,
    after: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> int:
    """Run `statements` in one transaction with a short lock_timeout, retried while locks are
    busy (so a waiting ALTER never queues the application's writes behind it for long).
    Returns the number of attempts."""
    for attempt in range(1, options.swap_attempts + 1):
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{options.lock_timeout_ms}ms")
                    )
                )
                for statement in statements:
                    conn.execute(statement)
                if after is not None:
                    after(conn)
            return attempt
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(0.05 * attempt, 1.0))
    raise DatabaseError(
        f"could not take the locks within {options.lock_timeout_ms} ms in "
        f"{options.swap_attempts} attempts",
        "a long transaction holds the table; wait for it (pg_stat_activity shows it) and run "
        "the command again",
    )


# --- online conversion ------------------------------------------------------------------------


@dataclass
class _Shape:
    """What the conversion carries over, read from the catalog before it starts."""

    columns: list[str]  # inserted columns (generated ones are computed)
    pk_name: str
    pk_columns: list[str]
    keys: list[tuple[str, str, list[str]]]  # (constraint, "p"/"u", columns) incl. the PK
    foreign_keys: list[tuple[str, str]]  # (name, definition)
    indexes: list[tuple[str, str]]  # (name, definition) not backing a constraint
    triggers: list[str]  # definitions
    policies: list[sql.Composed]
    grants: list[tuple[str, str, bool]]  # (grantee, privilege, grantable)
    publications: list[str]
    serial_sequences: list[tuple[str, str]]  # (column, sequence regclass text) to re-own
    identity: list[str]  # identity columns
    comment: str | None


def _shape(conn: psycopg.Connection[Any], spec: TableSpec, tbl: introspect.Table) -> _Shape:
    oid = tbl.oid
    refs = conn.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint "
        "WHERE confrelid = %s AND contype = 'f' AND conrelid <> %s",
        (oid, oid),
    ).fetchall()
    if refs:
        raise UsageError(
            f"table {spec.name} is referenced by foreign keys ("
            + ", ".join(f"{name} on {rel}" for name, rel in refs)
            + "); a partitioned table's keys must include the partition column, so they "
            "cannot be kept",
            "drop those foreign keys (or reference a column set that includes "
            f"{spec.column}), then run `db partition` again",
        )
    views = conn.execute(
        "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        "WHERE d.refobjid = %s AND d.classid = 'pg_rewrite'::regclass AND v.oid <> %s",
        (oid, oid),
    ).fetchall()
    if views:
        raise UsageError(
            f"views depend on table {spec.name}: {', '.join(v for (v,) in views)}",
            "they would keep pointing at the old table; drop them, run `db partition`, then "
            "create them again",
        )
    cons = conn.execute(
        """
        SELECT conname, contype,
               ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.n
                     ORDER BY k.i),
               pg_get_constraintdef(oid), conindid
        FROM pg_constraint WHERE conrelid = %s AND contype IN ('p', 'u', 'f', 'x')
        ORDER BY conname
        """,
        (oid,),
    ).fetchall()
    pk = [c for c in cons if c[1] == "p"]
    if not pk:
        raise UsageError(
            f"table {spec.name} has no primary key; the online conversion copies and checks "
            "rows by it",
            f"add one (e.g. ALTER TABLE {spec.name} ADD PRIMARY KEY (id)), then run "
            "`db partition` again",
        )
    excl = [c[0] for c in cons if c[1] == "x"]
    if excl:
        raise UsageError(
            f"table {spec.name} has exclusion constraints ({', '.join(excl)}), which a "
            "partitioned table supports only with the partition column compared by equality",
            "drop them before partitioning",
        )
    index_rows = conn.execute(
        """
        SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                          AND k.conrelid = %s)
        ORDER BY c.relname
        """,
        (oid, oid),
    ).fetchall()
    triggers = [
        row[0]
        for row in conn.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s "
            "AND NOT tgisinternal AND tgname <> %s ORDER BY tgname",
            (oid, _short(spec.table, SYNC_SUFFIX)),
        ).fetchall()
    ]
    policies = []
    for name, permissive, cmd, roles, qual, check in conn.execute(
        """
        SELECT polname, polpermissive, polcmd,
               ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
                     FROM unnest(polroles) r),
               pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
        FROM pg_policy WHERE polrelid = %s ORDER BY polname
        """,
        (oid,),
    ).fetchall():
        commands = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
        parts = [
            sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
                sql.Identifier(name),
                ident(spec.schema, spec.table),
                sql.SQL("PERMISSIVE" if permissive else "RESTRICTIVE"),
                sql.SQL(commands[cmd]),
                sql.SQL(", ").join(
                    sql.SQL("PUBLIC") if r == "public" else sql.Identifier(r) for r in roles
                ),
            )
        ]
        # the expressions come from pg_get_expr, as PostgreSQL itself prints them
        if qual is not None:
            parts.append(sql.SQL(" USING (") + sql.SQL(qual) + sql.SQL(")"))  # type: ignore[arg-type]
        if check is not None:
            parts.append(sql.SQL(" WITH CHECK (") + sql.SQL(check) + sql.SQL(")"))  # type: ignore[arg-type]
        policies.append(sql.Composed(parts))
    grants = [
        (grantee, privilege, grantable)
        for grantee, privilege, grantable in conn.execute(
            """
            SELECT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END,
                   a.privilege_type, a.is_grantable
            FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s
            ORDER BY 1, 2
            """,
            (oid,),
        ).fetchall()
    ]
    publications = [
        r[0]
        for r in conn.execute(
            "SELECT p.pubname FROM pg_publication_rel r JOIN pg_publication p "
            "ON p.oid = r.prpubid WHERE r.prrelid = %s ORDER BY 1",
            (oid,),
        ).fetchall()
    ]
    serial: list[tuple[str, str]] = []
    identity = [c.name for c in tbl.columns if c.identity]
    for c in tbl.columns:
        if c.identity:
            continue
        row = conn.execute(
            "SELECT pg_get_serial_sequence(%s, %s)",
            (sql.Identifier(tbl.schema, tbl.name).as_string(conn), c.name),
        ).fetchone()
        if row and row[0]:
            serial.append((c.name, row[0]))
    comment_row = conn.execute("SELECT obj_description(%s, 'pg_class')", (oid,)).fetchone()
    keys = [(name, kind, list(cols)) for name, kind, cols, _, _ in cons if kind in ("p", "u")]
    return _Shape(
        columns=[c.name for c in tbl.columns if not c.generated],
        pk_name=pk[0][0],
        pk_columns=list(pk[0][2]),
        keys=keys,
        foreign_keys=[(name, definition) for name, kind, _, definition, _ in cons if kind == "f"],
        indexes=[(name, definition) for name, definition, _ in index_rows],
        triggers=triggers,
        policies=policies,
        grants=grants,
        publications=publications,
        serial_sequences=serial,
        identity=identity,
        comment=comment_row[0] if comment_row else None,
    )


_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (?:ONLY )?(\S+) (USING .+)$")


def _index_statement(
    conn: psycopg.Connection[Any], spec: TableSpec, name: str, definition: str
) -> sql.Composed:
    """The index `definition` (pg_get_indexdef) re-pointed at the new table under a temporary
    name; a unique index gets the partition column appended, as PostgreSQL requires."""
    match = _INDEX_DEF.match(definition)
    if not match:
        raise UsageError(f"cannot carry over index {name} of {spec.name}: {definition}")
    unique, _, _, rest = match.groups()
    if unique and not re.search(rf"\b{re.escape(spec.column)}\b", rest.split(" WHERE ")[0]):
        simple = re.match(r"^USING (\w+) \(([^()]*)\)$", rest)
        if not simple:
            raise UsageError(
                f"unique index {name} of {spec.name} does not include {spec.column} and has "
                "expressions, INCLUDE or WHERE, so it cannot be extended with it",
                f"replace it by a unique index that includes {spec.column}",
            )
        column = sql.Identifier(spec.column).as_string(conn)
        rest = f"USING {simple.group(1)} ({simple.group(2)}, {column})"
    return sql.SQL("CREATE {}INDEX {} ON {} ").format(
        sql.SQL("UNIQUE " if unique else ""),
        sql.Identifier(_short(name, NEW_SUFFIX)),
        ident(spec.schema, _short(spec.table, NEW_SUFFIX)),
    ) + sql.SQL(rest)  # type: ignore[arg-type]


def _convert(
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
    shape = _shape(conn, spec, tbl)
    new_name = _short(spec.table, NEW_SUFFIX)
    new = ident(spec.schema, new_name)
    old = ident(spec.schema, spec.table)
    sync = _short(spec.table, SYNC_SUFFIX)

    # Anything left by an interrupted run (before the swap) is only a copy: start it again.
    leftover: list[sql.Composed] = []
    if introspect.relation_exists(conn, spec.schema, new_name):
        leftover.append(sql.SQL("DROP TABLE {}").format(new))
    if conn.execute(
        "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = %s",
        (spec.schema, sync),
    ).fetchone():
        leftover.append(sql.SQL("DROP FUNCTION {}() CASCADE").format(ident(spec.schema, sync)))

    bounds = conn.execute(
        sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(c=sql.Identifier(spec.column), t=old)
    ).fetchone()
    today = _today(options)
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
                _bound(start, column_type),
                _bound(end, column_type),
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
                sql.Identifier(_short(name, NEW_SUFFIX)),
                sql.SQL("PRIMARY KEY" if kind == "p" else "UNIQUE"),
                sql.SQL(", ").join(map(sql.Identifier, key_cols)),
            )
        )
    for name, definition in shape.foreign_keys:
        create.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                new, sql.Identifier(_short(name, NEW_SUFFIX))
            )
            + sql.SQL(definition)  # type: ignore[arg-type]
        )
    for name, definition in shape.indexes:
        create.append(_index_statement(conn, spec, name, definition))

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
        .format(ident(spec.schema, _short(spec.table, OLD_SUFFIX)))
        .as_string(conn)
    )
    res.partitions_created = [partition_name(spec.table, s) for s, _ in wanted] + [
        default_name(spec.table)
    ]
    if dry_run:
        return res

    report(Step(where, "prepare", f"partitioned copy with {len(wanted)} partitions"))
    with conn.transaction():
        for statement in [*leftover, *create]:
            conn.execute(statement)
    _retry_locked(conn, trigger, options)  # CREATE TRIGGER briefly locks out writes
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
            old_text = ident(spec.schema, _short(spec.table, OLD_SUFFIX)).as_string(c)
            for column in shape.identity:
                seq = c.execute(
                    "SELECT pg_get_serial_sequence(%s, %s)", (old_text, column)
                ).fetchone()
                if not seq or not seq[0]:
                    continue
                state = c.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(seq[0]))  # type: ignore[arg-type]
                ).fetchone()
                if state:
                    c.execute(
                        "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                        (new_text, column, state[0], state[1]),
                    )

        res.swap_attempts = _retry_locked(conn, swap, options, after=identity_position)
        res.swap_seconds = time.monotonic() - started
    except BaseException:
        # Stopped before the swap (an error, Ctrl-C): take the trigger off the application's
        # table now rather than leave every write doubled until the next run. Best effort:
        # the next run removes whatever is left before it starts over.
        _abandon(conn, spec)
        raise
    report(Step(where, "swap", f"{res.swap_seconds * 1000:.0f} ms", done=True))
    new_tbl = introspect.table(conn, spec.schema, spec.table)
    old_tbl = introspect.table(conn, spec.schema, _short(spec.table, OLD_SUFFIX))
    assert new_tbl is not None and old_tbl is not None
    _finish(conn, spec, new_tbl, old_tbl, res, report, where)
    return res


def _abandon(conn: psycopg.Connection[Any], spec: TableSpec) -> None:
    sync = ident(spec.schema, _short(spec.table, SYNC_SUFFIX))
    new = ident(spec.schema, _short(spec.table, NEW_SUFFIX))
    with contextlib.suppress(Exception):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '2s'")
            conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}() CASCADE").format(sync))
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(new))


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value if isinstance(value, date) else date.today()


def _swap_statements(
    conn: psycopg.Connection[Any], spec: TableSpec, tbl: introspect.Table, shape: _Shape
) -> list[sql.Composed]:
    old = ident(spec.schema, spec.table)
    old_renamed = _short(spec.table, OLD_SUFFIX)
    new_name = _short(spec.table, NEW_SUFFIX)
    sync = _short(spec.table, SYNC_SUFFIX)
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
                renamed_old, sql.Identifier(name), sql.Identifier(_short(name, OLD_SUFFIX))
            )
        )
        out.append(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                old, sql.Identifier(_short(name, NEW_SUFFIX)), sql.Identifier(name)
            )
        )
    for name, _ in shape.foreign_keys:
        out.append(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                old, sql.Identifier(_short(name, NEW_SUFFIX)), sql.Identifier(name)
            )
        )
    for name, _ in shape.indexes:
        out.append(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                ident(spec.schema, name), sql.Identifier(_short(name, OLD_SUFFIX))
            )
        )
        out.append(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                ident(spec.schema, _short(name, NEW_SUFFIX)), sql.Identifier(name)
            )
        )
    for column, sequence in shape.serial_sequences:
        out.append(
            sql.SQL("ALTER SEQUENCE {} OWNED BY {}").format(
                sql.SQL(sequence),  # type: ignore[arg-type]  # a regclass PostgreSQL printed
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
                sql.SQL(privilege),  # type: ignore[arg-type]  # from aclexplode
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
    new = ident(spec.schema, _short(spec.table, NEW_SUFFIX))
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


def _finish(
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
    res.default_rows = _default_rows(conn, spec)
