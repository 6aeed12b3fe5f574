"""`db advise --apply`: carry out the safe fixes `db advise` found (see docs/db.md).

- Only findings whose action is `create_index` (and `drop_index` with `drop_unused`), or just
  those named with `only`.
- One at a time, under the maintenance lock the other `db` commands take, with
  `lock_timeout` and `statement_timeout` set: `CREATE INDEX CONCURRENTLY` and `DROP INDEX
  CONCURRENTLY` take a SHARE UPDATE EXCLUSIVE lock, which inserts, updates and deletes do not
  wait for. Never a blocking DDL: a partitioned table's index (which cannot be built
  concurrently) is advice only.
- Progress from `pg_stat_progress_create_index`, read on a second connection while the build
  runs.
- A build that fails (a lock timeout, duplicate data under a unique index, a cancel) leaves an
  INVALID index behind, which PostgreSQL still maintains on every write: it is dropped
  (concurrently) and reported.
- Before and after: the statement the index is meant to serve is EXPLAINed before and after
  the build (the planner's cost; its mean time from pg_stat_statements is reported as it was,
  the new one shows in the next `db advise` once the application has run it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ..errors import UsageError
from ..progress import Count, Reporter, Step, ignore
from .advice import Advice, Finding
from .advise_scan import explain_cost
from .connect import Shard, connect, database_error, hold_lock


@dataclass(frozen=True)
class ApplyOptions:
    lock_timeout: str = "5s"  # how long a build may wait for a lock (or an older transaction)
    statement_timeout: str = "2h"
    poll_seconds: float = 0.5


@dataclass
class Action:
    id: str
    shard: int
    action: str  # create_index | drop_index
    index: str
    sql: str
    outcome: str = "pending"  # created | dropped | exists | failed
    error: str | None = None
    invalid_dropped: bool = False
    seconds: float = 0.0
    query: str | None = None
    cost_before: float | None = None
    cost_after: float | None = None
    mean_ms_before: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ApplyReport:
    actions: list[Action] = field(default_factory=list)

    @property
    def failed(self) -> list[Action]:
        return [a for a in self.actions if a.outcome == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"actions": [a.to_dict() for a in self.actions]}


def chosen(advice: Advice, only: Sequence[str] = (), drop_unused: bool = False) -> list[Finding]:
    """The findings `--apply` acts on: those with an action (drops only with `drop_unused`),
    or those named in `only` (an id no finding has is a usage error)."""
    actionable = [f for f in advice.findings if f.action and f.fix_sql]
    if only:
        known = {f.id for f in advice.findings}
        unknown = [i for i in only if i not in known]
        if unknown:
            raise UsageError(
                f"--only {', '.join(unknown)}: no such finding",
                "run `db advise` (without --apply) to see the findings and their ids",
            )
        picked = [f for f in actionable if f.id in set(only)]
        passive = [i for i in only if i not in {f.id for f in picked}]
        if passive:
            raise UsageError(
                f"--only {', '.join(passive)}: not something --apply does",
                "--apply creates and drops indexes; the other findings' SQL is for you to run",
            )
        actionable = picked
    if not drop_unused:
        drops = [f.id for f in actionable if f.action == "drop_index"]
        if drops and only:
            raise UsageError(
                f"--only {', '.join(drops)} drops an index",
                "add --drop-unused to drop indexes (it asks for confirmation)",
            )
        actionable = [f for f in actionable if f.action != "drop_index"]
    # create before drop: a redundant index goes only once what covers it exists
    return sorted(actionable, key=lambda f: (f.shard, f.action != "create_index", f.id))


def apply(
    shards: Iterable[Shard],
    advice: Advice,
    *,
    only: Sequence[str] = (),
    drop_unused: bool = False,
    options: ApplyOptions | None = None,
    report: Reporter = ignore,
) -> ApplyReport:
    """Carry out the chosen findings, shard by shard, one statement at a time."""
    options = options or ApplyOptions()
    todo = chosen(advice, only, drop_unused)
    versions = {s.shard: s.server_version for s in advice.shards}
    result = ApplyReport()
    for shard in shards:
        mine = [f for f in todo if f.shard == shard.index]
        if not mine:
            continue
        with connect(shard) as conn, connect(shard) as monitor:
            try:
                hold_lock(conn, shard)
                conn.execute(f"SET lock_timeout = '{_duration(options.lock_timeout)}'")
                conn.execute(f"SET statement_timeout = '{_duration(options.statement_timeout)}'")
                for finding in mine:
                    action = _run(conn, monitor, shard, finding, versions, options, report)
                    result.actions.append(action)
            except psycopg.Error as exc:
                raise database_error(
                    shard,
                    "applying advice",
                    exc,
                    "the fixes already applied stay; run `db advise` again to see what is left",
                ) from None
    return result


def _duration(value: str) -> str:
    """A setting value such as `5s` or `2h`, checked (it is put into a SET statement)."""
    text = value.strip()
    if not text or not all(c.isalnum() for c in text):
        raise UsageError(f"invalid duration {value!r}", "give a number and a unit, e.g. 5s")
    return text


def _exists(conn: psycopg.Connection[Any], index: str) -> bool | None:
    """None: no such index; else whether it is valid."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
        (_qualified(index),),
    ).fetchone()
    return None if row is None else bool(row[0])


