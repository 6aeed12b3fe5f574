"""Upstash Redis: the cache's data size against its database's limit, through the Upstash
Developer API (https://api.upstash.com/v2, HTTP Basic with the account email and API key).

- `GET /v2/redis/databases` (List Databases): find ours by `database_name`
  (`<project>-<stack>-cache`, infra/upstash.py); its `database_id` and `db_disk_threshold`
  (the most data it may hold, bytes).
- `GET /v2/redis/stats/{id}` (Get Database Stats): `diskusage`, a series of `{x, y}` points
  (bytes); the last point is the current size. Evictions are not in these stats, so they are
  not reported for Upstash.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from ..spec import ResolvedStack
from .http import JsonApi, SourceError
from .thresholds import Kind, Reading

DEFAULT_API_URL = "https://api.upstash.com"
GB = 1e9
KEY_HINT = (
    "check UPSTASH_API_KEY and the stack's upstash.email: a Developer API key from "
    "https://console.upstash.com/account/api"
)


class UpstashApi:
    def __init__(
        self,
        email: str,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise SourceError("upstash", "no Upstash API key was given", hint=KEY_HINT)
        basic = base64.b64encode(f"{email}:{api_key}".encode()).decode()
        self.api = JsonApi(
            "upstash",
            base_url,
            headers={"Authorization": f"Basic {basic}"},
            secrets=(api_key, basic),
            auth_hint=KEY_HINT,
            timeout=timeout,
            deadline=deadline,
            sleep=sleep,
        )

    def find_database(self, name: str) -> dict[str, Any]:
        databases = self.api.get("/v2/redis/databases")
        for database in databases if isinstance(databases, list) else []:
            if isinstance(database, dict) and database.get("database_name") == name:
                return database
        raise SourceError(
            "upstash",
            f"no Upstash database named {name!r} in this account",
            hint="run `floyo-scale up` for the stack, or check the stack's upstash.email",
        )

    def stats(self, database_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v2/redis/stats/{database_id}")
        return answer if isinstance(answer, dict) else {}


def last_point(series: Any) -> float | None:
    if isinstance(series, dict):  # a single point (as `monitor_count` is given)
        series = [series]
    if not isinstance(series, list):
        return None
    for point in reversed(series):
        y = point.get("y") if isinstance(point, dict) else None
        if isinstance(y, int | float) and not isinstance(y, bool):
            return float(y)
    return None


def read(stack: ResolvedStack, client: UpstashApi, name: str) -> list[Reading]:
    database = client.find_database(name)
    stats = client.stats(str(database.get("database_id")))
    used = last_point(stats.get("diskusage"))
    limit = database.get("db_disk_threshold")
    limit_gb = float(limit) / GB if isinstance(limit, int | float) and limit else None
    return [
        Reading(
            "upstash",
            "cache.data_size",
            f"cache data ({name})",
            None if used is None else used / GB,
            "GB",
            Kind.SHARE,
            limit_gb,
            stack.phase.alerts.cache_memory_percent,
            "now",
            "GET /v2/redis/stats/{id} (diskusage); limit: GET /v2/redis/databases "
            "(db_disk_threshold)",
            capacity=True,
        ),
        Reading(
            "upstash",
            "cache.daily_commands",
            "cache commands today",
            _num(stats.get("daily_net_commands")),
            "count",
            window="today",
            endpoint="GET /v2/redis/stats/{id} (daily_net_commands)",
        ),
    ]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
