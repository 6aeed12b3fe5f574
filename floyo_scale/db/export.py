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
    # up ("detached", "uploading", "uploaded", "manifest", "verified", "checked" (the detached
    # partition locked and checked, not yet dropped), "dropped"): the crash injection tests
    # raise there.
    checkpoint: Callable[[str], None] = lambda _: None


def table_columns(conn: psycopg.Connection[Any], schema: str, name: str) -> list[tuple[str, str]]:
    tbl = introspect.table(conn, schema, name)
    assert tbl is not None
    return [(c.name, c.type) for c in tbl.columns]


# Each Parquet row group is one batch of the reader: about this many bytes of rows (about
# 40,000 of the benchmark's rows; half that from each of two readers). Memory holds the batch
# being encoded and READ_AHEAD more (per reader).
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


# A partition of at least this many pages is read in two halves (by ctid: TID range scans,
# PostgreSQL 14+), each by a connection and a thread of its own, in one snapshot: the
# driver's decoding is the slowest stage of the read, and two of them keep both cores busy
# (1,000,000 rows: 0.63-0.66 s to read and encode instead of 0.79-0.87 s, on 2 cores).
# Below it (16 MiB of 8 kB pages), a second connection costs more than it saves.
SPLIT_PAGES = 2048


def page_ranges(conn: psycopg.Connection[Any], schema: str, name: str, query: str) -> list[str]:
    """`query` (a SELECT of the partition) as the queries that read it: itself, or its two
    halves by page when the partition is large enough and the server has TID range scans.
    The second half is open-ended: pages added meanwhile hold only rows the snapshot cannot
    see, and are read all the same."""
    if conn.info.server_version < 140000:
        return [query]
    row = conn.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
        (ident(schema, name).as_string(conn),),
    ).fetchone()
    pages = int(row[0]) if row else 0
    if pages < SPLIT_PAGES:
        return [query]
    half = f"'({pages // 2},0)'::tid"
    return [f"{query} WHERE ctid < {half}", f"{query} WHERE ctid >= {half}"]


class Readers:
    """The ADBC database a shard's readers connect through (read_batches), opened in a thread
    from the moment it is made: its first connection and its pg_type resolver take 40-50 ms
    (in C++, the GIL free), spent while the run's checks go on, and once per shard rather
    than once per partition. An error opening it is raised by get(), for the read that needs
    it; close() never waits."""

    def __init__(self, shard: Shard) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._database: Any = None
        self._error: BaseException | None = None
        self._closed = False
        threading.Thread(target=self._open, args=(shard,), daemon=True).start()

    def _open(self, shard: Shard) -> None:
        try:
            import adbc_driver_postgresql

            database = adbc_driver_postgresql.connect(session_conninfo(shard))
        except BaseException as exc:  # raised by get()
            self._error = exc
            database = None
        with self._lock:
            if self._closed and database is not None:  # closed meanwhile: nobody will use it
                with contextlib.suppress(Exception):
                    database.close()
                database = None
            self._database = database
            self._ready.set()

    def get(self) -> Any:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._database

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            database, self._database = self._database, None
        if database is not None:
            with contextlib.suppress(Exception):
                database.close()


