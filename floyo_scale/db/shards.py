"""`db shards plan|apply`: lay the data out over the shards the phase has (docs/sharding.md).

After `up` has created new shard projects, `apply`:

1. **setup**: installs the `_floyo` schema on every shard (the layout, the moved-out list, the
   journal, the shard function in SQL and a write fence on every keyed table), copies the
   schema of shard 0 (`pg_dump --schema-only`) into each new shard, advances the new shards'
   sequences past every old shard's, and copies the unkeyed tables to the new shards when the
   phase says `unkeyed_tables: every_shard`, verified table by table;
2. **keys**: moves every key whose shard changed, in batches of keys (`_move_keys`, the one
   batch loop): on the source, the batch's keys are locked (the fences refuse their writes
   with FLY01 meanwhile, and the lock waits for the writers already in), their rows are
   copied table by table in foreign-key order into the target (under
   `session_replication_role = replica` where the role may: no trigger per copied row, every
   foreign key then checked once per batch), counted and checksummed per table on both
   sides, and only when both agree is the target committed, then the rows deleted from the
   source and the keys written to the source's moved-out list (one source transaction);
3. **final**: freezes writes to the keyed tables of every old shard for a moment, moves the
   keys created during step 2, and records the new layout on every shard.

The journal (`_floyo.shard_move` on shard 0) records each step; every step is idempotent and
a rerun after any interruption resumes: a source keeps a key's rows until the target has a
verified copy, and a target's copy of a key that has not moved yet is replaced on the next run.

While a move runs, the app routes by the layout on shard 0 (`_floyo.layout`), follows the
moved-out list and names each write's key (`floyo.key`); a write for a key that has moved or
is moving is refused by the fence (SQLSTATE FLY01), a write to a shard the layout does not
give the key to with FLY02, and the app routes again and retries (docs/sharding.md).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from ..progress import Reporter, Step, ignore
from ..sharding import ALGORITHM, normalise, shard_for
from .connect import DatabaseError, Shard
from .pgtools import copy_schema, retry_deadlock, tables
from .shard_copy import (
    advance_sequences,
    check_references,
    check_referrers,
    checksum_query,
    copy_rows,
    copy_whole_table,
    fast_copies,
    shard_checksums,
)
from .shard_plan import (
    SCHEMAS,
    Layout,
    Unkeyed,
    connections,
    key_filter,
    key_row_counts,
    open_move,
    read_from_shards,
    read_layout,
)
from .shard_sql import SETUP_SQL

LOCK_SPACE = 7_236_913  # first half of the advisory lock key the fence and the mover share

# the fence triggers' WHEN: the mover's own sessions (copying, deleting moved rows) skip them
NOT_MOVER = sql.SQL("current_setting('floyo.moving', true) IS DISTINCT FROM 'on'")


@dataclass
class ApplyResult:
    from_shards: int
    to_shards: int
    keys_moved: int = 0
    rows_moved: int = 0
    unkeyed_rows_copied: int = 0
    seconds: float = 0.0
    freeze_seconds: float = 0.0
    # "per batch": the copies ran with session_replication_role = replica and one query per
    # foreign key and batch; "per row": the role may not, PostgreSQL checked each row
    foreign_key_checks: str = ""
    steps: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows_moved / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_second": round(self.rows_per_second, 1)}


def _crash_point(name: str) -> None:
    """Where tests inject a crash (a step boundary: target committed, source not yet...)."""


# -- apply --------------------------------------------------------------------------------------


def apply(
    shards: Sequence[Shard],
    *,
    key: str,
    key_columns: dict[str, str] | None = None,
    unkeyed_tables: Unkeyed = "every_shard",
    batch_keys: int = 100,
    bin_dir: str | Path | None = None,
    progress: Reporter = ignore,
    wait_seconds: float = 30.0,
) -> ApplyResult:
    """Lay the data out over `shards` (all of the phase's shards, shard 0 first).
    `wait_seconds` bounds the wait for transactions older than the move before the final
    step (past it, the final step rescans under its lock, as it did before the watermark)."""
    say = progress
    to = len(shards)
    started = time.monotonic()
    with connections(shards) as conns:
        from_shards, _ = read_from_shards(conns[0], to)
        result = ApplyResult(from_shards, to)
        if to < from_shards:
            raise UsageError(
                f"the data is laid out over {from_shards} shards and the phase has {to}",
                "removing shards is not supported: jump consistent hash only grows",
            )
        if to == from_shards and open_move(conns[0]) is None:
            say(Step("shards", "lay out", f"already over {to} shard(s): nothing to do", done=True))
            return result
        layout = read_layout(conns[0], key, key_columns or {}, unkeyed_tables)
        # setup: _floyo and the fence on the old shards, then the new shards' schema
        for index in range(from_shards):
            _install(conns[index], layout, (from_shards, index))
        # the watermark: from here on the fence logs every key written to an old shard that
        # the new layout gives another one
        since = [_log_late_keys(conns[index], to) for index in range(from_shards)]
        move_id = _journal_start(conns[0], from_shards, to)
        for index in range(from_shards, to):
            result.unkeyed_rows_copied += _setup_new_shard(
                shards, conns, index, from_shards, to, layout, bin_dir, say
            )
        _journal(conns[0], move_id, "keys")
        result.steps.append("setup")
        # keys: batch by batch, each verified before its source rows go
        fast = fast_copies(conns, from_shards, to, say)
        result.foreign_key_checks = "per row" if not all(fast.values()) else "per batch"

        def move_pass(step: str) -> None:
            """Every key of the old shards the new layout gives another shard."""
            for index in range(from_shards):
                keys = [
                    k for k in key_row_counts(conns[index], layout) if shard_for(k, to) != index
                ]
                moved: dict[int, int] = defaultdict(int)

                def journal(
                    target: int, keys: int, rows: int, moved: dict[int, int] = moved
                ) -> None:
                    moved[target] += keys
                    _journal(conns[0], move_id, step, keys, rows)

                done = _move_keys(
                    shards, conns, layout, index, keys, to, batch_keys, fast, on_batch=journal
                )
                result.keys_moved += done[0]
                result.rows_moved += done[1]
                for target, count in sorted(moved.items()):
                    say(
                        Step(
                            f"shard {index} → shard {target}",
                            "move keys",
                            f"{count} key(s) moved ({step})",
                            done=True,
                        )
                    )

        move_pass("keys")
        result.steps.append("keys")
        _journal(conns[0], move_id, "final")
        # every transaction that may have written without the log has ended (or the final
        # step rescans under its lock), and a last full pass outside the freeze
        logged = all(
            _older_transactions_ended(conns[index], since[index], wait_seconds)
            for index in range(from_shards)
        )
        move_pass("final")
        if not logged:
            still = "one is still open: the final step rescans every keyed table under its lock"
            say(Step("shards", "wait for older transactions", still, done=True))
        freeze, late_keys, late_rows = _final(
            shards, conns, from_shards, to, layout, batch_keys, fast, rescan=not logged
        )
        result.freeze_seconds = freeze
        result.keys_moved += late_keys
        result.rows_moved += late_rows
        _journal(conns[0], move_id, "done", late_keys, late_rows, finished=True)
        result.steps.append("final")
        moved = f"{result.keys_moved} key(s), {result.rows_moved} row(s) moved"
        done = f"over {to} shards: {moved}; writes frozen {freeze:.2f}s at the end"
        say(Step("shards", "lay out", done, done=True))
    result.seconds = time.monotonic() - started
    return result


def _install(conn: Any, layout: Layout, position: tuple[int, int] | None) -> None:
    """The `_floyo` schema, the recorded layout (when not yet recorded) and the fence on
    every keyed table. Idempotent, so when PostgreSQL picks it as a deadlock's victim (its
    triggers take SHARE ROW EXCLUSIVE on tables the application is using, and the fence
    function is replaced while the application's triggers call it) it is run again
    (`retry_deadlock`) instead of failing the move. Which side PostgreSQL picks as the
    victim is its choice (the first to notice the cycle); this does not change it."""

    def install() -> None:
        with conn.transaction():
            conn.execute(SETUP_SQL)
            if position is not None:
                conn.execute(
                    "INSERT INTO _floyo.layout (algorithm, shards, shard) VALUES (%s, %s, %s) "
                    "ON CONFLICT (one) DO NOTHING",
                    (ALGORITHM, *position),
                )
            for name in layout.keyed_order:
                table, column = layout.keyed[name]
                name_sql = sql.Identifier(table.schema, table.name)
                for trigger, when in (
                    ("floyo_shard_fence", "BEFORE INSERT OR UPDATE"),
                    # after: a BEFORE DELETE row trigger locks each row before its WHEN is
                    # read, which made the mover's own deletes twice as slow
                    ("floyo_shard_fence_delete", "AFTER DELETE"),
                ):
                    conn.execute(
                        sql.SQL(
                            "CREATE OR REPLACE TRIGGER {} {} ON {} FOR EACH ROW "
                            "WHEN ({}) EXECUTE FUNCTION _floyo.fence({})"
                        ).format(
                            sql.Identifier(trigger),
                            sql.SQL(when),
                            name_sql,
                            NOT_MOVER,
                            sql.Literal(column),
                        )
                    )
                conn.execute(
                    sql.SQL(
                        "CREATE OR REPLACE TRIGGER floyo_shard_fence_statement "
                        "BEFORE UPDATE OR DELETE ON {} FOR EACH STATEMENT "
                        "WHEN ({} AND coalesce(current_setting('floyo.key', true), '') <> '') "
                        "EXECUTE FUNCTION _floyo.fence_statement()"
                    ).format(name_sql, NOT_MOVER)
                )

    try:
        retry_deadlock(install, attempts=5)
    except psycopg.Error as exc:
        raise DatabaseError(
            f"setting up _floyo failed: {exc}", "rerun; nothing was moved"
        ) from None


def _journal_start(conn0: Any, from_shards: int, to: int) -> int:
    move = open_move(conn0)
    if move is not None:
        return move[0]
    row = conn0.execute(
        "INSERT INTO _floyo.shard_move (algorithm, from_shards, to_shards, step) "
        "VALUES (%s, %s, %s, 'setup') RETURNING id",
        (ALGORITHM, from_shards, to),
    ).fetchone()
    return int(row[0])


def _journal(
    conn0: Any, move_id: int, step: str, keys: int = 0, rows: int = 0, finished: bool = False
) -> None:
    conn0.execute(
        "UPDATE _floyo.shard_move SET step = %s, keys_moved = keys_moved + %s, "
        "rows_moved = rows_moved + %s, finished_at = CASE WHEN %s THEN now() END WHERE id = %s",
        (step, keys, rows, finished, move_id),
    )


def _setup_new_shard(
    shards: Sequence[Shard],
    conns: list[Any],
    index: int,
    from_shards: int,
    to: int,
    layout: Layout,
    bin_dir: str | Path | None,
    say: Reporter,
) -> int:
    """Schema from shard 0, sequences advanced, unkeyed tables copied. Returns rows copied."""
    conn = conns[index]
    present = tables(conn, SCHEMAS)
    if not present:
        # _floyo first: the dumped triggers call _floyo.fence()
        _install(conn, Layout(layout.key, {}, {}, [], layout.unkeyed_mode), (to, index))
        copy_schema(shards[0], shards[index], SCHEMAS, bin_dir=bin_dir)
        say(Step(f"shard {index}", "copy schema", "from shard 0", done=True))
    elif set(present) != set(layout.order):
        missing = sorted(set(layout.order) - set(present))
        raise UsageError(
            f"{shards[index].label} has tables but not the same ones as shard 0"
            + (f" (missing: {', '.join(missing)})" if missing else ""),
            "a new shard must start empty (or with exactly shard 0's schema); nothing was moved",
        )
    _install(conn, layout, (to, index))
    advance_sequences(conns[:from_shards], conn, index - from_shards + 1)
    copied = 0
    if layout.unkeyed_mode == "every_shard":
        for name in layout.order:
            if name in layout.unkeyed:
                copied += copy_whole_table(conns[0], conn, layout.unkeyed[name], shards[index])
    return copied


def _move_batch(
    shards: Sequence[Shard],
    conns: list[Any],
    source: int,
    target: int,
    keys: list[str],
    layout: Layout,
    *,
    fast: tuple[bool, bool] = (False, False),
    src_in_transaction: bool = False,
) -> int:
    """Move the rows of `keys` from `source` to `target`; returns the rows moved. `fast`:
    (target, source) may run under `session_replication_role = replica`."""
    src_conn, dst_conn = conns[source], conns[target]
    for attempt in range(5):
        try:
            if src_in_transaction:
                return _move_batch_once(
                    src_conn, dst_conn, source, target, keys, layout, shards, *fast
                )
            with src_conn.transaction():
                return _move_batch_once(
                    src_conn, dst_conn, source, target, keys, layout, shards, *fast
                )
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if src_in_transaction or attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _move_batch_once(
    src: Any,
    dst: Any,
    source: int,
    target: int,
    keys: list[str],
    layout: Layout,
    shards: Sequence[Shard],
    fast: bool,
    fast_source: bool,
) -> int:
    filters = {
        name: key_filter(column, table, src) for name, (table, column) in layout.keyed.items()
    }
    order = layout.keyed_order
    normal = [normalise(k) for k in keys]
    # The keys first. The fences never wait for this lock: from here until the source commits,
    # a write of these keys on the source (INSERT, UPDATE, DELETE, or a routed UPDATE/DELETE
    # naming its key) is refused with FLY01, and the lock waits for the transactions that
    # already wrote them to end. So no row of these keys changes under the copy, and no row
    # lock is needed (docs/sharding.md, "Routing while rows move").
    src.execute("SET LOCAL floyo.moving = 'on'")  # the source's deletes skip the fence
    src.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(k)) FROM unnest(%s::text[]) AS k ORDER BY k",
        (LOCK_SPACE, normal),
    )
    with dst.transaction():
        dst.execute("SET LOCAL floyo.moving = 'on'")  # the fence skips the mover's rows
        if fast:  # no trigger per copied row; the foreign keys are checked per batch below
            dst.execute("SET LOCAL session_replication_role = replica")
        for name in reversed(order):  # an earlier, unverified copy of these keys
            table = layout.keyed[name][0]
            dst.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(
                    sql.Identifier(table.schema, table.name), filters[name]
                ),
                (keys,),
            )
        for name in order:
            copy_rows(src, dst, layout.keyed[name][0], filters[name], (keys,))
            _crash_point("mid-copy")
        if fast:
            check_references(dst, layout, filters, keys, shards[target])
        rows = 0
        for name in order:
            table, column = layout.keyed[name]
            want, have = shard_checksums(src, dst, layout, name, filters[name], keys)
            if want != have:
                query = checksum_query(table, filters[name], column)
                by_key = dict(((k, (c, s)) for k, c, s in src.execute(query, (keys,))))
                got = dict(((k, (c, s)) for k, c, s in dst.execute(query, (keys,))))
                bad = sorted(k for k in set(by_key) | set(got) if by_key.get(k) != got.get(k))
                raise DatabaseError(
                    f"the copy of {name} on {shards[target].label} does not match "
                    f"{shards[source].label} for key(s) {', '.join(bad[:5])}",
                    "nothing was deleted; rerun `db shards apply`",
                )
            rows += int(want[0])
        _crash_point("before-target-commit")
    _crash_point("target-committed")
    if fast_source:  # no trigger per deleted row; references from other keys checked first
        src.execute("SET LOCAL session_replication_role = replica")
        check_referrers(src, layout, filters, keys, shards[source])
    for name in reversed(order):
        table = layout.keyed[name][0]
        src.execute(
            sql.SQL("DELETE FROM {} WHERE {}").format(
                sql.Identifier(table.schema, table.name), filters[name]
            ),
            (keys,),
        )
    src.execute(
        "INSERT INTO _floyo.moved_out (key, shard) SELECT k, %s FROM unnest(%s::text[]) AS k "
        "ON CONFLICT (key) DO UPDATE SET shard = excluded.shard",
        (target, normal),
    )
    _crash_point("before-source-commit")
    return rows


def _final(
    shards: Sequence[Shard],
    conns: list[Any],
    from_shards: int,
    to: int,
    layout: Layout,
    batch_keys: int,
    fast: dict[int, bool],
    *,
    rescan: bool = False,
) -> tuple[float, int, int]:
    """Freeze writes to the keyed tables of the old shards, move the keys written meanwhile
    (the fence's log; every keyed row when `rescan`), record the new layout everywhere;
    returns (seconds frozen, keys, rows)."""
    # children before parents: a writer holds its child table, then checks the parent
    names = sql.SQL(", ").join(
        sql.Identifier(t.schema, t.name)
        for t, _ in (layout.keyed[n] for n in reversed(layout.keyed_order))
    )

    def freeze() -> tuple[float, int, int]:
        return _freeze_and_finish(
            shards, conns, from_shards, to, layout, batch_keys, fast, names, rescan
        )

    return retry_deadlock(freeze)


def _freeze_and_finish(
    shards: Sequence[Shard],
    conns: list[Any],
    from_shards: int,
    to: int,
    layout: Layout,
    batch_keys: int,
    fast: dict[int, bool],
    names: sql.Composable,
    rescan: bool,
) -> tuple[float, int, int]:
    keys_moved = rows_moved = 0
    with ExitStack() as stack:
        for index in range(from_shards):
            stack.enter_context(conns[index].transaction())
        frozen = time.monotonic()
        for index in range(from_shards):
            if layout.keyed:
                conns[index].execute(
                    sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names)  # reads go on
                )
        for index in range(from_shards):
            late = _late_keys(conns[index], layout, to, index, rescan)
            keys, rows = _move_keys(
                shards, conns, layout, index, late, to, batch_keys, fast, src_in_transaction=True
            )
            keys_moved += keys
            rows_moved += rows
        _crash_point("final-before-layout")
        for index in range(to):
            conns[index].execute(
                "UPDATE _floyo.layout SET algorithm = %s, shards = %s, shard = %s, "
                "moving_to = NULL",
                (ALGORITHM, to, index),
            )
            conns[index].execute("DELETE FROM _floyo.late_keys")
    return time.monotonic() - frozen, keys_moved, rows_moved


def _log_late_keys(conn: Any, to: int) -> Any:
    """The fence of this old shard starts logging keys the `to`-shard layout gives another
    shard; returns the server's time once that is committed (the watermark)."""
    conn.execute("UPDATE _floyo.layout SET moving_to = %s", (to,))
    return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _older_transactions_ended(conn: Any, since: Any, timeout: float) -> bool:
    """Wait (at most `timeout`) until no session of this database is in a transaction that
    began before `since` (one that may have written a key without the fence logging it:
    it read the layout before the watermark). False when one still is."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND xact_start < %s",
            (since,),
        ).fetchone()
        if not row or row[0] == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _late_keys(conn: Any, layout: Layout, to: int, index: int, rescan: bool) -> list[str]:
    """The keys on old shard `index` that the `to`-shard layout gives another shard and that
    have not moved: those the fence logged (or, `rescan`, every keyed row's)."""
    if rescan:
        keys: Any = key_row_counts(conn, layout)
    else:
        keys = [
            k
            for (k,) in conn.execute(
                "SELECT key FROM _floyo.late_keys l WHERE NOT EXISTS "
                "(SELECT 1 FROM _floyo.moved_out m WHERE m.key = _floyo.key_text(l.key))"
            )
        ]
    return sorted(k for k in keys if shard_for(k, to) != index)


def _batches(keys: Sequence[str], to: int, batch_keys: int) -> list[tuple[int, list[str]]]:
    """`keys` grouped by their shard under the `to`-shard layout, in batches."""
    by_target: dict[int, list[str]] = defaultdict(list)
    for k in keys:
        by_target[shard_for(k, to)].append(k)
    return [
        (target, group[start : start + batch_keys])
        for target, group in sorted(by_target.items())
        for start in range(0, len(group), batch_keys)
    ]


def _move_keys(
    shards: Sequence[Shard],
    conns: list[Any],
    layout: Layout,
    source: int,
    keys: Sequence[str],
    to: int,
    batch_keys: int,
    fast: dict[int, bool],
    *,
    on_batch: Callable[[int, int, int], None] | None = None,
    src_in_transaction: bool = False,
) -> tuple[int, int]:
    """The one key-batch loop: `keys` of old shard `source` to their shards under the
    `to`-shard layout, `batch_keys` at a time, each batch verified before its source rows go;
    `on_batch(target, keys, rows)` after each. Returns (keys, rows) moved."""
    keys_moved = rows_moved = 0
    for target, batch in _batches(sorted(keys), to, batch_keys):
        rows = _move_batch(
            shards,
            conns,
            source,
            target,
            batch,
            layout,
            fast=(fast.get(target, False), fast.get(source, False)),
            src_in_transaction=src_in_transaction,
        )
        keys_moved += len(batch)
        rows_moved += rows
        if on_batch is not None:
            on_batch(target, len(batch), rows)
    return keys_moved, rows_moved
