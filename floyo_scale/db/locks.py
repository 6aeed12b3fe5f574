"""DDL that waits for the application's locks without ever holding it up for long: a short
lock_timeout, retried with backoff; and the removal of what an interrupted `db partition`
left, one lock per transaction in the application's order (docs/db.md)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from . import introspect
from .connect import DatabaseError
from .periods import short_name
from .shape import NEW_SUFFIX, SYNC_SUFFIX, TableSpec
from .sql import ident


def under_lock_timeout(
    conn: psycopg.Connection[Any],
    run: Callable[[], None],
    *,
    lock_timeout_ms: int,
    attempts: int,
    backoff: Callable[[int], float] = lambda attempt: min(0.05 * attempt, 1.0),
) -> int | None:
    """`run()` in one transaction with `SET LOCAL lock_timeout`, again after `backoff(attempt)`
    seconds while a lock is busy (so a waiting DDL never queues the application behind it for
    long). The attempt that succeeded, or None when the locks stayed busy every time. Other
    errors are the caller's."""
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{lock_timeout_ms}ms")
                    )
                )
                run()
            return attempt
        except psycopg.errors.LockNotAvailable:
            time.sleep(backoff(attempt))
    return None


def run_statements(conn: psycopg.Connection[Any], *statements: sql.Composed) -> None:
    """The statements, one after another (a `run` for `under_lock_timeout`)."""
    for statement in statements:
        conn.execute(statement)


def retry_locked(
    conn: psycopg.Connection[Any],
    statements: list[sql.Composed],
    options: Any,
    after: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> int:
    """Run `statements` in one transaction with a short lock_timeout, retried while locks are
    busy (so a waiting ALTER never queues the application's writes behind it for long).
    Returns the number of attempts."""

    def run() -> None:
        run_statements(conn, *statements)
        if after is not None:
            after(conn)

    attempt = under_lock_timeout(
        conn, run, lock_timeout_ms=options.lock_timeout_ms, attempts=options.swap_attempts
    )
    if attempt is not None:
        return attempt
    raise DatabaseError(
        f"could not take the locks within {options.lock_timeout_ms} ms in "
        f"{options.swap_attempts} attempts",
        "a long transaction holds the table; wait for it (pg_stat_activity shows it) and run "
        "the command again",
    )


def abandon(conn: psycopg.Connection[Any], spec: TableSpec, options: Any) -> None:
    with contextlib.suppress(Exception):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        # briefly (an interrupted run is ending): what stays, the next run removes first
        clean_leftovers(conn, spec, replace(options, swap_attempts=min(options.swap_attempts, 5)))


def clean_leftovers(conn: psycopg.Connection[Any], spec: TableSpec, options: Any) -> None:
    """What an interrupted run left (the mirroring trigger, its function, the partitioned
    copy) removed in the order the application takes those locks: the trigger first (the
    application's table, then the copy its writes reach through the trigger), then the
    copy. One lock per transaction, each with lock_timeout and retried with backoff: we never
    hold a lock while we wait for another, so a deadlock with the application cannot form
    and we give up (and try again) before its deadlock_timeout would pick a victim."""
    sync = short_name(spec.table, SYNC_SUFFIX)
    table = ident(spec.schema, spec.table)
    new_name = short_name(spec.table, NEW_SUFFIX)
    trigger = conn.execute(
        "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s",
        (table.as_string(conn), sync),
    ).fetchone()
    if trigger:
        retry_locked(
            conn,
            [
                # DROP TRIGGER's lock, asked for at once: nothing is held while it waits
                sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table),
                sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(sync), table),
            ],
            options,
        )
    if conn.execute(
        "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = %s",
        (spec.schema, sync),
    ).fetchone():
        retry_locked(
            conn,
            [sql.SQL("DROP FUNCTION IF EXISTS {}() CASCADE").format(ident(spec.schema, sync))],
            options,
        )
    if introspect.relation_exists(conn, spec.schema, new_name):
        retry_locked(
            conn,
            [sql.SQL("DROP TABLE IF EXISTS {}").format(ident(spec.schema, new_name))],
            options,
        )
