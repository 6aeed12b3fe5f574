"""AWS pricing rules: S3, CloudFront, ElastiCache, CloudWatch alarms, SNS."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...offline.inventory import Resource
from ..context import (
    ARCHIVE_OBJECT_MB,
    ARCHIVE_RETRIEVED_SHARE,
    CACHE_KB_PER_WRITE,
    CACHE_WRITES_PER_REQUEST,
    CLOUDFRONT_AREAS,
    FILES_SHARE_OF_EGRESS,
    FREE_ALARMS,
    HOURS_PER_MONTH,
    MONTHLY_WRITE_SHARE,
    PRICE_CLASS_AREAS,
    S3_GETS_PER_REQUEST,
    S3_PUTS_PER_REQUEST,
    TRANSITION_PRICED_DAYS,
    NoPrice,
    PricingContext,
    Result,
    Span,
)

if TYPE_CHECKING:  # only for annotations: importing spec at run time is not needed here
    from ...catalog.prices import PriceEntry


# AWS: S3 -----------------------------------------------------------------------------------

# storage classes whose reads cost more than Standard's: their catalog name under requests
# (aws.s3.requests.<name>.get) and retrieval (aws.s3.retrieval.<name>_gb)
_READ_CLASS = {"GLACIER_IR": "glacier_ir", "STANDARD_IA": "standard_ia"}


def _storage_class_entry(
    ctx: PricingContext, storage_class: str, region: str | None = None
) -> PriceEntry | None:
    """The GB-month rate of `storage_class` in `region`: the regional entry when the catalog
    has one (aws.regional.<region>), else the us-east-1 rate (and the region is noted)."""
    if region and region not in ("us-east-1", "global"):
        for entry in ctx.catalog.entries(f"aws.regional.{region}"):
            if entry.extra.get("storage_class") == storage_class:
                return entry
        ctx.fallback_regions.add(region)
    for entry in ctx.catalog.entries("aws.s3.storage"):
        if entry.extra.get("storage_class") == storage_class:
            return entry
    return None


def _bucket_class(resource: Resource, ctx: PricingContext) -> tuple[str, str]:
    """The storage class a bucket's data is priced at, and why."""
    written = ctx.replica_class.get(resource.key, "STANDARD")
    for cfg in ctx.inventory.of_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    ):
        if cfg.parent != resource.key:
            continue
        for rule in cfg.inputs.get("rules") or []:
            prefix = ((rule or {}).get("filter") or {}).get("prefix", "")
            if rule.get("status") != "Enabled" or prefix:
                continue
            for t in rule.get("transitions") or []:
                days = t.get("days")
                if days is not None and days <= TRANSITION_PRICED_DAYS:
                    return t["storageClass"], f"lifecycle moves objects after {days} days"
    return written, "as written (later lifecycle transitions not counted)"


def s3_bucket_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """Storage (usage.storage_gb split over the non-replica buckets; a replica holds its
    source's share) and, on non-replica buckets, GET/PUT requests driven by app requests."""
    share = ctx.bucket_share(resource)
    storage_class, why = _bucket_class(resource, ctx)
    entry = _storage_class_entry(ctx, storage_class, resource.region)
    if entry is None:
        yield NoPrice(f"no S3 storage price for class {storage_class}")
    else:
        source = ctx.replica_source.get(resource.key)
        whose = f"a copy of {source.name}" if source else "usage.storage_gb split over buckets"
        yield ctx.line(
            resource,
            "storage",
            entry.price or 0.0,
            share,
            entry.unit,
            entry,
            detail=f"{storage_class}, {why}; {whose}",
        )
    if resource.key in ctx.replica_source:
        return
    if ctx.requests is None:
        yield NoPrice("S3 requests: no user count given to the estimate")
        return
    read_class = _READ_CLASS.get(storage_class, "standard")
    if read_class != "standard":
        yield from _archive_requests(resource, ctx, share, storage_class, read_class)
        return
    app_buckets = [
        b for b in ctx.primary_buckets if _READ_CLASS.get(_bucket_class(b, ctx)[0]) is None
    ]
    per_bucket = ctx.requests * (1 / max(1, len(app_buckets)))
    for kind, per_request in (("get", S3_GETS_PER_REQUEST), ("put", S3_PUTS_PER_REQUEST)):
        req = ctx.entry(f"aws.s3.requests.standard.{kind}")
        if req is None:
            continue
        yield ctx.line(
            resource,
            f"{kind.upper()} requests",
            req.price or 0.0,
            per_bucket * (per_request / 1000),
            req.unit,
            req,
            detail=f"{per_request:g} per app request, split over the app's buckets",
        )


