"""`db migrate`: move a database (each shard's) from Supabase to dedicated PostgreSQL
while the app keeps writing, in the seed's six steps (docs/migration.md):

1. **schema**: `pg_dump --schema-only --section=pre-data` of the app's schemas (`public` by
   default) into the target; the post-data section (indexes, constraints, triggers) is tried
   on the empty tables, undone and stored for after the copy (snapshot_copy). Supabase's
   own schemas (`auth`, `storage`, `realtime`, ...) belong to Supabase's services and are
   not moved (docs/migration.md says what to do about them).
2. **target**: the target is the database `up` built with `database.provider: rds`; checked
   to be reachable, empty of the app's tables (or holding exactly this migration's), and not
   the source.
3. **copy**: a publication on the source; the rows copied in parallel at the snapshot of the
   subscription's slot, the indexes and constraints built after them, then the subscription
   started on that slot: every change after the snapshot, while the app writes to the source
   (snapshot_copy).
4. **verify**: waits until the target has caught up, then compares every table (row count and
   an order-independent checksum), bucket by bucket, while the app writes.
5. **switch**: a short write freeze on the source (its tables locked; reads go on) that holds
   only the final catch-up (a marker row), a snapshot of both sides (their row counts are
   compared after the freeze), the sequences, the forward subscription stopped and the fence;
   then a reverse subscription (target to source, from a slot made before the freeze) so the
   source keeps every write made after the switch, the connection strings switched (the
   `switch` callback: the CLI sets the stack's active database and updates the app's
   variables); the source is fenced (a write there fails with SQLSTATE FLY03) as the freeze
   is lifted.
6. **finalize** (`--finalize`) drops the way back (the reverse subscription and publications);
   **rollback** (`--rollback`, any time before finalize) returns to the source: freeze on the
   target, catch-up of the reverse subscription, sequences, switch back (verified in full
   before its freeze, row counts of the freeze's moment after it).

Nothing is deleted on the source at any step. The journal (`_floyo_migrate.journal` on the
target) records each step; rerunning after an interruption resumes at the step that did not
finish, and each step is idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from ..progress import Reporter, Step, ignore
from . import snapshot_copy
from .connect import DatabaseError, Shard, connect
from .migrate_journal import Report, done_steps, record
from .pgtools import Table, dump_schema, load_script, retry_deadlock, tables
from .replication import (
    ROLLED_BACK,
    SWITCHED,
    caught_up,
    counts,
    drop_subscription,
    ensure_marker,
    fence_writes,
    has_marker,
    has_publication,
    has_slot,
    has_subscription,
    lock_all_tables,
    origin_none_supported,
    pin_snapshots,
    publish,
    publish_marker,
    same_counts,
    send_marker,
    server_major,
    subscribe,
    subscription_name,
    sync_sequences,
    synced,
    unpin_snapshots,
    verify_live,
    wait_until,
    without_keys,
)

SCHEMAS = ("public",)

FORWARD = "floyo_migrate"  # publication on the source; subscription and slot get the db name

REVERSE = "floyo_rollback"  # publication on the target, for the way back

STEPS = ("schema", "target", "copy", "verify", "switch")

Switch = Callable[[str], None]  # called with "target" or "source"


@dataclass
class Run:
    """What every step of one `migrate` run works with: the two open sessions, the shards they
    are on, the source's tables, the report being filled, the journal as it was, and the
    run's options."""

    src: psycopg.Connection[Any]
    dst: psycopg.Connection[Any]
    source: Shard
    target: Shard
    found: dict[str, Table]
    schemas: Sequence[str]
    report: Report
    done: dict[str, Any]
    switch: Switch
    ready: Callable[[], None] | None
    bin_dir: str | Path | None
    catch_up_timeout: float
    lock_timeout: float
    freeze_timeout: float
    jobs: int
    chunk_pages: int | None


def _crash_point(name: str) -> None:
    """Where tests inject a crash."""


# -- the steps ---------------------------------------------------------------------------------


