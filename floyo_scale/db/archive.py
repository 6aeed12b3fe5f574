"""`db archive`: partitions wholly older than the retention leave the database for the stack's
archive bucket, as Parquet, and are dropped only once the copy is read back and verified.

Per partition, each step recorded in a journal table (`floyo_scale.archive_journal`, in a
schema of its own so PostgREST does not serve it) before the next begins:

    detaching -> detached -> uploaded -> verified -> dropped

1. detach: `DETACH PARTITION ... CONCURRENTLY` when PostgreSQL allows it (not when the table
   has a default partition, and never in a transaction block); otherwise a plain DETACH with a
   short lock_timeout, retried. A concurrent detach that was interrupted is FINALIZEd.
2. export: `SELECT <columns> FROM <partition>`, read as a binary COPY into Arrow batches by
   the ADBC PostgreSQL driver (db/export.py), into a zstd-compressed Parquet writer whose
   bytes go straight to an S3 multipart upload (8 MiB parts): memory stays bounded whatever
   the partition's size. Then the manifest
   (`manifest.json`: rows, time range, column types, sha256 of the object) beside it.
3. verify: the object is read back (streamed to a temporary file while hashed): its sha256 must
   equal the manifest's, its Parquet row count the partition's row count in the database.
4. drop: `DROP TABLE` of the detached partition.

A rerun after an interruption at any point resumes from the journal: a detached partition is
not detached twice; an object already in the bucket that verifies against the database is
adopted (not uploaded again, so a versioned bucket holds one version); one that does not is
deleted and uploaded anew; unfinished multipart uploads for the key are aborted. The data is
always in the database or in a verified archive. The manifest: db/manifest.py.

Key layout: `shard-<n>/<database>/<schema>/<table>/<partition>/data.parquet` and
`.../manifest.json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql

from ..errors import FloyoError, UsageError
from ..progress import Reporter, Step, ignore
from . import introspect
from .archive_checks import check_bucket, preflight, reattach
from .connect import DatabaseError, Shard, connect, database_error, hold_lock
from .export import (
    ArchiveError,
    ArchiveOptions,
    arrow_type,
    export_partition,
    select_statement,
    table_columns,
)
from .journal import (
    JOURNAL_SCHEMA,
    JOURNAL_TABLE,
    JournalEntry,
    ensure_journal,
    journal_get,
    journal_pending,
    journal_put,
)
from .locks import run_statements, under_lock_timeout
from .manifest import (
    MANIFEST_VERSION,
    ColumnType,
    Manifest,
    put_manifest,
    read_manifest,
)
from .s3 import (
    abort_stale_uploads,
    delete_all_versions,
    object_exists,
    read_back,
    s3_client,
)
from .shape import TableSpec
from .sql import ident

STATES = ("detaching", "detached", "uploaded", "verified", "dropped")
# "reattached": a failure after the detach put the partition back; the next run starts again

# --- keys ------------------------------------------------------------------------


def bucket_name(project: str, stack: str, logical: str) -> str:
    """The real name of a stack's bucket: `<project>-<stack>-<name>`, as the program names it
    (infra/storage.py, with the prefix of infra/common.py's Context)."""
    return f"{project}-{stack}-{logical}"


def object_prefix(shard_index: int, database: str, schema: str, table: str, partition: str) -> str:
    return f"shard-{shard_index}/{database}/{schema}/{table}/{partition}/"


# --- report -----------------------------------------------------------------------------------


@dataclass
class ArchivedPartition:
    shard: int
    table: str
    partition: str
    lower: str
    upper: str
    action: str  # "archived", "resumed", "would archive"
    bucket: str
    key: str
    rows: int = 0
    bytes: int = 0
    statements: list[str] = field(default_factory=list)


@dataclass
class ArchiveReport:
    dry_run: bool
    cutoffs: dict[str, str] = field(default_factory=dict)  # table -> oldest date kept
    partitions: list[ArchivedPartition] = field(default_factory=list)


# --- entry point ------------------------------------------------------------------------------


def archive(
    shards: Iterable[Shard],
    specs: Iterable[TableSpec],
    buckets: dict[str, str],
    *,
    s3: Any = None,
    dry_run: bool = False,
    options: ArchiveOptions | None = None,
    report: Reporter = ignore,
) -> ArchiveReport:
    """Archive every partition wholly older than the retention, on every shard.

    `buckets` maps a table (as named in the phase) to the real bucket name.
    """
    options = options or ArchiveOptions()
    today = options.today or datetime.now(UTC).date()
    result = ArchiveReport(dry_run=dry_run)
    specs = list(specs)
    for spec in specs:
        if spec.name not in buckets:
            raise UsageError(
                f"no archive bucket for {spec.name}",
                f"set database.partitioning.{spec.name}.archive_bucket in the phase, or give "
                "--bucket",
            )
    if s3 is None:
        s3 = s3_client()  # a dry run reads the bucket too (never writes)
    for shard in shards:
        with connect(shard) as conn:
            conn.execute("SET statement_timeout = 0")
            if not dry_run:
                hold_lock(conn, shard)
            database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            for spec in specs:
                days = options.older_than_days or spec.retention_days
                cutoff = today - timedelta(days=days)
                result.cutoffs[spec.name] = cutoff.isoformat()
                try:
                    result.partitions.extend(
                        _table(
                            conn,
                            s3,
                            shard,
                            database,
                            spec,
                            buckets[spec.name],
                            cutoff,
                            dry_run,
                            options,
                            report,
                        )
                    )
                except pa.ArrowException as exc:
                    raise ArchiveError(
                        f"a value of {spec.name} on {shard.label} cannot be written to Parquet: "
                        f"{exc}",
                        "nothing was dropped. Report the column type" + _notes(exc),
                    ) from None
                except (BotoCoreError, ClientError) as exc:
                    raise ArchiveError(
                        f"S3 failed while archiving {spec.name} on {shard.label}: {exc}",
                        "check the bucket name, the AWS credentials (AWS_PROFILE, "
                        "AWS_ENDPOINT_URL) and the network; the journal kept every finished "
                        "step and nothing unverified was dropped: run `db archive` again"
                        + _notes(exc),
                    ) from None
                except psycopg.Error as exc:
                    raise database_error(
                        shard,
                        f"archiving {spec.name}",
                        exc,
                        "the journal kept every finished step; fix the cause and run "
                        "`db archive` again to resume" + _notes(exc),
                    ) from None
    return result


def _notes(exc: BaseException) -> str:
    """What was done about the partition after `exc` (see _one), for a hint."""
    notes = getattr(exc, "__notes__", None) or []
    return "".join(f" ({n})" for n in notes)


def _table(
    conn: psycopg.Connection[Any],
    s3: Any,
    shard: Shard,
    database: str,
    spec: TableSpec,
    bucket: str,
    cutoff: date,
    dry_run: bool,
    options: ArchiveOptions,
    report: Reporter,
) -> list[ArchivedPartition]:
    parent = introspect.table(conn, spec.schema, spec.table)
    if parent is None:
        raise UsageError(
            f"table {spec.name} does not exist on {shard.label}",
            "run `db partition` first, or remove it from database.partitioning",
        )
    if parent.kind != "p":
        raise UsageError(
            f"table {spec.name} is not partitioned on {shard.label}",
            "run `floyo-scale db partition` first",
        )
    limit = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    todo: dict[str, tuple[str, str, bool]] = {}
    for entry in journal_pending(conn, spec.schema, spec.table):
        todo[entry.partition_name] = (entry.lower_bound, entry.upper_bound, True)
    for p in introspect.partitions(conn, parent.oid):
        if p.default or p.upper is None or p.upper > limit or p.name in todo:
            continue
        lower = p.lower.isoformat() if p.lower else "-infinity"
        todo[p.name] = (lower, p.upper.isoformat(), False)
    if dry_run:
        # the bucket exists and can be read with these credentials (writes are not tried)
        check_bucket(s3, shard, database, bucket)
    elif todo:
        # before the first change: the bucket takes writes with these credentials, and every
        # value of every partition to archive converts losslessly
        preflight(conn, s3, shard, database, spec, bucket, {n: v[0] for n, v in todo.items()})
    out = []
    for name in sorted(todo):
        lower, upper, resumed = todo[name]
        prefix = object_prefix(shard.index, database, spec.schema, spec.table, name)
        item = ArchivedPartition(
            shard.index,
            spec.name,
            name,
            lower,
            upper,
            "would archive" if dry_run else ("resumed" if resumed else "archived"),
            bucket,
            prefix + "data.parquet",
        )
        where = f"shard {shard.index} {spec.schema}.{name}"
        if dry_run:
            item.statements = _dry_statements(conn, parent, spec, name, item)
            out.append(item)
            continue
        _one(conn, s3, database, parent, spec, shard, item, options, report, where)
        out.append(item)
    return out


def _has_default(conn: psycopg.Connection[Any], oid: int) -> bool:
    return any(p.default for p in introspect.partitions(conn, oid))


def _detach_statement(
    parent: introspect.Table, schema: str, name: str, concurrently: bool
) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} DETACH PARTITION {}{}").format(
        ident(parent.schema, parent.name),
        ident(schema, name),
        sql.SQL(" CONCURRENTLY" if concurrently else ""),
    )


