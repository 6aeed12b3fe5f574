"""What `db advise` finds and `db advise --apply` acts on: findings, their proof, each shard's
advice (see advise.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

SYSTEM_SCHEMAS = (
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "floyo_scale",
    # Supabase's own schemas: not the application's to index
    "auth",
    "storage",
    "realtime",
    "supabase_functions",
    "extensions",
    "graphql",
    "graphql_public",
    "pgbouncer",
    "vault",
    "pgsodium",
    "net",
    "cron",
)

MIN_SEQ_ROWS = 1_000  # a table smaller than this is read fastest by a sequential scan
MIN_SEQ_SCANS = 10  # fewer sequential scans than this are not a pattern
MAX_FRACTION = 0.05  # an equality that keeps more of the rows than this: no index proposed
MAX_CANDIDATES = 3  # candidate indexes per table at most
MAX_SEQ_TABLES = 50  # the tables whose sequential scans read the most rows
MAX_EXPLAINED = 10  # the statements EXPLAINed per table, by total time
TOP = 10  # statements listed per ranking


@dataclass
class Proof:
    """The planner's cost of a statement without and with the candidate index."""

    method: str  # "hypopg" | "unproved"
    before: float | None = None
    after: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "before": self.before,
            "after": self.after,
            "note": self.note,
        }


@dataclass
class Finding:
    """One piece of advice. `id` is stable across runs (kind and object), for `--only`."""

    id: str
    shard: int
    kind: str
    severity: str  # high | medium | low | info
    title: str
    evidence: dict[str, Any]
    effect: str
    fix_sql: str | None = None
    action: str | None = None  # "create_index" | "drop_index": what --apply may do
    table: str | None = None  # schema-qualified, for the action's lock and re-measure
    index: str | None = None  # the index the fix creates or drops (schema-qualified)
    queries: list[dict[str, Any]] = field(default_factory=list)  # statements it serves
    proof: Proof | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shard": self.shard,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "evidence": self.evidence,
            "effect": self.effect,
            "fix_sql": self.fix_sql,
            "action": self.action,
            "queries": self.queries,
            "proof": self.proof.to_dict() if self.proof else None,
        }


@dataclass
class ShardAdvice:
    shard: int
    label: str
    server_version: int
    statements: str  # "on" | "not installed" | "not loaded"
    stats_since: str | None
    hypopg: bool
    findings: list[Finding] = field(default_factory=list)
    top: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "database": self.label,
            "server_version": self.server_version,
            "pg_stat_statements": self.statements,
            "statistics_since": self.stats_since,
            "hypopg": self.hypopg,
            "findings": [f.to_dict() for f in self.findings],
            "health": self.health,
            "top_statements": self.top,
        }


@dataclass
class Advice:
    shards: list[ShardAdvice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read, and why

    def merge_supabase(self, shard: int, lints: list[dict[str, Any]]) -> None:
        """Merge the Supabase advisors' lints of `shard`'s project (see supabase_findings)."""
        for advice in self.shards:
            if advice.shard == shard:
                advice.findings += supabase_findings(shard, lints)

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.shards for f in s.findings]

    def counts(self) -> dict[str, int]:
        """Findings per severity (what `status` would show)."""
        out = {"high": 0, "medium": 0, "low": 0, "info": 0}
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "notes": self.notes,
            "shards": [s.to_dict() for s in self.shards],
        }


def quoted(*names: str) -> str:
    """`quoted("public", "Orders")` -> `"public"."Orders"` (psycopg's quoting, no connection)."""
    return ".".join(sql.Identifier(n).as_string(None) for n in names)


@dataclass(frozen=True)
class AdviseOptions:
    """Thresholds: sessions idle in a transaction longer than `idle_seconds`, statements
    running longer than `long_seconds`, are findings."""

    idle_seconds: int = 60
    long_seconds: int = 300


# Supabase's lints that our own checks find too, with the SQL: ours are kept, theirs left out
SUPABASE_OURS = frozenset({"unindexed_foreign_keys", "unused_index", "duplicate_index"})
SUPABASE_LEVELS = {"ERROR": "high", "WARN": "medium", "INFO": "info"}


def supabase_findings(shard: int, lints: list[dict[str, Any]]) -> list[Finding]:
    """The Supabase advisors' lints (GET /v1/projects/{ref}/advisors/performance and
    /security) as findings: level ERROR is high, WARN medium, INFO info; the security
    advisor's `rls_disabled_in_public` (a table PostgREST serves to anyone with the anon key)
    keeps its level. Lints our own checks also make (unindexed foreign keys, unused and
    duplicate indexes) are left out: ours carry the SQL."""
    found = []
    for lint in lints:
        name = str(lint.get("name", "lint"))
        if name in SUPABASE_OURS:
            continue
        meta = lint.get("metadata") or {}
        obj = ".".join(str(meta[k]) for k in ("schema", "name") if meta.get(k))
        categories = [str(c) for c in lint.get("categories") or []]
        kind = "supabase_security" if "SECURITY" in categories else "supabase_performance"
        detail = str(lint.get("detail") or lint.get("title") or name)
        found.append(
            Finding(
                id=f"supabase:{name}:{obj or lint.get('cache_key', '')}",
                shard=shard,
                kind=kind,
                severity=SUPABASE_LEVELS.get(str(lint.get("level")), "info"),
                title=f"Supabase advisor: {lint.get('title', name)}" + (f" ({obj})" if obj else ""),
                evidence={
                    "lint": name,
                    "level": lint.get("level"),
                    "detail": detail,
                    "remediation": lint.get("remediation"),
                },
                effect=str(lint.get("description") or ""),
            )
        )
    return found


def index_name(table: str, columns: list[str]) -> str:
    """`orders`, [customer_id] -> `orders_customer_id_idx` (within PostgreSQL's 63 bytes)."""
    name = f"{table}_{'_'.join(columns)}_idx"
    if len(name.encode()) > 63:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name.encode()[:50].decode(errors='ignore')}_{digest}_idx"
    return name


def create_index_sql(schema: str, table: str, columns: list[str]) -> str:
    cols = ", ".join(quoted(c) for c in columns)
    return (
        f"CREATE INDEX CONCURRENTLY {quoted(index_name(table, columns))} "
        f"ON {quoted(schema, table)} ({cols});"
    )