def migrate(
    source: Shard,
    target: Shard,
    *,
    switch: Switch,
    schemas: Sequence[str] = SCHEMAS,
    until: str = "switch",
    bin_dir: str | Path | None = None,
    catch_up_timeout: float = 600.0,
    lock_timeout: float = 5.0,
    freeze_timeout: float = 10.0,
    progress: Reporter = ignore,
    ready: Callable[[], None] | None = None,
    jobs: int = 4,
    chunk_pages: int | None = None,
) -> Report:
    """Run the steps not yet done, up to and including `until`. `freeze_timeout` bounds the
    wait for the final catch-up inside the freeze (writes wait that long at most; then the
    freeze is lifted with nothing changed and the error says to rerun). `ready` checks what
    `switch` needs (the CLI: the stack's prerequisites for `up`): it runs before the first
    step when the run goes up to the switch-over, and again just before the freeze, so a
    switch-over that could not switch the connection strings never fences the source.
    `jobs` sessions copy the rows and build the indexes at once; `chunk_pages` is the size
    of the pieces a large table is copied in (snapshot_copy.plan: by default an even share)."""
    if until not in STEPS:
        raise UsageError(f"unknown step {until!r}", f"one of: {', '.join(STEPS)}")
    say = progress
    report = Report()
    with connect(source) as src, connect(target) as dst:
        done = done_steps(dst)
        if "finalize" in done:
            raise UsageError(
                "this migration is finalized", "there is nothing left to do; the source is free"
            )
        if "rollback" in done and "switch" not in done:
            raise UsageError(
                "this migration was rolled back",
                "drop the target's tables (and _floyo_migrate) to start again",
            )
        found = tables(src, schemas)
        if not found:
            raise UsageError(
                f"{source.label} has no tables in {', '.join(schemas)}",
                "check --database-url and the schema names",
            )
        if "_floyo" not in schemas and tables(src, ("_floyo",)):
            schemas = (*schemas, "_floyo")  # the shard layout travels with sharded data
            found = tables(src, schemas)
        if until == "switch" and "switch" not in done and ready is not None:
            ready()  # what `switch` needs (the stack's secrets, ...): checked before anything
        run = Run(
            src, dst, source, target, found, schemas, report, done, switch, ready, bin_dir,
            catch_up_timeout, lock_timeout, freeze_timeout, jobs, chunk_pages,
        )  # fmt: skip
        for step in STEPS:
            if step in done:
                report.steps.append((step, "done before"))
                if step == "switch":
                    _after_switch(src, dst, target)
                    if (done["switch"] or {}).get("connections") == "pending":
                        switch("target")  # an earlier run stopped before this
                        record(dst, "switch", {"result": "switched", "connections": "done"})
                        report.steps.append(("switch", "connection strings switched"))
            else:
                result = _STEP[step](run)
                detail: dict[str, Any] = {"result": result}
                if step == "switch":
                    detail["connections"] = "done"
                record(dst, step, detail)
                report.steps.append((step, result))
                say(Step(f"shard {source.index}", step, result, done=True))
            if step == until:
                break
    return report


def _step_schema(run: Run) -> str:
    src, dst, source, target = run.src, run.dst, run.source, run.target
    found, schemas = run.found, run.schemas
    where = (src.info.host, src.info.port, src.info.dbname)
    if where == (dst.info.host, dst.info.port, dst.info.dbname):
        raise UsageError("the source and the target are the same database", "check the URLs")
    present = tables(dst, schemas)
    if present and set(present) != set(found):
        raise UsageError(
            f"{target.label} already has tables in {', '.join(schemas)} that are not the source's",
            "the target must start empty; nothing was changed",
        )
    if not present:
        # the tables without their indexes and constraints: those are built after the rows
        # are copied (snapshot_copy), from the post-data section stored with them
        pre = dump_schema(source, schemas, bin_dir=run.bin_dir, section="pre-data")
        post = dump_schema(source, schemas, bin_dir=run.bin_dir, section="post-data")
        # one transaction: the post-data objects are tried on the empty tables and undone
        # (an index or a foreign key the target cannot have fails here, with nothing
        # changed), then stored for after the copy
        check = b"\nSAVEPOINT floyo_post_data;\n" + post + b"\nROLLBACK TO floyo_post_data;\n"
        store = snapshot_copy.store_post_data(post)
        load_script(target, pre + check + store, bin_dir=run.bin_dir)
    return f"{len(found)} table(s) in {', '.join(schemas)} created on the target"


def _step_target(run: Run) -> str:
    src, dst, source, target, found = run.src, run.dst, run.source, run.target, run.found
    level = src.execute("SHOW wal_level").fetchone()
    if not level or level[0] != "logical":
        raise UsageError(
            f"{source.label} has wal_level={level[0] if level else '?'}; logical replication "
            "needs wal_level=logical",
            "Supabase projects have it; on PostgreSQL set wal_level = logical and restart",
        )
    missing = without_keys(found, src)
    if missing:
        raise UsageError(
            f"table(s) without a primary key cannot replicate updates and deletes: "
            f"{', '.join(missing)}",
            "add a primary key, or run ALTER TABLE ... REPLICA IDENTITY FULL on each",
        )
    back = dst.execute("SHOW wal_level").fetchone()
    if not back or back[0] != "logical":
        raise UsageError(
            f"{target.label} has wal_level={back[0] if back else '?'}; the way back (the "
            "source follows the target after the switch-over) needs wal_level=logical",
            "on RDS the program's parameter group sets rds.logical_replication=1; it takes "
            "effect after a reboot of the instance",
        )
    major = check_majors(server_major(src), server_major(dst), source.label, target.label)
    return f"target reachable (PostgreSQL {major}), source ready"