def _dry_statements(
    conn: psycopg.Connection[Any],
    parent: introspect.Table,
    spec: TableSpec,
    name: str,
    item: ArchivedPartition,
) -> list[str]:
    concurrently = not _has_default(conn, parent.oid)
    return [
        _detach_statement(parent, spec.schema, name, concurrently).as_string(conn),
        f"COPY ({select_statement(conn, spec.schema, name)[1]}) TO STDOUT (FORMAT binary)"
        f"  -- read into Arrow (ADBC), to s3://{item.bucket}/{item.key} (Parquet, zstd) + "
        "manifest.json, read back",
        sql.SQL("DROP TABLE {}").format(ident(spec.schema, name)).as_string(conn),
    ]


def _one(
    conn: psycopg.Connection[Any],
    s3: Any,
    database: str,
    parent: introspect.Table,
    spec: TableSpec,
    shard: Shard,
    item: ArchivedPartition,
    options: ArchiveOptions,
    report: Reporter,
    where: str,
) -> None:
    name = item.partition
    ensure_journal(conn)
    entry = journal_get(conn, spec.schema, name)
    if entry is not None and entry.state == "reattached":
        entry.state = "detaching"  # an earlier run put it back after a failure: start again
    if (
        entry is not None
        and entry.state in ("detaching", "detached")
        and (entry.bucket, entry.data_key) != (item.bucket, item.key)
    ):
        # nothing was verified there: the bucket given now wins (an earlier run's wrong
        # --bucket is not kept)
        entry.bucket, entry.data_key = item.bucket, item.key
        journal_put(conn, entry)
    if entry is None or entry.state in ("dropped", "restored"):
        entry = JournalEntry(
            spec.schema,
            spec.table,
            name,
            item.lower,
            item.upper,
            "detaching",
            item.bucket,
            item.key,
        )
        journal_put(conn, entry)
    item.bucket, item.key = entry.bucket, entry.data_key
    manifest_key = entry.data_key.rsplit("/", 1)[0] + "/manifest.json"

    if entry.state == "detaching":
        report(Step(where, "detach"))
        _detach(conn, parent, spec.schema, name, options)
        options.checkpoint("detached")
        entry.state = "detached"
        journal_put(conn, entry)
        report(Step(where, "detach", done=True))

    try:
        _upload_and_verify(
            conn, s3, database, spec, shard, entry, manifest_key, options, report, where
        )
    except Exception as exc:
        # the rows go back into the application's view before the error is told
        if entry.state in ("detached", "uploaded") and introspect.relation_exists(
            conn, spec.schema, name
        ):
            note = reattach(conn, parent, spec.schema, entry, options)
            exc.add_note(note)
            if isinstance(exc, FloyoError):
                exc.hint = f"{exc.hint} ({note})" if exc.hint else note
        raise

    if entry.state == "verified":
        report(Step(where, "drop"))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(spec.schema, name)))
        options.checkpoint("dropped")
        entry.state = "dropped"
        journal_put(conn, entry)
        report(Step(where, "drop", done=True))
    item.rows = entry.rows or 0
    item.bytes = entry.bytes or 0


