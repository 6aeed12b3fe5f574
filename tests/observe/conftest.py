"""A whole loopback world for `status`: the Supabase contract server whose read-only query
runs on a real PostgreSQL, Vercel/Sentry/Cost Explorer stand-ins, and moto for CloudWatch."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import serve_moto
from supabase.contract_server import CONTRACT_PATH, TOKEN, Contract, ContractServer

from .standins import StandIn, ce_route, sentry_route, vercel_route

VERCEL_TOKEN = "vercel-token-" + "x" * 24
SENTRY_TOKEN = "sntrys_" + "y" * 40
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # two thirds of November gone
GB = 1e9


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for all of `status`'s tests (the suite's own is per module)."""
    yield from serve_moto()


@pytest.fixture(scope="session")
def observe_contract() -> Contract:
    assert CONTRACT_PATH.exists(), f"the Supabase contract is missing: {CONTRACT_PATH}"
    return Contract(CONTRACT_PATH)


@dataclass
class World:
    root: Path
    supabase: ContractServer
    ref: str
    database_url: str
    vercel: StandIn
    sentry: StandIn
    ce: StandIn
    moto: str

    def standins(self) -> list[StandIn]:
        return [self.vercel, self.sentry, self.ce]


def vercel_usage(bandwidth_gb: float, gb_hours: float, p95_ms: float, errors: int, ok: int):
    return {
        ("vercel.request.fdt_total_bytes", "sum"): [{"value": bandwidth_gb * GB}],
        ("vercel.function_invocation.function_duration_gbhr", "sum"): [{"value": gb_hours}],
        ("vercel.function_invocation.function_duration_ms", "p95"): [{"value": p95_ms}],
        ("vercel.request.count", "sum"): [
            {"http_status": 200, "value": ok},
            {"http_status": 503, "value": errors},
        ],
    }


def put_aws_metrics(moto: str, stack: str = "production") -> None:
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto)
    day = NOW - timedelta(days=1)
    for name, size in (("uploads", 40 * GB), ("archive", 5 * GB)):
        bucket = f"floyo-{stack}-{name}"
        cloudwatch.put_metric_data(
            Namespace="AWS/S3",
            MetricData=[
                {
                    "MetricName": "BucketSizeBytes",
                    "Dimensions": [
                        {"Name": "BucketName", "Value": bucket},
                        {"Name": "StorageType", "Value": "StandardStorage"},
                    ],
                    "Timestamp": day,
                    "Value": size,
                    "Unit": "Bytes",
                },
                {
                    "MetricName": "NumberOfObjects",
                    "Dimensions": [
                        {"Name": "BucketName", "Value": bucket},
                        {"Name": "StorageType", "Value": "AllStorageTypes"},
                    ],
                    "Timestamp": day,
                    "Value": 1200,
                    "Unit": "Count",
                },
            ],
        )
    node = f"floyo-{stack}-us-east-1-001"
    for minutes, memory in ((50, 41.0), (20, 55.5)):
        cloudwatch.put_metric_data(
            Namespace="AWS/ElastiCache",
            MetricData=[
                {
                    "MetricName": "DatabaseMemoryUsagePercentage",
                    "Dimensions": [{"Name": "CacheClusterId", "Value": node}],
                    "Timestamp": NOW - timedelta(minutes=minutes),
                    "Value": memory,
                },
                {
                    "MetricName": "Evictions",
                    "Dimensions": [{"Name": "CacheClusterId", "Value": node}],
                    "Timestamp": NOW - timedelta(minutes=minutes),
                    "Value": 3,
                },
            ],
        )


def put_uptime(
    moto: str, percents: dict[str, list[float]], region: str = "us-east-1"
) -> dict[str, str]:
    """An HTTPS health check per domain in Route 53 (moto), and its HealthCheckPercentageHealthy
    points over the hours before NOW and before the moment this runs (the CLI reads the
    machine's clock: the points follow it, whatever the date), in AWS/Route53, us-east-1;
    domain -> health check id."""
    import uuid

    import boto3

    kw = {"region_name": region, "endpoint_url": moto}
    kw |= {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    route53, cloudwatch = boto3.client("route53", **kw), boto3.client("cloudwatch", **kw)
    ids = {}
    for domain, values in percents.items():
        check = route53.create_health_check(
            CallerReference=str(uuid.uuid4()),
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": domain,
                "Port": 443,
                "ResourcePath": "/",
                "RequestInterval": 30,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]
        ids[domain] = check["Id"]
        cloudwatch.put_metric_data(
            Namespace="AWS/Route53",
            MetricData=[
                {
                    "MetricName": "HealthCheckPercentageHealthy",
                    "Dimensions": [{"Name": "HealthCheckId", "Value": check["Id"]}],
                    "Timestamp": at - timedelta(hours=i + 1),
                    "Value": value,
                    "Unit": "Percent",
                }
                for at in (NOW, datetime.now(UTC))
                for i, value in enumerate(values)
            ],
        )
    return ids


@pytest.fixture
def world(
    workspace: Path,
    observe_contract: Contract,
    pg_database: str,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[World]:
    """Everything `status --stack production` reads, on loopback, answering within
    thresholds; the environment holds every credential and points every client here."""
    supabase = ContractServer(observe_contract, tokens={TOKEN}).start()
    supabase.add_organization("floyo", "pro")
    ref = supabase.add_project(organization_slug="floyo", database_url=pg_database)
    supabase.projects[ref].api_requests = 4321
    vercel = StandIn("vercel", vercel_route, token=VERCEL_TOKEN).start()
    vercel.state["summary"] = vercel_usage(300, 20, 420, 2, 9998)
    sentry = StandIn("sentry", sentry_route, token=SENTRY_TOKEN).start()
    sentry.state["values"] = {"p95(transaction.duration)": 512.0, "failure_rate()": 0.002}
    ce = StandIn("ce", ce_route).start()
    ce.state.update(actual="9.50", forecast="5.25")

    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    env = {
        "SUPABASE_ACCESS_TOKEN": TOKEN,
        "VERCEL_API_TOKEN": VERCEL_TOKEN,
        "SENTRY_AUTH_TOKEN": SENTRY_TOKEN,
        "FLOYO_SUPABASE_API_URL": supabase.url,
        "FLOYO_VERCEL_API_URL": vercel.url,
        "FLOYO_SENTRY_API_URL": sentry.url,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_COST_EXPLORER": ce.url,
        "AWS_ACCESS_KEY_ID": "AKIAFLOYOTESTKEY0001",
        "AWS_SECRET_ACCESS_KEY": "floyo-test-secret-key",
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
    }
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    put_aws_metrics(moto_url)
    put_uptime(moto_url, {"floyo.app": [100.0, 100.0, 99.9], "www.floyo.app": [100.0]})
    w = World(workspace, supabase, ref, pg_database, vercel, sentry, ce, moto_url)
    try:
        yield w
    finally:
        for standin in w.standins():
            standin.stop()
        supabase.stop()
    assert not supabase.violations, "contract violations:\n" + "\n".join(supabase.violations)
    for standin in w.standins():
        assert not standin.violations, f"{standin.name}: {standin.violations}"
