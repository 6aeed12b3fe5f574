"""Logical replication between a source and a target database: publications, subscriptions, sync
checks, checksums, sequences and the write fence.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import conninfo, sql

from ..errors import FloyoError
from .connect import Shard
from .pgtools import Table, fk_order, foreign_keys

FENCE_SQL = """
CREATE OR REPLACE FUNCTION {schema}.floyo_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'floyo: this database is no longer the one the app writes to ({where})'
    USING ERRCODE = 'FLY03', HINT = 'reconnect with the current DATABASE_URL';
END $$;
"""


class MigrationError(FloyoError):
    """The migration cannot go on as things are (exit 4); the message says what, and nothing
    was lost: the source is untouched."""

    from ..errors import ExitCode as _Exit

    exit_code = _Exit.ENGINE


# -- helpers ----------------------------------------------------------------------------------


def checksums(conn: Any, found: dict[str, Table]) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum (md5 of the sorted md5s of the rows'
    text) of every table."""
    result = {}
    for name, table in sorted(found.items()):
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(md5(r::text), ',' "
                "ORDER BY md5(r::text)), '')) FROM {} AS r"
            ).format(sql.Identifier(table.schema, table.name))
        ).fetchone()
        result[name] = (int(row[0]), str(row[1]))
    return result


BUCKETS = 256  # a table's rows fall into buckets by the first byte of md5(row text)


def bucket_checksums(conn: Any, table: Table) -> dict[str, tuple[int, str]]:
    """Row count and checksum of each non-empty bucket of `table` (buckets by the first two
    hex digits of md5(row text): a row that changes usually changes bucket, so a table that
    keeps changing still has most of its buckets equal on both sides at any one moment)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT substr(h, 1, 2), count(*), md5(string_agg(h, ',' ORDER BY h)) "
            "FROM (SELECT md5(r::text) AS h FROM {} AS r) AS s GROUP BY 1"
        ).format(sql.Identifier(table.schema, table.name))
    ).fetchall()
    return {str(b): (int(c), str(m)) for b, c, m in rows}


def counts(conn: Any, found: dict[str, Table]) -> dict[str, int]:
    """Row count of every table."""
    result = {}
    for name, table in sorted(found.items()):
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.schema, table.name))
        ).fetchone()
        result[name] = int(row[0])
    return result


def _both(
    source: Any,
    target: Any,
    found: dict[str, Table],
    measure: Callable[[Any, dict[str, Table]], Any] | None = None,
) -> tuple[Any, Any]:
    """`measure` (checksums by default) of both sides computed at the same time (two
    threads)."""
    measure = measure or checksums
    out: dict[str, Any] = {}

    def run(side: str, conn: Any) -> None:
        try:
            out[side] = measure(conn, found)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out[side] = exc

    threads = [threading.Thread(target=run, args=(s, c)) for s, c in (("s", source), ("t", target))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out["s"], out["t"]


def verify_live(
    source: Any,
    target: Any,
    found: dict[str, Table],
    catch_up: Callable[[], None],
    rounds: int = 20,
    pause: float = 0.1,
) -> dict[str, tuple[int, str]]:
    """Every table compared in full (row count and checksum, bucket by bucket) while
    replication runs and the app writes: each round first lets the target catch up
    (`catch_up`), then checksums every bucket not yet seen equal on both sides at once. A
    bucket equal once is verified (what changes after that is replication's to carry, and
    the freeze compares row counts). Returns each table's (rows, checksum) as the source had
    them in the round it was verified; raises MigrationError naming the tables whose buckets
    never agreed."""
    pending = {name: {f"{b:02x}" for b in range(BUCKETS)} for name in found}
    result: dict[str, tuple[int, str]] = {}

    def measure(conn: Any, tables_: dict[str, Table]) -> dict[str, dict[str, tuple[int, str]]]:
        return {n: bucket_checksums(conn, t) for n, t in sorted(tables_.items())}

    for attempt in range(rounds):
        todo = {n: found[n] for n, left in pending.items() if left}
        if not todo:
            break
        if attempt:
            time.sleep(pause)
        catch_up()
        a, b = _both(source, target, todo, measure)
        for name in todo:
            equal = {k for k in pending[name] if a[name].get(k) == b[name].get(k)}
            pending[name] -= equal
            if not pending[name] and name not in result:
                rows = sum(c for c, _ in a[name].values())
                result[name] = (rows, _combine(a[name]))
    unverified = sorted(n for n, left in pending.items() if left)
    if unverified:
        raise MigrationError(
            f"{len(unverified)} table(s) never compared equal in {rounds} rounds: "
            f"{', '.join(unverified[:5])}",
            "nothing was changed and the app keeps writing to the source; rerun (if the "
            "target has rows the source does not, something else writes to the target)",
        )
    return result


def _combine(buckets: dict[str, tuple[int, str]]) -> str:
    import hashlib

    text = ",".join(f"{k}:{c}:{m}" for k, (c, m) in sorted(buckets.items()))
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - a checksum, not security


# -- the catch-up marker --------------------------------------------------------------------

MARKER_SQL = """
CREATE SCHEMA IF NOT EXISTS _floyo_migrate;
CREATE TABLE IF NOT EXISTS _floyo_migrate.marker (
  token text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
"""
MARKER = Table("_floyo_migrate", "marker", ("token", "at"))


def ensure_marker(conn: Any) -> None:
    """The marker table (on both sides: it travels through both publications)."""
    conn.execute(MARKER_SQL)


def send_marker(conn: Any) -> str:
    """A new marker row, committed on `conn` (a session of its own, not the freeze's)."""
    import uuid

    token = uuid.uuid4().hex
    with conn.transaction():
        # flushed at commit, whatever the server's synchronous_commit: the walsender sends
        # only flushed WAL (with it off, the marker would wait for the WAL writer, 200 ms)
        conn.execute("SET LOCAL synchronous_commit = on")
        conn.execute("INSERT INTO _floyo_migrate.marker (token) VALUES (%s)", (token,))
    return token


def has_marker(conn: Any, token: str) -> bool:
    row = conn.execute("SELECT 1 FROM _floyo_migrate.marker WHERE token = %s", (token,))
    return row.fetchone() is not None


def caught_up(sender: Any, receiver: Any, timeout: float, what: str) -> None:
    """Wait (at most `timeout`) until a marker committed on `sender` now has reached
    `receiver`: replication applies in commit order, so every write committed before it has
    too."""
    token = send_marker(sender)
    wait_until(lambda: has_marker(receiver, token), timeout, what, interval=0.005)


def publish_marker(pub: Any, name: str, sub: Any, sub_name: str) -> None:
    """The marker in publication `name` of a migration started before it existed (and the
    subscription told)."""
    row = pub.execute(
        "SELECT 1 FROM pg_publication_tables WHERE pubname = %s "
        "AND schemaname = '_floyo_migrate' AND tablename = 'marker'",
        (name,),
    ).fetchone()
    if row is None and has_publication(pub, name):
        pub.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE _floyo_migrate.marker").format(
                sql.Identifier(name)
            )
        )
        if has_subscription(sub, sub_name):
            sub.execute(
                sql.SQL(
                    "ALTER SUBSCRIPTION {} REFRESH PUBLICATION WITH (copy_data = false)"
                ).format(sql.Identifier(sub_name))
            )


