"""`db archive`: partitions wholly older than the retention leave the database for the stack's
archive bucket, as Parquet, and are dropped only once the copy is read back and verified.

Per partition, each step recorded in a journal table (`floyo_scale.archive_journal`, in a
schema of its own so PostgREST does not serve it) before the next begins:

    detaching -> detached -> uploaded -> verified -> dropped

1. detach: `DETACH PARTITION ... CONCURRENTLY` when PostgreSQL allows it (not when the table
   has a default partition, and never in a transaction block); otherwise a plain DETACH with a
   short lock_timeout, retried. A concurrent detach that was interrupted is FINALIZEd.
2. export: `COPY (SELECT ...) TO STDOUT (FORMAT csv)` streamed through pyarrow's CSV reader
   into a zstd-compressed Parquet writer whose bytes go straight to an S3 multipart upload
   (8 MiB parts): memory stays bounded whatever the partition's size. Then the manifest
   (`manifest.json`: rows, time range, column types, sha256 of the object) beside it.
3. verify: the object is read back (streamed to a temporary file while hashed): its sha256 must
   equal the manifest's, its Parquet row count the partition's row count in the database.
4. drop: `DROP TABLE` of the detached partition.

A rerun after an interruption at any point resumes from the journal: a detached partition is
not detached twice; an object already in the bucket that verifies against the database is
adopted (not uploaded again, so a versioned bucket holds one version); one that does not is
deleted and uploaded anew; unfinished multipart uploads for the key are aborted. The data is
always in the database or in a verified archive.

Key layout: `shard-<n>/<database>/<schema>/<table>/<partition>/data.parquet` and
`.../manifest.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import conninfo, sql

from ..errors import EngineError, UsageError
from . import introspect
from .connect import DatabaseError, Shard, connect, database_error, hold_lock
from .partition import TableSpec
from .progress import Count, Reporter, Step, ignore
from .sql import ident

JOURNAL_SCHEMA = "floyo_scale"
JOURNAL_TABLE = "archive_journal"
PART_SIZE = 8 * 1024 * 1024  # S3's minimum is 5 MiB; one part is held in memory at a time
CSV_BLOCK = 4 * 1024 * 1024
MANIFEST_VERSION = 1
STATES = ("detaching", "detached", "uploaded", "verified", "dropped")


class ArchiveError(EngineError):
    """S3 refused or failed; the partition is still in the database (exit 4)."""


# --- keys and manifest ------------------------------------------------------------------------


def bucket_name(project: str, stack: str, logical: str) -> str:
    """The real name of a stack's bucket: `<project>-<stack>-<name>`, as the program names it
    (infra/storage.py, with the prefix of infra/common.py's Context)."""
    return f"{project}-{stack}-{logical}"


def object_prefix(shard_index: int, database: str, schema: str, table: str, partition: str) -> str:
    return f"shard-{shard_index}/{database}/{schema}/{table}/{partition}/"


@dataclass(frozen=True)
class ColumnType:
    name: str
    postgres: str
    arrow: str


@dataclass(frozen=True)
class Manifest:
    version: int
    database: str
    schema: str
    table: str
    partition: str
    column: str  # the partition column
    lower: str  # the partition's range, ISO 8601 (lower inclusive, upper exclusive)
    upper: str
    rows: int
    min_value: str | None  # the earliest and latest value of the column in the rows
    max_value: str | None
    columns: list[ColumnType]
    sha256: str  # of the Parquet object
    size: int  # bytes of the Parquet object
    created_at: str
    format: str = "parquet"
    compression: str = "zstd"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        raw["columns"] = [ColumnType(**c) for c in raw["columns"]]
        return cls(**raw)


def arrow_type(postgres: str) -> pa.DataType:
    """How a PostgreSQL column is kept in Parquet. Types without an exact Arrow twin (numeric,
    json, uuid, arrays, ...) are kept as PostgreSQL's own text, which restores exactly."""
    simple: dict[str, pa.DataType] = {
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "double precision": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp without time zone": pa.timestamp("us"),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    }
    return simple.get(postgres, pa.string())


# --- S3 ---------------------------------------------------------------------------------------


def s3_client(profile: str | None = None) -> Any:
    """boto3's standard configuration: environment, profiles, AWS_ENDPOINT_URL."""
    import boto3

    try:
        session = (
            boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
        )
        return session.client("s3")
    except BotoCoreError as exc:  # ProfileNotFound, a malformed config file
        raise UsageError(
            f"cannot set up S3: {exc}",
            "check AWS_PROFILE (or the stack's aws.profile) and ~/.aws/config; in CI, the "
            "credentials step",
        ) from None


class _MultipartSink(io.RawIOBase):
    """A write-only stream that uploads what is written as S3 multipart parts, hashing it."""

    def __init__(self, s3: Any, bucket: str, key: str, report: Any) -> None:
        super().__init__()
        self.s3, self.bucket, self.key, self.report = s3, bucket, key, report
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.sha = hashlib.sha256()
        self.size = 0
        self.upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.buffer += view
        self.sha.update(view)
        self.size += len(view)
        while len(self.buffer) >= PART_SIZE:
            self._part(bytes(self.buffer[:PART_SIZE]))
            del self.buffer[:PART_SIZE]
        return len(view)

    def _part(self, body: bytes) -> None:
        number = len(self.parts) + 1
        answer = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self.report(self.size)

    def finish(self) -> None:
        if self.buffer or not self.parts:
            self._part(bytes(self.buffer))
            self.buffer.clear()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class _CopyStream(io.RawIOBase):
    """`COPY ... TO STDOUT` as a readable stream for pyarrow's CSV reader.

    libpq hands COPY data over one row at a time; a thread gathers the rows into blocks of
    CSV_BLOCK bytes while the caller parses and compresses the previous ones, so reading from
    the server and encoding overlap. At most QUEUE_BLOCKS blocks wait: memory stays bounded.
    """

    QUEUE_BLOCKS = 3

    def __init__(self, copy: Any) -> None:
        super().__init__()
        self.blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUE_BLOCKS)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.pending = memoryview(b"")
        self.bytes = 0
        self.thread = threading.Thread(target=self._pump, args=(copy,), daemon=True)
        self.thread.start()

    def _put(self, block: bytes | None) -> bool:
        while not self.stop.is_set():
            try:
                self.blocks.put(block, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self, copy: Any) -> None:
        try:
            buffer = bytearray()
            for chunk in copy:
                buffer += chunk
                if len(buffer) >= CSV_BLOCK:
                    if not self._put(bytes(buffer)):
                        return
                    buffer.clear()
            if buffer:
                self._put(bytes(buffer))
        except BaseException as exc:  # handed to the reading side
            self.error = exc
        finally:
            self._put(None)

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.pending:
            block = self.blocks.get()
            if block is None:
                self.blocks.put(None)  # later reads see the end too
                if self.error is not None:
                    raise self.error
                return 0
            self.pending = memoryview(block)
            self.bytes += len(block)
        n = min(len(target), len(self.pending))
        target[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        self.stop.set()
        super().close()

    def finish(self) -> None:
        """Wait for the reading thread (after the last block was read, or on an error)."""
        self.stop.set()
        self.thread.join()


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if _status(exc) == 404:
            return False
        raise


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def _delete_all_versions(s3: Any, bucket: str, key: str) -> None:
    """Every version of `key` (and its delete markers): an object we wrote and could not
    verify, before it is written again."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if item["Key"] == key:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])


def _abort_stale_uploads(s3: Any, bucket: str, key: str) -> None:
    answer = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in answer.get("Uploads", []):
        if upload["Key"] == key:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])


@dataclass(frozen=True)
class ObjectCheck:
    sha256: str
    rows: int
    bytes: int


def read_back(s3: Any, bucket: str, key: str, report: Any = None) -> ObjectCheck:
    """Download `key` in chunks to a temporary file while hashing it; count its rows."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    sha = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as tmp:
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            sha.update(chunk)
            tmp.write(chunk)
            size += len(chunk)
            if report:
                report(size)
        tmp.seek(0)
        rows = pq.ParquetFile(tmp).metadata.num_rows
    return ObjectCheck(sha.hexdigest(), rows, size)


# --- journal ----------------------------------------------------------------------------------


@dataclass
class JournalEntry:
    schema_name: str
    table_name: str
    partition_name: str
    lower_bound: str
    upper_bound: str
    state: str
    bucket: str
    data_key: str
    rows: int | None = None
    sha256: str | None = None
    bytes: int | None = None


def ensure_journal(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        sql.SQL(
            "CREATE SCHEMA IF NOT EXISTS {s}; "
            "CREATE TABLE IF NOT EXISTS {t} ("
            "schema_name text NOT NULL, table_name text NOT NULL, partition_name text NOT NULL, "
            "lower_bound text NOT NULL, upper_bound text NOT NULL, state text NOT NULL, "
            "bucket text NOT NULL, data_key text NOT NULL, rows bigint, sha256 text, "
            "bytes bigint, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (schema_name, partition_name))"
        ).format(s=sql.Identifier(JOURNAL_SCHEMA), t=ident(JOURNAL_SCHEMA, JOURNAL_TABLE))
    )


def journal_get(conn: psycopg.Connection[Any], schema: str, partition: str) -> JournalEntry | None:
    if not introspect.relation_exists(conn, JOURNAL_SCHEMA, JOURNAL_TABLE):
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT schema_name, table_name, partition_name, lower_bound, upper_bound, state, "
            "bucket, data_key, rows, sha256, bytes FROM {} "
            "WHERE schema_name = %s AND partition_name = %s"
        ).format(ident(JOURNAL_SCHEMA, JOURNAL_TABLE)),
        (schema, partition),
    ).fetchone()
    return JournalEntry(*row) if row else None


