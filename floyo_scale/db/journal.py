"""The archive journal in each database: which partition is at which step, so a rerun resumes an
interrupted archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from . import introspect
from .sql import ident

JOURNAL_SCHEMA = "floyo_scale"

JOURNAL_TABLE = "archive_journal"

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
    # the export's snapshot (pg_current_snapshot() of the transaction that read the rows):
    # the check before the drop proves no row was written since. None in entries an earlier
    # version (which detached before it exported) left.
    snapshot: str | None = None


def ensure_journal(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        sql.SQL(
            "CREATE SCHEMA IF NOT EXISTS {s}; "
            "CREATE TABLE IF NOT EXISTS {t} ("
            "schema_name text NOT NULL, table_name text NOT NULL, partition_name text NOT NULL, "
            "lower_bound text NOT NULL, upper_bound text NOT NULL, state text NOT NULL, "
            "bucket text NOT NULL, data_key text NOT NULL, rows bigint, sha256 text, "
            "bytes bigint, updated_at timestamptz NOT NULL DEFAULT now(), snapshot text, "
            "PRIMARY KEY (schema_name, partition_name)); "
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS snapshot text"
        ).format(s=sql.Identifier(JOURNAL_SCHEMA), t=ident(JOURNAL_SCHEMA, JOURNAL_TABLE))
    )


# (the snapshot is read as to_jsonb(j) ->> 'snapshot': a journal an earlier version made has no
# such column until ensure_journal adds it, and a dry run adds nothing)


def journal_get(conn: psycopg.Connection[Any], schema: str, partition: str) -> JournalEntry | None:
    if not introspect.relation_exists(conn, JOURNAL_SCHEMA, JOURNAL_TABLE):
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT schema_name, table_name, partition_name, lower_bound, upper_bound, state, "
            "bucket, data_key, rows, sha256, bytes, to_jsonb(j) ->> 'snapshot' FROM {} j "
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
            "bucket, data_key, rows, sha256, bytes, to_jsonb(j) ->> 'snapshot' FROM {} j "
            "WHERE schema_name = %s "
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
            "state, bucket, data_key, rows, sha256, bytes, snapshot) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (schema_name, partition_name) DO UPDATE SET "
            "table_name = EXCLUDED.table_name, lower_bound = EXCLUDED.lower_bound, "
            "upper_bound = EXCLUDED.upper_bound, state = EXCLUDED.state, "
            "bucket = EXCLUDED.bucket, data_key = EXCLUDED.data_key, rows = EXCLUDED.rows, "
            "sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes, snapshot = EXCLUDED.snapshot, "
            "updated_at = now()"
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
            entry.snapshot,
        ),
    )