def check_majors(source: int, target: int, source_label: str, target_label: str) -> int:
    """The target's major version, refused when it is older than the source's: the schema is
    copied with the source's pg_dump, whose output an older server rejects (pg_dump 17 writes
    `SET transaction_timeout = 0`, a setting PostgreSQL 17 introduced), and it is loaded with
    ON_ERROR_STOP. The stack has one major version (database.postgres_version, Supabase's
    default: catalog/facts.py SUPABASE_POSTGRES_MAJOR)."""
    if target < source:
        raise UsageError(
            f"{target_label} runs PostgreSQL {target}, older than {source_label}'s {source}: "
            "the source's schema dump would not load there",
            f"set database.postgres_version: {source} and run `floyo-scale up` to upgrade the "
            "target first",
        )
    return target


def _step_copy(run: Run) -> str:
    """The rows copied in parallel at the snapshot of the forward subscription's slot, the
    indexes and constraints built after them, then the subscription started from that slot
    (snapshot_copy says how, and why nothing is lost or applied twice). A copy that did not
    finish is started again from an empty target (the journal's "copy data" says it did)."""
    src, dst, source, target = run.src, run.dst, run.source, run.target
    found, report = run.found, run.report
    started = time.monotonic()
    jobs: int = run.jobs
    ensure_marker(src)
    ensure_marker(dst)
    publish(src, FORWARD, found)  # before the slot: its changes are decoded with it
    _crash_point("copy-published")
    name = subscription_name(FORWARD, dst)
    if has_subscription(dst, name) or not snapshot_copy.has_post_data(dst):
        # a copy by the subscription itself: started by an earlier version, or into a schema
        # an earlier version loaded whole (its foreign keys would refuse rows copied in
        # parallel); the subscription is made here in that case
        subscribe(dst, FORWARD, source, copy_data=True)
        wait_until(lambda: synced(dst, name), run.catch_up_timeout, "the initial copy")
        report.rows_copied = sum(counts(dst, found).values())
    elif "copy data" in run.done:
        report.rows_copied = int((run.done["copy data"] or {}).get("rows", 0))
    else:
        snapshot_copy.drop_slot(src, name)  # a copy that did not finish: its snapshot is gone
        snapshot_copy.empty(dst, found)
        chunks = snapshot_copy.plan(src, found, jobs, run.chunk_pages)
        held, _lsn, snapshot = snapshot_copy.create_slot(source, name)
        with held:  # the snapshot can be imported while this session stays open and idle
            report.rows_copied = snapshot_copy.copy_at_snapshot(
                source,
                target,
                chunks,
                snapshot,
                jobs,
                lambda point: _crash_point(point),
                bin_dir=run.bin_dir,
            )
        record(dst, "copy data", {"rows": report.rows_copied, "pieces": len(chunks)})
    rows_done = time.monotonic()
    built = snapshot_copy.run_post_data(target, jobs, lambda point: _crash_point(point))
    _crash_point("copy-post-data-built")
    snapshot_copy.analyze(target, found, jobs)
    subscribe(dst, FORWARD, source, copy_data=False)  # from the slot's snapshot on
    report.copy_seconds = time.monotonic() - started
    return (
        f"initial copy of {report.rows_copied} row(s) in {report.copy_seconds:.1f}s: the rows "
        f"in {rows_done - started:.1f}s ({jobs} session(s) at once), then {built} index(es), "
        f"constraint(s) and trigger(s), and ANALYZE, in {time.monotonic() - rows_done:.1f}s; "
        "changes now replicate"
    )


def _step_verify(run: Run) -> str:
    """Every table compared in full (rows and checksums) while replication runs: the
    switch-over's freeze then only proves the catch-up and compares row counts."""
    src, dst, found, report = run.src, run.dst, run.found, run.report
    publish_marker(src, FORWARD, dst, subscription_name(FORWARD, dst))
    timeout = run.catch_up_timeout
    verified = verify_live(
        src, dst, found, lambda: caught_up(src, dst, timeout, "the target to catch up")
    )
    report.tables = verified
    rows = sum(c for c, _ in verified.values())
    return f"{len(verified)} table(s) equal (rows and checksums, {rows} row(s)) on both sides"