def journal_pending(conn: psycopg.Connection[Any], schema: str, table: str) -> list[JournalEntry]:
    """Partitions of `table` a previous run started and did not finish."""
    if not introspect.relation_exists(conn, JOURNAL_SCHEMA, JOURNAL_TABLE):
        return []
    rows = conn.execute(
        sql.SQL(
            "SELECT schema_name, table_name, partition_name, lower_bound, upper_bound, state, "
            "bucket, data_key, rows, sha256, bytes FROM {} WHERE schema_name = %s "
            "AND table_name = %s AND state NOT IN ('dropped', 'restored') "
            "ORDER BY partition_name"
        ).format(ident(JOURNAL_SCHEMA, JOURNAL_TABLE)),
        (schema, table),
    ).fetchall()
    return [JournalEntry(*r) for r in rows]


def journal_put(conn: psycopg.Connection[Any], entry: JournalEntry) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (schema_name, table_name, partition_name, lower_bound, upper_bound, "
            "state, bucket, data_key, rows, sha256, bytes) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (schema_name, partition_name) DO UPDATE SET "
            "table_name = EXCLUDED.table_name, lower_bound = EXCLUDED.lower_bound, "
            "upper_bound = EXCLUDED.upper_bound, state = EXCLUDED.state, "
            "bucket = EXCLUDED.bucket, data_key = EXCLUDED.data_key, rows = EXCLUDED.rows, "
            "sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes, updated_at = now()"
        ).format(ident(JOURNAL_SCHEMA, JOURNAL_TABLE)),
        (
            entry.schema_name,
            entry.table_name,
            entry.partition_name,
            entry.lower_bound,
            entry.upper_bound,
            entry.state,
            entry.bucket,
            entry.data_key,
            entry.rows,
            entry.sha256,
            entry.bytes,
        ),
    )


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


