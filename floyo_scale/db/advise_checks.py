"""`db advise`'s checks of the server as a whole: whether `pg_stat_statements` is on (and how
to turn it on), its statements, the cache hit ratio, dead rows, connections against
`max_connections`, long-running and idle-in-transaction sessions (see advise.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from ..transport import mask
from .advice import SYSTEM_SCHEMAS, AdviseOptions, Finding, quoted

ENABLE_HINT = (
    "Supabase has it on. Amazon RDS: set shared_preload_libraries = pg_stat_statements in the "
    "DB parameter group (the program's parameter group sets it; a static parameter: it takes "
    "effect at the next reboot), then CREATE EXTENSION pg_stat_statements. Self-hosted: add it "
    "to shared_preload_libraries in postgresql.conf and restart."
)

_NOT_APP = (
    r"^\s*(explain|set|show|begin|commit|rollback|reset|deallocate|discard|vacuum|analyze"
    r"|create extension|select pg_|select hypopg_)"
)


@dataclass
class StatementsState:
    status: str  # "on" | "not loaded" | "not installed" | "off"
    schema: str | None
    finding: Callable[[int], Finding] | None

    def rows(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        """This database's statements (those of the application: not our catalog reads)."""
        assert self.schema is not None
        view = quoted(self.schema, "pg_stat_statements")
        rows = conn.execute(
            f"SELECT queryid, query, calls, total_exec_time, mean_exec_time, rows, "  # noqa: S608
            f"shared_blks_hit, shared_blks_read FROM {view} "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND calls > 0 AND query !~* %s AND query !~* '\\m(pg_[a-z]|current_setting)'",
            (_NOT_APP,),
        ).fetchall()
        out = []
        for qid, query, calls, total, mean, nrows, hit, read in rows:
            out.append(
                {
                    "queryid": str(qid),
                    "query": mask(query),
                    "calls": int(calls),
                    "total_ms": round(float(total), 3),
                    "mean_ms": round(float(mean), 3),
                    "rows": int(nrows),
                    "hit_ratio": round(hit / (hit + read), 4) if hit + read else None,
                }
            )
        return out


def statements_state(conn: psycopg.Connection[Any]) -> StatementsState:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    schema = row[0] if row else None
    setting = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    loaded = "pg_stat_statements" in [
        s.strip().strip('"') for s in (setting[0] if setting else "").split(",")
    ]
    if schema and loaded:
        return StatementsState("on", schema, None)
    status = "not loaded" if schema else ("not installed" if loaded else "off")

    def finding(shard: int) -> Finding:
        return Finding(
            id="pg-stat-statements",
            shard=shard,
            kind="pg_stat_statements_off",
            severity="medium",
            title=f"pg_stat_statements is {status}: statements cannot be ranked, nor the "
            "sequential scans tied to the statements that cause them",
            evidence={
                "shared_preload_libraries": setting[0] if setting else "",
                "installed": bool(schema),
            },
            effect="the top statements by total and mean time, and missing indexes proved on "
            "them; " + ENABLE_HINT,
            fix_sql="CREATE EXTENSION IF NOT EXISTS pg_stat_statements;" if loaded else None,
        )

    return StatementsState(status, schema, finding)


def health_findings(
    conn: psycopg.Connection[Any], shard: int, options: AdviseOptions
) -> tuple[dict[str, Any], list[Finding]]:
    """The server's health figures, and a finding for each that is off."""
    found: list[Finding] = []
    health: dict[str, Any] = {}
    row = conn.execute(
        "SELECT coalesce(sum(heap_blks_hit), 0), coalesce(sum(heap_blks_read), 0), "
        "coalesce(sum(idx_blks_hit), 0), coalesce(sum(idx_blks_read), 0) "
        "FROM pg_statio_user_tables"
    ).fetchone()
    assert row is not None
    heap_hit, heap_read, idx_hit, idx_read = (int(v) for v in row)
    for what, hit, read in (("table", heap_hit, heap_read), ("index", idx_hit, idx_read)):
        ratio = round(hit / (hit + read), 4) if hit + read else None
        health[f"{what}_cache_hit_ratio"] = ratio
        if ratio is not None and hit + read >= 10_000 and ratio < 0.99:
            found.append(
                Finding(
                    id=f"cache-hit:{what}",
                    shard=shard,
                    kind="cache_hit_ratio",
                    severity="medium",
                    title=f"{what} cache hit ratio {ratio:.1%} (under 99%)",
                    evidence={"blocks_hit": hit, "blocks_read": read},
                    effect="reads go to disk; a larger compute size (more shared_buffers) or "
                    "indexes that read fewer blocks bring it over 99%",
                )
            )
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
        "current_setting('max_connections')::int, "
        "current_setting('superuser_reserved_connections')::int"
    ).fetchone()
    assert row is not None
    used, limit, reserved = (int(v) for v in row)
    health.update(connections=used, max_connections=limit, reserved_connections=reserved)
    if used >= 0.8 * (limit - reserved):
        found.append(
            Finding(
                id="connections",
                shard=shard,
                kind="connections",
                severity="high",
                title=f"{used} of {limit - reserved} connections in use",
                evidence={"connections": used, "max_connections": limit, "reserved": reserved},
                effect="new connections will be refused; connect the application through the "
                "pooler (Supabase's transaction pooler, port 6543) or a larger compute size",
            )
        )
    found += _sessions(conn, shard, options, health)
    found += _dead_rows(conn, shard)
    return health, found


