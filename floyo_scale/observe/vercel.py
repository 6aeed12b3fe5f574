"""Vercel usage through the observability query API: `POST /v2/observability/query`.

Shapes, as the Vercel CLI sends and reads them (`vercel metrics`; vercel/vercel,
packages/cli/src/commands/metrics/types.ts `MetricsQueryRequest`/`MetricsQueryResponse`,
and packages/cli/src/util/firewall/*: `client.fetch('/v2/observability/query', {accountId})`,
which adds `?teamId=`):

    request  {"scope": {"type": "project", "ownerId": TEAM, "projectIds": [PROJECT]},
              "metric": "vercel.request.count", "aggregation": "sum",
              "startTime": ISO, "endTime": ISO, "granularity": {"days": 1},
              "groupBy": [...], "limit": N}
    answer   {"data": [{"timestamp": ..., COLUMN: n, ...}],
              "summary": [{COLUMN: n, <groupBy dims>...}], "statistics": {...}}

COLUMN is the metric id with dots made underscores, then `_<aggregation>`
(`vercel_request_count_sum`; `getRollupColumnName` in the CLI's metrics/output.ts).

Metric ids (Vercel's metric schema, `vercel metrics schema`; the ids used by
vercel-labs/agent-skills, skills/vercel-optimize/lib/queries.mjs):
`vercel.request.fdt_total_bytes` (Fast Data Transfer, what bandwidth is billed as),
`vercel.request.count` (with the `http_status` dimension),
`vercel.function_invocation.function_duration_ms` (p95), and
`vercel.function_invocation.function_duration_gbhr` (billed GB-hours).

The REST reference does not document this endpoint (the CLI is its published client); it
needs Observability Plus on the team. A 402 says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from ..spec import ResolvedStack
from .collect import gather
from .http import JsonApi, SourceError
from .thresholds import Kind, Reading
from .window import Window, iso

DEFAULT_API_URL = "https://api.vercel.com"
QUERY_PATH = "/v2/observability/query"
GB = 1e9  # Vercel bills transfer in decimal GB

BANDWIDTH = "vercel.request.fdt_total_bytes"
REQUESTS = "vercel.request.count"
DURATION = "vercel.function_invocation.function_duration_ms"
GB_HOURS = "vercel.function_invocation.function_duration_gbhr"

TOKEN_HINT = (
    "check VERCEL_API_TOKEN: a token from https://vercel.com/account/tokens with access to "
    "the team; querying metrics needs Observability Plus"
)


def column(metric: str, aggregation: str) -> str:
    """The answer's column for a metric and aggregation (`vercel_request_count_sum`)."""
    return f"{metric.replace('.', '_')}_{aggregation}"


class VercelMetrics:
    """The observability query API for one team."""

    def __init__(
        self,
        token: str,
        team: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise SourceError("vercel", "no Vercel API token was given", hint=TOKEN_HINT)
        self.team = team
        self.api = JsonApi(
            "vercel",
            base_url,
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token,),
            auth_hint=TOKEN_HINT,
            timeout=timeout,
            deadline=deadline,
            sleep=sleep,
        )

    def query(
        self,
        project: str,
        metric: str,
        aggregation: str,
        start: datetime,
        end: datetime,
        *,
        group_by: tuple[str, ...] = (),
        granularity: dict[str, int] | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "scope": {"type": "project", "ownerId": self.team, "projectIds": [project]},
            "metric": metric,
            "aggregation": aggregation,
            "startTime": iso(start),
            "endTime": iso(end),
            "granularity": granularity or {"days": 1},
            "limit": limit,
        }
        if group_by:
            body["groupBy"] = list(group_by)
        team_param = "teamId" if self.team.startswith("team_") else "slug"
        answer = self.api.post(QUERY_PATH, body, query={team_param: self.team})
        if not isinstance(answer, dict):
            raise SourceError("vercel", f"vercel answered {QUERY_PATH} with no object")
        return answer

    def total(
        self,
        project: str,
        metric: str,
        aggregation: str,
        start: datetime,
        end: datetime,
        *,
        group_by: tuple[str, ...] = (),
        granularity: dict[str, int] | None = None,
        limit: int = 100,
    ) -> float | None:
        """The summary's figure (summed over its rows); None when there are no data points."""
        answer = self.query(
            project,
            metric,
            aggregation,
            start,
            end,
            group_by=group_by,
            granularity=granularity,
            limit=limit,
        )
        return summary_total(answer, column(metric, aggregation))