def _step_switch(run: Run) -> str:
    src, dst, source, target = run.src, run.dst, run.source, run.target
    found, schemas, report = run.found, run.schemas, run.report
    switch: Switch = run.switch
    lock_timeout: float = run.lock_timeout
    if run.ready is not None:
        run.ready()  # again, before the source is frozen and fenced: a switch-over that
        # could not switch the connection strings must not fence the source
    # an earlier switch-over that did not commit: replication forward again, and no slot
    # for the way back made before the target took writes
    forward, back = subscription_name(FORWARD, dst), subscription_name(REVERSE, src)
    ensure_marker(src)
    ensure_marker(dst)
    dst.execute(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(sql.Identifier(forward)))
    publish_marker(src, FORWARD, dst, forward)
    # the way back, made before the freeze: its publication, and its slot, from which the
    # source's subscription (origin = none) takes only the writes of the target's own
    # sessions, not the forward subscription's (which came from the source). Making a slot
    # waits for every transaction running on the target: never inside the freeze.
    early = origin_none_supported(src, dst)
    publish(dst, REVERSE, found)
    if early and not has_slot(dst, back):
        dst.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (back,))
    fence_writes(dst, found, "", on=False)  # the target takes the app's writes from the switch on
    verified: dict[str, tuple[int, str]] = {}
    with (
        connect(source) as mark,  # the marker commits in a session of its own
        connect(source) as seen_src,  # the two sides as they were inside the freeze
        connect(target) as seen_dst,
    ):

        def freeze() -> float:
            unpin_snapshots(seen_src, seen_dst)  # a freeze tried again: a new moment
            if not early and has_slot(dst, back):
                # PostgreSQL 15: a slot made before the forward subscription stopped would
                # send the source its own rows back
                dst.execute("SELECT pg_drop_replication_slot(%s)", (back,))
            # caught up before the freeze, so the one inside it waits for a moment's writes
            caught_up(mark, dst, run.catch_up_timeout, "the target to catch up")
            with src.transaction():
                lock_all_tables(src, found, lock_timeout)  # the freeze: writers wait, readers go on
                frozen = time.monotonic()
                token = send_marker(mark)
                wait_until(
                    lambda: has_marker(dst, token),
                    run.freeze_timeout,
                    "the target to catch up inside the switch-over's freeze (lifted; nothing "
                    "was changed)",
                    interval=0.005,
                )
                arrived = time.monotonic()
                pin_snapshots(seen_src, seen_dst)  # counted after the freeze, as they are now
                counted = time.monotonic()
                _crash_point("switch-caught-up")
                sync_sequences(src, dst, schemas)
                # the way back: from here on, every write to the target is kept for the source
                dst.execute(
                    sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sql.Identifier(forward))
                )
                if not early:
                    dst.execute(
                        "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (back,)
                    )
                fence_writes(src, found, f"moved to {target.label}", on=True)
                _crash_point("switch-before-commit")
                record(dst, "switch", {"result": "switched", "connections": "pending"})
            report.freeze_parts = {
                "catch-up": arrived - frozen,
                "snapshots": counted - arrived,
                "the rest": time.monotonic() - counted,
            }
            return frozen

        frozen = retry_deadlock(freeze)
        # the freeze ends here: a write waiting on the source now fails with FLY03, and the
        # app reconnects with DATABASE_URL_OTHER (docs/migration.md)
        report.freeze_seconds = time.monotonic() - frozen
        _after_switch(src, dst, target)
        _crash_point("switch-before-connection-strings")
        switch("target")
        try:
            same_counts(seen_src, seen_dst, found, verified, report.tables, SWITCHED)
        finally:
            unpin_snapshots(seen_src, seen_dst)
    report.tables = verified
    return (
        f"switched to the target; writes waited {report.freeze_seconds:.2f}s; "
        f"{len(verified)} table(s) verified; the source keeps receiving every write "
        "(rollback possible until --finalize); connection strings switched"
    )


def _after_switch(src: Any, dst: Any, target: Shard) -> None:
    """Outside the freeze, idempotent: the forward subscription goes, the reverse one starts
    from the slot made for it (before the freeze, or inside it on PostgreSQL 15)."""
    drop_subscription(dst, FORWARD)
    subscribe(src, REVERSE, target, copy_data=False, only_local=origin_none_supported(src, dst))


_STEP: dict[str, Callable[[Run], str]] = {
    "schema": _step_schema,
    "target": _step_target,
    "copy": _step_copy,
    "verify": _step_verify,
    "switch": _step_switch,
}


