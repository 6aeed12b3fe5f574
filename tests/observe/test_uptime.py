"""Uptime (issue 19, seed "Reliability: uptime"): each domain's Route 53 health check read
from CloudWatch (AWS/Route53 HealthCheckPercentageHealthy, us-east-1) served by moto, the
check found by its domain when the state does not name it, and judged against the phase's
reliability.uptime_percent; a domain nothing measures leaves uptime blind."""

from __future__ import annotations

import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from floyo_scale.errors import ExitCode
from floyo_scale.observe import aws, targets
from floyo_scale.observe.thresholds import Kind, SourceResult, SourceState, Verdict, blind
from floyo_scale.observe.window import Window
from floyo_scale.spec import Workspace, load_stack

from .conftest import NOW, World, put_uptime

REPO = Path(__file__).resolve().parents[2]


def clients(moto: str):
    kw = {"region_name": "us-east-1", "endpoint_url": moto}
    kw |= {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return boto3.client("cloudwatch", **kw), boto3.client("route53", **kw)


@pytest.fixture
def production():
    return load_stack(Workspace(REPO), "production", None)  # growth: 99.9%, two domains


def reset(moto: str) -> None:
    """The session's moto server starts empty here (another test's checks would be found)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST"))


def test_each_domain_averaged_over_the_window_against_the_target(moto_url, production):
    reset(moto_url)
    cloudwatch, route53 = clients(moto_url)
    ids = put_uptime(moto_url, {"floyo.app": [100.0, 99.0, 100.0, 100.0],  # mean 99.75
                                "www.floyo.app": [100.0, 100.0]})  # fmt: skip
    found = aws.find_health_checks(route53, ["floyo.app", "www.floyo.app", "other.app"])
    assert {d: found[d] for d in ids} == ids  # found by domain (other.app has none)
    readings = aws.read_uptime(production, cloudwatch, ids, Window.at(NOW))
    assert [(r.key, r.label, r.kind, r.limit) for r in readings] == [
        ("uptime", "uptime (floyo.app)", Kind.BELOW, 99.9),
        ("uptime", "uptime (www.floyo.app)", Kind.BELOW, 99.9),
    ]
    apex, www = readings
    assert apex.value == pytest.approx(99.75) and apex.verdict is Verdict.BELOW
    assert www.value == pytest.approx(100.0) and www.verdict is Verdict.OK
    assert ids["floyo.app"] in apex.endpoint and "HealthCheckPercentageHealthy" in apex.endpoint
    assert apex.window == "last 24h"


def test_a_domain_without_a_check_or_points_is_not_measured(moto_url, production):
    cloudwatch, _ = clients(moto_url)
    readings = aws.read_uptime(production, cloudwatch, {"floyo.app": "no-such-id"},
                               Window.at(NOW))  # fmt: skip
    assert [(r.value, r.note) for r in readings] == [
        (None, "floyo.app: no data points in the window"),
        (None, "www.floyo.app: no health check found (`up` makes it)"),
    ]
    found = blind([SourceResult("aws", SourceState.OK, tuple(readings))])
    uptime = [b for b in found if b.threshold == "uptime"]
    assert uptime[0].reason == (
        "aws: floyo.app: no data points in the window; "
        "www.floyo.app: no health check found (`up` makes it)"
    )


def test_a_stack_without_a_domain_is_blind_on_uptime(moto_url, production):
    cloudwatch, _ = clients(moto_url)
    vercel = production.stack.vercel.model_copy(update={"domains": ["*.floyo.app"]})
    stack = replace(production, stack=production.stack.model_copy(update={"vercel": vercel}))
    (reading,) = aws.read_uptime(stack, cloudwatch, {}, Window.at(NOW))
    assert reading.value is None and "no domain" in reading.note


def test_the_check_ids_come_from_the_state(production) -> None:
    base = targets.from_spec(production)
    assert base.uptime_checks == {}  # Route 53 assigns them
    merged = targets.merge_outputs(base, {"uptime_checks": {"floyo.app": "hc-1"}})
    assert merged.uptime_checks == {"floyo.app": "hc-1"}


def test_status_reads_uptime_through_the_aws_source(world: World) -> None:
    """The world's two checks (found by domain: no state) are within growth's 99.9%; one
    falling under it crosses a threshold (exit 8)."""
    from .test_status import run

    report = run(world, spend=False, recommend=False)
    uptime = [r for r in report.readings if r.key == "uptime"]
    assert [r.label for r in uptime] == ["uptime (floyo.app)", "uptime (www.floyo.app)"]
    assert all(r.verdict is Verdict.OK for r in uptime)
    assert report.exit_code is ExitCode.OK
    cloudwatch, route53 = clients(world.moto)
    # the world's check on www.floyo.app reporting an outage
    www = aws.find_health_checks(route53, ["www.floyo.app"])["www.floyo.app"]
    cloudwatch.put_metric_data(
        Namespace="AWS/Route53",
        MetricData=[{"MetricName": "HealthCheckPercentageHealthy",
                     "Dimensions": [{"Name": "HealthCheckId", "Value": www}],
                     "Timestamp": NOW - timedelta(minutes=30), "Value": 0.0}],
    )  # fmt: skip
    report = run(world, spend=False, recommend=False)
    crossed = [r.label for r in report.crossed]
    assert crossed == ["uptime (www.floyo.app)"] and report.exit_code is ExitCode.THRESHOLD