def _upload_and_verify(
    conn: psycopg.Connection[Any],
    s3: Any,
    database: str,
    spec: TableSpec,
    shard: Shard,
    entry: JournalEntry,
    manifest_key: str,
    options: ArchiveOptions,
    report: Reporter,
    where: str,
) -> None:
    """From detached to verified (the object written, its manifest, both read back)."""
    name = entry.partition_name
    if entry.state == "detached":
        if not introspect.relation_exists(conn, spec.schema, name):
            raise DatabaseError(
                f"partition {spec.schema}.{name} is journalled as detached but does not exist",
                f"look for s3://{entry.bucket}/{entry.data_key}; the journal "
                f"({JOURNAL_SCHEMA}.{JOURNAL_TABLE}) says no copy was verified",
            )
        rows, lo, hi = _count(conn, spec, name)
        existing = None
        if object_exists(s3, entry.bucket, entry.data_key):
            report(Step(where, "check existing object"))
            existing = read_back(s3, entry.bucket, entry.data_key)
            if existing.rows != rows:
                delete_all_versions(s3, entry.bucket, entry.data_key)
                existing = None
            report(
                Step(
                    where, "check existing object", "adopted" if existing else "replaced", done=True
                )
            )
        if existing is None:
            abort_stale_uploads(s3, entry.bucket, entry.data_key)
            report(Step(where, "upload", f"s3://{entry.bucket}/{entry.data_key}"))
            existing = export_partition(
                conn, shard, s3, spec, name, entry, rows, report, where, options
            )
            options.checkpoint("uploaded")
            report(
                Step(where, "upload", f"{existing.rows} rows, {existing.bytes} bytes", done=True)
            )
        columns = table_columns(conn, spec.schema, name)
        manifest = Manifest(
            version=MANIFEST_VERSION,
            database=database,
            schema=spec.schema,
            table=spec.table,
            partition=name,
            column=spec.column,
            lower=entry.lower_bound,
            upper=entry.upper_bound,
            rows=existing.rows,
            min_value=lo,
            max_value=hi,
            columns=[ColumnType(n, t, str(arrow_type(t))) for n, t in columns],
            sha256=existing.sha256,
            size=existing.bytes,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        put_manifest(s3, entry.bucket, manifest_key, manifest)
        options.checkpoint("manifest")
        entry.rows, entry.sha256, entry.bytes = existing.rows, existing.sha256, existing.bytes
        entry.state = "uploaded"
        journal_put(conn, entry)

    if entry.state == "uploaded":
        report(Step(where, "verify"))
        manifest = read_manifest(s3, entry.bucket, manifest_key)
        check = read_back(s3, entry.bucket, entry.data_key)
        counted = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(ident(spec.schema, name))
        ).fetchone()
        rows = int(counted[0]) if counted else -1
        if (
            check.sha256 != manifest.sha256
            or check.rows != manifest.rows
            or rows != check.rows
            or (manifest.lower, manifest.upper) != (entry.lower_bound, entry.upper_bound)
        ):
            # back to "detached": the next run uploads it again
            entry.state = "detached"
            journal_put(conn, entry)
            raise ArchiveError(
                f"the archive of {spec.schema}.{name} does not verify: {check.rows} rows and "
                f"sha256 {check.sha256[:12]} in the bucket, {manifest.rows} rows and sha256 "
                f"{manifest.sha256[:12]} in the manifest, {rows} rows in the database",
                "nothing was dropped; run `db archive` again to upload it again",
            )
        entry.state = "verified"
        journal_put(conn, entry)
        options.checkpoint("verified")
        report(Step(where, "verify", f"{check.rows} rows, sha256 {check.sha256[:12]}", done=True))


