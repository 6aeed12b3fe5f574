"""Supabase, per shard (one project per shard): database size, disk and its autoscaling
headroom, and API requests, through the Management API client (infra/supabase/client.py).

Every endpoint is in the contract kept in the repository
(tests/contracts/supabase-management-api.openapi.json):
- `POST /v1/projects/{ref}/database/query/read-only` with
  `select pg_database_size(current_database())`: the database's size in bytes, from
  PostgreSQL itself (what the seed's "database size" means);
- `GET /v1/projects/{ref}/config/disk`: the provisioned disk (`attributes.size_gb`);
- `GET /v1/projects/{ref}/config/disk/util`: the filesystem's `fs_used_bytes`;
- `GET /v1/projects/{ref}/config/disk/autoscale`: `max_size_gb`, how far the disk may grow;
- `GET /v1/projects/{ref}/analytics/endpoints/usage.api-requests-count`: `result[].count`;
- `GET /v1/projects/{ref}/advisors/performance` and `.../security`: the open advisor findings
  per level (ERROR, WARN, INFO), all shards together (`db advise` shows them; an advisor that
  cannot be read leaves its figures without data, never fails the source: the endpoints are
  experimental).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import FloyoError
from ..infra.supabase.client import ADVISOR_KINDS, ManagementClient
from ..spec import ResolvedStack
from .collect import gather
from .thresholds import Kind, Reading

SIZE_SQL = "select pg_database_size(current_database()) as bytes"
GB = 1e9  # Supabase sizes disks and bills database size in GB
BASE = "/v1/projects/{ref}"


def shard_label(index: int, count: int) -> str:
    return "primary" if index == 0 else f"shard-{index}" if count > 1 else "primary"


def read(
    stack: ResolvedStack, client: ManagementClient, refs: tuple[str, ...], deadline: float
) -> list[Reading]:
    """Every request of every project at once (they are independent reads)."""
    calls: dict[str, Callable[[], Any]] = {}
    for index, ref in enumerate(refs):
        calls[f"{index}.size"] = partial(client.read_only_query, ref, SIZE_SQL)
        calls[f"{index}.disk"] = partial(client.get_disk, ref)
        calls[f"{index}.util"] = partial(client.get_disk_util, ref)
        calls[f"{index}.autoscale"] = partial(client.get_disk_autoscale, ref)
        calls[f"{index}.requests"] = partial(client.get_api_requests_count, ref)
        calls[f"{index}.advisors"] = partial(_advisor_lints, client, ref)
    answers = gather(calls, deadline, what="supabase")
    readings: list[Reading] = []
    for index in range(len(refs)):
        mine = {
            key.split(".", 1)[1]: v for key, v in answers.items() if key.startswith(f"{index}.")
        }
        readings.extend(_project_readings(stack, mine, shard_label(index, len(refs)), len(refs)))
    readings.extend(_advisor_readings([answers[f"{i}.advisors"] for i in range(len(refs))]))
    sizes = [r.value for r in readings if r.key == "database.size" and r.value is not None]
    if len(refs) > 1:
        # each shard is a project with its own disk, judged against its share of the limit
        # (limits.database_gb is the whole database's); the sum against the whole limit
        readings.append(
            Reading(
                "supabase",
                "database.size_total",
                f"database size (all {len(refs)} shards)",
                sum(sizes) if len(sizes) == len(refs) else None,
                "GB",
                Kind.SHARE,
                stack.phase.limits.database_gb,
                stack.phase.alerts.database_size_percent,
                window="now",
                endpoint=f"POST {BASE}/database/query/read-only, per shard",
                capacity=True,
            )
        )
    return readings


def _project_readings(
    stack: ResolvedStack, answers: dict[str, Any], label: str, shards: int = 1
) -> list[Reading]:
    phase = stack.phase
    rows = answers["size"]
    size = _number(rows[0].get("bytes")) if rows and isinstance(rows[0], dict) else None
    disk = (answers["disk"] or {}).get("attributes") or {}
    util = (answers["util"] or {}).get("metrics") or {}
    autoscale = answers["autoscale"] or {}
    requests = answers["requests"] or {}
    counts = [_number(r.get("count")) for r in requests.get("result") or [] if isinstance(r, dict)]
    present = [c for c in counts if c is not None]
    disk_gb = _number(disk.get("size_gb"))
    used = _number(util.get("fs_used_bytes"))
    max_gb = _number(autoscale.get("max_size_gb"))
    headroom = None if max_gb is None or disk_gb is None else max_gb - disk_gb
    return [
        Reading(
            "supabase",
            "database.size",
            f"database size ({label})",
            None if size is None else size / GB,
            "GB",
            Kind.SHARE,
            phase.limits.database_gb / shards,  # a shard's share of the whole database's
            phase.alerts.database_size_percent,
            "now",
            f"POST {BASE}/database/query/read-only (pg_database_size)",
            capacity=True,
        ),
        Reading(
            "supabase",
            "database.disk_used",
            f"disk used ({label})",
            None if used is None else used / GB,
            "GB",
            Kind.SHARE,
            disk_gb,
            phase.alerts.database_size_percent,
            "now",
            f"GET {BASE}/config/disk/util (fs_used_bytes); limit: GET {BASE}/config/disk",
            note="the disk grows by itself while autoscaling has headroom",
        ),
        Reading(
            "supabase",
            "database.autoscale_headroom",
            f"disk autoscale headroom ({label})",
            headroom,
            "GB",
            window="now",
            endpoint=f"GET {BASE}/config/disk/autoscale (max_size_gb - size_gb)",
        ),
        Reading(
            "supabase",
            "database.api_requests",
            f"API requests ({label})",
            sum(present) if present else None,
            "count",
            window="as Supabase reports it",
            endpoint=f"GET {BASE}/analytics/endpoints/usage.api-requests-count",
        ),
    ]


def _advisor_lints(client: ManagementClient, ref: str) -> list[dict[str, Any]] | None:
    """Both advisors' lints; None when either cannot be read."""
    try:
        return [lint for kind in ADVISOR_KINDS for lint in client.get_advisors(ref, kind)]
    except FloyoError:
        return None


ADVISOR_LEVELS = (("ERROR", "errors"), ("WARN", "warnings"), ("INFO", "info"))


def _advisor_readings(per_shard: list[list[dict[str, Any]] | None]) -> list[Reading]:
    known = all(lints is not None for lints in per_shard)
    out = []
    for level, key in ADVISOR_LEVELS:
        count = sum(1 for lints in per_shard for x in lints or [] if x.get("level") == level)
        out.append(
            Reading(
                "supabase",
                f"database.advisor_{key}",
                f"advisor findings, {level}",
                float(count) if known else None,
                "count",
                window="now",
                endpoint=f"GET {BASE}/advisors/performance and /advisors/security",
                note="" if known else "an advisor could not be read",
            )
        )
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