def _archive_requests(
    resource: Resource, ctx: PricingContext, share: Span, storage_class: str, read_class: str
) -> Iterable[Result]:
    """A bucket whose objects move to an archive class within a month (Glacier Instant
    Retrieval) is not read by app requests: ARCHIVE_RETRIEVED_SHARE of it is read back a
    month, in objects of ARCHIVE_OBJECT_MB, at the class's GET and retrieval rates; a
    MONTHLY_WRITE_SHARE of it is written, in objects of that size, at the PUT rate."""
    get = ctx.entry(f"aws.s3.requests.{read_class}.get")
    put = ctx.entry("aws.s3.requests.standard.put")
    retrieval = ctx.entry(f"aws.s3.retrieval.{read_class}_gb")
    read_gb = share * ARCHIVE_RETRIEVED_SHARE
    objects_per_gb = 1000 / ARCHIVE_OBJECT_MB
    if get is not None:
        yield ctx.line(
            resource,
            "GET requests",
            get.price or 0.0,
            read_gb * (objects_per_gb / 1000),
            get.unit,
            get,
            detail=f"{ARCHIVE_RETRIEVED_SHARE:.0%} read back a month, "
            f"{ARCHIVE_OBJECT_MB:g} MB objects; {storage_class} rate",
        )
    if put is not None:
        yield ctx.line(
            resource,
            "PUT requests",
            put.price or 0.0,
            share * (MONTHLY_WRITE_SHARE * objects_per_gb / 1000),
            put.unit,
            put,
            detail=f"{MONTHLY_WRITE_SHARE:.0%} written a month, {ARCHIVE_OBJECT_MB:g} MB objects "
            "(written as Standard, then moved)",
        )
    if retrieval is not None:
        yield ctx.line(
            resource,
            "retrieval",
            retrieval.price or 0.0,
            read_gb,
            retrieval.unit,
            retrieval,
            detail=f"{ARCHIVE_RETRIEVED_SHARE:.0%} of the {storage_class} data read back a month",
        )


def s3_replication_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """Cross-region transfer of what is written to the source each month, per destination."""
    entry = ctx.entry("aws.s3.replication.transfer_gb")
    source = ctx.by_key.get(resource.parent or "")
    destinations = len(resource.inputs.get("rules") or [])
    if entry is None:
        yield NoPrice("no S3 replication transfer price in the catalog")
        return
    if source is None or source.type != "aws:s3/bucket:Bucket":
        yield NoPrice("replication whose source bucket is not in the inventory")
        return
    gb = ctx.bucket_share(source) * (MONTHLY_WRITE_SHARE * destinations)
    yield ctx.line(
        resource,
        "replication transfer",
        entry.price or 0.0,
        gb,
        entry.unit,
        entry,
        detail=f"{MONTHLY_WRITE_SHARE:.0%} of {source.name} written a month, "
        f"to {destinations} region{'s' if destinations != 1 else ''}",
    )


# AWS: ElastiCache --------------------------------------------------------------------------


def _node_type(resource: Resource, ctx: PricingContext) -> tuple[str | None, str]:
    """The group's node type; a secondary member of a global datastore records none and runs
    the primary's, found through the GlobalReplicationGroup."""
    node = resource.inputs.get("nodeType")
    if node:
        return str(node), ""
    global_id = resource.inputs.get("globalReplicationGroupId")
    if not global_id:
        return None, ""
    globals_ = ctx.inventory.of_type(
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
    )
    matches = [
        g
        for g in globals_
        if str(global_id).endswith(str(g.inputs.get("globalReplicationGroupIdSuffix") or "\0"))
    ] or (list(globals_) if len(globals_) == 1 else [])
    if not matches:
        return None, ""
    primary_id = matches[0].inputs.get("primaryReplicationGroupId")
    for group in ctx.inventory.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        ids = {group.name, f"{group.name}-id", group.inputs.get("replicationGroupId")}
        if primary_id in ids and group.inputs.get("nodeType"):
            return str(group.inputs["nodeType"]), f"the global datastore primary {group.name}'s"
    return None, ""


