"""AWS, through boto3: S3 bucket sizes and object counts and ElastiCache memory and evictions
from CloudWatch (`GetMetricData`), spend from Cost Explorer (`GetCostAndUsage`,
`GetCostForecast`).

- `AWS/S3` `BucketSizeBytes` (Average, daily, dimensions BucketName and StorageType, one
  query per storage type a lifecycle rule can move objects to) and `NumberOfObjects`
  (StorageType `AllStorageTypes`). S3 reports these once a day, so the window is 3 days and
  the newest point is used.
- `AWS/ElastiCache` `DatabaseMemoryUsagePercentage` (Maximum) and `Evictions` (Sum) on the
  replication group's first node (`<group>-001`), the metrics the program's alarms watch
  (infra/monitoring.py).
- Cost Explorer: `UnblendedCost` month to date, and the forecast to the end of the month.
  Cost Explorer lives in us-east-1.
- Uptime: `AWS/Route53` `HealthCheckPercentageHealthy` (the share of Route 53's checkers
  that found the domain healthy; us-east-1, where Route 53 publishes) of each domain's health
  check, averaged over the window, against the phase's `reliability.uptime_percent`. The
  checks' ids come from the `uptime_checks` output, else from Route 53 `ListHealthChecks`
  (the HTTPS check whose FullyQualifiedDomainName is the domain).
- SNS `ListSubscriptionsByTopic` on each alert topic (the `alert_topics` output): the e-mail
  subscriptions still waiting for their address to confirm them (`SubscriptionArn`
  "PendingConfirmation"): until then they receive nothing, and `destroy` cannot delete them.

Credentials are boto3's own chain (environment, profile, OIDC web identity in CI).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..catalog import facts
from ..spec import ResolvedStack
from .thresholds import Kind, Reading
from .window import Window

GB = 1e9
# one query per storage class an object can be in (the bucket alarms sum the same ones)
STORAGE_TYPES: tuple[str, ...] = tuple(facts.S3_SIZE_STORAGE_TYPES.values())


# SNS API Reference, ListSubscriptionsByTopic / Subscription: a subscription its endpoint has
# not confirmed yet has the SubscriptionArn "PendingConfirmation" instead of an ARN.
PENDING = "PendingConfirmation"


@dataclass(frozen=True)
class Pending:
    """An alert subscription nobody has confirmed yet."""

    region: str
    protocol: str
    endpoint: str  # an e-mail address of the spec's notifications.emails


def pending_subscriptions(sns: Callable[[str], Any], topics: Mapping[str, str]) -> list[Pending]:
    """Every subscription of `topics` (region -> topic ARN) still pending confirmation, read
    with ListSubscriptionsByTopic (paginated; `sns(region)` gives that region's client)."""
    found = []
    for region, arn in sorted(topics.items()):
        pages = sns(region).get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
        for page in pages:
            for sub in page.get("Subscriptions", []):
                if sub.get("SubscriptionArn") == PENDING:
                    found.append(
                        Pending(region, str(sub.get("Protocol")), str(sub.get("Endpoint")))
                    )
    return found


def pending_reading(pending: list[Pending]) -> Reading:
    """What `status` shows: how many wait, and who (each address confirms once per region)."""
    who = ", ".join(f"{p.endpoint} ({p.region})" for p in pending)
    return Reading(
        "aws",
        "aws.pending_subscriptions",
        "alert e-mails awaiting confirmation",
        float(len(pending)),
        "count",
        window="now",
        endpoint="SNS ListSubscriptionsByTopic",
        note=f"each address must click the link AWS sent it: {who}" if pending else "",
    )


def pending_after_up(
    profile: str | None, topics: Mapping[str, str], timeout: float = 10.0
) -> tuple[list[Pending], str | None]:
    """What `up` lists once it is done: the pending subscriptions, or why they could not be
    read (a note, never a failure: the stack is built)."""
    try:
        import boto3

        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        config = client_config(timeout)
        clients = {r: session.client("sns", region_name=r, config=config) for r in topics}
        return pending_subscriptions(clients.__getitem__, topics), None
    except Exception as exc:  # no credentials, no network, a refused call
        return [], f"the alert subscriptions could not be read ({type(exc).__name__})"


def client_config(timeout: float) -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"},  # throttling and 5xx, with backoff
    )


