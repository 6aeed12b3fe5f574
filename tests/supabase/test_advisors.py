"""Supabase's performance and security advisors merged into `db advise`, through the contract
server (every request and answer held to the published contract)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from floyo_scale.db.advice import supabase_findings

from .contract_server import TOKEN


def lint(name: str, level: str, category: str, table: str, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": kw.get("title", name.replace("_", " ").capitalize()),
        "level": level,
        "facing": "EXTERNAL",
        "categories": [category],
        "description": kw.get("description", f"what {name} means"),
        "detail": f"Table `public.{table}` is flagged by {name}",
        "remediation": f"https://supabase.com/docs/guides/database/database-linter?lint={name}",
        "metadata": {"schema": "public", "name": table, "type": "table"},
        "cache_key": f"{name}_public_{table}",
    }


RLS = lint(
    "rls_disabled_in_public",
    "ERROR",
    "SECURITY",
    "orders",
    title="RLS Disabled in Public",
    description="Detects cases where row level security (RLS) has not been enabled on tables "
    "in schemas exposed to PostgREST",
)
NO_PK = lint("no_primary_key", "INFO", "PERFORMANCE", "audit_log")
FK = lint("unindexed_foreign_keys", "INFO", "PERFORMANCE", "orders")  # ours has the SQL


def test_client_reads_both_advisors(server, client) -> None:
    ref = server.add_project(organization_slug="acme")
    server.projects[ref].advisors = {"security": [RLS], "performance": [NO_PK, FK]}
    assert [x["name"] for x in client.get_advisors(ref, "security")] == [RLS["name"]]
    assert [x["name"] for x in client.get_advisors(ref, "performance")] == [
        "no_primary_key",
        "unindexed_foreign_keys",
    ]
    assert {c.path for c in server.calls()} >= {
        f"/v1/projects/{ref}/advisors/security",
        f"/v1/projects/{ref}/advisors/performance",
    }


def test_lints_become_findings_with_their_severity() -> None:
    found = {f.id: f for f in supabase_findings(1, [RLS, NO_PK, FK])}
    assert set(found) == {
        "supabase:rls_disabled_in_public:public.orders",
        "supabase:no_primary_key:public.audit_log",
    }  # the unindexed foreign key is ours (with the SQL), not merged twice
    rls = found["supabase:rls_disabled_in_public:public.orders"]
    assert (rls.kind, rls.severity, rls.shard) == ("supabase_security", "high", 1)
    assert "public.orders" in rls.title and rls.evidence["remediation"].startswith("https://")
    assert found["supabase:no_primary_key:public.audit_log"].severity == "info"


@pytest.fixture
def stack_env(server, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    ref = server.add_project(organization_slug="acme")
    server.projects[ref].advisors = {"security": [RLS], "performance": [NO_PK]}
    monkeypatch.setenv("FLOYO_TEST_DB", pg_database)
    monkeypatch.setenv("FLOYO_SUPABASE_API_URL", server.url)
    return ref


def test_db_advise_merges_the_advisors(cli, workspace, stack_env, monkeypatch) -> None:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", TOKEN)
    ref = stack_env
    args = ["db", "advise", "--stack", "production", "--database-url", "${env:FLOYO_TEST_DB}"]
    result = cli(*args, "--supabase-ref", ref, "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    kinds = {f["id"]: (f["kind"], f["severity"]) for f in data["shards"][0]["findings"]}
    assert kinds["supabase:rls_disabled_in_public:public.orders"] == ("supabase_security", "high")
    assert kinds["supabase:no_primary_key:public.audit_log"] == ("supabase_performance", "info")
    assert data["notes"] == []
    table = cli(*args, "--supabase-ref", ref)
    assert "[HIGH] Supabase advisor: RLS Disabled in Public (public.orders)" in table.out
    assert TOKEN not in table.out + table.err


def test_db_advise_without_a_token_says_so(cli, workspace, stack_env, monkeypatch) -> None:
    monkeypatch.delenv("SUPABASE_ACCESS_TOKEN", raising=False)
    args = ["db", "advise", "--stack", "production", "--database-url", "${env:FLOYO_TEST_DB}"]
    result = cli(*args, "--supabase-ref", stack_env)
    assert result.code == 0, result.err
    assert "note: Supabase advisors not read: SUPABASE_ACCESS_TOKEN is not set" in result.out
