"""A partition exported as Parquet: COPY out of PostgreSQL (through psql when it is on PATH),
converted in a stream.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import conninfo, sql

from ..errors import EngineError
from ..progress import Count, Reporter
from . import introspect
from .connect import DatabaseError, Shard
from .journal import JournalEntry
from .s3 import CSV_BLOCK, CopyStream, MultipartSink, ObjectCheck
from .shape import TableSpec
from .sql import ident


class ArchiveError(EngineError):
    """S3 refused or failed; the partition is still in the database (exit 4)."""


# zstd without dictionary encoding: on the benchmark's rows the file is half the size (4.7 MB
# instead of 8.9 for 1M rows: the dictionaries overflowed into plain pages anyway and zstd
# compresses plain pages better), the write faster and the writer's memory smaller.
PARQUET: dict[str, Any] = {"compression": "zstd", "use_dictionary": False}


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
    return simple.get(introspect.time_type(postgres) or postgres, pa.string())


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


def psql_env(shard: Shard) -> dict[str, str] | None:
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
    env = psql_env(shard)
    if env is None:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            stream = CopyStream(copy)
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


def export_partition(
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
    columns = table_columns(conn, spec.schema, name)
    schema = pa.schema([(n, arrow_type(t)) for n, t in columns])
    sink = MultipartSink(
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
    if rows_expected == 0:  # an empty partition: an empty object (CSV has no header to read)
        try:
            with pq.ParquetWriter(sink, schema, **PARQUET) as writer:
                writer.write_table(schema.empty_table())
            sink.finish()
        except Exception:
            with contextlib.suppress(Exception):
                sink.abort()
            raise
        return ObjectCheck(sink.sha.hexdigest(), 0, sink.size)
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
            with pq.ParquetWriter(sink, schema, **PARQUET) as writer:
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
