"""Which Upstash Redis offer a phase's cache runs on: the cheapest that fits.

    demand = cache_demand(users=(1000, 10000), requests_per_user=(2000, 5000),
                          memory_gb=0.5, read_regions=0)
    offer = choose_upstash_offer(load_prices(), demand)   # -> fixed_1gb, $20 a month

The program builds the chosen offer (infra/upstash.py) and the estimate prices it
(cost rules), both through this one function, so `plan` and `cost` cannot disagree on it.

An offer fits when the phase's cache memory is within its data size, the bandwidth at the
HIGH end of the phase's usage is within its monthly bandwidth (fixed plans) and the peak
command rate is within its limit. Of the offers that fit, the one cheapest at the high end
is chosen (a tie goes to the one cheaper at the low end, then to Pay as You Go, which
costs nothing when idle). Pay as You Go fits any bandwidth: it bills what it uses.

Stdlib only (the catalog layer imports nothing of ours but the catalog).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .prices import PriceCatalog, PriceEntry

COMMANDS_PER_REQUEST = 1.0
"""Redis commands per app request: an API request reads the cache (and writes it on a
miss), while static files, counted among the requests too, touch no cache; one in all."""

KB_PER_COMMAND = 1.0
"""Average bytes moved per command (request and reply), in KB: cached API responses and
query results of a few KB, sessions and counters of a few bytes."""

PEAK_TO_AVERAGE = 10.0
"""The busiest second carries this many times the month's average command rate."""

OPEN_ENDED_USERS_FACTOR = 2
"""A phase with no upper user bound (enterprise: 100K+) is sized up to this × its minimum."""

SECONDS_PER_MONTH = 730 * 3600
KB_PER_GB = 1_000_000

PAYG = "upstash.redis.payg_100k_commands"
PAYG_STORAGE = "upstash.redis.payg_storage_gb"
PAYG_BANDWIDTH = "upstash.redis.payg_bandwidth_gb"
FIXED = "upstash.redis.fixed"


