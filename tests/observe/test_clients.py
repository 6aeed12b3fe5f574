"""The small clients, each against its loopback stand-in (standins.py cites the shapes), and
the pure pieces of spend and recommendation."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from floyo_scale.observe import aws, recommend, spend, targets
from floyo_scale.observe.http import JsonApi, SourceError
from floyo_scale.observe.thresholds import Kind, Reading
from floyo_scale.observe.upstash import UpstashApi
from floyo_scale.observe.upstash import read as read_upstash
from floyo_scale.observe.vercel import VercelMetrics, error_share
from floyo_scale.observe.window import Window
from floyo_scale.spec import Workspace, load_phase, load_stack

from .standins import StandIn, basic, upstash_route, vercel_route

SECRET = "tok_" + "s" * 30


def api(standin: StandIn, **kw) -> JsonApi:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("sleep", lambda s: None)
    return JsonApi(
        "vercel",
        standin.url,
        headers={"Authorization": f"Bearer {SECRET}"},
        secrets=(SECRET,),
        auth_hint="check the token",
        **kw,
    )


def test_5xx_is_retried_then_reported_with_the_endpoint() -> None:
    with StandIn("vercel", vercel_route, token=SECRET) as s:
        s.status_fault = 502
        with pytest.raises(SourceError) as caught:
            api(s).post("/v2/observability/query", {})
        assert len(s.requests) == 4  # 1 + 3 retries
        error = caught.value
        assert error.source == "vercel" and error.status == 502
        assert "HTTP 502 to POST /v2/observability/query after 4 attempts" in error.message


def test_an_error_message_never_carries_the_token() -> None:
    def echo(s: StandIn, r) -> tuple[int, dict[str, str], object]:
        return (
            400,
            {},
            {"error": {"message": f"bad token {SECRET} in {r.headers['authorization']}"}},
        )

    with StandIn("vercel", echo) as s, pytest.raises(SourceError) as caught:
        api(s).get("/x")
    assert SECRET not in caught.value.message and "[secret]" in caught.value.message
    assert SECRET not in repr(api(s))
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(api(s))


def test_a_wait_past_the_deadline_gives_up_at_once() -> None:
    def slow_down(s: StandIn, r) -> tuple[int, dict[str, str], object]:
        return 429, {"Retry-After": "30"}, {"error": {"message": "slow down"}}

    slept: list[float] = []
    with StandIn("vercel", slow_down) as s, pytest.raises(SourceError) as caught:
        api(s, deadline=time.monotonic() + 2.0, sleep=slept.append).get("/x")
    assert slept == []  # a 30 s Retry-After past a 2 s deadline: no wait at all
    assert "past the time allowed" in caught.value.message


def test_401_names_the_source_and_the_hint() -> None:
    with StandIn("vercel", vercel_route, token="other") as s, pytest.raises(SourceError) as caught:
        VercelMetrics(SECRET, "floyo", base_url=s.url).query(
            "floyo", "vercel.request.count", "sum", *_month()
        )
    assert caught.value.status == 401
    assert caught.value.message.startswith("vercel rejected the credentials (401)")
    assert "VERCEL_API_TOKEN" in (caught.value.hint or "")


def test_vercel_no_data_points_is_none() -> None:
    with StandIn("vercel", vercel_route, token=SECRET) as s:
        client = VercelMetrics(SECRET, "team_abc", base_url=s.url)
        assert client.total("prj", "vercel.request.count", "sum", *_month()) is None
        assert s.requests[0].query == {"teamId": ["team_abc"]}
    assert error_share({"summary": []}) is None
    assert error_share({"summary": [{"vercel_request_count_sum": 0, "http_status": 500}]}) is None


def test_upstash_size_against_its_limit() -> None:
    with StandIn("upstash", upstash_route, token=basic("ops@floyo.app", SECRET)) as s:
        s.state["databases"] = [
            {"database_id": "db-1", "database_name": "floyo-dev-cache", "db_disk_threshold": 1e9}
        ]
        s.state["stats"] = {
            "db-1": {
                "diskusage": [
                    {"x": "2026-11-20 11:00", "y": 5e8},
                    {"x": "2026-11-20 12:00", "y": 8.5e8},
                ],
                "daily_net_commands": 1234,
            }
        }
        client = UpstashApi("ops@floyo.app", SECRET, base_url=s.url)
        readings = read_upstash(_dev_stack(), client, "floyo-dev-cache")
    size = readings[0]
    assert size.value == pytest.approx(0.85) and size.limit == pytest.approx(1.0)
    assert size.verdict.crossed  # 85 % of the data limit, alert at 80 %
    assert readings[1].value == 1234


def test_upstash_database_not_found() -> None:
    with (
        StandIn("upstash", upstash_route) as s,
        pytest.raises(SourceError, match="no Upstash database named 'x'"),
    ):
        UpstashApi("a@b.c", SECRET, base_url=s.url).find_database("x")


def test_cost_and_usage_from_moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers GetCostAndUsage from its queue of canned results (its docs); the
    forecast it does not implement, which status reports as month to date only."""
    import boto3
    import requests

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOYOTESTKEY0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    result = {
        "results": [
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-21"},
                        "Total": {"UnblendedCost": {"Amount": "31.25", "Unit": "USD"}},
                        "Groups": [],
                        "Estimated": True,
                    }
                ],
                "DimensionValueAttributes": [],
            }
        ]
    }
    assert requests.post(f"{moto_url}/moto-api/static/ce/cost-and-usage-results", json=result).ok
    ce = boto3.client("ce", region_name="us-east-1", endpoint_url=moto_url)
    actual, forecast, note = aws.read_spend(ce, Window.at(datetime(2026, 11, 20, tzinfo=UTC)))
    assert actual == 31.25 and forecast is None
    assert note.startswith("no AWS forecast")