def subscription_name(base: str, conn: Any) -> str:
    """A subscription's (and its slot's) name: slots are per server, so two databases of one
    server migrating at once do not collide."""
    name = re.sub(r"[^a-z0-9_]", "_", str(conn.info.dbname).lower())
    return f"{base}_{name}"[:63]


def _subscription_conninfo(shard: Shard) -> str:
    """The connection the target's subscription uses to reach the source."""
    return conninfo.make_conninfo(shard.url)


def synced(target: Any, name: str) -> bool:
    row = target.execute(
        "SELECT count(*) FILTER (WHERE r.srsubstate <> 'r'), count(*) FROM pg_subscription s "
        "JOIN pg_subscription_rel r ON r.srsubid = s.oid WHERE s.subname = %s",
        (name,),
    ).fetchone()
    return bool(row and row[1] > 0 and row[0] == 0)


def has_subscription(conn: Any, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_subscription WHERE subname = %s AND subdbid = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        (name,),
    ).fetchone()
    return row is not None


def has_publication(conn: Any, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    return row is not None


def publish(conn: Any, name: str, found: dict[str, Table]) -> None:
    """Publication `name` of `found` and the catch-up marker."""
    if not has_publication(conn, name):
        ensure_marker(conn)
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                sql.Identifier(name),
                sql.SQL(", ").join(
                    sql.Identifier(t.schema, t.name) for t in (*found.values(), MARKER)
                ),
            )
        )


def subscribe(
    conn: Any, base: str, source: Shard, copy_data: bool, only_local: bool = False
) -> None:
    """Subscribe `conn`'s database to publication `base` of `source`. Without `copy_data`,
    the subscription starts from the slot of its own name made before (by the initial copy,
    or for the way back before the switch-over's freeze). `only_local` (`origin = none`,
    PostgreSQL 16+): the publisher sends only the changes its own sessions made, not those a
    subscription applied there."""
    name = subscription_name(base, conn)
    if not has_subscription(conn, name):
        options = (
            "copy_data = true"
            if copy_data
            else f"copy_data = false, create_slot = false, slot_name = '{name}'"
        )
        if only_local:
            options += ", origin = none"
        conn.execute(
            sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH ({})").format(
                sql.Identifier(name),
                sql.Literal(_subscription_conninfo(source)),
                sql.Identifier(base),
                sql.SQL(options),
            )
        )