def rollback(
    source: Shard,
    target: Shard,
    *,
    switch: Switch,
    schemas: Sequence[str] = SCHEMAS,
    catch_up_timeout: float = 600.0,
    lock_timeout: float = 5.0,
    freeze_timeout: float = 10.0,
    ready: Callable[[], None] | None = None,
) -> Report:
    """Back to the source. `ready` checks what `switch` needs; after the switch-over it runs
    before anything changes. Before the switch-over: stop replicating (the source never stopped
    being the database). After it: freeze the target, let the source catch up, verify, move
    the sequences, switch back."""
    report = Report()
    with ExitStack() as stack:
        src = stack.enter_context(connect(source))
        dst = stack.enter_context(connect(target))
        done = done_steps(dst)
        if "finalize" in done:
            raise UsageError(
                "this migration is finalized: the way back was dropped",
                "migrate again in the other direction",
            )
        found = tables(src, schemas)
        if "switch" not in done:
            drop_subscription(dst, FORWARD)
            snapshot_copy.drop_slot(
                src, subscription_name(FORWARD, dst)
            )  # a copy that did not finish
            if has_publication(src, FORWARD):
                src.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(FORWARD)))
            # the app never left the source: its connection strings stay as they are
            record(dst, "rollback", {"result": "before the switch-over"})
            report.steps.append(("rollback", "replication stopped; the app stays on the source"))
            return report
        if ready is not None:
            ready()  # before the target is frozen and fenced
        subscribe(src, REVERSE, target, copy_data=False, only_local=origin_none_supported(src, dst))
        ensure_marker(dst)
        publish_marker(dst, REVERSE, src, subscription_name(REVERSE, src))
        # verified in full while the reverse replication runs; the freeze compares counts
        before = verify_live(
            dst,
            src,
            found,
            lambda: caught_up(dst, src, catch_up_timeout, "the source to catch up"),
        )
        mark = stack.enter_context(connect(target))
        seen_dst = stack.enter_context(connect(target))  # both sides as they were in the freeze
        seen_src = stack.enter_context(connect(source))

        def freeze() -> float:
            unpin_snapshots(seen_dst, seen_src)
            caught_up(mark, src, catch_up_timeout, "the source to catch up")
            with dst.transaction():
                lock_all_tables(dst, found, lock_timeout)  # writers to the target wait
                frozen = time.monotonic()
                token = send_marker(mark)
                wait_until(
                    lambda: has_marker(src, token),
                    freeze_timeout,
                    "the source to catch up inside the rollback's freeze (lifted; nothing "
                    "was changed)",
                    interval=0.005,
                )
                pin_snapshots(seen_dst, seen_src)  # counted after the freeze
                sync_sequences(dst, src, schemas)
                fence_writes(dst, found, f"moved back to {source.label}", on=True)
                fence_writes(src, found, "", on=False)
            return frozen

        frozen = retry_deadlock(freeze)
        report.freeze_seconds = time.monotonic() - frozen
        # after the freeze (dropping it waits for the target's walsender): the target is
        # fenced, so the reverse subscription has nothing more to bring
        drop_subscription(src, REVERSE)
        switch("source")
        if has_publication(dst, REVERSE):
            dst.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(REVERSE)))
        if has_publication(src, FORWARD):
            src.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(FORWARD)))
        dst.execute("DELETE FROM _floyo_migrate.journal WHERE step = 'switch'")
        record(dst, "rollback", {"result": "after the switch-over"})
        try:
            same_counts(seen_dst, seen_src, found, report.tables, before, ROLLED_BACK)
        finally:
            unpin_snapshots(seen_dst, seen_src)
        report.steps.append(
            ("rollback", f"back on the source; writes waited {report.freeze_seconds:.2f}s")
        )
    return report


def finalize(source: Shard, target: Shard, *, schemas: Sequence[str] = SCHEMAS) -> Report:
    """Drop the way back: the reverse subscription and both publications. The source's data
    is left as it is (deleting the Supabase project is `up`'s job once the spec drops it)."""
    report = Report()
    with connect(source) as src, connect(target) as dst:
        done = done_steps(dst)
        if "switch" not in done:
            raise UsageError("the migration has not switched over yet", "run `db migrate` first")
        drop_subscription(src, REVERSE)
        for conn, name in ((dst, REVERSE), (src, FORWARD)):
            if has_publication(conn, name):
                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
        record(dst, "finalize")
        report.steps.append(("finalize", "the way back is dropped; the source is read-only"))
    return report


def database_error(shard: Shard, exc: psycopg.Error) -> DatabaseError:
    return DatabaseError(
        f"{shard.label}: {shard.scrub(str(exc).strip())}", "rerun `db migrate`: it resumes"
    )
