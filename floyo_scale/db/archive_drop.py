"""`db archive`'s last steps, once the partition's copy is verified (db/archive.py): detach it
from its table, prove it holds exactly the rows exported (as many, none written after the
export's snapshot) and drop it, the check and the drop in one transaction that locks it
first."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from ..progress import Reporter, Step
from . import introspect
from .connect import DatabaseError
from .export import ArchiveError, ArchiveOptions
from .journal import JournalEntry, journal_put
from .locks import run_statements, under_lock_timeout
from .shape import TableSpec
from .sql import ident


def has_default(conn: psycopg.Connection[Any], oid: int) -> bool:
    return any(p.default for p in introspect.partitions(conn, oid))


def detach_statement(
    parent: introspect.Table, schema: str, name: str, concurrently: bool
) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} DETACH PARTITION {}{}").format(
        ident(parent.schema, parent.name),
        ident(schema, name),
        sql.SQL(" CONCURRENTLY" if concurrently else ""),
    )


def detach(
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
        conn.execute(detach_statement(parent, schema, name, True))
        return
    detach = detach_statement(parent, schema, name, False)
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


def lock_statement(spec: TableSpec, name: str) -> sql.Composed:
    return sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(ident(spec.schema, name))


def drop_statement(spec: TableSpec, name: str) -> sql.Composed:
    return sql.SQL("DROP TABLE {}").format(ident(spec.schema, name))


def check_statement(spec: TableSpec, name: str, running: bool = False) -> sql.Composed:
    """Rows of the detached partition, and how many of them the export's snapshot could not
    see: written after it (an xmin at or past its xmax) or by a transaction it saw running.
    `age()` counts back from the current transaction for both sides alike (a frozen row's age
    is the largest); the snapshot's side is computed once. One scan, about as long as
    `count(*)` (1,000,000 rows: 0.065 s against 0.048)."""
    return sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE age(xmin) <= (SELECT age(%(xmax)s::text::xid))"
        "{running}) FROM {}"
    ).format(
        ident(spec.schema, name),
        running=sql.SQL(" OR xmin = ANY(%(running)s::text[]::xid[])" if running else ""),
    )


def snapshot_args(snapshot: str) -> dict[str, Any]:
    """`xmin:xmax:xip,...` (pg_snapshot's text, 64-bit ids) as the 32-bit ids rows carry."""
    _, xmax, running = snapshot.split(":")
    return {
        "xmax": str(int(xmax) % 2**32),
        "running": [str(int(x) % 2**32) for x in running.split(",") if x],
    }


def check_and_drop(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    entry: JournalEntry,
    options: ArchiveOptions,
    report: Reporter,
    where: str,
) -> None:
    """From detached to dropped: the partition holds exactly the rows exported (as many, none
    written since the export's snapshot), then it is dropped."""
    name = entry.partition_name
    if not introspect.relation_exists(conn, spec.schema, name):  # dropped, not journalled
        entry.state = "dropped"
        journal_put(conn, entry)
        return
    assert entry.snapshot is not None
    report(Step(where, "drop"))
    args = snapshot_args(entry.snapshot)
    counted: tuple[int, int] = (-1, -1)

    def in_one_transaction() -> None:
        # one transaction, the detached table locked first: nothing can write to it (by its
        # own name) between the check and the drop, and the drop is journalled with it
        nonlocal counted
        conn.execute(lock_statement(spec, name))
        row = conn.execute(check_statement(spec, name, bool(args["running"])), args).fetchone()
        counted = (int(row[0]), int(row[1])) if row else (-1, -1)
        options.checkpoint("checked")
        if counted != (entry.rows, 0):
            return  # (the transaction ends having changed nothing; the error is raised below)
        conn.execute(drop_statement(spec, name))
        options.checkpoint("dropped")
        entry.state = "dropped"
        journal_put(conn, entry)

    try:
        done = under_lock_timeout(
            conn,
            in_one_transaction,
            lock_timeout_ms=options.lock_timeout_ms,
            attempts=options.attempts,
        )
    except BaseException:
        entry.state = "detached"  # (the transaction was rolled back)
        raise
    if done is None:
        raise DatabaseError(
            f"could not lock the detached {spec.schema}.{name} to check and drop it",
            "a session holds it (pg_stat_activity shows which); nothing was dropped. Run "
            "`db archive` again later",
        )
    rows, written = counted
    if entry.state != "dropped":
        raise ArchiveError(
            f"{spec.schema}.{name} was written to while it was archived: it holds {rows} rows "
            f"({written} written after the export), the archive {entry.rows}",
            "nothing was dropped; run `db archive` again to archive it anew (or stop the "
            "writes to rows that old first)",
        )
    report(Step(where, "drop", f"{rows} rows, none written since the export", done=True))
