"""What `db advise` finds and `db advise --apply` acts on: findings, their proof, each shard's
advice (see advise.py)."""

from __future__ import annotations

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
        return {"counts": self.counts(), "shards": [s.to_dict() for s in self.shards]}


def quoted(*names: str) -> str:
    """`quoted("public", "Orders")` -> `"public"."Orders"` (psycopg's quoting, no connection)."""
    return ".".join(sql.Identifier(n).as_string(None) for n in names)


@dataclass(frozen=True)
class AdviseOptions:
    """Thresholds: sessions idle in a transaction longer than `idle_seconds`, statements
    running longer than `long_seconds`, are findings."""

    idle_seconds: int = 60
    long_seconds: int = 300