@contextlib.contextmanager
def read_batches(
    shard: Shard, queries: list[str], schema: pa.Schema, readers: Readers | None = None
) -> Iterator[Reading]:
    """The rows of `queries` (one, or the page ranges of one partition) as Arrow batches of
    `schema`, in one REPEATABLE READ snapshot, handed back with them (`pg_current_snapshot()`
    of the first query's transaction, exported to the others').

    The ADBC PostgreSQL driver runs each query as a binary COPY and decodes it in C (no text
    round trip, no parser to tell where a row ends); a thread per query reads the next
    batches from the server while the caller encodes the previous ones. (The driver's own
    API, not its DB-API module, which imports pyarrow.dataset and .compute: 38 ms of a run.)
    The connections come from `readers` (the shard's, opened early), or from one opened for
    this read and closed with it."""
    import adbc_driver_manager

    def failed(exc: BaseException) -> DatabaseError:
        return database_error(
            shard,
            "reading the partition",
            exc,
            "nothing was changed: the partition is still attached. Fix the cause and run "
            "`db archive` again",
        )

    slots: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=READ_AHEAD * len(queries))
    stop = threading.Event()
    exported = threading.Event()  # the first reader's snapshot is ready for the others
    errors: list[BaseException] = []
    source = readers or Readers(shard)
    opened: list[Any] = []  # connections and statements, once made
    statements: list[Any] = []
    lock = threading.Lock()
    shared: dict[str, str] = {}

    # No wait here ends by a timeout (under faketime a timeout may never come): a reader
    # blocked on a full queue is woken by the reading side draining it when it stops, and
    # the reading side blocked on an empty one by the end marker each reader leaves.

    def put(item: pa.RecordBatch) -> bool:
        if stop.is_set():
            return False
        slots.put(item)  # (room for one more from each reader even after the drain)
        return True

    def pump(index: int, query: str) -> None:
        try:  # connecting here too: the caller sets up its side meanwhile
            database = source.get()
            with lock:
                connection = adbc_driver_manager.AdbcConnection(database)
                opened.append(connection)
                statement = adbc_driver_manager.AdbcStatement(connection)
                opened.append(statement)
                statements.append(statement)

            def run(text: str) -> pa.RecordBatchReader:
                statement.set_sql_query(text)
                handle, _ = statement.execute_query()
                return pa.RecordBatchReader._import_from_c(handle.address)

            def update(text: str) -> None:
                statement.set_sql_query(text)
                statement.execute_update()

            update("SET statement_timeout = 0")  # a long COPY is not cut short
            update("BEGIN ISOLATION LEVEL REPEATABLE READ")
            if index == 0:
                first = run("SELECT pg_current_snapshot()::text, pg_export_snapshot()").read_all()
                reading.snapshot = first[0][0].as_py()
                shared["id"] = first[1][0].as_py()
                exported.set()
            else:
                exported.wait()
                if "id" not in shared:
                    return  # the first reader failed
                update(f"SET TRANSACTION SNAPSHOT '{shared['id']}'")
            # the batches of two readers are half as big: as many bytes in flight as one
            # reader's (3,000,000 rows peaked at 185 MB with 4 MiB each, 168 MB with 2 MiB)
            size = BATCH_BYTES // len(queries)
            statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(size)})
            for batch in run(query):
                # the driver's types are the schema's (each column is read as its Arrow
                # twin's PostgreSQL type, or text); only its field metadata differs. A cast
                # would start Arrow's compute registry: 50-80 ms of CPU, on the first batch
                if not batch.schema.equals(schema, check_metadata=False):
                    batch = batch.cast(schema)
                if not put(batch):
                    return
        except BaseException as exc:  # handed to the reading side
            errors.append(exc)
            stop.set()  # the other readers stop too
        finally:
            exported.set()  # a reader waiting for the snapshot is not left waiting
            if stop.is_set():
                # wakes a reading side waiting on an empty queue; a full one has batches
                # for it, after each of which it looks at `errors`
                with contextlib.suppress(queue.Full):
                    slots.put_nowait(None)
            else:
                slots.put(None)

    def read() -> Iterator[pa.RecordBatch]:
        ended = 0
        while ended < len(queries):
            batch = slots.get()
            if errors:  # (a reader that failed stops the others, which hand over no more)
                break
            if batch is None:
                ended += 1
            else:
                yield batch
        if errors:
            raise failed(errors[0]) from None

    reading = Reading(read())
    threads = [
        threading.Thread(target=pump, args=(i, q), daemon=True) for i, q in enumerate(queries)
    ]
    for thread in threads:
        thread.start()
    try:
        yield reading
    finally:
        stop.set()
        if any(thread.is_alive() for thread in threads):
            with lock:
                for statement in statements:
                    with contextlib.suppress(Exception):
                        statement.cancel()  # a COPY the server is still sending stops now
        with contextlib.suppress(queue.Empty):  # readers blocked on a full queue wake
            while True:
                slots.get_nowait()
        for thread in threads:
            thread.join()
        for handle in reversed(opened):  # statements, their connections (each transaction
            with contextlib.suppress(Exception):  # ends with it)
                handle.close()
        if readers is None:
            source.close()


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
    readers: Readers | None = None,
) -> Exported:
    """The partition's rows, as one snapshot sees them, written to the entry's key
    (`prepare` runs while the rows are read, and ends before the first S3 call: see
    MultipartSink)."""
    schema, query = select_statement(conn, spec.schema, name)
    queries = page_ranges(conn, spec.schema, name, query)
    estimate = conn.execute(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
        (ident(spec.schema, name).as_string(conn),),
    ).fetchone()
    expected = int(estimate[0]) if estimate and estimate[0] else None
    rows = 0
    sink: MultipartSink | None = None
    try:
        with read_batches(shard, queries, schema, readers) as reading:
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
    except BaseException as exc:
        if sink is not None and not isinstance(exc, KeyboardInterrupt):
            # `prepare` uses the caller's connection: done before the caller goes on (not
            # after Ctrl-C: the run is ending, and a hung S3 would hold it for minutes)
            sink.settle()
        # An error: give the parts back now. A crash (or Ctrl-C) leaves them; the rerun
        # aborts them (list_multipart_uploads) before uploading again.
        if sink is not None and isinstance(exc, Exception):
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