def elasticache_group_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    node, whose = _node_type(resource, ctx)
    if node is None:
        yield NoPrice("replication group whose node type is unknown")
        return
    entry = ctx.entry(f"aws.elasticache.node_hour.{node}")
    if entry is None:
        yield NoPrice(f"no ElastiCache node-hour price for {node}")
        return
    if resource.region not in (None, "global", "us-east-1"):
        ctx.fallback_regions.add(str(resource.region))  # node rates: us-east-1 only
    inputs = resource.inputs
    if inputs.get("numNodeGroups"):
        nodes = int(inputs["numNodeGroups"]) * (1 + int(inputs.get("replicasPerNodeGroup") or 0))
    else:
        nodes = int(inputs.get("numCacheClusters") or 1)
    engine = inputs.get("engine") or "redis"
    detail = f"{nodes} x {node}" + (f" ({whose})" if whose else "") + f" x {HOURS_PER_MONTH} h"
    if engine == "valkey":
        detail += "; Valkey lists ~0.8x, priced at the Redis OSS rate"
    yield ctx.line(
        resource,
        "nodes",
        entry.price or 0.0,
        nodes * HOURS_PER_MONTH,
        entry.unit,
        entry,
        detail=detail,
    )


# AWS: monitoring ---------------------------------------------------------------------------


def alarm_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    period = resource.inputs.get("period")
    if period is not None and int(period) < 60:
        entry = ctx.entry("aws.cloudwatch.alarm_high_resolution")
        if entry is None:
            yield NoPrice("no high-resolution alarm price in the catalog")
            return
        yield ctx.line(
            resource, "alarm", entry.price or 0.0, 1, entry.unit, entry, detail="high resolution"
        )
        return
    entry = ctx.entry(FREE_ALARMS)
    if entry is None:
        yield NoPrice("no standard alarm price in the catalog")
        return
    # billed per metric an alarm reads ("$0.10 per alarm metric": a metric math alarm pays for
    # each metric in its expression; aws.amazon.com/cloudwatch/pricing/), the free tier too
    free = int(entry.extra.get("free_tier", 0))
    standard = [a for a in ctx.alarms if int(a.inputs.get("period") or 60) >= 60]
    before = 0
    for alarm in standard:
        if alarm.key == resource.key:
            break
        before += alarm_metrics(alarm)
    count = alarm_metrics(resource)
    billed = max(0, before + count - free) if count else 0
    billed = min(billed, count)
    detail = (
        f"within the free tier ({free} alarm metrics)"
        if billed == 0
        else "beyond the free tier"
        if billed == count
        else f"{count - billed} of its {count} metrics within the free tier ({free})"
    )
    if count > 1:
        detail = f"{count} metrics summed; {detail}"
    yield ctx.line(resource, "alarm", entry.price or 0.0, billed, entry.unit, entry, detail=detail)


def alarm_metrics(alarm: Resource) -> int:
    """How many metrics an alarm reads: its own, or each metric of its metric math."""
    queries = alarm.inputs.get("metricQueries") or []
    return sum(1 for q in queries if isinstance(q, dict) and q.get("metric")) or 1


def sns_subscription_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    protocol = resource.inputs.get("protocol")
    key = "aws.sns.email_100k" if protocol in ("email", "email-json") else "aws.sns.http_million"
    entry = ctx.entry(key)
    if entry is None:
        yield NoPrice(f"no SNS {protocol} delivery price in the catalog")
        return
    yield ctx.line(
        resource,
        "deliveries",
        entry.price or 0.0,
        0,
        entry.unit,
        entry,
        detail=f"alert deliveries stay within the free tier ({entry.extra.get('free_tier', 0):,})",
    )


def global_datastore_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """No fee of its own (its members' nodes are priced on them); the cross-region traffic
    of replicating the primary's writes to each secondary member:
    GB = app requests x CACHE_WRITES_PER_REQUEST x CACHE_KB_PER_WRITE / 1,000,000
         x secondaries."""
    entry = ctx.entry("aws.elasticache.global_datastore.transfer_gb")
    if entry is None:
        yield NoPrice("no global datastore transfer price in the catalog")
        return
    if ctx.requests is None:
        yield NoPrice("global datastore transfer: no user count given to the estimate")
        return
    members = [
        g
        for g in ctx.inventory.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
        if g.inputs.get("globalReplicationGroupId")
    ]
    secondaries = max(0, len(members) - 1) or 1
    gb = ctx.requests * (CACHE_WRITES_PER_REQUEST * CACHE_KB_PER_WRITE / 1_000_000 * secondaries)
    yield ctx.line(
        resource,
        "cross-region replication",
        entry.price or 0.0,
        gb,
        entry.unit,
        entry,
        detail=f"{CACHE_WRITES_PER_REQUEST:g} writes a request x {CACHE_KB_PER_WRITE:g} KB "
        f"to {secondaries} secondary region(s)",
    )


# AWS: CloudFront ---------------------------------------------------------------------------


