"""A partition exported as Parquet: read as Arrow batches (a binary COPY, decoded in C by the
ADBC PostgreSQL driver) and encoded in a stream to an S3 multipart upload.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from ..errors import EngineError
from ..progress import Count, Reporter
from . import introspect
from .connect import DatabaseError, Shard, database_error, session_conninfo
from .journal import JournalEntry
from .s3 import MultipartSink, ObjectCheck
from .shape import TableSpec
from .sql import ident


class ArchiveError(EngineError):
    """S3 refused or failed; the partition is still in the database (exit 4)."""


# zstd without dictionary encoding: on the benchmark's rows the file is half the size (4.7 MB
# instead of 8.9 for 1M rows: the dictionaries overflowed into plain pages anyway and zstd
# compresses plain pages better), the write faster and the writer's memory smaller.
PARQUET: dict[str, Any] = {"compression": "zstd", "use_dictionary": False}


def with_statistics(schema: pa.Schema) -> list[str]:
    """The columns whose row groups carry min/max statistics: those kept as their Arrow twin
    (a reader prunes row groups by time or id with them). Text columns' (numeric, json, ...
    as text) would order as strings, of no use for pruning, and cost the writer 5-25% more."""
    return [f.name for f in schema if not pa.types.is_string(f.type)]


def arrow_type(postgres: str) -> pa.DataType:
    """How a PostgreSQL column is kept in Parquet. Types without an exact Arrow twin (numeric,
    json, uuid, arrays, ...) are kept as PostgreSQL's own text, which restores exactly."""
    return _NATIVE.get(_plain(postgres), pa.string())


def _plain(postgres: str) -> str:
    """A type's name as _NATIVE knows it (`timestamp(3) with time zone` without its precision)."""
    return introspect.time_type(postgres) or postgres


_NATIVE: dict[str, pa.DataType] = {
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


def table_columns(conn: psycopg.Connection[Any], schema: str, name: str) -> list[tuple[str, str]]:
    tbl = introspect.table(conn, schema, name)
    assert tbl is not None
    return [(c.name, c.type) for c in tbl.columns]


# Each Parquet row group is one batch of the reader: about this many bytes of rows (about
# 40,000 of the benchmark's rows). Memory holds the batch being encoded and READ_AHEAD more.
BATCH_BYTES = 4 * 1024 * 1024
READ_AHEAD = 1


def read_as(postgres: str) -> str:
    """The type a column is read as: its Arrow twin's PostgreSQL type (sent in binary, decoded
    by the driver in C), or text (PostgreSQL's own output, in the session's fixed settings)."""
    name = _plain(postgres)
    return name if name in _NATIVE else "text"


def select_statement(
    conn: psycopg.Connection[Any], schema: str, name: str
) -> tuple[pa.Schema, str]:
    """The Parquet schema of partition `schema.name`, and the query that reads it (each column
    as `read_as` says)."""
    columns = table_columns(conn, schema, name)
    arrow = pa.schema([(n, arrow_type(t)) for n, t in columns])
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(
            sql.SQL("{c}::{t} AS {c}").format(c=sql.Identifier(n), t=sql.SQL(read_as(t)))
            for n, t in columns
        ),
        ident(schema, name),
    )
    return arrow, query.as_string(conn)


@dataclass
class Reading:
    """What read_batches gives: the batches, and the snapshot they were read in (set before
    the first batch)."""

    batches: Iterator[pa.RecordBatch]
    snapshot: str = ""


