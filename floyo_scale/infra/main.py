"""The program's body: components in dependency order, wired through their outputs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_random as random

from ..catalog.facts import app_login_role
from ..catalog.regions import read_routes
from ..spec import ResolvedStack
from .access import AppAccess, permissions_boundary
from .common import Context, as_app, as_app_map
from .database import Database
from .monitoring import Monitoring
from .regions import Regions
from .storage import Storage
from .web import ROLE_ENV, Web, app_settings, limits

if TYPE_CHECKING:
    from .cache import Cache
    from .cdn import Cdn
    from .upstash import UpstashCache


def active_database(stack: ResolvedStack) -> str:
    """Which database the app's DATABASE_URL names: the stack config `floyo:database_active`
    (`db migrate` sets it at the switch-over), else `database.active`, else Supabase while it
    is kept for a migration, else the provider."""
    db = stack.phase.database
    chosen = pulumi.Config("floyo").get("database_active") or db.active
    if chosen in ("supabase", "rds"):
        if chosen == "supabase" and not (db.provider == "supabase" or db.keep_supabase):
            return db.provider
        if chosen == "rds" and db.provider != "rds":
            return db.provider
        return chosen
    return "supabase" if db.keep_supabase else db.provider


ROUTES_ENV = "FLOYO_READ_ROUTES"  # JSON: Vercel function region -> database region to read
CDN_ENV = "FILES_CDN_URL"  # https://<distribution>.cloudfront.net: where browsers fetch files
_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"


def _files_cdn(
    ctx: Context, regions: Regions, storage: Storage, role_arn: pulumi.Output[str]
) -> Cdn | None:
    """The CloudFront distribution of the bucket whose spec asks for one (at most one:
    spec/rules.py), and that bucket's policy: the distribution (OAC) and the app's role."""
    from .cdn import Cdn, oac_statement  # CloudFront's SDK modules only when a phase uses it
    from .storage import app_statement

    served = [(n, b.cdn) for n, b in ctx.stack.phase.storage.buckets.items() if b.cdn]
    if not served:
        return None
    name, spec = served[0]
    bucket = storage.buckets[name]
    cdn = Cdn(ctx, regions, name, bucket, spec)
    storage.add_statements(
        name,
        pulumi.Output.all(bucket.arn, cdn.arn).apply(lambda a: oac_statement(*a)),
        pulumi.Output.all(bucket.arn, role_arn).apply(lambda a: app_statement(*a)),
    )
    return cdn


def build(
    stack: ResolvedStack,
    secrets: Mapping[str, str],
    release: Mapping[str, Any] | None = None,
    aws_budget_usd: float | None = None,
) -> None:
    ctx = Context(stack, secrets, aws_budget_usd)
    phase = stack.phase
    regions = Regions(ctx)
    # before any role: the boundary every role the program creates is bounded by
    ctx = dataclasses.replace(ctx, boundary=permissions_boundary(ctx, regions))
    # The app connects as a least-privilege login role, never as `postgres` or the RDS master
    # user: the password is generated here (a new one per app_password_generation) and
    # `floyo-scale db app-role` creates the role with it (db/roles.py, docs/db.md).
    generation = stack.stack.app_password_generation
    app_password = random.RandomPassword(
        "app-database-password",
        length=40,
        special=False,  # safe in a URL; the length gives the strength
        keepers={"generation": str(generation)},
    )
    ctx = dataclasses.replace(
        ctx, app_login=app_login_role(generation), app_password=app_password.result
    )
    storage = Storage(ctx, regions)
    db = phase.database
    # Supabase while it is the provider, and during a migration to RDS (the source and the
    # way back) until `db migrate --finalize` and `keep_supabase` removed
    supabase = Database(ctx) if db.provider == "supabase" or db.keep_supabase else None
    rds = None
    if db.provider == "rds":
        from .rds import RdsDatabase  # the RDS SDK modules only when a phase uses them

        rds = RdsDatabase(ctx, regions)
    database = rds if active_database(stack) == "rds" else supabase
    assert database is not None  # spec/rules.py: `active` names a database that exists
    cache: Cache | UpstashCache | None = None
    if phase.cache is not None and phase.cache.provider == "upstash":
        from .upstash import UpstashCache  # the Upstash SDK only when a phase uses it

        cache = UpstashCache(ctx, regions, phase.cache)
    elif phase.cache is not None:
        from .cache import Cache  # ElastiCache and the VPC only when the phase has a cache

        cache = Cache(ctx, regions, phase.cache)
    monitoring = Monitoring(ctx, regions, storage.buckets, cache.groups if cache else {})

    env: dict[str, pulumi.Input[str]] = {**app_settings(ctx), "AWS_REGION": regions.primary}
    # What the app is handed, and what each variable leads to: recorded in the Web
    # component's inputs, so reachability is checked offline (guards.reachability).
    wires: list[dict[str, str]] = []
    bucket_type = "aws:s3/bucket:Bucket"
    for name, bucket in storage.bucket_names.items():
        variable = f"S3_BUCKET_{name.upper().replace('-', '_')}"
        env[variable] = bucket
        wires.append(
            {"variable": variable, "target": f"{bucket_type}::{name}", "credentials": ROLE_ENV}
        )
    cdn: Cdn | None = None
    if storage.bucket_names:
        archives = {
            part.archive_bucket
            for part in phase.database.partitioning.values()
            if part.archive_bucket is not None
        }
        access = AppAccess(ctx, regions, storage.bucket_names, read_only=archives)
        env[ROLE_ENV] = access.role_arn
        cdn = _files_cdn(ctx, regions, storage, access.role_arn)
        if cdn is not None:
            env[CDN_ENV] = cdn.url
            # browsers fetch FILES_CDN_URL; the check follows it to the distribution
            wires.append({"variable": CDN_ENV, "target": f"{_DISTRIBUTION}::{cdn.bucket_name}"})
    targets = database.wire_targets
    wires.append({"variable": "DATABASE_URL", "target": targets[0]})
    if len(targets) > 1:
        wires += [
            {"variable": f"DATABASE_URL_SHARD_{i}", "target": target}
            for i, target in enumerate(targets)
        ]
    if cache is not None:
        wires += cache.wires

    def app(urls: pulumi.Input[str]) -> pulumi.Output[str]:
        """The app's connection strings: its own login role and password."""
        login = ctx.app_login or ""
        return pulumi.Output.secret(
            pulumi.Output.all(urls, app_password.result).apply(lambda v: as_app(v[0], login, v[1]))
        )

    def app_map(urls: pulumi.Input[str]) -> pulumi.Output[str]:
        """A region -> URL map (JSON) of replicas, each with the app's login role."""
        login = ctx.app_login or ""
        return pulumi.Output.secret(
            pulumi.Output.all(urls, app_password.result).apply(
                lambda v: as_app_map(v[0], login, v[1])
            )
        )

    secret_env: dict[str, pulumi.Input[str]] = {"DATABASE_URL": app(database.pooler_urls[0])}
    if phase.database.read_replicas:
        secret_env["DATABASE_REPLICA_URLS"] = app_map(database.replica_urls[0])
        # function region -> the database region its reads go to (catalog/regions.py): the
        # app picks DATABASE_REPLICA_URLS[routes[VERCEL_REGION]], else the primary
        env[ROUTES_ENV] = json.dumps(
            read_routes(
                phase.web.function_regions,
                phase.regions.primary,
                [r.region for r in phase.database.read_replicas],
            ),
            sort_keys=True,
        )
    if len(database.pooler_urls) > 1:
        env["FLOYO_SHARD_MAP"] = database.shard_map
        for i, url in enumerate(database.pooler_urls):
            secret_env[f"DATABASE_URL_SHARD_{i}"] = app(url)
            if phase.database.read_replicas:
                secret_env[f"DATABASE_REPLICA_URLS_SHARD_{i}"] = app_map(database.replica_urls[i])
    other = supabase if database is rds else rds
    if other is not None:
        # During a migration: where to reconnect when the database refuses a write with
        # SQLSTATE FLY03 ("no longer the one the app writes to"), so the switch-over needs
        # no redeploy (docs/migration.md)
        secret_env["DATABASE_URL_OTHER"] = app(other.pooler_urls[0])
        if len(other.pooler_urls) > 1:
            for i, url in enumerate(other.pooler_urls):
                secret_env[f"DATABASE_URL_SHARD_{i}_OTHER"] = app(url)
    if cache is not None:
        secret_env["REDIS_URL"] = cache.url
        for region, url in cache.urls.items():
            if region != regions.primary:
                secret_env[f"REDIS_URL_{region.upper().replace('-', '_')}"] = url
    storage.finish_policies()  # every bucket's one policy, its statements composed
    web = Web(ctx, env, secret_env, wires)

    pulumi.export("phase", stack.phase_name)
    if release is not None:  # what this update runs (engine/release.py; `promote` reads it)
        pulumi.export("floyo_release", dict(release))
    pulumi.export("vercel_project_id", web.project.id)
    pulumi.export("database_active", active_database(stack))
    if supabase is not None:
        pulumi.export("supabase_project_refs", [p.ref for p in supabase.projects])
    pulumi.export("buckets", storage.bucket_names)
    # the alert topics (auto-named: only the state knows their ARNs), whose e-mail
    # subscriptions `up` and `status` list until each address confirms
    pulumi.export("alert_topics", {r: t.arn for r, t in monitoring.topics.items()})
    # domain -> Route 53 health check id (assigned by Route 53): what `status` reads uptime of
    pulumi.export("uptime_checks", monitoring.health_checks)
    pulumi.export("limits", limits(stack.phase))
    pulumi.export("database_url", pulumi.Output.secret(database.pooler_urls[0]))
    # what `floyo-scale db app-role` creates in the database (db/roles.py)
    pulumi.export("app_database_user", ctx.app_login)
    pulumi.export("app_database_password", pulumi.Output.secret(app_password.result))
    # Each shard's direct connection, for `floyo-scale db` (DDL and long COPYs need a session,
    # which the transaction pooler does not give).
    direct: dict[str, pulumi.Output[Any]] = {
        name: pulumi.Output.secret(pulumi.Output.all(*urls))
        for name, urls in (
            ("supabase", [p.connection_string for p in supabase.projects] if supabase else None),
            ("rds", rds.connection_strings if rds else None),
        )
        if urls is not None
    }
    pulumi.export("database_direct_urls", direct[active_database(stack)])
    if len(direct) > 1:  # during a migration: `db migrate` reads both
        for name, urls in direct.items():
            pulumi.export(f"{name}_direct_urls", urls)
    if cache is not None:
        pulumi.export("redis_url", cache.url)
    if cdn is not None:  # for `status` to read AWS/CloudFront (DistributionId) one day
        pulumi.export("files_cdn", {"url": cdn.url, "distribution_id": cdn.distribution.id})
