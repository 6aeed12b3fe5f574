"""Sentry: p95 transaction duration and failure rate, through the Discover events endpoint.

`GET /api/0/organizations/{org}/events/?field=p95(transaction.duration)&field=failure_rate()
&dataset=transactions&statsPeriod=24h&query=project:{slug}` (Sentry's API reference, "Query
Discover Events in Table Format"; the same query engine as Discover and Performance). The
answer is `{"data": [{"p95(transaction.duration)": 812.5, "failure_rate()": 0.004}],
"meta": {"fields": {...}, "units": {...}}}`: the duration in milliseconds, the failure rate
a fraction (0.004 = 0.4 %). With no transactions in the window the row's values are null
(or there is no row): no data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..spec import ResolvedStack
from .http import JsonApi, SourceError
from .thresholds import Kind, Reading
from .window import Window

DEFAULT_API_URL = "https://sentry.io"
P95 = "p95(transaction.duration)"
FAILURE_RATE = "failure_rate()"
TOKEN_HINT = (
    "check SENTRY_AUTH_TOKEN: an auth token with the org:read scope "
    "(https://sentry.io/settings/account/api/auth-tokens/)"
)


@dataclass(frozen=True)
class SentryTarget:
    organization: str
    project: str
    token_ref: str  # ${env:NAME}
    api_url: str = DEFAULT_API_URL
    environment: str | None = None  # the Sentry environment the alerts watch (None: all)


def target(stack: ResolvedStack) -> SentryTarget | None:
    """The stack's Sentry settings, when it configures Sentry (`sentry:` in the stack file:
    organization, project, auth_token, environment); None otherwise."""
    settings = getattr(stack.stack, "sentry", None)
    if settings is None:
        return None
    organization = getattr(settings, "organization", None) or getattr(settings, "org", None)
    project = getattr(settings, "project", None)
    token = getattr(settings, "auth_token", None) or "${env:SENTRY_AUTH_TOKEN}"
    if not organization or not project:
        return None
    api_url = getattr(settings, "api_url", None) or DEFAULT_API_URL
    environment = getattr(settings, "environment", None)
    return SentryTarget(
        str(organization), str(project), str(token), str(api_url), environment or None
    )


class SentryEvents:
    def __init__(
        self,
        token: str,
        organization: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise SourceError("sentry", "no Sentry auth token was given", hint=TOKEN_HINT)
        self.organization = organization
        self.api = JsonApi(
            "sentry",
            base_url,
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token,),
            auth_hint=TOKEN_HINT,
            timeout=timeout,
            deadline=deadline,
            sleep=sleep,
        )

    def performance(
        self, project: str, hours: int, environment: str | None = None
    ) -> dict[str, float | None]:
        path = f"/api/0/organizations/{self.organization}/events/"
        query: dict[str, Any] = {
            "field": [P95, FAILURE_RATE],
            "dataset": "transactions",
            "statsPeriod": f"{hours}h",
            "query": f"project:{project}",
        }
        if environment:
            query["environment"] = environment
        answer = self.api.get(path, query=query)
        rows = answer.get("data") if isinstance(answer, dict) else None
        row: dict[str, Any] = rows[0] if rows and isinstance(rows[0], dict) else {}
        return {P95: _number(row.get(P95)), FAILURE_RATE: _number(row.get(FAILURE_RATE))}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read(
    stack: ResolvedStack,
    client: SentryEvents,
    project: str,
    window: Window,
    environment: str | None = None,
) -> list[Reading]:
    alerts = stack.phase.alerts
    figures = client.performance(project, window.hours, environment)
    failure = figures[FAILURE_RATE]
    endpoint = f"GET /api/0/organizations/{client.organization}/events/"
    return [
        Reading(
            "sentry",
            "sentry.p95",
            "transaction duration p95",
            figures[P95],
            "ms",
            Kind.ABOVE,
            alerts.p95_latency_ms,
            window=window.recent_label,
            endpoint=f"{endpoint} ({P95})",
        ),
        Reading(
            "sentry",
            "sentry.failure_rate",
            "failed transactions",
            None if failure is None else failure * 100,
            "%",
            Kind.ABOVE,
            alerts.error_rate_percent,
            window=window.recent_label,
            endpoint=f"{endpoint} ({FAILURE_RATE})",
        ),
    ]
