"""The program's body: components in dependency order, wired through their outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pulumi

from ..spec import ResolvedStack
from .common import Context
from .database import Database
from .monitoring import Monitoring
from .regions import Regions
from .storage import Storage
from .web import Web, app_settings

if TYPE_CHECKING:
    from .cache import Cache
    from .upstash import UpstashCache


def build(stack: ResolvedStack, secrets: Mapping[str, str]) -> None:
    ctx = Context(stack, secrets)
    phase = stack.phase
    regions = Regions(ctx)
    storage = Storage(ctx, regions)
    database = Database(ctx)
    cache: Cache | UpstashCache | None = None
    if phase.cache is not None and phase.cache.provider == "upstash":
        from .upstash import UpstashCache  # the Upstash SDK only when a phase uses it

        cache = UpstashCache(ctx, regions, phase.cache)
    elif phase.cache is not None:
        from .cache import Cache  # ElastiCache and the VPC only when the phase has a cache

        cache = Cache(ctx, regions, phase.cache)
    Monitoring(ctx, regions, storage.buckets, cache.groups if cache else {})

    env: dict[str, pulumi.Input[str]] = {**app_settings(ctx), "AWS_REGION": regions.primary}
    for name, bucket in storage.bucket_names.items():
        env[f"S3_BUCKET_{name.upper().replace('-', '_')}"] = bucket
    secret_env: dict[str, pulumi.Input[str]] = {"DATABASE_URL": database.pooler_urls[0]}
    if phase.database.read_replicas:
        secret_env["DATABASE_REPLICA_URLS"] = database.replica_urls[0]
    if len(database.projects) > 1:
        env["FLOYO_SHARD_MAP"] = database.shard_map
        for i, url in enumerate(database.pooler_urls):
            secret_env[f"DATABASE_URL_SHARD_{i}"] = url
            if phase.database.read_replicas:
                secret_env[f"DATABASE_REPLICA_URLS_SHARD_{i}"] = database.replica_urls[i]
    if cache is not None:
        secret_env["REDIS_URL"] = cache.url
        for region, url in cache.urls.items():
            if region != regions.primary:
                secret_env[f"REDIS_URL_{region.upper().replace('-', '_')}"] = url
    web = Web(ctx, env, secret_env)

    pulumi.export("phase", stack.phase_name)
    pulumi.export("vercel_project_id", web.project.id)
    pulumi.export("supabase_project_refs", [p.ref for p in database.projects])
    pulumi.export("buckets", storage.bucket_names)
    pulumi.export("database_url", pulumi.Output.secret(database.pooler_urls[0]))
    # Each shard's direct connection, for `floyo-scale db` (DDL and long COPYs need a session,
    # which the transaction pooler does not give).
    pulumi.export(
        "database_direct_urls",
        pulumi.Output.secret(pulumi.Output.all(*[p.connection_string for p in database.projects])),
    )
    if cache is not None:
        pulumi.export("redis_url", cache.url)