def read_storage(
    stack: ResolvedStack, cloudwatch: Any, buckets: dict[str, str], window: Window
) -> list[Reading]:
    queries: list[dict[str, Any]] = []
    for i, bucket in enumerate(buckets.values()):
        for j, storage in enumerate(STORAGE_TYPES):
            queries.append(
                _query(
                    f"s{i}_{j}",
                    "AWS/S3",
                    "BucketSizeBytes",
                    "Average",
                    86400,
                    {"BucketName": bucket, "StorageType": storage},
                )
            )
        queries.append(
            _query(
                f"n{i}",
                "AWS/S3",
                "NumberOfObjects",
                "Average",
                86400,
                {"BucketName": bucket, "StorageType": "AllStorageTypes"},
            )
        )
    values = _latest(cloudwatch, queries, window.now - timedelta(days=3), window.now)
    readings: list[Reading] = []
    total = 0.0
    any_size = False
    endpoint = "CloudWatch GetMetricData (AWS/S3 {})"
    for i, (name, bucket) in enumerate(buckets.items()):
        sizes = [values.get(f"s{i}_{j}") for j in range(len(STORAGE_TYPES))]
        present = [s for s in sizes if s is not None]
        size = sum(present) / GB if present else None
        if size is not None:
            total += size
            any_size = True
        readings.append(
            Reading(
                "aws",
                f"s3.size.{name}",
                f"S3 bucket {name}",
                size,
                "GB",
                window="newest daily figure",
                endpoint=endpoint.format("BucketSizeBytes") + f" of {bucket}",
            )
        )
        readings.append(
            Reading(
                "aws",
                f"s3.objects.{name}",
                f"objects in S3 bucket {name}",
                values.get(f"n{i}"),
                "count",
                window="newest daily figure",
                endpoint=endpoint.format("NumberOfObjects") + f" of {bucket}",
            )
        )
    usage = stack.phase.usage.storage_gb.high
    readings.append(
        Reading(
            "aws",
            "s3.size",
            "S3 storage (all buckets)",
            total if any_size else None,
            "GB",
            Kind.SHARE,
            usage,
            stack.phase.alerts.database_size_percent,
            "newest daily figure",
            endpoint.format("BucketSizeBytes"),
            capacity=True,
            note="against the storage this phase expects (usage.storage_gb), as the bucket alarms",
        )
    )
    return readings