@dataclass
class ArchiveOptions:
    older_than_days: int | None = None  # None: each table's retention_days
    today: date | None = None
    lock_timeout_ms: int = 300
    attempts: int = 20
    # Called with a name at each point where data has moved and the journal not yet caught
    # up ("detached", "uploading", "uploaded", "manifest", "verified", "dropped"): the crash
    # injection tests raise there.
    checkpoint: Callable[[str], None] = lambda _: None


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
    if s3 is None and not dry_run:
        s3 = s3_client()
    for shard in shards:
        with connect(shard) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute("SET DateStyle = 'ISO'")
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
                        "nothing was dropped; the partition is detached and journalled. Report "
                        "the column type (values such as 'infinity' timestamps are not "
                        "supported), or attach the partition back by hand",
                    ) from None
                except (BotoCoreError, ClientError) as exc:
                    raise ArchiveError(
                        f"S3 failed while archiving {spec.name} on {shard.label}: {exc}",
                        "check the bucket name, the AWS credentials (AWS_PROFILE, "
                        "AWS_ENDPOINT_URL) and the network; the journal kept every finished "
                        "step and nothing unverified was dropped: run `db archive` again",
                    ) from None
                except psycopg.Error as exc:
                    raise database_error(
                        shard,
                        f"archiving {spec.name}",
                        exc,
                        "the journal kept every finished step; fix the cause and run "
                        "`db archive` again to resume",
                    ) from None
    return result


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
        sql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT csv)")
        .format(ident(spec.schema, name))
        .as_string(conn)
        + f"  -- to s3://{item.bucket}/{item.key} (Parquet, zstd) + manifest.json, read back",
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

    if entry.state == "detached":
        if not introspect.relation_exists(conn, spec.schema, name):
            raise DatabaseError(
                f"partition {spec.schema}.{name} is journalled as detached but does not exist",
                f"look for s3://{entry.bucket}/{entry.data_key}; the journal "
                f"({JOURNAL_SCHEMA}.{JOURNAL_TABLE}) says no copy was verified",
            )
        rows, lo, hi, multiline = _count(conn, spec, name)
        existing = None
        if _exists(s3, entry.bucket, entry.data_key):
            report(Step(where, "check existing object"))
            existing = read_back(s3, entry.bucket, entry.data_key)
            if existing.rows != rows:
                _delete_all_versions(s3, entry.bucket, entry.data_key)
                existing = None
            report(
                Step(
                    where, "check existing object", "adopted" if existing else "replaced", done=True
                )
            )
        if existing is None:
            _abort_stale_uploads(s3, entry.bucket, entry.data_key)
            report(Step(where, "upload", f"s3://{entry.bucket}/{entry.data_key}"))
            existing = _export(
                conn, shard, s3, spec, name, entry, rows, multiline, report, where, options
            )
            options.checkpoint("uploaded")
            report(
                Step(where, "upload", f"{existing.rows} rows, {existing.bytes} bytes", done=True)
            )
        columns = _columns(conn, spec.schema, name)
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
        _put_manifest(s3, entry.bucket, manifest_key, manifest)
        options.checkpoint("manifest")
        entry.rows, entry.sha256, entry.bytes = existing.rows, existing.sha256, existing.bytes
        entry.state = "uploaded"
        journal_put(conn, entry)

    if entry.state == "uploaded":
        report(Step(where, "verify"))
        manifest = Manifest.from_json(
            s3.get_object(Bucket=entry.bucket, Key=manifest_key)["Body"].read()
        )
        check = read_back(s3, entry.bucket, entry.data_key)
        rows, _, _, _ = _count(conn, spec, name)
        if check.sha256 != manifest.sha256 or check.rows != manifest.rows or rows != check.rows:
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

    if entry.state == "verified":
        report(Step(where, "drop"))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(spec.schema, name)))
        options.checkpoint("dropped")
        entry.state = "dropped"
        journal_put(conn, entry)
        report(Step(where, "drop", done=True))
    item.rows = entry.rows or 0
    item.bytes = entry.bytes or 0


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
    for attempt in range(1, options.attempts + 1):
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{options.lock_timeout_ms}ms")
                    )
                )
                conn.execute(_detach_statement(parent, schema, name, False))
            return
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(0.05 * attempt, 1.0))
    raise DatabaseError(
        f"could not detach {schema}.{name}: its table stayed locked",
        "a long transaction holds it; run `db archive` again later",
    )