def summary_total(answer: dict[str, Any], col: str) -> float | None:
    values = [_number(row.get(col)) for row in answer.get("summary") or [] if isinstance(row, dict)]
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def error_share(answer: dict[str, Any]) -> float | None:
    """Share of 5xx answers, in percent, from a `vercel.request.count` query grouped by
    `http_status`; None without requests."""
    col = column(REQUESTS, "sum")
    total = errors = 0.0
    for row in answer.get("summary") or []:
        count = _number(row.get(col)) if isinstance(row, dict) else None
        if count is None:
            continue
        total += count
        status = _number(row.get("http_status"))
        if status is not None and status >= 500:
            errors += count
    return errors / total * 100 if total else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: no data


def read(
    stack: ResolvedStack, client: VercelMetrics, project: str, window: Window
) -> list[Reading]:
    phase = stack.phase
    month = (window.month_start, window.now)
    recent = (window.recent_start, window.now)
    hourly = {"hours": 1}
    endpoint = f"POST {QUERY_PATH}"

    calls: dict[str, Callable[[], Any]] = {
        "fdt": partial(client.total, project, BANDWIDTH, "sum", *month),
        "gbh": partial(client.total, project, GB_HOURS, "sum", *month),
        "requests": partial(client.total, project, REQUESTS, "sum", *month),
        "p95": partial(client.total, project, DURATION, "p95", *recent, granularity=hourly),
        "by_status": partial(
            client.query,
            project,
            REQUESTS,
            "sum",
            *recent,
            group_by=("http_status",),
            granularity=hourly,
        ),
    }
    answers = gather(calls, client.api.deadline, what="vercel")
    fdt, gbh, requests, p95 = (answers[k] for k in ("fdt", "gbh", "requests", "p95"))
    by_status = answers["by_status"]
    return [
        Reading(
            "vercel",
            "vercel.bandwidth",
            "bandwidth (fast data transfer)",
            None if fdt is None else fdt / GB,
            "GB",
            Kind.SHARE,
            phase.limits.bandwidth_gb_month,
            phase.alerts.bandwidth_percent,
            "month to date",
            f"{endpoint} ({BANDWIDTH}, sum)",
            capacity=True,
        ),
        Reading(
            "vercel",
            "vercel.function_gb_hours",
            "function duration",
            gbh,
            "GB-h",
            Kind.SHARE,
            phase.limits.function_gb_hours_month,
            phase.budget.alert_percent,
            "month to date",
            f"{endpoint} ({GB_HOURS}, sum)",
            capacity=True,
        ),
        Reading(
            "vercel",
            "vercel.requests",
            "requests",
            requests,
            "count",
            window="month to date",
            endpoint=f"{endpoint} ({REQUESTS}, sum)",
        ),
        Reading(
            "vercel",
            "vercel.p95",
            "function duration p95",
            p95,
            "ms",
            Kind.ABOVE,
            phase.alerts.p95_latency_ms,
            window=window.recent_label,
            endpoint=f"{endpoint} ({DURATION}, p95)",
        ),
        Reading(
            "vercel",
            "vercel.error_rate",
            "5xx responses",
            error_share(by_status),
            "%",
            Kind.ABOVE,
            phase.alerts.error_rate_percent,
            window=window.recent_label,
            endpoint=f"{endpoint} ({REQUESTS}, sum by http_status)",
        ),
    ]
