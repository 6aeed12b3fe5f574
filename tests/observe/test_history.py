"""`status --record` and `--history`: each reading kept beside the stack's state (a file
backend, and S3 on moto's server), and a Theil-Sen forecast of the day each figure crosses
its warning threshold. Every date is NOW (conftest.py) or relative to it, never today's."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import boto3
import pytest

from floyo_scale.observe import history
from floyo_scale.observe.history import FileHistory, S3History, store_for, theil_sen
from floyo_scale.observe.status import StatusOptions, status_report
from floyo_scale.observe.thresholds import Kind, Reading
from floyo_scale.render import status as render_status
from floyo_scale.spec import Workspace, load_stack

from .conftest import NOW, World

LIMIT, ALERT = 16.0, 80.0  # growth's database_gb and alert: warning from 12.8 GB


def database(value: float | None = 5.0) -> Reading:
    return Reading("supabase", "database.size", "database size (primary)", value, "GB",
                   Kind.SHARE, LIMIT, ALERT, "now", capacity=True)  # fmt: skip


def records(values: list[float], key: str = "database.size") -> list[dict]:
    """One record a day at NOW's hour, the last one at NOW."""
    start = NOW - timedelta(days=len(values) - 1)
    return [
        {
            "at": (start + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "stack": "production",
            "phase": "growth",
            "metrics": {key: {"value": v, "unit": "GB"}},
        }
        for i, v in enumerate(values)
    ]


def test_theil_sen_is_the_median_of_the_pairwise_slopes() -> None:
    points = [(0, 1.0), (1, 3.0), (2, 5.0), (3, 7.0), (4, 9.0), (5, 100.0)]
    slope, intercept = theil_sen(points)
    assert slope == 2.0 and intercept == 1.0  # the outlier moves neither


def test_a_steady_60_day_growth_is_forecast_within_a_day() -> None:
    # 4 GB sixty days ago, +0.1 GB a day: 9.9 GB now, 12.8 GB in 29 days
    values = [4.0 + 0.1 * i for i in range(60)]
    found = history.forecast_one(
        database(values[-1]), history.series(records(values), "database.size"), NOW
    )
    assert found is not None and found.points == 31  # the last 30 days, both ends included
    expected = (NOW + timedelta(days=(12.8 - values[-1]) / 0.1)).date()
    assert found.crosses is not None and abs((found.crosses - expected).days) <= 1
    assert found.slope_per_day == pytest.approx(0.1)
    assert "reaches 80% of 16 GB in about 29 days" in found.text


def test_noise_and_a_step_do_not_make_it_overreact() -> None:
    """+0.05 GB a day with noise, then a one-off 3 GB jump (an import) four days ago: the
    robust fit keeps the slope near the trend; a least-squares line would about double it
    and bring the date in by months."""
    rng = random.Random(19)
    values = [4.0 + 0.05 * i + rng.uniform(-0.3, 0.3) for i in range(60)]
    values[-4:] = [v + 3.0 for v in values[-4:]]
    points = history.series(records(values), "database.size")
    found = history.forecast_one(database(values[-1]), points, NOW)
    assert found is not None
    assert found.slope_per_day == pytest.approx(0.05, abs=0.02)
    recent = [((t - NOW).total_seconds() / 86400, v) for t, v in points[-31:]]
    n = len(recent)
    mx = sum(x for x, _ in recent) / n
    my = sum(y for _, y in recent) / n
    ols = sum((x - mx) * (y - my) for x, y in recent) / sum((x - mx) ** 2 for x, _ in recent)
    assert ols > 1.8 * 0.05  # what a least-squares fit would have made of the step


def test_no_forecast_without_enough_history_or_a_rise() -> None:
    assert (
        history.forecast_one(database(), history.series(records([5.0] * 6), "database.size"), NOW)
        is None
    )
    flat = history.forecast_one(
        database(), history.series(records([5.0] * 20), "database.size"), NOW
    )
    assert flat is not None and flat.crosses is None and "not heading for" in flat.text
    past = history.forecast_one(
        database(13.0), history.series(records([13.0] * 20), "database.size"), NOW
    )
    assert past is not None and past.days == 0


def test_month_to_date_figures_are_trended_on_the_month_projection() -> None:
    bandwidth = Reading("vercel", "vercel.bandwidth", "bandwidth", 300.0, "GB", Kind.SHARE,
                        1000, 80, "month to date")  # fmt: skip
    rec = history.record_of("production", "growth", NOW, [bandwidth, database()], 2 / 3)
    assert rec["metrics"]["vercel.bandwidth"] == {"value": 300.0, "projected": 450.0, "unit": "GB"}
    assert history.series([rec], "vercel.bandwidth")[0][1] == 450.0
    estimate = Reading("spend", "spend.month", "spend", 9.0, "USD", estimate=True)
    assert "spend.month" not in history.record_of("p", "g", NOW, [estimate], 0.5)["metrics"]


def run(world: World, store, now: datetime = NOW):
    return status_report(
        Workspace(world.root),
        "production",
        StatusOptions(
            now=now,
            supabase_refs=(world.ref,),
            read_outputs=lambda s: None,
            timeout=5.0,
            spend=False,
            recommend=False,
            history=store,
            record=True,
        ),  # fmt: skip
    )


def test_record_on_a_file_backend_and_forecast(world: World) -> None:
    store = store_for(world.root, {})  # the default file backend, .floyo/state
    assert isinstance(store, FileHistory)
    # 20 days already kept, rising 0.5 GB a day towards growth's 12.8 GB warning
    for rec in records([1.0 + 0.5 * i for i in range(20)])[:-1]:
        store.append("production", rec)
    report = run(world, store)
    path = world.root / ".floyo" / "state" / ".floyo-history" / "production.jsonl"
    assert report.recorded == ".floyo/state/.floyo-history/production.jsonl"
    assert len(path.read_text().splitlines()) == 20
    db = next(f for f in report.forecasts if f.key == "database.size")
    assert db.crosses is not None and db.points >= 7
    assert any("plan the move to scale" in line for line in report.outlook)
    assert report.to_json()["forecasts"][0]["method"] == "Theil-Sen over the last 30 days"
    text = render_status.status_table(report, 80)
    assert "outlook: database size (primary) reaches 80% of 16 GB" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    markdown = render_status.status_markdown(report)
    assert "```mermaid\nxychart-beta" in markdown and "### Trend" in markdown


def test_record_on_s3_in_the_state_bucket(world: World) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="floyo-state")
    store = store_for(
        world.root, {"PULUMI_BACKEND_URL": "s3://floyo-state/pulumi?region=us-east-1"}
    )
    assert isinstance(store, S3History)
    assert store.read("production") == []
    run(world, store, NOW - timedelta(days=1))
    run(world, store)
    body = s3.get_object(Bucket="floyo-state", Key="pulumi/.floyo-history/production.jsonl")
    lines = body["Body"].read().decode().splitlines()
    assert len(lines) == 2
    kept = store.read("production")
    assert [r["at"] for r in kept] == ["2026-11-19T12:00:00Z", "2026-11-20T12:00:00Z"]
    assert kept[-1]["metrics"]["database.size"]["value"] > 0
    assert store.read("staging") == []  # per stack


def test_history_table_fits_80_columns(world: World) -> None:
    stack = load_stack(Workspace(world.root), "production", None)
    kept = records([1.0 + 0.3 * i for i in range(40)])
    rows = history.trends(history.within(kept, NOW, 30), stack.phase, NOW)
    where = ".floyo/state/.floyo-history/production.jsonl"
    text = render_status.history_table("production", "growth", 30, rows, where, 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "database.size" in text and "Theil-Sen" in text
    data = render_status.history_json("production", "growth", 30, rows)
    assert '"crosses": "2026-1' in data
