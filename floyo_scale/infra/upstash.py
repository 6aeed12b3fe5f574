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

import pulumi
import upstash_pulumi as upstash

from ..spec.models import Cache as CacheSpec
from .common import Context
from .regions import Regions

DATABASE_TYPE = "upstash:index/redisDatabase:RedisDatabase"


class UpstashCache(pulumi.ComponentResource):
    """Outputs for the app: `url` (secret, rediss://default:<password>@<endpoint>:<port>);
    `urls` has the primary region only (read regions share the one endpoint)."""

    def __init__(self, ctx: Context, regions: Regions, spec: CacheSpec, opts=None) -> None:
        super().__init__("floyo:cache:Cache", "cache", {"provider": "upstash"}, opts)
        settings = ctx.stack.stack.upstash
        if settings is None:  # spec/rules.py check_stack reports this before synthesis
            raise ValueError("cache.provider is upstash, and the stack has no upstash settings")
        self.provider = upstash.Provider(
            "upstash",
            email=settings.email,
            api_key=ctx.secret(settings.api_key),
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
            opts=ctx.stateful(provider=self.provider, parent=self),
        )
        self.groups: dict[str, pulumi.Resource] = {}  # no ElastiCache: no cache alarms
        self.url: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(
                self.database.password, self.database.endpoint, self.database.port
            ).apply(lambda v: f"rediss://default:{v[0]}@{v[1]}:{v[2]}")
        )
        self.urls = {regions.primary: self.url}
        self.register_outputs({})