# Types whose text form never holds a line break (jsonb is printed normalised; json is not).
_ONE_LINE = re.compile(
    r"^(smallint|integer|bigint|real|double precision|boolean|date|numeric.*|uuid|jsonb|"
    r"inet|cidr|macaddr8?|money|bytea|oid|interval.*|time.*|timestamp.*|bit.*)$"
)


def _count(
    conn: psycopg.Connection[Any], spec: TableSpec, name: str
) -> tuple[int, str | None, str | None, bool]:
    """Rows, the partition column's min and max, and whether any value's text holds a line
    break (only then must the CSV parser look for line breaks inside quotes, which makes it
    several times slower): one scan."""
    checks = [
        sql.SQL("strpos({c}::text, E'\\n') > 0 OR strpos({c}::text, E'\\r') > 0").format(
            c=sql.Identifier(column)
        )
        for column, kind in _columns(conn, spec.schema, name)
        if not _ONE_LINE.match(kind)
    ]
    multiline = (
        sql.SQL("coalesce(bool_or({}), false)").format(sql.SQL(" OR ").join(checks))
        if checks
        else sql.SQL("false")
    )
    row = conn.execute(
        sql.SQL("SELECT count(*), min({c})::text, max({c})::text, {m} FROM {t}").format(
            c=sql.Identifier(spec.column), t=ident(spec.schema, name), m=multiline
        )
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1], row[2], bool(row[3])


def _columns(conn: psycopg.Connection[Any], schema: str, name: str) -> list[tuple[str, str]]:
    tbl = introspect.table(conn, schema, name)
    assert tbl is not None
    return [(c.name, c.type) for c in tbl.columns]