def read_cache(
    stack: ResolvedStack, cloudwatch: Any, region: str, node: str, window: Window
) -> list[Reading]:
    dims = {"CacheClusterId": node}
    values = _latest(
        cloudwatch,
        [
            _query("mem", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Maximum", 300, dims),
            _query("ev", "AWS/ElastiCache", "Evictions", "Sum", 3600, dims),
        ],
        window.recent_start,
        window.now,
        combine={"mem": max, "ev": sum},
    )
    endpoint = "CloudWatch GetMetricData (AWS/ElastiCache {})"
    return [
        Reading(
            "aws",
            f"cache.memory.{region}",
            f"cache memory ({region})",
            values.get("mem"),
            "%",
            Kind.SHARE,
            100.0,
            stack.phase.alerts.cache_memory_percent,
            window.recent_label,
            endpoint.format("DatabaseMemoryUsagePercentage, Maximum") + f" of {node}",
            capacity=True,
        ),
        Reading(
            "aws",
            f"cache.evictions.{region}",
            f"cache evictions ({region})",
            values.get("ev"),
            "count",
            window=window.recent_label,
            endpoint=endpoint.format("Evictions, Sum") + f" of {node}",
        ),
    ]


def read_cdn(
    stack: ResolvedStack, cloudwatch: Any, distribution: str, window: Window
) -> list[Reading]:
    """The files CDN (CloudFront publishes to us-east-1, dimensions DistributionId and
    Region=Global): bytes users downloaded this month, which count toward the phase's
    bandwidth like Vercel's fast data transfer, and the error rate (4xx and 5xx) now.
    docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/programming-cloudwatch-metrics.html"""
    dims = {"DistributionId": distribution, "Region": "Global"}
    month = _latest(
        cloudwatch,
        [_query("bytes", "AWS/CloudFront", "BytesDownloaded", "Sum", 86400, dims)],
        window.month_start,
        window.now,
        combine={"bytes": sum},
    )
    recent = _latest(
        cloudwatch,
        [_query("err", "AWS/CloudFront", "TotalErrorRate", "Average", 3600, dims)],
        window.recent_start,
        window.now,
        combine={"err": max},
    )
    size = month.get("bytes")
    endpoint = "CloudWatch GetMetricData (AWS/CloudFront {})"
    return [
        Reading(
            "aws",
            "cdn.bandwidth",
            f"bandwidth (files CDN {distribution})",
            None if size is None else size / GB,
            "GB",
            Kind.SHARE,
            stack.phase.limits.bandwidth_gb_month,
            stack.phase.alerts.bandwidth_percent,
            "month to date",
            endpoint.format("BytesDownloaded, Sum"),
            capacity=True,
            note="user files through CloudFront; the app's own traffic is vercel.bandwidth",
        ),
        Reading(
            "aws",
            "cdn.error_rate",
            f"files CDN error rate ({distribution})",
            recent.get("err"),
            "%",
            Kind.SHARE,
            100.0,
            stack.phase.alerts.error_rate_percent,
            window.recent_label,
            endpoint.format("TotalErrorRate, worst hourly Average"),
        ),
    ]


UPTIME_PERIOD = 300  # seconds: 5-minute averages (kept 63 days), averaged over the window


def find_health_checks(route53: Any, domains: list[str]) -> dict[str, str]:
    """domain -> id of the HTTPS health check on it (Route 53 ListHealthChecks, paginated):
    for a stack whose outputs are not at hand. The first found per domain."""
    found: dict[str, str] = {}
    for page in route53.get_paginator("list_health_checks").paginate():
        for check in page.get("HealthChecks", []):
            config = check.get("HealthCheckConfig") or {}
            domain = config.get("FullyQualifiedDomainName")
            if domain in domains and str(config.get("Type", "")).startswith("HTTPS"):
                found.setdefault(domain, str(check["Id"]))
    return found


def read_uptime(
    stack: ResolvedStack, cloudwatch: Any, checks: Mapping[str, str], window: Window
) -> list[Reading]:
    """One reading per domain (key `uptime`, one seed threshold however many domains): the
    health checkers' average share healthy over the window, which must at least meet the
    phase's target. A domain without a check, or a check without data points, reads nothing
    and says why (the watch is then blind on uptime)."""
    target = stack.phase.reliability.uptime_percent
    domains = stack.stack.vercel.uptime_domains
    endpoint = "CloudWatch GetMetricData (AWS/Route53 HealthCheckPercentageHealthy, Average)"

    def reading(domain: str, value: float | None, note: str = "", of: str = "") -> Reading:
        return Reading(
            "aws",
            "uptime",
            f"uptime ({domain})" if domain else "uptime",
            value,
            "%",
            Kind.BELOW,
            target,
            None,
            window.recent_label,
            endpoint + (f" of {of}" if of else ""),
            note=note,
        )

    if not domains:
        return [reading("", None, "the stack names no domain (vercel.domains) to check")]
    ids = {d: f"u{i}" for i, d in enumerate(domains) if d in checks}
    queries = [
        _query(ids[d], "AWS/Route53", "HealthCheckPercentageHealthy", "Average",
               UPTIME_PERIOD, {"HealthCheckId": checks[d]})
        for d in ids
    ]  # fmt: skip
    values = (
        _latest(cloudwatch, queries, window.recent_start, window.now, combine={
            q["Id"]: statistics.fmean for q in queries})
        if queries
        else {}
    )  # fmt: skip
    out = []
    for domain in domains:
        if domain not in checks:
            out.append(reading(domain, None, f"{domain}: no health check found (`up` makes it)"))
            continue
        value = values.get(ids[domain])
        note = "" if value is not None else f"{domain}: no data points in the window"
        out.append(reading(domain, value, note, checks[domain]))
    return out


def read_spend(ce: Any, window: Window) -> tuple[float | None, float | None, str]:
    """(month to date, forecast for the rest of the month, note)."""
    start = window.month_start.date()
    today = window.now.date()
    end = today + timedelta(days=1)
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
    )
    amounts = [
        float(period["Total"]["UnblendedCost"]["Amount"])
        for period in answer.get("ResultsByTime") or []
        if period.get("Total", {}).get("UnblendedCost")
    ]
    actual = sum(amounts) if amounts else None
    note = ""
    forecast = None
    next_month = window.next_month_start.date()
    if end < next_month:
        try:
            answer = ce.get_cost_forecast(
                TimePeriod={"Start": end.isoformat(), "End": next_month.isoformat()},
                Metric="UNBLENDED_COST",
                Granularity="MONTHLY",
            )
            forecast = float(answer["Total"]["Amount"])
        except Exception as exc:  # new accounts have no forecast (DataUnavailableException)
            note = f"no AWS forecast ({_error_code(exc)}): month to date only"
    else:
        forecast = 0.0
    return actual, forecast, note


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _query(
    qid: str, namespace: str, metric: str, stat: str, period: int, dims: dict[str, str]
) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _latest(
    cloudwatch: Any,
    queries: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    combine: Mapping[str, Callable[[Iterable[float]], float]] | None = None,
) -> dict[str, float]:
    """Query id -> the newest value (or, with `combine`, every value combined); ids without
    data points are left out."""
    found: dict[str, list[tuple[Any, float]]] = {}
    for offset in range(0, len(queries), 500):  # GetMetricData takes 500 queries at a time
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries[offset : offset + 500],
            "StartTime": start,
            "EndTime": end,
        }
        while True:
            answer = cloudwatch.get_metric_data(**kwargs)
            for result in answer.get("MetricDataResults") or []:
                points = list(
                    zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False)
                )
                found.setdefault(result["Id"], []).extend(points)
            token = answer.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    values: dict[str, float] = {}
    for qid, points in found.items():
        if not points:
            continue
        how = (combine or {}).get(qid)
        if how is not None:
            values[qid] = float(how(v for _, v in points))
        else:
            values[qid] = float(max(points, key=lambda p: p[0])[1])
    return values