@contextlib.contextmanager
def read_batches(shard: Shard, query: str, schema: pa.Schema) -> Iterator[Reading]:
    """The rows of `query` as Arrow batches of `schema`, in a REPEATABLE READ transaction
    whose snapshot (`pg_current_snapshot()`) is handed back with them.

    The ADBC PostgreSQL driver runs the query as a binary COPY and decodes it in C (no text
    round trip, no parser to tell where a row ends); a thread of its own reads the next
    batches from the server while the caller encodes the previous ones. (The driver's own
    API, not its DB-API module, which imports pyarrow.dataset and .compute: 38 ms of a run.)"""
    import adbc_driver_manager
    import adbc_driver_postgresql

    def failed(exc: BaseException) -> DatabaseError:
        return database_error(
            shard,
            "reading the partition",
            exc,
            "nothing was changed: the partition is still attached. Fix the cause and run "
            "`db archive` again",
        )

    slots: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()
    errors: list[BaseException] = []
    opened: list[Any] = []  # the database, connection and statement, once made

    def put(item: pa.RecordBatch | None) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:  # connecting here too: the caller sets up its side meanwhile
            opened.append(adbc_driver_postgresql.connect(session_conninfo(shard)))
            opened.append(adbc_driver_manager.AdbcConnection(opened[0]))
            statement = adbc_driver_manager.AdbcStatement(opened[1])
            opened.append(statement)

            def run(text: str) -> pa.RecordBatchReader:
                statement.set_sql_query(text)
                handle, _ = statement.execute_query()
                return pa.RecordBatchReader._import_from_c(handle.address)

            for text in (
                "SET statement_timeout = 0",  # a long COPY is not cut short
                "BEGIN ISOLATION LEVEL REPEATABLE READ",
            ):
                statement.set_sql_query(text)
                statement.execute_update()
            reading.snapshot = run("SELECT pg_current_snapshot()::text").read_all()[0][0].as_py()
            statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
            for batch in run(query):
                if not put(batch.cast(schema)):
                    return
        except BaseException as exc:  # handed to the reading side
            errors.append(exc)
        finally:
            put(None)

    def read() -> Iterator[pa.RecordBatch]:
        while (batch := slots.get()) is not None:
            yield batch
        if errors:
            raise failed(errors[0]) from None

    reading = Reading(read())
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield reading
    finally:
        if thread.is_alive():
            stop.set()
            if len(opened) == 3:
                with contextlib.suppress(Exception):
                    opened[2].cancel()  # a COPY the server is still sending stops now
            thread.join()
        for handle in reversed(opened):  # the statement, its connection (the transaction
            with contextlib.suppress(Exception):  # ends with it), the database
                handle.close()


@dataclass(frozen=True)
class Exported:
    """An uploaded object, the snapshot its rows were read in, and the partition column's
    earliest and latest value among them (as PostgreSQL writes them; None when empty)."""

    check: ObjectCheck
    snapshot: str
    min_value: str | None
    max_value: str | None


def export_partition(
    conn: psycopg.Connection[Any],
    shard: Shard,
    s3: Any,
    spec: TableSpec,
    name: str,
    entry: JournalEntry,
    report: Reporter,
    where: str,
    options: ArchiveOptions,
    prepare: Callable[[], None] | None = None,
) -> Exported:
    """The partition's rows, as one snapshot sees them, written to the entry's key
    (`prepare` is called before the first S3 call: see MultipartSink)."""
    schema, query = select_statement(conn, spec.schema, name)
    estimate = conn.execute(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
        (ident(spec.schema, name).as_string(conn),),
    ).fetchone()
    expected = int(estimate[0]) if estimate and estimate[0] else None
    rows = 0
    sink: MultipartSink | None = None
    try:
        with read_batches(shard, query, schema) as reading:
            sink = MultipartSink(
                s3,
                entry.bucket,
                entry.data_key,
                lambda size: report(Count(where, "upload", size, None, "bytes")),
                prepare,
            )
            with pq.ParquetWriter(
                sink, schema, write_statistics=with_statistics(schema), **PARQUET
            ) as writer:
                for batch in reading.batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
                    options.checkpoint("uploading")
                    report(Count(where, "rows", rows, expected, "rows"))
            snapshot = reading.snapshot
        sink.finish()
    except Exception:
        # An error: give the parts back now. A crash (or Ctrl-C) leaves them; the rerun
        # aborts them (list_multipart_uploads) before uploading again.
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.abort()
        raise
    lo, hi = _span(conn, writer.writer.metadata, schema, spec.column)
    return Exported(ObjectCheck(sink.sha.hexdigest(), rows, sink.size), snapshot, lo, hi)


def _span(
    conn: psycopg.Connection[Any], meta: pq.FileMetaData, schema: pa.Schema, column: str
) -> tuple[str | None, str | None]:
    """The partition column's earliest and latest value, from the row groups' statistics (a
    date or timestamp column always has them: see with_statistics), written as PostgreSQL
    writes them in the tool's session (UTC, ISO), as the manifest has always kept them."""
    at = schema.get_field_index(column)
    spans = [
        (stats.min, stats.max)
        for i in range(meta.num_row_groups)
        if (stats := meta.row_group(i).column(at).statistics) is not None and stats.has_min_max
    ]
    if not spans:
        return None, None
    kind = "date" if pa.types.is_date(schema.field(at).type) else "timestamptz"
    if pa.types.is_timestamp(schema.field(at).type) and schema.field(at).type.tz is None:
        kind = "timestamp"
    row = conn.execute(
        sql.SQL("SELECT CAST(%s::{t} AS text), CAST(%s::{t} AS text)").format(t=sql.SQL(kind)),
        (min(s[0] for s in spans), max(s[1] for s in spans)),
    ).fetchone()
    assert row is not None
    return row[0], row[1]