def _put_manifest(s3: Any, bucket: str, key: str, manifest: Manifest) -> None:
    """Write the manifest unless the same one (same object checksum and rows) is there."""
    try:
        current = Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if current.sha256 == manifest.sha256 and current.rows == manifest.rows:
            return
    except ClientError as exc:
        if _status(exc) != 404:
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=manifest.to_json(), ContentType="application/json")


# libpq environment variables for the connection keywords psql is given through its
# environment (never its command line, which `ps` shows).
_PG_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "channel_binding": "PGCHANNELBINDING",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
    "service": "PGSERVICE",
}


def _psql_env(shard: Shard) -> dict[str, str] | None:
    """The environment that points psql at `shard`, or None (no psql on PATH, or a connection
    keyword without an environment variable): then psycopg reads the COPY instead."""
    if os.environ.get("FLOYO_DB_NO_PSQL") or not shutil.which("psql"):
        return None
    try:
        params = conninfo.conninfo_to_dict(shard.url)
    except psycopg.ProgrammingError:
        return None
    if any(key not in _PG_ENV for key in params):
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({_PG_ENV[k]: str(v) for k, v in params.items()})
    env.update({"PGTZ": "UTC", "PGDATESTYLE": "ISO", "PGCLIENTENCODING": "UTF8"})
    env["PGAPPNAME"] = "floyo-scale"
    return env


@contextlib.contextmanager
def _copy_out(
    conn: psycopg.Connection[Any], shard: Shard, statement: sql.Composed
) -> Iterator[Any]:
    """A readable stream of the COPY's output.

    libpq hands COPY data over one row at a time, which costs psycopg about as much Python as
    the rest of the archive together; psql (when on PATH) reads the same COPY in C and writes
    it to a pipe read in large blocks. Credentials go to psql through its environment."""
    env = _psql_env(shard)
    if env is None:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            stream = _CopyStream(copy)
            try:
                yield io.BufferedReader(stream, buffer_size=CSV_BLOCK)
            finally:
                stream.finish()
        return
    text = statement.as_string(conn)
    proc = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", text],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield proc.stdout
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise DatabaseError(
            f"psql could not read the partition on {shard.label}: {shard.scrub(err.strip())}",
            "nothing was dropped; fix the cause (or set FLOYO_DB_NO_PSQL=1 to read through "
            "psycopg) and run `db archive` again",
        )


def _export(
    conn: psycopg.Connection[Any],
    shard: Shard,
    s3: Any,
    spec: TableSpec,
    name: str,
    entry: JournalEntry,
    rows_expected: int,
    multiline: bool,
    report: Reporter,
    where: str,
    options: ArchiveOptions,
) -> ObjectCheck:
    columns = _columns(conn, spec.schema, name)
    schema = pa.schema([(n, arrow_type(t)) for n, t in columns])
    sink = _MultipartSink(
        s3,
        entry.bucket,
        entry.data_key,
        lambda size: report(Count(where, "upload", size, None, "bytes")),
    )
    rows = 0
    statement = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT csv)").format(
        sql.SQL(", ").join(sql.Identifier(n) for n, _ in columns),
        ident(spec.schema, name),
    )
    try:
        with _copy_out(conn, shard, statement) as stream:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=[n for n, _ in columns], block_size=CSV_BLOCK, use_threads=True
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=multiline),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: t for n, t in zip(schema.names, schema.types, strict=True)},
                    null_values=[""],
                    true_values=["t"],
                    false_values=["f"],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
                    options.checkpoint("uploading")
                    report(Count(where, "rows", rows, rows_expected, "rows"))
        if rows != rows_expected:
            raise ArchiveError(
                f"exported {rows} rows of {spec.schema}.{name} but it holds {rows_expected}",
                "nothing was dropped; run `db archive` again",
            )
        sink.finish()
    except Exception:
        # An error: give the parts back now. A crash (or Ctrl-C) leaves them; the rerun
        # aborts them (list_multipart_uploads) before uploading again.
        with contextlib.suppress(Exception):
            sink.abort()
        raise
    return ObjectCheck(sink.sha.hexdigest(), rows, sink.size)


def find_manifest(s3: Any, bucket: str, prefix: str) -> Manifest:
    key = prefix + "manifest.json"
    try:
        return Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if _status(exc) == 404:
            raise UsageError(
                f"no archive at s3://{bucket}/{key}",
                "check --table, --partition and --bucket (`db archive --dry-run` lists keys)",
            ) from None
        raise
