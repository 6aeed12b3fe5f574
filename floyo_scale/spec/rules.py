"""Capability rules: what the providers accept, checked across fields after the models pass.

Each rule returns (key path, message, hint). Numbers come from catalog/facts.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

from ..catalog import facts
from .models import PRODUCTION_STACK, Phase, Stack

Finding = tuple[tuple[str | int, ...], str, str | None]


def check_phase(phase: Phase) -> list[Finding]:
    return [
        *_database(phase),
        *_regions(phase),
        *_web(phase),
        *_cache(phase),
        *_storage(phase),
        *_rds(phase),
    ]


def _rds(phase: Phase) -> Iterator[Finding]:
    """Dedicated PostgreSQL: its settings present, reachable the way the spec says."""
    db = phase.database
    if db.provider == "rds" and db.rds is None:
        yield (
            ("database", "rds"),
            "database.provider is rds but database.rds is not set",
            "add database.rds {instance_class, access, allowed_cidrs} (docs/migration.md)",
        )
    if db.provider == "supabase" and db.keep_supabase:
        yield (
            ("database", "keep_supabase"),
            "keep_supabase only applies with provider: rds",
            "remove database.keep_supabase",
        )
    if db.active is not None and db.active != db.provider and not db.keep_supabase:
        yield (
            ("database", "active"),
            f"active is {db.active} but only {db.provider} exists",
            "remove database.active, or set keep_supabase: true during a migration",
        )
    supabase = db.provider == "supabase" or db.keep_supabase
    if supabase and db.postgres_version != facts.SUPABASE_POSTGRES_MAJOR:
        # The Supabase create body has no version field (V1CreateProjectBody,
        # additionalProperties: false) and Supabase creates its default major; pg_dump of that
        # major writes SQL an older server refuses (`SET transaction_timeout`, new in 17), and
        # `db migrate` loads the schema with ON_ERROR_STOP. One major for the whole stack.
        yield (
            ("database", "postgres_version"),
            f"postgres_version is {db.postgres_version}, but Supabase creates PostgreSQL "
            f"{facts.SUPABASE_POSTGRES_MAJOR} projects (its API has no version to choose), "
            "so the RDS target, its parameter family and the `db` tools would disagree with "
            "the database they copy from",
            f"set database.postgres_version: {facts.SUPABASE_POSTGRES_MAJOR} (or remove it)",
        )
    if db.rds is None:
        return
    rds = db.rds
    if rds.access == "secure_compute" and phase.web.vercel_plan != "enterprise":
        yield (
            ("database", "rds", "access"),
            "Vercel Secure Compute is an Enterprise feature; on the "
            f"{phase.web.vercel_plan} plan the app cannot reach a private database",
            "set web.vercel_plan: enterprise, or database.rds.access: public_tls",
        )
    if rds.proxy and rds.access != "secure_compute":
        yield (
            ("database", "rds", "proxy"),
            "RDS Proxy is reachable only from inside its VPC; with access: public_tls the app "
            "could not use it",
            "set proxy: false (pool in the app, or keep transaction pooling elsewhere), or "
            "access: secure_compute",
        )
    if rds.max_storage_gb is not None and rds.max_storage_gb <= rds.storage_gb:
        yield (
            ("database", "rds", "max_storage_gb"),
            f"max_storage_gb ({rds.max_storage_gb}) must be above storage_gb ({rds.storage_gb})",
            "raise max_storage_gb, or set it to null to turn autoscaling off",
        )
    import ipaddress

    for i, cidr in enumerate(rds.allowed_cidrs):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield (
                ("database", "rds", "allowed_cidrs", i),
                f"not a CIDR block: {cidr!r} ({exc})",
                "write a network such as 203.0.113.0/24",
            )


def _database(phase: Phase) -> Iterator[Finding]:
    db = phase.database
    if db.plan == "free" and db.compute not in facts.FREE_PLAN_COMPUTE:
        yield (
            ("database", "compute"),
            f"compute {db.compute!r} needs a paid Supabase plan; the free plan runs nano or micro",
            "set database.plan to pro, or database.compute to micro",
        )
    if db.plan == "free" and db.pitr_days:
        yield (
            ("database", "pitr_days"),
            "point-in-time recovery needs a paid Supabase plan",
            "set database.plan to pro, or pitr_days to 0",
        )
    if db.pitr_days and not facts.compute_at_least(db.compute, facts.PITR_MIN_COMPUTE):
        yield (
            ("database", "pitr_days"),
            f"point-in-time recovery needs compute {facts.PITR_MIN_COMPUTE} or larger, "
            f"not {db.compute!r}",
            f"set database.compute to {facts.PITR_MIN_COMPUTE} or larger",
        )
    if db.plan not in facts.SUPABASE_PLANS[1:] and db.sharding:
        yield (
            ("database", "sharding"),
            f"sharding needs a paid Supabase plan, not {db.plan!r}",
            "set database.plan to pro (or higher), or remove database.sharding",
        )
    replicas = db.read_replicas
    if not replicas:
        return
    if db.plan not in facts.REPLICA_PLANS:
        yield (
            ("database", "read_replicas"),
            f"read replicas need a Supabase Pro, Team or Enterprise plan, not {db.plan!r}",
            "set database.plan to pro (or higher), or remove database.read_replicas",
        )
    if not facts.compute_at_least(db.compute, facts.REPLICA_MIN_COMPUTE):
        yield (
            ("database", "compute"),
            f"read replicas need compute {facts.REPLICA_MIN_COMPUTE} or larger, not {db.compute!r}",
            f"set database.compute to {facts.REPLICA_MIN_COMPUTE} or larger",
        )
    at_xl = facts.compute_at_least(db.compute, facts.REPLICA_XL)
    limit = facts.REPLICA_MAX_AT_XL if at_xl else facts.REPLICA_MAX_BELOW_XL
    if len(replicas) > limit:
        yield (
            ("database", "read_replicas"),
            f"{len(replicas)} read replicas; compute {db.compute!r} allows at most {limit}",
            "compute xlarge and above allows 5"
            if not at_xl
            else "remove replicas; Supabase allows 5 at most",
        )
    for i, replica in enumerate(replicas):
        if replica.region not in facts.SUPABASE_REGIONS:
            yield (
                ("database", "read_replicas", i, "region"),
                f"Supabase has no region {replica.region!r}",
                "Supabase regions: " + ", ".join(facts.SUPABASE_REGIONS),
            )


def _regions(phase: Phase) -> Iterator[Finding]:
    regions = phase.regions
    if regions.primary not in facts.SUPABASE_REGIONS:
        yield (
            ("regions", "primary"),
            "the primary region hosts the database, and Supabase has no region "
            f"{regions.primary!r}",
            "Supabase regions: " + ", ".join(facts.SUPABASE_REGIONS),
        )
    for i, region in enumerate(regions.secondaries):
        if region == regions.primary:
            yield (
                ("regions", "secondaries", i),
                f"got {region!r}: the primary region is not also a secondary",
                f"remove {region} from regions.secondaries",
            )
    yield from _duplicates(("regions", "secondaries"), regions.secondaries, "region")


def _web(phase: Phase) -> Iterator[Finding]:
    web = phase.web
    limit = facts.VERCEL_MAX_FUNCTION_REGIONS[web.vercel_plan]
    if len(web.function_regions) > limit:
        yield (
            ("web", "function_regions"),
            f"{len(web.function_regions)} function regions; "
            f"the Vercel {web.vercel_plan} plan allows {limit}",
            "use fewer regions, or a higher web.vercel_plan",
        )
    yield from _duplicates(("web", "function_regions"), web.function_regions, "function region")
    if web.function_failover and web.vercel_plan != "enterprise":
        yield (
            ("web", "function_failover"),
            "function failover is an Enterprise feature",
            "set web.vercel_plan to enterprise",
        )
    if web.secure_compute is not None and web.vercel_plan != "enterprise":
        yield (
            ("web", "secure_compute"),
            "Vercel Secure Compute is an Enterprise feature",
            "set web.vercel_plan to enterprise, or remove web.secure_compute",
        )


def _cache(phase: Phase) -> Iterator[Finding]:
    cache = phase.cache
    if cache is None:
        return
    if cache.provider == "upstash":
        yield from _upstash(phase)
        return
    yield from _elasticache_reach(phase)
    if cache.node_type is None:
        yield (
            ("cache", "node_type"),
            "an ElastiCache cache needs a node type",
            "set cache.node_type (e.g. cache.t4g.micro), or cache.provider: upstash",
        )
    if not cache.global_datastore:
        return
    if not phase.regions.secondaries:
        yield (
            ("cache", "global_datastore"),
            "a global datastore spans regions, and this phase has no secondary region",
            "add regions.secondaries, or set cache.global_datastore to false",
        )
    if len(phase.regions.secondaries) > facts.GLOBAL_DATASTORE_MAX_SECONDARIES:
        yield (
            ("cache", "global_datastore"),
            f"a global datastore has at most {facts.GLOBAL_DATASTORE_MAX_SECONDARIES} "
            f"secondary regions; this phase has {len(phase.regions.secondaries)}",
            "list at most two regions.secondaries, or set cache.global_datastore to false",
        )
    if cache.node_type is not None and not facts.is_global_datastore_node(cache.node_type):
        yield (
            ("cache", "node_type"),
            f"a global datastore needs large-or-bigger nodes, not {cache.node_type!r}",
            "use cache.r7g.large or cache.m7g.large",
        )


def _cache_regions(phase: Phase) -> list[str]:
    """The regions an ElastiCache cache has a replication group (and a VPC) in."""
    cache = phase.cache
    spans = cache is not None and cache.global_datastore
    return [phase.regions.primary, *(phase.regions.secondaries if spans else [])]


def _elasticache_reach(phase: Phase) -> Iterator[Finding]:
    """ElastiCache listens only inside its VPC; Vercel functions get into a VPC only through
    a Secure Compute network peered with it (docs/program.md, "Reachability")."""
    secure = phase.web.secure_compute
    if secure is None:
        yield (
            ("cache", "provider"),
            "Vercel functions cannot reach an ElastiCache cache (it listens only inside its "
            "VPC) without Vercel Secure Compute, and web.secure_compute is not set",
            "set cache.provider: upstash (serverless Redis over TLS, the default); or, on "
            "Vercel Enterprise, set web.secure_compute {network_id, cidr, "
            "peering_connections} with the identifiers Vercel gives",
        )
        return
    network = ipaddress.IPv4Network(secure.cidr)
    for index, region in enumerate(_cache_regions(phase)):
        vpc = ipaddress.IPv4Network(facts.cache_vpc_cidr(index))
        if network.overlaps(vpc):
            yield (
                ("web", "secure_compute", "cidr"),
                f"the Secure Compute network {secure.cidr} overlaps the cache's VPC in "
                f"{region} ({vpc}); peered networks must not overlap",
                "ask Vercel for a Secure Compute network outside 10.100.0.0/14",
            )
        if region not in secure.peering_connections:
            yield (
                ("web", "secure_compute", "peering_connections"),
                f"no peering connection for the cache's VPC in {region}: Vercel functions "
                "would not reach it",
                f"after the first `up` (which builds the VPC), give Vercel the VPC id and add "
                f"the pcx-... id it sends: peering_connections: {{{region}: pcx-...}}; or set "
                "cache.provider: upstash",
            )


def _upstash(phase: Phase) -> Iterator[Finding]:
    """An Upstash database lives in the phase's primary region and reads in each secondary
    (engine, node_type, replicas and global_datastore are ElastiCache's and not used)."""
    if phase.cache is not None and phase.cache.memory_gb is None:
        yield (
            ("cache", "memory_gb"),
            "an Upstash cache needs memory_gb: the data it holds picks its offer",
            "set cache.memory_gb (e.g. 0.5)",
        )
    hint = "Upstash Redis regions: " + ", ".join(facts.UPSTASH_REGIONS)
    if phase.regions.primary not in facts.UPSTASH_REGIONS:
        yield (
            ("regions", "primary"),
            "the Upstash cache's primary region is the phase's primary region, and Upstash "
            f"Redis has no region {phase.regions.primary!r}",
            hint + "; or set cache.provider: elasticache",
        )
    for i, region in enumerate(phase.regions.secondaries):
        if region not in facts.UPSTASH_REGIONS:
            yield (
                ("regions", "secondaries", i),
                "each secondary region becomes a read region of the Upstash cache, and "
                f"Upstash Redis has no region {region!r}",
                hint + "; or set cache.provider: elasticache",
            )


def _duplicates(
    path: tuple[str | int, ...], items: Sequence[str], what: str, fold: bool = False
) -> Iterator[Finding]:
    """Each repeated item, at the place of its second (third, ...) occurrence."""
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        key = item.casefold() if fold else item
        if key in first:
            yield (
                (*path, i),
                f"got {item!r}: this {what} is already listed (item {first[key] + 1} of "
                f"{path[-1]})",
                f"remove the second {item}" if not fold else "remove one of them (case is ignored)",
            )
        else:
            first[key] = i


def check_stack_settings(stack: Stack, name: str = "") -> list[Finding]:
    """Rules within a stack file's own settings (lists without repeats; production's
    variables and role serve production only)."""
    vercel = stack.vercel
    found = [
        *_duplicates(("vercel", "domains"), vercel.domains, "domain"),
        *_duplicates(("notifications", "emails"), stack.notifications.emails, "email", True),
        *_duplicates(("vercel", "environments"), vercel.environments or [], "environment"),
    ]
    if name == PRODUCTION_STACK and set(vercel.environments or ()) - {"production"}:
        found.append(
            (
                ("vercel", "environments"),
                "production's variables and AWS role would reach "
                + " and ".join(sorted(set(vercel.environments or ()) - {"production"}))
                + " deployments (any branch's push)",
                "environments: [production]; let a non-production stack serve previews "
                "(its vercel.previews_of)",
            )
        )
    if name == PRODUCTION_STACK and vercel.previews_of is not None:
        found.append(
            (
                ("vercel", "previews_of"),
                "production's variables and AWS role would reach another project's previews",
                "remove previews_of here; set it in a non-production stack (staging)",
            )
        )
    if vercel.previews_of is not None and vercel.previews_of == vercel.project_name:
        found.append(
            (
                ("vercel", "previews_of"),
                "previews_of names this stack's own project",
                "add preview to vercel.environments instead, or name production's project",
            )
        )
    return found


def vercel_environments(stack: Stack, name: str) -> tuple[str, ...]:
    """The Vercel environments a stack's variables and AWS role serve: what it says, else
    production only for the production stack and production and preview for the others."""
    if stack.vercel.environments:
        return tuple(dict.fromkeys(stack.vercel.environments))
    return ("production",) if name == PRODUCTION_STACK else ("production", "preview")


def check_stack(stack: Stack, phase: Phase) -> list[Finding]:
    """Rules across a stack file's settings and the phase it runs (paths in the stack file)."""
    if phase.cache is not None and phase.cache.provider == "upstash" and stack.upstash is None:
        return [
            (
                ("upstash",),
                "the phase's cache runs on Upstash (cache.provider: upstash), and the stack "
                "has no upstash settings",
                "add upstash: {email: <the Upstash account's email>, "
                "api_key: ${env:UPSTASH_API_KEY}}",
            )
        ]
    return []


def _storage(phase: Phase) -> Iterator[Finding]:
    buckets = phase.storage.buckets
    for name, bucket in buckets.items():
        if bucket.replicate and not phase.regions.secondaries:
            yield (
                ("storage", "buckets", name, "replicate"),
                "replication copies to the secondary regions, and this phase has none",
                "add regions.secondaries, or set replicate to false",
            )
        for i, rule in enumerate(bucket.lifecycle):
            path = ("storage", "buckets", name, "lifecycle", i)
            if not rule.transitions and not rule.expire_days and not rule.noncurrent_expire_days:
                yield (
                    path,
                    f"rule {rule.id!r} neither transitions nor expires anything",
                    "add transitions, expire_days or noncurrent_expire_days, or remove the rule",
                )
            for j, step in enumerate(rule.transitions):
                if (
                    step.storage_class in ("STANDARD_IA", "ONEZONE_IA")
                    and step.days < facts.S3_MIN_DAYS_BEFORE_IA
                ):
                    yield (
                        path + ("transitions", j, "days"),
                        f"S3 moves objects to {step.storage_class} after "
                        f"{facts.S3_MIN_DAYS_BEFORE_IA} days at the earliest, not {step.days}",
                        f"set days to {facts.S3_MIN_DAYS_BEFORE_IA} or more",
                    )
            last = max((t.days for t in rule.transitions), default=0)
            if rule.expire_days is not None and rule.expire_days <= last:
                yield (
                    path + ("expire_days",),
                    f"objects expire after {rule.expire_days} days, before their last "
                    f"transition at {last} days",
                    f"set expire_days above {last}, or move the transition earlier",
                )
    served = [name for name, bucket in buckets.items() if bucket.cdn is not None]
    for name in served[1:]:  # the app gets one FILES_CDN_URL
        yield (
            ("storage", "buckets", name, "cdn"),
            f"only one bucket can have a CDN, and {served[0]!r} already has one "
            "(the app gets one FILES_CDN_URL)",
            f"remove cdn from {name!r}",
        )
    for table, part in phase.database.partitioning.items():
        if part.archive_bucket and part.archive_bucket not in buckets:
            yield (
                ("database", "partitioning", table, "archive_bucket"),
                f"no bucket named {part.archive_bucket!r} in storage.buckets",
                "buckets: " + (", ".join(buckets) or "(none)"),
            )


def check_user_ranges(phases: dict[str, Phase]) -> list[tuple[str, str]]:
    """The phases' user ranges, ordered by their minimum, must not overlap or leave a gap."""
    problems = []
    ordered = sorted(phases.items(), key=lambda item: item[1].users.min)
    for (name, phase), (next_name, following) in zip(ordered, ordered[1:], strict=False):
        if phase.users.max is None:
            problems.append((name, f"has no user maximum but {next_name!r} starts above it"))
        elif phase.users.max != following.users.min:
            what = "overlaps" if phase.users.max > following.users.min else "leaves a gap before"
            problems.append(
                (
                    name,
                    f"users.max ({phase.users.max}) {what} {next_name!r} "
                    f"(users.min {following.users.min})",
                )
            )
    return problems
