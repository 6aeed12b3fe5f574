"""Which database region each Vercel function region reads from: the nearest of the primary's
region and its read replicas' (docs/program.md, "Reads near the user").

Data: each Vercel function region runs in one AWS region (facts.VERCEL_REGIONS, from
vercel.com/docs/regions); AWS regions are grouped into areas, and areas have approximate
round-trip times between them, rounded from public inter-region measurements
(https://www.cloudping.co/grid, medians, read 2026-12-07; they move by tens of ms from day
to day: a guide to the order of magnitude, not a promise).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from .facts import VERCEL_REGIONS

#: AWS region -> area
AREAS: dict[str, str] = {
    "us-east-1": "north_america", "us-east-2": "north_america", "us-west-1": "north_america",
    "us-west-2": "north_america", "ca-central-1": "north_america",
    "sa-east-1": "south_america",
    "eu-west-1": "europe", "eu-west-2": "europe", "eu-west-3": "europe",
    "eu-central-1": "europe", "eu-central-2": "europe", "eu-north-1": "europe",
    "eu-south-1": "europe",
    "ap-south-1": "asia", "ap-northeast-1": "asia", "ap-northeast-2": "asia",
    "ap-northeast-3": "asia", "ap-southeast-1": "asia", "ap-east-1": "asia",
    "ap-southeast-2": "oceania",
    "af-south-1": "africa",
    "me-central-1": "middle_east", "me-south-1": "middle_east",
}  # fmt: skip

SAME_REGION_MS = 1
SAME_AREA_MS = 30  # e.g. eu-west-1 <-> eu-central-1 ~25 ms, us-east-1 <-> us-west-2 ~65 ms

#: approximate round trip between areas, ms (either order)
AREA_RTT_MS: dict[frozenset[str], int] = {
    frozenset({"north_america", "europe"}): 75,
    frozenset({"north_america", "asia"}): 210,
    frozenset({"north_america", "south_america"}): 115,
    frozenset({"north_america", "oceania"}): 200,
    frozenset({"north_america", "africa"}): 230,
    frozenset({"north_america", "middle_east"}): 180,
    frozenset({"europe", "asia"}): 160,
    frozenset({"europe", "south_america"}): 190,
    frozenset({"europe", "oceania"}): 260,
    frozenset({"europe", "africa"}): 150,
    frozenset({"europe", "middle_east"}): 100,
    frozenset({"asia", "oceania"}): 100,
    frozenset({"asia", "south_america"}): 320,
    frozenset({"asia", "africa"}): 270,
    frozenset({"asia", "middle_east"}): 90,
    frozenset({"oceania", "south_america"}): 300,
    frozenset({"oceania", "africa"}): 400,
    frozenset({"oceania", "middle_east"}): 190,
    frozenset({"south_america", "africa"}): 340,
    frozenset({"south_america", "middle_east"}): 280,
    frozenset({"africa", "middle_east"}): 180,
}
FAR_MS = 300  # areas the table does not pair


def round_trip_ms(a: str, b: str) -> int:
    """Approximate round trip between two AWS regions, ms."""
    if a == b:
        return SAME_REGION_MS
    area_a, area_b = AREAS.get(a), AREAS.get(b)
    if area_a is not None and area_a == area_b:
        return SAME_AREA_MS
    if area_a is None or area_b is None:
        return FAR_MS
    return AREA_RTT_MS.get(frozenset({area_a, area_b}), FAR_MS)


def read_routes(
    function_regions: Iterable[str], primary: str, replica_regions: Iterable[str]
) -> dict[str, str]:
    """Vercel function region -> the AWS region its reads go to: the nearest replica's region,
    or the primary's when no replica is nearer (the primary serves reads too). Ties go to a
    replica (reads off the primary), then to the region listed first."""
    replicas = list(dict.fromkeys(replica_regions))
    routes = {}
    for function in function_regions:
        here = VERCEL_REGIONS.get(function, function)
        candidates = [*replicas, primary]
        routes[function] = min(candidates, key=lambda r: round_trip_ms(here, r))
    return routes


def far_reads(
    function_regions: Iterable[str], primary: str, replica_regions: Iterable[str]
) -> list[tuple[str, str, int]]:
    """(function region, database region, round trip ms) for each function region whose
    nearest database is outside its area: every query from there pays that round trip."""
    far = []
    for function, target in read_routes(function_regions, primary, replica_regions).items():
        rtt = round_trip_ms(VERCEL_REGIONS.get(function, function), target)
        if rtt > SAME_AREA_MS:
            far.append((function, target, rtt))
    return far


def read_url(env: Mapping[str, str], shard: int | None = None) -> str | None:
    """The app's choice, the Python twin of `readUrl` in docs/program.md (same vectors): the
    replica that FLOYO_READ_ROUTES names for VERCEL_REGION, from DATABASE_REPLICA_URLS (or
    `_SHARD_<n>`), else the primary (DATABASE_URL, or `DATABASE_URL_SHARD_<n>`)."""
    suffix = "" if shard is None else f"_SHARD_{shard}"
    primary = env.get(f"DATABASE_URL{suffix}")
    routes = json.loads(env.get("FLOYO_READ_ROUTES") or "{}")
    replicas = json.loads(env.get(f"DATABASE_REPLICA_URLS{suffix}") or "{}")
    target = routes.get(env.get("VERCEL_REGION") or "")
    return (replicas.get(target) if target is not None else None) or primary