@dataclass(frozen=True)
class CacheDemand:
    """What a phase asks of its cache in a month, low and high."""

    memory_gb: float
    commands: tuple[float, float]
    bandwidth_gb: tuple[float, float]
    read_regions: int = 0

    @property
    def peak_commands_per_second(self) -> float:
        return self.commands[1] / SECONDS_PER_MONTH * PEAK_TO_AVERAGE

    def to_json(self) -> dict[str, object]:
        return {
            "memory_gb": self.memory_gb,
            "commands": list(self.commands),
            "bandwidth_gb": list(self.bandwidth_gb),
            "read_regions": self.read_regions,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CacheDemand:
        """From `to_json`'s form, as recorded in the stack's state (decoded JSON)."""
        lo_c, hi_c = data["commands"]
        lo_b, hi_b = data["bandwidth_gb"]
        return cls(
            float(data["memory_gb"]),
            (float(lo_c), float(hi_c)),
            (float(lo_b), float(hi_b)),
            int(data.get("read_regions") or 0),
        )


@dataclass(frozen=True)
class UpstashOffer:
    """One offer priced for a demand: `monthly` (low, high) USD, whether it `fits`, and why
    not (`misfit`)."""

    plan_name: str  # the Developer API's plan_name: payg, fixed_250mb, ...
    key: str  # its catalog key
    monthly: tuple[float, float]
    fits: bool
    misfit: str = ""

    @property
    def fixed(self) -> bool:
        return self.plan_name != "payg"


def users_span(users_min: int, users_max: int | None) -> tuple[float, float]:
    high = users_max if users_max is not None else OPEN_ENDED_USERS_FACTOR * users_min
    return float(users_min), float(high)


def cache_demand(
    *,
    users: tuple[int, int | None],
    requests_per_user: tuple[float, float],
    memory_gb: float,
    read_regions: int = 0,
) -> CacheDemand:
    """A phase's cache demand from its users, requests per user and cache memory."""
    low_users, high_users = users_span(*users)
    commands = (
        requests_per_user[0] * low_users * COMMANDS_PER_REQUEST,
        requests_per_user[1] * high_users * COMMANDS_PER_REQUEST,
    )
    bandwidth = (commands[0] * KB_PER_COMMAND / KB_PER_GB, commands[1] * KB_PER_COMMAND / KB_PER_GB)
    return CacheDemand(memory_gb, commands, bandwidth, read_regions)


def upstash_offers(catalog: PriceCatalog, demand: CacheDemand) -> list[UpstashOffer]:
    """Every Upstash offer in the catalog, priced for `demand`, Pay as You Go first."""
    return [_payg(catalog, demand), *(_fixed(e, demand) for e in catalog.entries(FIXED))]


def choose_upstash_offer(catalog: PriceCatalog, demand: CacheDemand) -> UpstashOffer:
    """The cheapest offer (at the high end) that fits; ValueError when none does."""
    offers = upstash_offers(catalog, demand)
    fitting = [o for o in offers if o.fits]
    if not fitting:
        reasons = "; ".join(f"{o.plan_name}: {o.misfit}" for o in offers)
        raise ValueError(f"no Upstash offer fits this cache ({reasons})")
    return min(fitting, key=lambda o: (o.monthly[1], o.monthly[0], o.fixed))


def payg_costs(catalog: PriceCatalog, demand: CacheDemand) -> dict[str, tuple[float, float]]:
    """Pay as You Go, item by item: commands (every write replicated to each read region is
    billed there too: counted as one more command per read region, an upper bound), storage
    beyond the included GB, bandwidth beyond the included GB."""
    commands, storage, bandwidth = (
        catalog.get(PAYG),
        catalog.get(PAYG_STORAGE),
        catalog.get(PAYG_BANDWIDTH),
    )
    per_command = (commands.price or 0.0) / 100_000
    factor = 1 + demand.read_regions
    stored = max(0.0, demand.memory_gb - float(storage.extra.get("included_gb", 0)))
    free_bw = float(bandwidth.extra.get("included_gb", 0))
    return {
        "commands": (
            demand.commands[0] * factor * per_command,
            demand.commands[1] * factor * per_command,
        ),
        "storage": (stored * (storage.price or 0.0),) * 2,
        "bandwidth": (
            max(0.0, demand.bandwidth_gb[0] - free_bw) * (bandwidth.price or 0.0),
            max(0.0, demand.bandwidth_gb[1] - free_bw) * (bandwidth.price or 0.0),
        ),
    }


def _payg(catalog: PriceCatalog, demand: CacheDemand) -> UpstashOffer:
    items = payg_costs(catalog, demand).values()
    low = round(sum(i[0] for i in items), 2)
    high = round(sum(i[1] for i in items), 2)
    limits = catalog.get(PAYG_BANDWIDTH).extra
    misfit = _misfit(
        demand,
        data_gb=float(limits.get("max_data_gb", 0)),
        bandwidth_gb=None,
        max_cps=float(limits.get("max_commands_per_second", 0)),
    )
    return UpstashOffer("payg", PAYG, (low, high), not misfit, misfit)


def _fixed(entry: PriceEntry, demand: CacheDemand) -> UpstashOffer:
    extra = entry.extra
    price = (entry.price or 0.0) + demand.read_regions * float(extra.get("read_region_price", 0))
    misfit = _misfit(
        demand,
        data_gb=float(extra["data_gb"]),
        bandwidth_gb=float(extra["bandwidth_gb"]),
        max_cps=float(extra.get("max_commands_per_second", 0)),
    )
    name = str(extra.get("plan_name", entry.name))
    return UpstashOffer(name, entry.key, (round(price, 2), round(price, 2)), not misfit, misfit)


def _misfit(
    demand: CacheDemand, *, data_gb: float, bandwidth_gb: float | None, max_cps: float
) -> str:
    if demand.memory_gb > data_gb:
        return f"{demand.memory_gb:g} GB of data over its {data_gb:g} GB"
    if bandwidth_gb is not None and demand.bandwidth_gb[1] > bandwidth_gb:
        return f"{demand.bandwidth_gb[1]:,.0f} GB of bandwidth over its {bandwidth_gb:,.0f} GB"
    if max_cps and demand.peak_commands_per_second > max_cps:
        return f"{demand.peak_commands_per_second:,.0f} commands/s at peak over its {max_cps:,.0f}"
    return ""