def cloudfront_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """The files CDN: data transfer out and HTTPS requests, per CloudFront pricing area.

    GB       = usage.egress_gb x FILES_SHARE_OF_EGRESS (what leaves Vercel's fast data
               transfer: docs/cost.md), beyond the Always Free tier's 1 TB
    requests = app requests x S3_GETS_PER_REQUEST (each file read is a CDN request),
               beyond the free 10,000,000
    Both are split evenly over the areas of the project's function regions (CLOUDFRONT_AREAS:
    users are where the functions are); an area the price class does not serve is billed at
    north_america's rate (served from there). The free tier is taken off each area's share
    in proportion. Origin fetches from S3 are free (aws.cloudfront note)."""
    price_class = str(resource.inputs.get("priceClass") or "PriceClass_All")
    served = PRICE_CLASS_AREAS.get(price_class, PRICE_CLASS_AREAS["PriceClass_All"])
    regions: list[str] = []
    for project in ctx.inventory.of_type("vercel:index/project:Project"):
        config = project.inputs.get("resourceConfig") or {}
        regions = [str(r) for r in config.get("functionDefaultRegions") or []]
    regions = regions or ["iad1"]
    areas: dict[str, float] = {}
    for region in regions:
        area = CLOUDFRONT_AREAS.get(region)
        if area is None:
            ctx.fallback_regions.add(region)
            area = "north_america"
        if area not in served:
            area = "north_america"
        areas[area] = areas.get(area, 0.0) + 1 / len(regions)
    gb = ctx.files_cdn_gb
    first = ctx.entry("aws.cloudfront.data_transfer_out.north_america")
    free_gb = float(first.extra.get("free_tier_gb", 0)) if first else 0.0
    transfer_over = gb.over(free_gb)
    for area, share in sorted(areas.items()):
        entry = ctx.entry(f"aws.cloudfront.data_transfer_out.{area}")
        if entry is None:
            yield NoPrice(f"no CloudFront data transfer price for {area}")
            continue
        yield ctx.line(
            resource,
            f"data transfer out ({area.replace('_', ' ')})",
            entry.price or 0.0,
            transfer_over * share,
            entry.unit,
            entry,
            detail=f"{share:.0%} of user files ({FILES_SHARE_OF_EGRESS:g} of usage.egress_gb) "
            f"beyond {free_gb:,.0f} GB free; {price_class}",
        )
    if ctx.requests is None:
        yield NoPrice("CloudFront requests: no user count given to the estimate")
        return
    head = ctx.entry("aws.cloudfront.https_requests.north_america")
    free_requests = float(head.extra.get("free_tier_requests", 0)) if head else 0.0
    requests_over = (ctx.requests * S3_GETS_PER_REQUEST).over(free_requests)
    for area, share in sorted(areas.items()):
        entry = ctx.entry(f"aws.cloudfront.https_requests.{area}")
        if entry is None:
            yield NoPrice(f"no CloudFront request price for {area}")
            continue
        yield ctx.line(
            resource,
            f"HTTPS requests ({area.replace('_', ' ')})",
            entry.price or 0.0,
            requests_over * (share / 10_000),
            entry.unit,
            entry,
            detail=f"{S3_GETS_PER_REQUEST:g} file reads per app request, "
            f"beyond {free_requests / 1e6:,.0f}M free",
        )


# AWS: Route 53 health checks ------------------------------------------------------------------


def health_check_features(resource: Resource) -> list[str]:
    """The optional features a health check is billed for (aws.route53 in the catalog)."""
    inputs = resource.inputs
    kind = str(inputs.get("type") or "")
    features = []
    if kind.startswith("HTTPS"):
        features.append("HTTPS")
    if kind.endswith("STR_MATCH"):
        features.append("string matching")
    if int(inputs.get("requestInterval") or 30) == 10:
        features.append("fast interval")
    if inputs.get("measureLatency"):
        features.append("latency measurement")
    return features


def health_check_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """A check on one of the app's domains: Vercel serves them, so a non-AWS endpoint (the
    free tier and lower rates are for endpoints AWS hosts); each optional feature on top."""
    entry = ctx.entry("aws.route53.health_check_non_aws")
    feature = ctx.entry("aws.route53.feature_non_aws")
    if entry is None or feature is None:
        yield NoPrice("no Route 53 health check price in the catalog")
        return
    where = resource.inputs.get("fqdn") or "the domain"
    yield ctx.line(
        resource,
        "health check",
        entry.price or 0.0,
        1,
        entry.unit,
        entry,
        detail=f"{where}, a non-AWS endpoint (Vercel)",
    )
    features = health_check_features(resource)
    if features:
        yield ctx.line(
            resource,
            "health check features",
            feature.price or 0.0,
            len(features),
            feature.unit,
            feature,
            detail=", ".join(features),
        )