def _sessions(
    conn: psycopg.Connection[Any], shard: int, options: AdviseOptions, health: dict[str, Any]
) -> list[Finding]:
    rows = conn.execute(
        "SELECT pid, usename, coalesce(application_name, ''), state, "
        "extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start "
        "ELSE state_change END)::float8, left(query, 200) "
        "FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND datname = current_database() AND ("
        "(state = 'active' AND now() - query_start > make_interval(secs => %s)) OR "
        "(state LIKE 'idle in transaction%%' AND now() - state_change > make_interval(secs => %s)))"
        " ORDER BY 5 DESC",
        (options.long_seconds, options.idle_seconds),
    ).fetchall()
    found = []
    health["long_running"] = sum(1 for r in rows if r[3] == "active")
    health["idle_in_transaction"] = sum(1 for r in rows if r[3] != "active")
    for pid, user, app, state, seconds, query in rows:
        idle = state != "active"
        evidence = {
            "pid": pid,
            "user": user,
            "application": app,
            "state": state,
            "seconds": round(seconds, 1),
            "query": mask(query or ""),
        }
        found.append(
            Finding(
                id=f"{'idle' if idle else 'long'}-session:{pid}",
                shard=shard,
                kind="idle_in_transaction" if idle else "long_running",
                severity="high" if idle else "medium",
                title=f"session {pid} ({user}, {app or 'no name'}) {state} for {seconds:,.0f} s",
                evidence=evidence,
                effect=(
                    "holds its locks and snapshot: vacuum cannot remove dead rows, and "
                    "CREATE INDEX CONCURRENTLY waits for it; set "
                    "idle_in_transaction_session_timeout for the role"
                    if idle
                    else "holds its snapshot (vacuum waits) and whatever locks it took"
                ),
                fix_sql=(
                    f"SELECT pg_terminate_backend({pid}); ALTER ROLE {quoted(user)} SET "
                    "idle_in_transaction_session_timeout = '60s';"
                    if idle
                    else f"SELECT pg_cancel_backend({pid});"
                ),
            )
        )
    return found


def _dead_rows(conn: psycopg.Connection[Any], shard: int) -> list[Finding]:
    rows = conn.execute(
        "SELECT schemaname, relname, n_live_tup, n_dead_tup, "
        "greatest(last_autovacuum, last_vacuum)::text FROM pg_stat_user_tables "
        "WHERE n_dead_tup >= 10000 AND n_dead_tup > 0.2 * (n_live_tup + n_dead_tup) "
        "AND schemaname <> ALL(%s) ORDER BY n_dead_tup DESC LIMIT 20",
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    return [
        Finding(
            id=f"dead-rows:{schema}.{table}",
            shard=shard,
            kind="dead_rows",
            severity="low",
            title=f"{schema}.{table}: {dead / (live + dead):.0%} of its rows are dead",
            evidence={"live_rows": live, "dead_rows": dead, "last_vacuum": vacuumed},
            effect="an estimate of bloat from the statistics (not pgstattuple): sequential "
            "scans read the dead rows too; VACUUM makes the space reusable (the table does "
            "not shrink without a rewrite)",
            fix_sql=f"VACUUM (ANALYZE) {quoted(schema, table)};",
        )
        for schema, table, live, dead, vacuumed in rows
    ]
