"""Redis on Upstash (`cache.provider: upstash`): one serverless database, reachable over TLS
from anywhere, so Vercel functions can use it without a VPC or Vercel Secure Compute.

The database is global in Upstash's terms: its primary region is the phase's primary region
and each secondary region is a read region (spec/rules.py checks Upstash has them all).
Upstash's eviction is a switch, not a policy: any `eviction_policy` but `noeviction` turns
it on (Upstash evicts with its own algorithm). `engine`, `node_type`, `replicas` and
`global_datastore` are ElastiCache's and not used. No VPC, no alarms (CloudWatch does not
see Upstash).

`upstash_pulumi` is small (~20 ms to import) and imported whole, and only here: a phase
without an Upstash cache never loads it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pulumi
import upstash_pulumi as upstash

from ..catalog.offers import CacheDemand, cache_demand, choose_upstash_offer
from ..catalog.prices import load_prices
from ..spec.models import Cache as CacheSpec
from ..spec.models import Phase
from .common import Context
from .regions import Regions
from .upstash_plan import UpstashPlan

if TYPE_CHECKING:  # ElastiCache's SDK is never loaded for Upstash
    from ._sdk import elasticache

DATABASE_TYPE = "upstash:index/redisDatabase:RedisDatabase"


class UpstashCache(pulumi.ComponentResource):
    """Outputs for the app: `url` (secret, rediss://default:<password>@<endpoint>:<port>);
    `urls` has the primary region only (read regions share the one endpoint).

    The offer (Pay as You Go or a fixed plan) is the cheapest that fits the phase's cache
    memory, command volume and bandwidth (catalog/offers.py); the component records the
    demand and the offer in its inputs, for the estimate to price exactly this choice. On
    Pay as You Go the database's `budget` (Upstash throttles past it) is the offer's high
    monthly figure rounded up; a fixed plan is set through the Developer API (UpstashPlan).
    """

    def __init__(
        self,
        ctx: Context,
        regions: Regions,
        spec: CacheSpec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        settings = ctx.stack.stack.upstash
        if settings is None:  # spec/rules.py check_stack reports this before synthesis
            raise ValueError("cache.provider is upstash, and the stack has no upstash settings")
        self.sized = demand_for(ctx.stack.phase, len(regions.secondaries))
        self.chosen = choose_upstash_offer(load_prices(), self.sized)
        super().__init__(
            "floyo:cache:Cache",
            "cache",
            {
                "provider": "upstash",
                "offer": self.chosen.plan_name,
                "demand": self.sized.to_json(),
            },
            opts,
        )
        api_key = ctx.secret(settings.api_key)
        self.provider = upstash.Provider(
            "upstash",
            email=settings.email,
            api_key=api_key,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.database = upstash.RedisDatabase(
            "cache",
            database_name=f"{ctx.prefix}-cache",
            region="global",  # Upstash's regional databases are legacy; global takes regions
            primary_region=regions.primary,
            read_regions=list(regions.secondaries) or None,
            tls=True,
            eviction=spec.eviction_policy != "noeviction",
            budget=None if self.chosen.fixed else max(1, math.ceil(self.chosen.monthly[1])),
            opts=ctx.stateful(provider=self.provider, parent=self),
        )
        if self.chosen.fixed:
            UpstashPlan(
                "cache-plan",
                database_id=self.database.database_id,
                plan_name=self.chosen.plan_name,
                email=settings.email,
                api_key=api_key,
                opts=pulumi.ResourceOptions(parent=self.database),
            )
        # no ElastiCache: no cache alarms (Monitoring reads the same attribute of Cache)
        self.groups: dict[str, elasticache.ReplicationGroup] = {}
        self.url: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(
                self.database.password, self.database.endpoint, self.database.port
            ).apply(lambda v: f"rediss://default:{v[0]}@{v[1]}:{v[2]}")
        )
        self.urls = {regions.primary: self.url}
        self.wires = [{"variable": "REDIS_URL", "target": f"{DATABASE_TYPE}::cache"}]
        self.register_outputs({})


def demand_for(phase: Phase, read_regions: int) -> CacheDemand:
    """The phase's cache demand: users, requests per user and cache.memory_gb."""
    rpu = phase.usage.requests_per_user_month
    memory_gb = phase.cache.memory_gb if phase.cache is not None else None
    return cache_demand(
        users=(phase.users.min, phase.users.max),
        requests_per_user=(rpu.low, rpu.high),
        memory_gb=float(memory_gb or 0),
        read_regions=read_regions,
    )