def _detach(
    conn: psycopg.Connection[Any],
    parent: introspect.Table,
    schema: str,
    name: str,
    options: ArchiveOptions,
) -> None:
    parts = {p.name: p for p in introspect.partitions(conn, parent.oid)}
    current = parts.get(name)
    if current is None:
        return  # detached already (the journal was not updated before an interruption)
    if current.detach_pending:
        conn.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(
                ident(parent.schema, parent.name), ident(schema, name)
            )
        )
        return
    if not any(p.default for p in parts.values()):
        # autocommit: CONCURRENTLY cannot run in a transaction block
        conn.execute(_detach_statement(parent, schema, name, True))
        return
    detach = _detach_statement(parent, schema, name, False)
    if under_lock_timeout(
        conn,
        lambda: run_statements(conn, detach),
        lock_timeout_ms=options.lock_timeout_ms,
        attempts=options.attempts,
    ):
        return
    raise DatabaseError(
        f"could not detach {schema}.{name}: its table stayed locked",
        "a long transaction holds it; run `db archive` again later",
    )


def _count(
    conn: psycopg.Connection[Any], spec: TableSpec, name: str
) -> tuple[int, str | None, str | None]:
    """Rows, and the partition column's min and max (as text): one scan."""
    row = conn.execute(
        sql.SQL("SELECT count(*), min({c})::text, max({c})::text FROM {t}").format(
            c=sql.Identifier(spec.column), t=ident(spec.schema, name)
        )
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1], row[2]