def test_identifiers_from_the_spec_follow_the_program(workspace: Path) -> None:
    stack = load_stack(Workspace(workspace), "production", None)
    found = targets.from_spec(stack)
    assert found.buckets == {
        "archive": "floyo-production-archive",
        "uploads": "floyo-production-uploads",
    }
    # growth's cache is Upstash (the default: Vercel functions reach it), not ElastiCache
    assert found.cache_clusters == {} and found.upstash_database == "floyo-production-cache"
    assert found.supabase_refs == () and found.origin == "spec"
    assert found.vercel_project == "floyo"


def test_measured_usage_replaces_what_was_measured() -> None:
    stack = _dev_stack()
    window = Window.at(datetime(2026, 11, 16, tzinfo=UTC))  # half of November gone
    readings = [
        Reading("supabase", "database.size", "db 0", 1.5, "GB", Kind.SHARE, 8, 80),
        Reading("supabase", "database.size", "db 1", 0.5, "GB", Kind.SHARE, 8, 80),
        Reading("vercel", "vercel.bandwidth", "fdt", 10.0, "GB", Kind.SHARE, 50, 80),
    ]
    usage = spend.measured_usage(stack.phase.usage, readings, window)
    assert usage.database_gb.low == usage.database_gb.high == 2.0
    assert usage.egress_gb.high == pytest.approx(20.0)  # 10 GB in half a month
    assert usage.storage_gb == stack.phase.usage.storage_gb  # not measured: the phase's


def test_far_below_needs_every_limit_measured(workspace: Path) -> None:
    limits = load_phase(Workspace(workspace), "startup")[1].limits  # 8 GB, 50 GB, 100 GB-h
    low = [
        Reading("supabase", "database.size", "database size", 1.0, "GB"),
        Reading("vercel", "vercel.bandwidth", "bandwidth", 10.0, "GB"),
        Reading("vercel", "vercel.function_gb_hours", "functions", 20.0, "GB-h"),
    ]
    reasons = recommend.far_below(low, "startup", limits)
    assert reasons and len(reasons) == 3
    assert recommend.far_below(low[:2], "startup", limits) is None  # functions not measured
    none = [*low[:2], Reading("vercel", "vercel.function_gb_hours", "functions", None, "GB-h")]
    assert recommend.far_below(none, "startup", limits) is None
    # exactly half of startup's database limit is no longer "far below"
    half = [Reading("supabase", "database.size", "db", 4.0, "GB"), *low[1:]]
    assert recommend.far_below(half, "startup", limits) is None


def test_phases_in_order(workspace: Path) -> None:
    order = recommend.ordered_phases(Workspace(workspace))
    assert order == ["startup", "growth", "scale", "enterprise"]
    assert recommend.neighbours(order, "growth") == ("startup", "scale")
    assert recommend.neighbours(order, "enterprise") == ("scale", None)


def _month() -> tuple[datetime, datetime]:
    return datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)


def _dev_stack():
    from conftest import REPO

    return load_stack(Workspace(REPO), "dev", None)


def test_the_default_state_folder_is_the_engines() -> None:
    from floyo_scale import engine

    assert targets.STATE_DIR == engine.STATE_DIR


def test_the_inventory_cache_returns_what_synthesis_records(tmp_path: Path) -> None:
    from floyo_scale.observe import inventories
    from floyo_scale.offline.synth import synthesize

    stack = _dev_stack()
    first = inventories.inventory_for(stack, tmp_path)
    cached = list((tmp_path / ".floyo" / "cache").glob("inventory-*.json"))
    assert len(cached) == 1
    assert inventories.inventory_for(stack, tmp_path) == first == synthesize(stack)
    other = load_stack(Workspace(_repo()), "dev", "growth")
    assert inventories.cache_key(other) != inventories.cache_key(stack)


def _repo() -> Path:
    from conftest import REPO

    return REPO


def _low_usage() -> list[Reading]:
    return [
        Reading("supabase", "database.size", "database size", 1.0, "GB", Kind.SHARE, 16, 80),
        Reading("vercel", "vercel.bandwidth", "bandwidth", 10.0, "GB", Kind.SHARE, 1000, 80),
        Reading("vercel", "vercel.function_gb_hours", "functions", 20.0, "GB-h", Kind.SHARE,
                100, 80),
    ]  # fmt: skip


def test_usage_far_below_the_smaller_phase_recommends_it_and_says_what_it_saves() -> None:
    from floyo_scale.offline.synth import synthesize

    workspace = Workspace(_repo())
    stack = load_stack(workspace, "staging", None)  # growth
    advice = recommend.recommend(workspace, stack, _low_usage(), {"inventory": synthesize(stack)})
    assert advice.direction == "down" and advice.phase == "startup"
    assert len(advice.reasons) == 3 and "under 50% of startup's 8.00 GB" in advice.reasons[0]
    assert advice.cost_delta.total_delta_high < 0  # it saves
    assert advice.changes["delete"] > 0  # the cache goes, for one


def test_a_smaller_phase_the_stack_cannot_take_is_named_with_the_reason() -> None:
    workspace = Workspace(_repo())
    stack = load_stack(workspace, "production", None)  # growth, with 7 days of PITR
    advice = recommend.recommend(workspace, stack, _low_usage(), {})
    assert advice.direction == "down" and advice.phase == "startup"
    assert advice.cost_delta is None
    assert "stacks/production.yaml is not valid at startup" in advice.reasons[-1]
