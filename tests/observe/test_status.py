"""`status` end to end against the loopback world (conftest.py): a real PostgreSQL behind the
Supabase contract server, Vercel/Sentry/Cost Explorer stand-ins in their documented shapes
(standins.py cites each), moto for CloudWatch.

Vercel's observability query shape was found in the Vercel CLI's own client (vercel/vercel,
packages/cli/src/commands/metrics/types.ts and output.ts; packages/cli/src/util/firewall/
posts to `/v2/observability/query` with `accountId` -> `?teamId=`), and the metric ids in
Vercel's metric schema as used by vercel-labs/agent-skills (vercel-optimize/lib/queries.mjs):
vercel.request.fdt_total_bytes, vercel.request.count (http_status),
vercel.function_invocation.function_duration_ms (p95) and ...function_duration_gbhr.
"""

from __future__ import annotations

import psycopg
import pytest

from floyo_scale.errors import ExitCode
from floyo_scale.observe import sentry as sentry_mod
from floyo_scale.observe.status import StatusOptions, status_report
from floyo_scale.observe.thresholds import SourceState, Verdict
from floyo_scale.spec import Workspace

from .conftest import GB, NOW, SENTRY_TOKEN, VERCEL_TOKEN, World, vercel_usage


@pytest.fixture
def with_sentry(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    """The stack configures Sentry (organisation floyo, project web)."""
    monkeypatch.setattr(
        sentry_mod,
        "target",
        lambda stack: sentry_mod.SentryTarget(
            "floyo", "web", "${env:SENTRY_AUTH_TOKEN}", environment="production"
        ),
    )


def run(world: World, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("supabase_refs", (world.ref,))
    kw.setdefault("read_outputs", lambda stack: None)
    kw.setdefault("timeout", 5.0)
    return status_report(Workspace(world.root), "production", StatusOptions(**kw))


def by_key(report):
    return {r.key: r for r in report.readings}


def elasticache(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The production stack on an ElastiCache cache, whose CloudWatch metrics the world
    serves. Vercel reaches ElastiCache only through Secure Compute (Enterprise), which the
    spec otherwise demands (spec/rules.py): lifted here, since status reads, builds nothing."""
    from floyo_scale.spec import rules

    monkeypatch.setattr(rules, "_elasticache_reach", lambda phase: iter(()))
    path = world.root / "stacks" / "production.yaml"
    path.write_text(
        path.read_text().replace(
            "\noverrides:\n",
            "\noverrides:\n  cache: {provider: elasticache, node_type: cache.t4g.micro}\n",
        )
    )


def _lint(name: str, level: str, category: str) -> dict[str, object]:
    return {
        "name": name,
        "title": name,
        "level": level,
        "facing": "EXTERNAL",
        "categories": [category],
        "description": name,
        "detail": name,
        "remediation": "https://supabase.com/docs/guides/database/database-linter",
        "metadata": {"schema": "public", "name": "orders", "type": "table"},
        "cache_key": f"{name}_public_orders",
    }


def test_every_source_read_within_thresholds(
    world: World, with_sentry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    elasticache(world, monkeypatch)
    world.supabase.projects[world.ref].advisors = {  # what `db advise` merges, counted here
        "security": [_lint("rls_disabled_in_public", "ERROR", "SECURITY")],
        "performance": [_lint("no_primary_key", "INFO", "PERFORMANCE")],
    }
    report = run(world, spend=False, recommend=False)
    states = {s.name: s.state for s in report.sources}
    assert states == {
        "supabase": SourceState.OK,
        "vercel": SourceState.OK,
        "sentry": SourceState.OK,
        "aws": SourceState.OK,
        "upstash": SourceState.NOT_APPLICABLE,  # growth's cache is ElastiCache
    }
    r = by_key(report)
    with psycopg.connect(world.database_url) as conn:
        real = conn.execute("select pg_database_size(current_database())").fetchone()[0]
    assert r["database.size"].value == pytest.approx(real / GB, rel=0.01)
    assert r["database.size"].limit == 16  # growth's database_gb
    assert r["database.api_requests"].value == 4321
    assert [r[f"database.advisor_{k}"].value for k in ("errors", "warnings", "info")] == [1, 0, 1]
    assert r["database.disk_used"].limit == 8  # the contract server's default disk
    assert r["vercel.bandwidth"].value == pytest.approx(300)
    assert r["vercel.bandwidth"].verdict is Verdict.OK
    assert r["vercel.error_rate"].value == pytest.approx(0.02)
    assert r["vercel.p95"].value == 420
    assert r["sentry.p95"].value == 512
    assert r["sentry.failure_rate"].value == pytest.approx(0.2)
    assert r["s3.size.uploads"].value == pytest.approx(40)
    assert r["s3.objects.archive"].value == 1200
    assert r["s3.size"].value == pytest.approx(45)
    assert r["cache.memory.us-east-1"].value == 55.5  # the maximum of the window
    assert r["cache.evictions.us-east-1"].value == 6
    assert r["aws.spend_mtd"].value == 9.5 and r["aws.spend_forecast"].value == 5.25
    assert report.exit_code is ExitCode.OK

    # what went over the wire, in the shapes the APIs take
    query = next(
        q for q in world.vercel.requests if q.body["metric"] == "vercel.request.fdt_total_bytes"
    )
    assert query.query == {"slug": ["floyo"]}
    assert query.body["scope"] == {"type": "project", "ownerId": "floyo", "projectIds": ["floyo"]}
    assert query.body["startTime"] == "2026-11-01T00:00:00Z"
    assert query.body["endTime"] == "2026-11-20T12:00:00Z"
    events = world.sentry.requests[0]
    assert events.path == "/api/0/organizations/floyo/events/"
    assert events.query["field"] == ["p95(transaction.duration)", "failure_rate()"]
    assert events.query["statsPeriod"] == ["24h"] and events.query["query"] == ["project:web"]
    assert events.query["environment"] == ["production"]
    sql = world.supabase.calls("POST", "/v1/projects/{ref}/database/query/read-only")
    assert sql and "pg_database_size" in sql[0].json["query"]


def test_the_database_size_grows_with_the_data(world: World) -> None:
    before = by_key(run(world, spend=False, recommend=False))["database.size"].value
    with psycopg.connect(world.database_url) as conn:
        conn.execute("create table filler (body text)")
        conn.execute("alter table filler alter column body set storage external")  # as is
        conn.execute(
            "insert into filler select repeat(md5(i::text), 64) from generate_series(1, 8000) i"
        )
    after = by_key(run(world, spend=False, recommend=False))["database.size"].value
    # 8,000 rows of 2 KB, stored uncompressed: 16 MB, so at least 8 MB more
    assert after - before > 0.008


def test_a_crossed_threshold_is_exit_8_and_recommends_the_next_phase(world: World) -> None:
    world.vercel.state["summary"] = vercel_usage(850, 20, 420, 2, 9998)  # 85% of 1,000 GB
    report = run(world)
    r = by_key(report)
    assert r["vercel.bandwidth"].verdict is Verdict.WARNING
    assert report.exit_code is ExitCode.THRESHOLD
    advice = report.recommendation
    assert advice.direction == "up" and advice.phase == "scale"
    assert any("bandwidth" in reason for reason in advice.reasons)
    assert advice.cost_delta.new_phase == "scale" and advice.cost_delta.total_delta_high > 0
    assert advice.changes["create"] > 0
    spend = r["spend.month"]
    # AWS actual + forecast, plus Vercel and Supabase priced by the cost library
    assert spend.value > 9.5 + 5.25 and spend.limit == 340
    assert any(n.startswith("aws: $14.75") for n in report.spend_notes)
    assert any("measured database size, transfer, S3 storage" in n for n in report.spend_notes)


def test_one_hung_source_is_bounded_by_the_timeout(world: World) -> None:
    world.vercel.hang_seconds = 600
    report = run(world, timeout=1.0, spend=False, recommend=False)
    # bounded by the timeout, shown by order rather than seconds: the report is back while
    # Vercel still holds the request (bench/status.py measures the whole process's time)
    assert world.vercel.holding
    vercel = next(s for s in report.sources if s.name == "vercel")
    assert vercel.state is SourceState.FAILED
    assert vercel.message.startswith("vercel did not answer")
    assert "--timeout" in vercel.hint
    # the others still reported: Supabase's figure, unless a loaded machine made it miss the
    # 1 s too (then it failed the same way, and is not waited for either)
    supabase = next(s for s in report.sources if s.name == "supabase")
    if supabase.state is SourceState.OK:
        assert by_key(report)["database.size"].value is not None
    else:
        assert supabase.message.startswith("supabase did not answer")
    # Vercel alone measures bandwidth (Sentry, configured here, p95 and the error rate too,
    # unless a loaded machine makes it miss the 1 s as well)
    blind = [b.threshold for b in report.blind]
    assert "bandwidth" in blind
    assert ("database size" in blind) is (supabase.state is not SourceState.OK)
    assert report.exit_code is ExitCode.BLIND


def test_a_rejected_token_names_the_source_and_hides_the_token(
    world: World, with_sentry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", "sntrys_" + "z" * 40)
    report = run(world, spend=False, recommend=False)
    sentry = next(s for s in report.sources if s.name == "sentry")
    assert sentry.state is SourceState.FAILED
    assert "sentry rejected the credentials (401)" in sentry.message
    assert "SENTRY_AUTH_TOKEN" in sentry.hint
    text = repr(report.to_json())
    assert "z" * 40 not in text and SENTRY_TOKEN not in text and VERCEL_TOKEN not in text
    assert report.exit_code is ExitCode.ENGINE


def test_rate_limited_reads_are_retried(world: World) -> None:
    world.vercel.rate_limits = 2
    report = run(world, spend=False, recommend=False)
    assert next(s for s in report.sources if s.name == "vercel").state is SourceState.OK
    assert report.exit_code is ExitCode.OK


def test_a_source_that_keeps_rate_limiting_fails_alone(world: World) -> None:
    world.vercel.rate_limits = 1000
    report = run(world, spend=False, recommend=False)
    vercel = next(s for s in report.sources if s.name == "vercel")
    assert vercel.state is SourceState.FAILED and "rate-limiting" in vercel.message
    assert report.exit_code is ExitCode.BLIND
    assert report.blind[0].reason.startswith("vercel failed: ")


def test_a_missing_credential_is_unavailable_and_the_watch_is_blind(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An expired or missing secret must not end alerting quietly: the source is
    unavailable (with the variable to export) and the run is blind (exit 9), not green."""
    monkeypatch.delenv("VERCEL_API_TOKEN")
    report = run(world, spend=False, recommend=False)
    vercel = next(s for s in report.sources if s.name == "vercel")
    assert vercel.state is SourceState.UNAVAILABLE
    assert vercel.message == "VERCEL_API_TOKEN is not set"
    assert "export VERCEL_API_TOKEN" in vercel.hint
    assert world.vercel.requests == []
    # Sentry (configured in this world) still measures p95 and the error rate
    assert [(b.threshold, b.reason) for b in report.blind] == [
        ("bandwidth", "vercel unavailable: VERCEL_API_TOKEN is not set")
    ]
    assert report.exit_code is ExitCode.BLIND


def test_no_credential_at_all_measures_nothing_and_is_blind(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VERCEL_API_TOKEN", "SUPABASE_ACCESS_TOKEN", "UPSTASH_API_KEY",
                 "SENTRY_AUTH_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    report = run(world, spend=False, recommend=False)
    assert {s.state for s in report.sources} <= {
        SourceState.UNAVAILABLE,
        SourceState.NOT_APPLICABLE,
    }
    assert [b.threshold for b in report.blind] == ["database size", "bandwidth", "p95",
                                                   "error rate", "uptime"]  # fmt: skip
    assert report.exit_code is ExitCode.BLIND
    assert report.to_json()["blind"][0] == {
        "threshold": "database size",
        "reason": "supabase unavailable: SUPABASE_ACCESS_TOKEN is not set",
    }


def test_without_a_state_the_supabase_refs_are_unknown(world: World) -> None:
    report = run(world, supabase_refs=(), spend=False, recommend=False)
    supabase = next(s for s in report.sources if s.name == "supabase")
    assert supabase.state is SourceState.UNAVAILABLE
    assert "--supabase-ref" in supabase.hint
    assert report.identifiers == "spec"


def test_identifiers_from_the_stack_outputs(world: World) -> None:
    outputs = {
        "supabase_project_refs": [world.ref],
        "vercel_project_id": "prj_abc123",
        "buckets": {"uploads": "floyo-production-uploads", "archive": "floyo-production-archive"},
    }
    report = run(world, supabase_refs=(), read_outputs=lambda s: outputs, spend=False,
                 recommend=False)  # fmt: skip
    assert report.identifiers == "state"
    assert by_key(report)["database.size"].value is not None
    assert world.vercel.requests[0].body["scope"]["projectIds"] == ["prj_abc123"]


def test_each_shard_is_read_and_their_sum_shown(world: World) -> None:
    second = world.supabase.add_project(organization_slug="floyo", database_url=world.database_url)
    report = run(world, supabase_refs=(world.ref, second), spend=False, recommend=False)
    sizes = [r for r in report.readings if r.key == "database.size"]
    assert [r.label for r in sizes] == ["database size (primary)", "database size (shard-1)"]
    total = by_key(report)["database.size_total"]
    assert total.label == "database size (all 2 shards)"
    assert total.value == pytest.approx(sum(r.value for r in sizes))
    # growth's 16 GB is the whole database's: each of 2 shards is judged against 8 GB,
    # their sum against 16
    assert [r.limit for r in sizes] == [8, 8] and total.limit == 16
    assert total.verdict is Verdict.OK and total.capacity
