"""`db archive`'s checks before it writes anything (the bucket with these credentials, every
value Parquet must hold) and its undo after a failure (the partition attached again)."""

from __future__ import annotations

from typing import Any

import psycopg
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql

from . import introspect
from .connect import Shard
from .export import ArchiveError, ArchiveOptions, arrow_type
from .journal import JournalEntry, journal_put
from .locks import run_statements, under_lock_timeout
from .s3 import look_at_bucket
from .shape import TableSpec
from .sql import ident


def reattach(
    conn: psycopg.Connection[Any],
    parent: introspect.Table,
    schema: str,
    entry: JournalEntry,
    options: ArchiveOptions,
) -> str:
    """The detached partition attached again (a short lock_timeout, retried with backoff),
    journalled as `reattached`. Returns what happened, for the error's hint."""
    name = entry.partition_name
    if any(p.name == name for p in introspect.partitions(conn, parent.oid)):
        entry.state = "reattached"
        journal_put(conn, entry)
        return f"{schema}.{name} is attached: no row left the table"
    lower, upper = entry.lower_bound, entry.upper_bound
    statement = sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
        ident(parent.schema, parent.name),
        ident(schema, name),
        sql.SQL("MINVALUE") if lower == "-infinity" else sql.Literal(lower),
        sql.Literal(upper),
    )
    try:
        if under_lock_timeout(
            conn,
            lambda: run_statements(conn, statement),
            lock_timeout_ms=options.lock_timeout_ms,
            attempts=options.attempts,
            backoff=lambda attempt: min(0.05 * 2**attempt, 2.0),
        ):
            entry.state = "reattached"
            journal_put(conn, entry)
            return f"{schema}.{name} was attached again: no row left the table"
    except psycopg.Error as exc:
        return (
            f"{schema}.{name} stays detached ({exc.sqlstate}): `db archive` again finishes "
            f"it, or attach it by hand with {statement.as_string(conn)}"
        )
    return (
        f"{schema}.{name} stays detached (its table stayed locked): `db archive` again "
        f"finishes it, or attach it by hand with {statement.as_string(conn)}"
    )


def preflight(conn: psycopg.Connection[Any], spec: TableSpec, partitions: dict[str, str]) -> None:
    """Before anything is written: every date and timestamp column of every partition to
    archive (`partitions`: name -> lower bound) holds only values Parquet can hold (one that
    does not refuses the partition, untouched), in one scan of each partition that needs
    one (none when the only such column is the partition column of a finite range)."""
    for name, lower in partitions.items():
        if not introspect.relation_exists(conn, spec.schema, name):
            continue  # the journal says what happened to it
        checks = []
        for column, kind, base in base_types(conn, spec.schema, name):
            arrow = arrow_type(kind)
            if not (pa.types.is_date(arrow) or pa.types.is_timestamp(arrow)):
                continue
            if column == spec.column and lower != "-infinity":
                continue  # the partition's finite range holds only finite, 4-digit-year values
            checks.append((column, base))
        if not checks:
            continue
        # one scan of the partition for every column, the first bad value of each named
        conditions = [
            sql.SQL("(NOT isfinite({c}) OR {c} < '0001-01-01' OR {c} >= '10000-01-01')").format(
                c=sql.Identifier(column)
            )
            for column, _ in checks
        ]
        bad = conn.execute(
            sql.SQL("SELECT ARRAY[{}] FROM {} WHERE {} LIMIT 1").format(
                sql.SQL(", ").join(
                    sql.SQL("CASE WHEN {} THEN {}::text END").format(cond, sql.Identifier(c))
                    for cond, (c, _) in zip(conditions, checks, strict=True)
                ),
                ident(spec.schema, name),
                sql.SQL(" OR ").join(conditions),
            )
        ).fetchone()
        if bad is None:
            continue
        (column, base), value = next(
            (check, v) for check, v in zip(checks, bad[0], strict=True) if v is not None
        )
        raise ArchiveError(
            f"{spec.schema}.{name}.{column} ({base}) holds {value!r}, which Parquet's "
            "timestamps and dates cannot hold",
            "nothing was changed: the partition is still attached. Update or delete "
            f"the rows with such values (e.g. WHERE NOT isfinite({column})), then run "
            "`db archive` again",
        )


def _bucket_error(bucket: str, verb: str, exc: BaseException) -> ArchiveError:
    return ArchiveError(
        f"s3://{bucket} cannot be {verb} with these credentials: {exc}",
        "nothing was changed. Check the bucket name (--bucket, or the phase's "
        "archive_bucket), the AWS credentials (AWS_PROFILE, AWS_ENDPOINT_URL) and the "
        "network",
    )


def check_bucket(
    s3: Any, shard: Shard, database: str, bucket: str, prefix: str | None = None
) -> set[str]:
    """The bucket exists and can be read with these credentials (see look_at_bucket), before
    anything else: in a dry run, and in a real run before the first byte goes to it. Given a
    partition's `prefix`, the keys under it (what an earlier run left there)."""
    try:
        if prefix is None:
            return look_at_bucket(s3, bucket, f"shard-{shard.index}/{database}/")
        return look_at_bucket(s3, bucket, prefix, max_keys=1000)
    except (BotoCoreError, ClientError) as exc:
        raise _bucket_error(bucket, "read", exc) from None


def base_types(conn: psycopg.Connection[Any], schema: str, name: str) -> list[tuple[str, str, str]]:
    """(column, its type, the type under its domains) of each column COPY writes."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod "
        "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
        "AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        (sql.Identifier(schema, name).as_string(conn),),
    ).fetchall()
    out = []
    for column, kind, oid, mod in rows:
        for _ in range(16):  # a domain over a domain ...
            base = conn.execute(
                "SELECT typbasetype, typtypmod FROM pg_type WHERE oid = %s AND typtype = 'd'",
                (oid,),
            ).fetchone()
            if base is None:
                break
            oid, mod = base
        shown = conn.execute("SELECT format_type(%s, %s)", (oid, mod)).fetchone()
        out.append((str(column), str(kind), str(shown[0] if shown else kind)))
    return out
