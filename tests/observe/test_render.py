"""What people read from `status`: golden snapshots of the table, the Markdown (the watch
workflow's issue body) and the JSON, for a report with every kind of line in it."""

from __future__ import annotations

import json

import pytest
from conftest import REPO
from golden import assert_golden

from floyo_scale.observe import recommend
from floyo_scale.observe.status import StatusReport
from floyo_scale.observe.thresholds import Kind, Reading, SourceResult, SourceState
from floyo_scale.render import status as render_status
from floyo_scale.spec import Workspace, load_stack

Q = "POST /v2/observability/query"


def _readings() -> dict[str, tuple[Reading, ...]]:
    db = "POST /v1/projects/{ref}/database/query/read-only (pg_database_size)"
    return {
        "supabase": (
            Reading("supabase", "database.size", "database size (primary)", 13.1, "GB",
                    Kind.SHARE, 16, 80, "now", db, capacity=True),
            Reading("supabase", "database.disk_used", "disk used (primary)", 14.2, "GB",
                    Kind.SHARE, 18, 80, "now", "GET /v1/projects/{ref}/config/disk/util"),
            Reading("supabase", "database.autoscale_headroom", "disk autoscale headroom (primary)",
                    59982, "GB", window="now"),
        ),
        "vercel": (
            Reading("vercel", "vercel.bandwidth", "bandwidth (fast data transfer)", 640.0, "GB",
                    Kind.SHARE, 1000, 80, "month to date", Q, capacity=True),
            Reading("vercel", "vercel.function_gb_hours", "function duration", 31.5, "GB-h",
                    Kind.SHARE, 100, 80, "month to date", Q, capacity=True),
            Reading("vercel", "vercel.requests", "requests", 1_234_567, "count",
                    window="month to date"),
            Reading("vercel", "vercel.p95", "function duration p95", 1250.0, "ms", Kind.ABOVE,
                    1000, window="last 24h"),
            Reading("vercel", "vercel.error_rate", "5xx responses", None, "%", Kind.ABOVE, 1.0,
                    window="last 24h"),
        ),
        "aws": (
            Reading("aws", "s3.size", "S3 storage (all buckets)", 45.0, "GB", Kind.SHARE, 100, 80,
                    "newest daily figure", capacity=True),
            Reading("aws", "uptime", "uptime (floyo.app)", 99.97, "%", Kind.BELOW, 99.9,
                    window="last 24h"),
            Reading("aws", "uptime", "uptime (www.floyo.app)", 99.82, "%", Kind.BELOW, 99.9,
                    window="last 24h"),
            Reading("aws", "aws.spend_mtd", "AWS spend", 9.5, "USD", window="month to date"),
        ),
    }  # fmt: skip


@pytest.fixture(scope="module")
def report() -> StatusReport:
    r = _readings()
    sources = (
        SourceResult("supabase", SourceState.OK, r["supabase"]),
        SourceResult("vercel", SourceState.OK, r["vercel"]),
        SourceResult(
            "sentry",
            SourceState.UNAVAILABLE,
            message="SENTRY_AUTH_TOKEN is not set",
            hint="export SENTRY_AUTH_TOKEN=... to read p95 and failure rate from Sentry",
        ),
        SourceResult("aws", SourceState.OK, r["aws"]),
        SourceResult(
            "upstash",
            SourceState.FAILED,
            message="upstash did not answer within 10 s",
            hint="raise --timeout, or check the provider's status page",
        ),
    )
    spend = Reading("spend", "spend.month", "whole-stack spend, month-end (estimate)", 262.4,
                    "USD", Kind.SHARE, 300, 80, "this month", capacity=True,
                    estimate=True)  # fmt: skip
    workspace = Workspace(REPO)
    stack = load_stack(workspace, "production", None)
    from floyo_scale.offline.synth import synthesize

    readings = [x for s in sources for x in s.readings] + [spend]
    advice = recommend.recommend(workspace, stack, readings, {"inventory": synthesize(stack)})
    return StatusReport(
        "production",
        "growth",
        "2026-11-20T12:00:00Z",
        24,
        sources,
        spend=spend,
        spend_notes=("aws: $14.75 (Cost Explorer: actual + forecast)",),
        recommendation=advice,
        identifiers="state",
    )


def test_table(report: StatusReport) -> None:
    assert_golden("status/table.txt", render_status.status_table(report))


def test_markdown(report: StatusReport) -> None:
    assert_golden("status/markdown.md", render_status.status_markdown(report))


def test_json(report: StatusReport) -> None:
    text = render_status.status_json(report)
    data = json.loads(text)
    assert data["exit_code"] == 8
    assert data["recommendation"]["direction"] == "up"
    assert data["recommendation"]["phase"] == "scale"
    assert_golden("status/status.json", text)


def test_the_watch_finds_a_blind_report_by_its_heading(report: StatusReport) -> None:
    """watch.yml greps the Markdown for this heading to keep the blind issue open when a
    threshold is crossed (8) while a seed threshold is blind too."""
    heading = "### Not measured"
    assert report.blind and report.exit_code == 8
    assert any(
        line.startswith(heading) for line in render_status.status_markdown(report).splitlines()
    )
    watch = (REPO / ".github" / "workflows" / "watch.yml").read_text()
    assert f"grep -q '^{heading}' status.md" in watch
