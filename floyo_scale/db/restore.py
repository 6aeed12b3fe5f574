"""`db restore`: an archived partition back in its table, verified against its manifest.

The object is downloaded (streamed to a temporary file) and its sha256 compared with the
manifest's before anything touches the database. Then, in ONE transaction: a table shaped like
the parent is created, the rows are loaded with COPY (Parquet batches written out as CSV),
their count is checked against the manifest, a CHECK constraint matching the range spares
ATTACH its scan, and the table is attached as the partition. An interruption leaves nothing
behind; a rerun starts over; a partition already restored with the manifest's row count is
left as it is.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql

from ..errors import UsageError
from ..progress import Count, Reporter, Step, ignore
from . import introspect
from .archive import object_prefix
from .connect import DatabaseError, Shard, connect, database_error, hold_lock
from .export import ArchiveError
from .journal import JOURNAL_SCHEMA, JOURNAL_TABLE, journal_get, journal_put
from .manifest import Manifest, find_manifest
from .periods import short_name
from .s3 import s3_client
from .shape import TableSpec
from .sql import ident

BATCH_ROWS = 65_536


@dataclass
class RestoreReport:
    shard: int
    table: str
    partition: str
    bucket: str
    key: str
    rows: int
    action: str  # "restored", "unchanged"


def restore(
    shard: Shard,
    spec: TableSpec,
    partition: str,
    bucket: str,
    *,
    s3: Any = None,
    report: Reporter = ignore,
) -> RestoreReport:
    s3 = s3 if s3 is not None else s3_client()
    where = f"shard {shard.index} {spec.schema}.{partition}"
    with connect(shard) as conn:
        conn.execute("SET statement_timeout = 0")
        hold_lock(conn, shard)
        try:
            return _restore(conn, s3, shard, spec, partition, bucket, report, where)
        except (BotoCoreError, ClientError) as exc:
            raise ArchiveError(
                f"S3 failed while restoring {spec.schema}.{partition}: {exc}",
                "check the bucket, the AWS credentials and the network; nothing was changed "
                "in the database: run `db restore` again",
            ) from None
        except psycopg.Error as exc:
            raise database_error(
                shard,
                f"restoring {spec.schema}.{partition}",
                exc,
                "the restore runs in one transaction, so nothing was left half-done; fix the "
                "cause and run `db restore` again",
            ) from None


def _restore(
    conn: psycopg.Connection[Any],
    s3: Any,
    shard: Shard,
    spec: TableSpec,
    partition: str,
    bucket: str,
    report: Reporter,
    where: str,
) -> RestoreReport:
    database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    prefix = object_prefix(shard.index, database, spec.schema, spec.table, partition)
    manifest = find_manifest(s3, bucket, prefix)
    key = prefix + "data.parquet"
    result = RestoreReport(shard.index, spec.name, partition, bucket, key, manifest.rows, "")
    parent = introspect.table(conn, spec.schema, spec.table)
    if parent is None or parent.kind != "p":
        raise UsageError(
            f"table {spec.name} is not a partitioned table on {shard.label}",
            "run `floyo-scale db partition` first",
        )
    attached = {p.name: p for p in introspect.partitions(conn, parent.oid)}
    if partition in attached:
        rows = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(ident(spec.schema, partition))
        ).fetchone()
        if rows and rows[0] == manifest.rows:
            result.action = "unchanged"
            return result
        raise UsageError(
            f"partition {spec.schema}.{partition} is attached and holds {rows[0] if rows else 0} "
            f"rows, not the archive's {manifest.rows}",
            "it was never archived or has been written to since; leave it, or detach and "
            "rename it before restoring",
        )
    if introspect.relation_exists(conn, spec.schema, partition):
        entry = journal_get(conn, spec.schema, partition)
        state = entry.state if entry else "unknown"
        raise UsageError(
            f"{spec.schema}.{partition} exists, detached (archive state: {state})",
            "an archive run has not finished: run `db archive` to finish it, or attach the "
            "table by hand (it still holds the data)",
        )

    with tempfile.TemporaryFile() as tmp:
        report(Step(where, "download", f"s3://{bucket}/{key}"))
        sha = _download(s3, bucket, key, tmp, report, where)
        if sha != manifest.sha256:
            raise ArchiveError(
                f"s3://{bucket}/{key} does not match its manifest (sha256 {sha[:12]}, "
                f"manifest {manifest.sha256[:12]})",
                "the object was changed or damaged; look at the bucket's older versions",
            )
        report(Step(where, "download", f"sha256 {sha[:12]} matches the manifest", done=True))
        tmp.seek(0)
        parquet = pq.ParquetFile(tmp)
        _check_content(parquet, manifest, spec, partition, f"s3://{bucket}/{prefix}manifest.json")
        report(Step(where, "load"))
        _load(conn, parent, spec, partition, manifest, parquet, report, where)
        report(Step(where, "load", f"{manifest.rows} rows", done=True))
    if introspect.relation_exists(conn, JOURNAL_SCHEMA, JOURNAL_TABLE):
        entry = journal_get(conn, spec.schema, partition)
        if entry is not None:
            entry.state = "restored"
            journal_put(conn, entry)
    result.action = "restored"
    return result


def _check_content(
    parquet: pq.ParquetFile, manifest: Manifest, spec: TableSpec, partition: str, key: str
) -> None:
    """Before any change: the manifest describes this object. It names this partition of this
    table, its columns are the object's, its row count is the object's, and every value of
    the partition column lies in its range (a manifest whose bounds were edited would attach
    the rows as another period)."""
    problems = []
    if (manifest.schema, manifest.table, manifest.partition, manifest.column) != (
        spec.schema,
        spec.table,
        partition,
        spec.column,
    ):
        problems.append(
            f"it describes {manifest.schema}.{manifest.table} partition {manifest.partition} by "
            f"{manifest.column}, not {spec.schema}.{spec.table} partition {partition} by "
            f"{spec.column}"
        )
    names = [c.name for c in manifest.columns]
    if parquet.schema_arrow.names != names:
        problems.append(f"its columns {names} are not the object's {parquet.schema_arrow.names}")
    if parquet.metadata.num_rows != manifest.rows:
        problems.append(f"{manifest.rows} rows, the object holds {parquet.metadata.num_rows}")
    lower, upper = manifest.bounds()
    if not problems and manifest.rows:
        low, high = _time_range(parquet, manifest.column)
        if low is None or (lower is not None and low < lower) or high is None or high >= upper:
            problems.append(
                f"the range {manifest.lower} .. {manifest.upper}, but the object's "
                f"{manifest.column} runs from {low} to {high}"
            )
    if problems:
        raise ArchiveError(
            f"{key} does not describe its object: {'; '.join(problems)}",
            "nothing was changed. The manifest was edited or belongs to another object: "
            "restore it from the bucket's older versions",
        )


def _time_range(parquet: pq.ParquetFile, column: str) -> tuple[datetime | None, datetime | None]:
    """The least and greatest value of `column` (as aware datetimes; None when a value is
    NULL or not a time), reading only that column, a batch at a time."""
    low: datetime | None = None
    high: datetime | None = None
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[column]):
        values = batch.column(0)
        if values.null_count:
            return None, None
        bounds = pc.min_max(values)
        for value in (bounds["min"].as_py(), bounds["max"].as_py()):
            moment = _as_moment(value)
            if moment is None:
                return None, None
            low = moment if low is None or moment < low else low
            high = moment if high is None or moment > high else high
    return low, high


def _as_moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):  # a type kept as PostgreSQL's text
        try:
            return _as_moment(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _download(s3: Any, bucket: str, key: str, into: Any, report: Reporter, where: str) -> str:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    sha = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        sha.update(chunk)
        into.write(chunk)
        size += len(chunk)
        report(Count(where, "download", size, None, "bytes"))
    return sha.hexdigest()


def _load(
    conn: psycopg.Connection[Any],
    parent: introspect.Table,
    spec: TableSpec,
    partition: str,
    manifest: Manifest,
    parquet: pq.ParquetFile,
    report: Reporter,
    where: str,
) -> None:
    names = [c.name for c in manifest.columns]
    generated = {c.name for c in parent.columns if c.generated}
    load = [n for n in names if n not in generated]
    target = ident(spec.schema, partition)
    lower, upper = manifest.lower, manifest.upper
    column = sql.Identifier(manifest.column)
    check_name = sql.Identifier(short_name(partition, "_range"))
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                "INCLUDING GENERATED)"
            ).format(target, ident(parent.schema, parent.name))
        )
        rows = 0
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    target, sql.SQL(", ").join(map(sql.Identifier, load))
                )
            ) as copy,
        ):
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=load):
                buf = io.BytesIO()
                pacsv.write_csv(
                    batch,
                    buf,
                    write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
                )
                copy.write(buf.getbuffer())
                rows += batch.num_rows
                report(Count(where, "load", rows, manifest.rows, "rows"))
        counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()
        if not counted or counted[0] != manifest.rows:
            raise DatabaseError(
                f"loaded {counted[0] if counted else 0} rows into {spec.schema}.{partition}, "
                f"the manifest says {manifest.rows}",
                "nothing was kept (the restore is one transaction)",
            )
        bound = (
            sql.SQL("{c} >= {lo} AND {c} < {hi}") if lower != "-infinity" else sql.SQL("{c} < {hi}")
        ).format(c=column, lo=sql.Literal(lower), hi=sql.Literal(upper))
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL AND {})").format(
                target, check_name, column, bound
            )
        )
        range_spec = sql.SQL("FROM ({}) TO ({})").format(
            sql.SQL("MINVALUE") if lower == "-infinity" else sql.Literal(lower),
            sql.Literal(upper),
        )
        _attach(
            conn,
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES {}").format(
                ident(parent.schema, parent.name), target, range_spec
            ),
            where,
        )
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, check_name))
        if parent.rls:
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(target))


ATTACH_LOCK_TIMEOUT_MS = 300
ATTACH_ATTEMPTS = 40


def _attach(conn: psycopg.Connection[Any], statement: sql.Composed, where: str) -> None:
    """ATTACH (the parent's SHARE UPDATE EXCLUSIVE lock, and the default partition's ACCESS
    EXCLUSIVE one while its rows are checked) in a savepoint with a short lock_timeout,
    retried with backoff: queued behind a long reader, it never holds the application's other
    readers and writers behind it for more than the timeout; the loaded rows are kept."""
    for attempt in range(1, ATTACH_ATTEMPTS + 1):
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{ATTACH_LOCK_TIMEOUT_MS}ms'")
                conn.execute(statement)
            return
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise DatabaseError(
        f"could not attach {where}: a transaction kept its table locked through "
        f"{ATTACH_ATTEMPTS} tries",
        "nothing was kept (the restore is one transaction); look at pg_stat_activity for a "
        "long transaction on the table, then run `db restore` again",
    )
