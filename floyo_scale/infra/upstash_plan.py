"""The plan an Upstash Redis database is on (Pay as You Go or a fixed plan).

upstash-pulumi 0.5.0's RedisDatabase has no plan argument (only `budget`, the Pay as You Go
spending cap), so the plan the program picks (catalog/offers.py) is set through the
Developer API: `POST https://api.upstash.com/v2/redis/{id}/change-plan` with
`{"plan_name": "fixed_1gb", "auto_upgrade": false}`, HTTP basic auth (account email, API
key). A Pulumi dynamic resource, type `pulumi-python:dynamic/upstash:Plan`.

The request follows the current published reference: upstash/docs
`devops/developer-api/openapi.yml` (commit ef0ce438, 2026-08-21), operation `changePlan`,
`POST /redis/{id}/change-plan` under the server `https://api.upstash.com/v2`, body
`ChangePlanRequest` (`plan_name` required, one of its enum; `auto_upgrade` boolean). Older
pages named `/v2/redis/change-plan/{id}`, and Upstash's own CLI posts `{"plan": ...}` there:
which one the live API still answers cannot be known offline, so the shape is one function,
`change_plan_request`, tested against a server built from that spec (tests/contracts/).

create and update set the plan; delete leaves the database as it is (its plan goes with it
when the database itself is deleted); read reports what the program last set.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from ..catalog import facts

DEFAULT_API_URL = "https://api.upstash.com"
TIMEOUT_SECONDS = 30
PLAN_NAMES = frozenset(facts.UPSTASH_PLAN_NAMES)  # ChangePlanRequest.plan_name's enum


class UpstashApiError(Exception):
    """The Developer API refused a request (the message names the status, never the key)."""


@dataclass(frozen=True)
class PlanRequest:
    """What `change_plan` sends: method, path under the API's address, JSON body, headers."""

    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


def change_plan_request(email: str, api_key: str, database_id: str, plan_name: str) -> PlanRequest:
    """The one place the request is shaped: `POST {api}/v2/redis/{id}/change-plan`, body
    `{"plan_name": ..., "auto_upgrade": false}`, basic auth (see the module's docstring)."""
    if plan_name not in PLAN_NAMES:
        raise UpstashApiError(f"unknown Upstash plan {plan_name!r}")
    token = base64.b64encode(f"{email}:{api_key}".encode()).decode()
    return PlanRequest(
        "POST",
        f"/v2/redis/{urllib.parse.quote(database_id, safe='')}/change-plan",
        {"plan_name": plan_name, "auto_upgrade": False},
        {"Authorization": f"Basic {token}"},
    )


def change_plan(
    api_url: str, email: str, api_key: str, database_id: str, plan_name: str
) -> dict[str, Any]:
    """Send `change_plan_request` through the one transport; the response body, parsed when it
    is JSON."""
    request = change_plan_request(email, api_key, database_id, plan_name)
    from ..errors import ProviderError
    from ..transport import HttpClient, mask  # here: `plan` imports this module, sends nothing

    token = request.headers["Authorization"].removeprefix("Basic ")
    try:  # the one transport: its retry policy, no credential across a redirect, redaction
        http = HttpClient(
            "upstash",
            api_url,
            headers=request.headers,
            secrets=(api_key, token),
            timeout=TIMEOUT_SECONDS,
        )
        # a plan change is idempotent (the same plan, set again), so a lost answer is retried
        answer = http.request(request.method, request.path, body=request.body)
    except ProviderError as exc:
        raise UpstashApiError(
            f"Upstash API not reachable at {mask(api_url)}: {mask(exc.message)}"
        ) from None
    assert answer is not None
    if not 200 <= answer.status < 300:
        raise UpstashApiError(
            f"Upstash refused to move database {database_id} to {plan_name}: HTTP {answer.status}"
        )
    text = answer.data.decode() or "{}"
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"response": text}
    return parsed if isinstance(parsed, dict) else {"response": parsed}


class PlanProvider(ResourceProvider):
    def _set(self, props: Mapping[str, Any]) -> None:
        change_plan(
            str(props.get("api_url") or DEFAULT_API_URL),
            str(props["email"]),
            str(props["api_key"]),
            str(props["database_id"]),
            str(props["plan_name"]),
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._set(props)
        return CreateResult(f"{props['database_id']}/plan", props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("database_id", "plan_name", "email", "api_url")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._set(news)
        return UpdateResult(news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the plan belongs to the database; nothing to undo on its own


class UpstashPlan(pulumi.dynamic.Resource, module="upstash", name="Plan"):
    """The database's plan (`plan_name`, e.g. `fixed_1gb`), set through the Developer API."""

    def __init__(
        self,
        resource_name: str,
        *,
        database_id: pulumi.Input[str],
        plan_name: str,
        email: pulumi.Input[str],
        api_key: pulumi.Input[str],
        api_url: str = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        from .supabase.resources import undo_pickle_patch

        props = {
            "database_id": database_id,
            "plan_name": plan_name,
            "email": email,
            "api_key": pulumi.Output.secret(api_key),
            "api_url": api_url,
        }
        with undo_pickle_patch():
            super().__init__(PlanProvider(), resource_name, props, opts)