def _qualified(index: str) -> str:
    schema, _, name = index.partition(".")
    return psycopg.sql.Identifier(schema, name).as_string(None)


def _run(
    conn: psycopg.Connection[Any],
    monitor: psycopg.Connection[Any],
    shard: Shard,
    finding: Finding,
    versions: dict[int, int],
    options: ApplyOptions,
    report: Reporter,
) -> Action:
    assert finding.fix_sql and finding.action and finding.index
    where = f"shard {shard.index}"
    name = finding.index.partition(".")[2]
    action = Action(finding.id, shard.index, finding.action, finding.index, finding.fix_sql)
    verb = "create index" if finding.action == "create_index" else "drop index"
    report(Step(where, f"{verb} {name}"))
    state = _exists(conn, finding.index)
    if finding.action == "drop_index":
        if state is None:
            action.outcome = "dropped"
            action.error = "already gone"
        else:
            _execute(conn, monitor, action, options, report, where, name)
            if action.outcome != "failed":
                action.outcome = "dropped"
        report(Step(where, f"{verb} {name}", action.outcome, done=True))
        return action
    if state is True:
        action.outcome = "exists"
        report(Step(where, f"{verb} {name}", "exists", done=True))
        return action
    if state is False:  # left INVALID by an earlier failed build
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(finding.index)}")
        action.invalid_dropped = True
    version = versions.get(shard.index, 0)
    if finding.queries:
        action.query = finding.queries[0]["query"]
        action.mean_ms_before = finding.queries[0].get("mean_ms")
        action.cost_before = explain_cost(conn, action.query, version)
    try:
        _execute(conn, monitor, action, options, report, where, name)
    except KeyboardInterrupt:  # the build was cancelled: leave no invalid index behind
        if _exists(conn, finding.index) is False:
            conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(finding.index)}")
        raise
    if action.outcome == "failed":
        if _exists(conn, finding.index) is False:
            try:
                conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(finding.index)}")
                action.invalid_dropped = True
            except psycopg.Error as exc:
                action.error = (action.error or "") + (
                    f"; the invalid index it left could not be dropped: {shard.scrub(str(exc))}"
                    f" (DROP INDEX CONCURRENTLY {_qualified(finding.index)})"
                )
    else:
        action.outcome = "created"
        if action.query:
            action.cost_after = explain_cost(conn, action.query, version)
    detail = action.outcome + (f": {action.error}" if action.error else "")
    if action.invalid_dropped:
        detail += " (invalid index dropped)"
    report(Step(where, f"{verb} {name}", detail, done=True))
    return action


def _execute(
    conn: psycopg.Connection[Any],
    monitor: psycopg.Connection[Any],
    action: Action,
    options: ApplyOptions,
    report: Reporter,
    where: str,
    name: str,
) -> None:
    """Run the action's statement on `conn` in a thread; meanwhile report the build's progress
    from `monitor`. A failure is recorded on the action (outcome "failed"), not raised."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            conn.execute(action.sql)  # our own composed SQL
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    pid = conn.info.backend_pid
    started = time.monotonic()
    worker = threading.Thread(target=run, name=f"floyo-{action.action}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            time.sleep(options.poll_seconds)  # a relative sleep, not a timed join (whose
            # deadline follows the clock: under faketime, as README runs the db tests, it hangs)
            if action.action == "create_index" and worker.is_alive():
                _progress(monitor, pid, report, where, name)
    except KeyboardInterrupt:
        conn.cancel_safe()
        worker.join()
        raise
    action.seconds = round(time.monotonic() - started, 3)
    if failure:
        exc = failure[0]
        if not isinstance(exc, psycopg.Error):
            raise exc
        action.outcome = "failed"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        action.error = text


def _progress(
    monitor: psycopg.Connection[Any], pid: int, report: Reporter, where: str, name: str
) -> None:
    row = monitor.execute(
        "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total "
        "FROM pg_stat_progress_create_index WHERE pid = %s",
        (pid,),
    ).fetchone()
    if row is None:
        return
    phase, blocks_done, blocks_total, tuples_done, tuples_total = row
    if tuples_total:
        done, total, unit = tuples_done, tuples_total, "rows"
    else:
        done, total, unit = blocks_done or 0, blocks_total or None, "blocks"
    report(Count(where, f"create index {name} ({phase})", int(done), total, unit))
