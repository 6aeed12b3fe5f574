"""`db archive`: partitions wholly older than the retention leave the database for the stack's
archive bucket, as Parquet. The rows stay in the application's view until their copy is read
back and verified; only then is the partition detached, proved unchanged and dropped.

Per partition, each step recorded in a journal table (`floyo_scale.archive_journal`, in a
schema of its own so PostgREST does not serve it) before the next begins:

    exporting -> uploaded -> verified -> detached -> dropped

1. export (the partition attached, readable and writable by the application): `SELECT
   <columns> FROM <partition>` in a REPEATABLE READ transaction, read as a binary COPY into
   Arrow batches by the ADBC PostgreSQL driver (db/export.py), into a zstd-compressed Parquet
   writer whose bytes go straight to S3 (5 MiB multipart parts; one PutObject when smaller):
   memory stays bounded whatever the partition's size. The transaction's snapshot is
   journalled. Then the manifest (`manifest.json`: rows, time range, column types, sha256 of
   the object) beside it.
2. verify: the object is read back (streamed to a temporary file while hashed): its sha256 must
   equal the manifest's, its Parquet row count the manifest's.
3. detach: `DETACH PARTITION ... CONCURRENTLY` when PostgreSQL allows it (not when the table
   has a default partition, and never in a transaction block); otherwise a plain DETACH with a
   short lock_timeout, retried. A concurrent detach that was interrupted is FINALIZEd.
4. check and drop: one scan of the detached partition proves it holds exactly the rows
   exported: as many rows, and none written after the export's snapshot (no row whose xmin
   the snapshot could not see). Then `DROP TABLE`. A row written during the export (the
   application may write to an old partition) fails the check: the partition is attached
   again and the rerun archives it anew.

A rerun after an interruption resumes from the journal: an object that was not yet verified
is deleted (every version) with any unfinished multipart upload for the key and exported
anew, so a versioned bucket holds one version; a verified one is detached, checked against
the journalled snapshot and dropped. The data is always in the database or in a verified
archive, and in the application's view until the archive is verified. The manifest:
db/manifest.py.

Key layout: `shard-<n>/<database>/<schema>/<table>/<partition>/data.parquet` and
`.../manifest.json`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import FloyoError, UsageError
from ..progress import Reporter, Step, ignore
from . import introspect
from .archive_checks import check_bucket, preflight, reattach
from .archive_drop import (
    check_and_drop,
    check_statement,
    detach,
    detach_statement,
    drop_statement,
    has_default,
    lock_statement,
)
from .connect import DatabaseError, Shard, connect, database_error, hold_lock
from .export import (
    ArchiveError,
    ArchiveOptions,
    Readers,
    arrow_type,
    export_partition,
    page_ranges,
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
from .manifest import (
    MANIFEST_VERSION,
    ColumnType,
    Manifest,
    put_manifest,
    read_manifest,
)
from .s3 import (
    PendingClient,
    abort_stale_uploads,
    delete_all_versions,
    read_back,
)
from .shape import TableSpec

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
        s3 = PendingClient()  # a dry run reads the bucket too (never writes)
    for shard in shards:
        # the readers' database opens while the checks run (a dry run reads no rows)
        with (
            contextlib.nullcontext() if dry_run else Readers(shard) as readers,
            connect(shard) as conn,
        ):
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
                            readers,
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
    readers: Readers | None,
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
        check_bucket(s3, shard, database, bucket)  # it exists and can be read
    elif todo:
        # every value of every partition to archive converts losslessly (the bucket is
        # checked before anything goes to it: see _export)
        preflight(conn, spec, {n: v[0] for n, v in todo.items()})
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
        _one(conn, s3, database, parent, spec, shard, item, options, report, where, readers)
        out.append(item)
    return out


def _dry_statements(
    conn: psycopg.Connection[Any],
    parent: introspect.Table,
    spec: TableSpec,
    name: str,
    item: ArchivedPartition,
) -> list[str]:
    concurrently = not has_default(conn, parent.oid)
    query = select_statement(conn, spec.schema, name)[1]
    return [
        *(
            f"COPY ({q}) TO STDOUT (FORMAT binary)  -- in one REPEATABLE READ snapshot, read "
            f"into Arrow (ADBC), to s3://{item.bucket}/{item.key} (Parquet, zstd) + "
            "manifest.json, read back"
            for q in page_ranges(conn, spec.schema, name, query)
        ),
        detach_statement(parent, spec.schema, name, concurrently).as_string(conn),
        lock_statement(spec, name).as_string(conn)
        + "  -- the check and the drop in one transaction, with lock_timeout",
        check_statement(spec, name).as_string(conn)
        + "  -- as many rows as exported, none written since its snapshot",
        drop_statement(spec, name).as_string(conn),
    ]


# states of an entry an earlier version left: it detached before it exported, and kept no
# snapshot (see _legacy)
_LEGACY = ("detaching", "detached", "uploaded", "verified")


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
    readers: Readers | None,
) -> None:
    name = item.partition
    ensure_journal(conn)
    entry = journal_get(conn, spec.schema, name)
    if entry is not None and entry.snapshot is None and entry.state in _LEGACY:
        _legacy(conn, parent, spec, entry, options)
        if entry.state == "dropped":
            item.rows, item.bytes = entry.rows or 0, entry.bytes or 0
            return
    fresh = entry is None or entry.state in ("dropped", "restored", "reattached")
    if entry is not None and entry.state == "exporting":
        # nothing was verified there: the bucket given now wins (an earlier run's wrong
        # --bucket is not kept)
        fresh = fresh or (entry.bucket, entry.data_key) != (item.bucket, item.key)
    if fresh:  # journalled before anything goes to the bucket (_export)
        entry = JournalEntry(
            spec.schema, spec.table, name, item.lower, item.upper, "exporting", item.bucket,
            item.key,
        )  # fmt: skip
    assert entry is not None
    item.bucket, item.key = entry.bucket, entry.data_key
    manifest_key = entry.data_key.rsplit("/", 1)[0] + "/manifest.json"

    if entry.state == "exporting":
        _export(
            conn, s3, database, spec, shard, entry, manifest_key, options, report, where, readers
        )
    if entry.state == "uploaded":
        _verify(conn, s3, spec, entry, manifest_key, options, report, where)
    if entry.state == "verified":
        report(Step(where, "detach"))
        detach(conn, parent, spec.schema, name, options)
        options.checkpoint("detached")
        entry.state = "detached"
        journal_put(conn, entry)
        report(Step(where, "detach", done=True))
    if entry.state == "detached":
        try:
            detach(conn, parent, spec.schema, name, options)  # (attached by hand since)
            check_and_drop(conn, spec, entry, options, report, where)
        except Exception as exc:
            # the rows go back into the application's view before the error is told
            if introspect.relation_exists(conn, spec.schema, name):
                note = reattach(conn, parent, spec.schema, entry, options)
                exc.add_note(note)
                if isinstance(exc, FloyoError):
                    exc.hint = f"{exc.hint} ({note})" if exc.hint else note
            raise
    item.rows = entry.rows or 0
    item.bytes = entry.bytes or 0


def _legacy(
    conn: psycopg.Connection[Any],
    parent: introspect.Table,
    spec: TableSpec,
    entry: JournalEntry,
    options: ArchiveOptions,
) -> None:
    """An entry left by a version that detached the partition before exporting it, and kept
    no snapshot to check it against: the partition is attached again (the rows back in view)
    and archived anew; one already dropped is journalled so."""
    name = entry.partition_name
    if not introspect.relation_exists(conn, spec.schema, name):
        if entry.state == "verified":  # that version dropped only what it had verified
            entry.state = "dropped"
            journal_put(conn, entry)
            return
        raise DatabaseError(
            f"partition {spec.schema}.{name} is journalled as {entry.state} but does not exist",
            f"look for s3://{entry.bucket}/{entry.data_key}; the journal "
            f"({JOURNAL_SCHEMA}.{JOURNAL_TABLE}) says no copy was verified",
        )
    reattach(conn, parent, spec.schema, entry, options)
    if entry.state != "reattached":
        raise DatabaseError(
            f"{spec.schema}.{name} was left detached by an earlier version of floyo-scale and "
            "could not be attached again",
            "attach it by hand (ALTER TABLE ... ATTACH PARTITION ... FOR VALUES ...), then "
            "run `db archive` again",
        )


def _export(
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
    readers: Readers | None,
) -> None:
    """From exporting to uploaded: the object and its manifest written (the partition
    attached all along). The rows are read while the S3 client is still being built
    (PendingClient); meanwhile, and before the first byte goes to the bucket, the bucket is
    checked, the entry journalled and whatever an interrupted run left at the key cleared
    (`prepare`, in a thread: the main thread does not use the connection until it ends)."""
    name = entry.partition_name
    if not introspect.relation_exists(conn, spec.schema, name):
        raise DatabaseError(
            f"partition {spec.schema}.{name} is journalled as exporting but does not exist",
            f"it was dropped by hand; the journal ({JOURNAL_SCHEMA}.{JOURNAL_TABLE}) says no "
            f"copy was verified: look for s3://{entry.bucket}/{entry.data_key}",
        )

    def prepare() -> None:  # (in a thread, while the rows are read: see MultipartSink)
        # the bucket exists and can be read; what is under the partition's prefix
        prefix = entry.data_key.rsplit("/", 1)[0] + "/"
        present = check_bucket(s3, shard, database, entry.bucket, prefix)
        journal_put(conn, entry)
        # an object or parts an interrupted run left here were never verified, and the rows
        # are still in the partition: cleared, so the bucket keeps one version
        abort_stale_uploads(s3, entry.bucket, entry.data_key)
        for key in (entry.data_key, manifest_key):
            if key in present:
                delete_all_versions(s3, entry.bucket, key)

    report(Step(where, "upload", f"s3://{entry.bucket}/{entry.data_key}"))
    exported = export_partition(
        conn, shard, s3, spec, name, entry, report, where, options, prepare, readers
    )
    options.checkpoint("uploaded")
    done = exported.check
    report(Step(where, "upload", f"{done.rows} rows, {done.bytes} bytes", done=True))
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
        rows=done.rows,
        min_value=exported.min_value,
        max_value=exported.max_value,
        columns=[ColumnType(n, t, str(arrow_type(t))) for n, t in columns],
        sha256=done.sha256,
        size=done.bytes,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    put_manifest(s3, entry.bucket, manifest_key, manifest)
    options.checkpoint("manifest")
    entry.rows, entry.sha256, entry.bytes = done.rows, done.sha256, done.bytes
    entry.snapshot = exported.snapshot
    entry.state = "uploaded"
    journal_put(conn, entry)


def _verify(
    conn: psycopg.Connection[Any],
    s3: Any,
    spec: TableSpec,
    entry: JournalEntry,
    manifest_key: str,
    options: ArchiveOptions,
    report: Reporter,
    where: str,
) -> None:
    """From uploaded to verified: the object and its manifest read back and compared."""
    name = entry.partition_name
    report(Step(where, "verify"))
    manifest = read_manifest(s3, entry.bucket, manifest_key)
    check = read_back(s3, entry.bucket, entry.data_key)
    if (
        check.sha256 != manifest.sha256
        or check.rows != manifest.rows
        or (check.sha256, check.rows) != (entry.sha256, entry.rows)
        or (manifest.lower, manifest.upper) != (entry.lower_bound, entry.upper_bound)
    ):
        # back to exporting: the next run uploads it again (nothing was detached)
        entry.state = "exporting"
        journal_put(conn, entry)
        raise ArchiveError(
            f"the archive of {spec.schema}.{name} does not verify: {check.rows} rows and "
            f"sha256 {check.sha256[:12]} in the bucket, {manifest.rows} rows and sha256 "
            f"{manifest.sha256[:12]} in the manifest, {entry.rows} rows exported",
            "nothing was changed: the partition is still attached. Run `db archive` again "
            "to upload it again",
        )
    entry.state = "verified"
    journal_put(conn, entry)
    options.checkpoint("verified")
    report(Step(where, "verify", f"{check.rows} rows, sha256 {check.sha256[:12]}", done=True))