def drop_subscription(conn: Any, base: str) -> None:
    name = subscription_name(base, conn)
    if has_subscription(conn, name):
        conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sql.Identifier(name)))


def fence_writes(conn: Any, found: dict[str, Table], where: str, on: bool) -> None:
    """Refuse (on) or allow again (off) the app's writes to these tables. Replication still
    applies changes: the trigger is an ordinary one, which the apply worker does not fire."""
    schemas = sorted({t.schema for t in found.values()})
    if on:
        for schema in schemas:
            conn.execute(
                FENCE_SQL.replace("{schema}", sql.Identifier(schema).as_string(conn)).replace(
                    "{where}", where.replace("'", "")
                )
            )
    for table in found.values():
        name = sql.Identifier(table.schema, table.name)
        conn.execute(sql.SQL("DROP TRIGGER IF EXISTS floyo_moved ON {}").format(name))
        if on:
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER floyo_moved BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    "ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}.floyo_moved()"
                ).format(name, sql.Identifier(table.schema))
            )


def sync_sequences(source: Any, target: Any, schemas: Sequence[str]) -> int:
    """Every sequence on the target set to the source's position (logical replication does
    not carry sequences). Returns how many."""
    rows = source.execute(
        "SELECT schemaname, sequencename, last_value FROM pg_sequences "
        "WHERE schemaname = ANY(%s) AND last_value IS NOT NULL",
        (list(schemas),),
    ).fetchall()
    for schema, name, value in rows:
        target.execute(
            sql.SQL("SELECT setval({}, %s)").format(sql.Literal(f"{schema}.{name}")), (value,)
        )
    return len(rows)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise MigrationError(
                f"timed out after {timeout:.0f}s waiting for {what}",
                "nothing was changed on the source; rerun `db migrate` to resume",
            )
        time.sleep(interval)


def lock_all_tables(conn: Any, found: dict[str, Table], lock_timeout: float) -> None:
    """The freeze: every table locked against writes, children before parents (a writer
    holds its child table and then checks the parent: the other order deadlocks)."""
    conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'")
    schemas = sorted({t.schema for t in found.values()})
    order = list(reversed(fk_order(list(found), foreign_keys(conn, schemas))))
    conn.execute(
        sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(found[n].schema, found[n].name) for n in order)
        )
    )


def without_keys(found: dict[str, Table], conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND c.relreplident = 'd' AND NOT EXISTS "
        "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) "
        "AND n.nspname || '.' || c.relname = ANY(%s)",
        (list(found),),
    ).fetchall()
    return sorted(r[0] for r in rows)


# -- the switch-over's moment ----------------------------------------------------------------


def has_slot(conn: Any, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (name,)
    ).fetchone()
    return row is not None


def pin_snapshots(*conns: Any) -> None:
    """Inside a freeze, after the catch-up: a read-only REPEATABLE READ transaction on each
    side, whose snapshot (taken by its first query) keeps the tables as they are at this
    moment for `same_counts` after the freeze, while writes go on."""
    for conn in conns:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SELECT 1")


def unpin_snapshots(*conns: Any) -> None:
    for conn in conns:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")


SWITCHED = (
    "something other than replication wrote to the target; the switch-over happened and the "
    "source receives every write since: run `db migrate --rollback` to go back, stop what "
    "writes to the target, compare the tables"
)
ROLLED_BACK = (
    "something other than replication wrote to the source; the rollback happened and the "
    "target (fenced) keeps its rows: stop what writes to the source, compare the tables"
)


def same_counts(
    a_conn: Any,
    b_conn: Any,
    found: dict[str, Any],
    into: dict[str, tuple[int, str]],
    before: dict[str, tuple[int, str]],
    hint: str,
) -> None:
    """Every table has as many rows on both sides (the checksums were compared before the
    freeze), counted after the freeze in the snapshots `pin_snapshots` took inside it, after the
    catch-up: the writers do not wait for the counts. `hint`: what to do when they differ
    (the switch has happened). Fills `into` with (rows, the checksum seen before the freeze
    or "")."""
    a, b = _both(a_conn, b_conn, found, counts)
    differ = sorted(n for n in found if a[n] != b[n])
    if differ:
        raise MigrationError(
            "at the freeze, after the catch-up, row counts differed: "
            + ", ".join(f"{n} ({a[n]} vs {b[n]})" for n in differ[:5]),
            hint,
        )
    into.clear()
    into.update({n: (a[n], before.get(n, (0, ""))[1]) for n in found})


def server_major(conn: Any) -> int:
    row = conn.execute("SHOW server_version_num").fetchone()
    return int(row[0]) // 10000


def origin_none_supported(src: Any, dst: Any) -> bool:
    """Both servers have subscriptions' `origin = none` (PostgreSQL 16+)."""
    return min(server_major(src), server_major(dst)) >= 16
