"""The shape of a phase as nodes and edges, read from the Inventory (render.mermaid draws it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .inventory import Inventory
from .reach import cdn_bucket, reachable_targets

_PROJECT = "pulumi-python:dynamic/supabase:Project"
_REPLICA = "pulumi-python:dynamic/supabase:ReadReplica"
_CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
_GLOBAL_CACHE = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
_BUCKET = "aws:s3/bucket:Bucket"
_REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
_VERCEL = "vercel:index/project:Project"
_RDS = "aws:rds/instance:Instance"
_RDS_PROXY = "aws:rds/proxy:Proxy"
_UPSTASH = "upstash:index/redisDatabase:RedisDatabase"
_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"


@dataclass
class GraphModel:
    app_regions: str = ""
    regions: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # id, label, kind
    edges: list[tuple[str, str, str]] = field(default_factory=list)


def _id(kind: str, name: str) -> str:
    return kind + "_" + "".join(c if c.isalnum() else "_" for c in name)


def graph_model(inventory: Inventory) -> GraphModel:
    """Nodes for what the phase builds; an edge from the app only where the app reaches the
    node as built (offline.reach), so a graph never shows wiring that does not work."""
    model = GraphModel()
    reachable = reachable_targets(inventory)
    for app in inventory.of_type(_VERCEL):
        regions = app.inputs.get("resourceConfig", {}).get("functionDefaultRegions", [])
        model.app_regions = "functions: " + ", ".join(regions)

    def add(region: str | None, node_id: str, label: str, kind: str) -> None:
        model.regions.setdefault(region or "global", []).append((node_id, label, kind))

    projects = {f"{_PROJECT}::{p.name}": p for p in inventory.of_type(_PROJECT)}
    for project in projects.values():
        node = _id("db", project.name)
        add(
            project.region,
            node,
            f"Postgres {project.name}\n{project.inputs.get('instance_size')}",
            "db",
        )
        if project.key in reachable:
            model.edges.append(("app", node, "SQL via pooler"))
    for replica in inventory.of_type(_REPLICA):
        node = _id("replica", replica.name)
        add(replica.region, node, f"read replica\n{replica.name}", "replica")
        parent = projects.get(replica.parent or "")
        if parent:
            model.edges.append((_id("db", parent.name), node, "replication"))
    instances = {f"{_RDS}::{i.name}": i for i in inventory.of_type(_RDS)}
    proxied = bool(inventory.of_type(_RDS_PROXY))
    for instance in instances.values():
        node = _id("rds", instance.name)
        parent = instances.get(instance.parent or "")
        if parent is None:
            multi = " Multi-AZ" if instance.inputs.get("multiAz") else ""
            add(
                instance.region,
                node,
                f"RDS Postgres {instance.name}\n{instance.inputs.get('instanceClass')}{multi}",
                "db",
            )
            model.edges.append(("app", node, "SQL via RDS Proxy" if proxied else "SQL over TLS"))
        else:
            add(instance.region, node, f"read replica\n{instance.name}", "replica")
            model.edges.append((_id("rds", parent.name), node, "replication"))
    primary_cache = None
    for cache in inventory.of_type(_CACHE):
        node = _id("cache", cache.name)
        size = cache.inputs.get("nodeType") or "joined"
        count = cache.inputs.get("numCacheClusters", 1)
        add(cache.region, node, f"Redis {size} x{count}", "cache")
        if cache.inputs.get("globalReplicationGroupId") and cache.inputs.get("nodeType") is None:
            continue
        primary_cache = node
        if cache.key in reachable:
            model.edges.append(("app", node, "cache via Secure Compute"))
    for db in inventory.of_type(_UPSTASH):
        node = _id("cache", db.name)
        reads = db.inputs.get("readRegions") or []
        label = "Upstash Redis" + (f"\nreads in {', '.join(reads)}" if reads else "")
        add(db.region, node, label, "cache")
        if db.key in reachable:
            model.edges.append(("app", node, "cache over TLS"))
    if inventory.of_type(_GLOBAL_CACHE) and primary_cache:
        for cache in inventory.of_type(_CACHE):
            node = _id("cache", cache.name)
            if node != primary_cache:
                model.edges.append((primary_cache, node, "global datastore"))
    regions = inventory.of_type("floyo:regions:Regions")
    primary = regions[0].inputs.get("regions", [None])[0] if regions else None
    buckets = {b.name: b for b in inventory.of_type(_BUCKET)}
    for bucket in buckets.values():
        node = _id("bucket", bucket.name)
        add(bucket.region, node, f"S3 {bucket.inputs.get('bucket', bucket.name)}", "bucket")
        if bucket.region == primary and bucket.key in reachable:
            model.edges.append(("app", node, "files via OIDC role"))
    for cdn in inventory.of_type(_DISTRIBUTION):  # global: CloudFront has no region
        node = _id("cdn", cdn.name)
        add(None, node, f"CloudFront {cdn.name}<br/>{cdn.inputs.get('priceClass')}", "cdn")
        if cdn.key in reachable:
            model.edges.append(("app", node, "FILES_CDN_URL over HTTPS"))
        origin = cdn_bucket(cdn, inventory)
        if origin is not None:
            model.edges.append((node, _id("bucket", origin.name), "origin via OAC"))
    for replication in inventory.of_type(_REPLICATION):
        source = buckets.get(replication.name)
        for target in buckets.values():
            if source and target.name.startswith(f"{replication.name}-"):
                model.edges.append((_id("bucket", source.name), _id("bucket", target.name), "CRR"))
    return model
