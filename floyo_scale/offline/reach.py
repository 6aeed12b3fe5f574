"""Reachability: what the app is handed, and whether it can reach each piece from where it
runs (Vercel functions: public endpoints over TLS, or a VPC only through Vercel Secure
Compute), read from the wiring the program records on the floyo:web:Web component.

Pure functions over an Inventory. `policy.check_reachable` refuses what fails (`up`, exit 6),
`plan` and `diff` list it, and `graph` draws only the wiring that works.
"""

from __future__ import annotations

import json
from typing import Any

from .inventory import Inventory, Resource, short_type


def wiring(inventory: Inventory) -> list[tuple[dict[str, Any], Resource | None, str]]:
    """Each wire (variable, target, credentials), the target resource (None when the plan
    does not build it) and why the app cannot reach it ("" when it can)."""
    webs = inventory.of_type(_WEB)
    if not webs:
        return []
    web = webs[0]
    by_key = inventory.by_key()
    out: list[tuple[dict[str, Any], Resource | None, str]] = []
    for wire in web.inputs.get("wiring") or []:
        target = by_key.get(str(wire.get("target")))
        if target is None:
            out.append((wire, None, "the plan does not build it"))
        else:
            out.append((wire, target, _why_unreachable(target, wire, web, inventory)))
    return out


def reachable_targets(inventory: Inventory) -> set[str]:
    """Keys of the resources the app reaches through at least one wire."""
    return {t.key for _, t, why in wiring(inventory) if t is not None and not why}


_CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
_WEB = "floyo:web:Web"
_ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
_REDIS_PORT = 6379
_POSTGRES_PORT = 5432
_RDS = "aws:rds/instance:Instance"
_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
# endpoints Vercel functions reach over the internet with TLS
_PUBLIC_TLS = {
    "pulumi-python:dynamic/supabase:Project": "Supabase's pooler",
    "pulumi-python:dynamic/supabase:ReadReplica": "Supabase's replica endpoint",
}


def unreachable(inventory: Inventory) -> list[str]:
    """Every variable the app is handed whose target it cannot reach as built: each an error
    that `plan` lists, `diff` shows for the new side and `up` refuses (exit 6, no override).

    The program records its wiring on the floyo:web:Web component (`wiring`: variable,
    target resource, credentials); this checks it against what the inventory holds:
    - Supabase projects and replicas: public endpoints over TLS;
    - an Upstash database: reachable over TLS (its `tls` input must be on);
    - an ElastiCache group: only inside its VPC, so only through a Vercel Secure Compute
      network (Enterprise) with, in the group's region, the peering connection accepted, a
      route to the network's CIDR and port 6379 open to it;
    - a bucket: only with credentials: the AWS_ROLE_ARN variable, and a role policy that lets
      the app read the bucket's objects.
    """
    problems = []
    for wire, target, why in wiring(inventory):
        variable = wire.get("variable")
        if target is None:
            problems.append(f"{variable}: leads to {wire.get('target')}, which {why}")
        elif why:
            problems.append(f"{variable} -> {short_type(target.type)} {target.name}: {why}")
    return problems


def _why_unreachable(
    target: Resource, wire: dict[str, Any], web: Resource, inventory: Inventory
) -> str:
    if target.type in _PUBLIC_TLS:
        return ""
    if target.type == "upstash:index/redisDatabase:RedisDatabase":
        return "" if target.inputs.get("tls") else "TLS is off; Vercel functions need TLS"
    if target.type == _CACHE:
        return _vpc_reach(target, web, inventory, _REDIS_PORT, "ElastiCache")
    if target.type == _RDS:
        if target.inputs.get("publiclyAccessible"):
            return ""  # database.rds.access: public_tls (TLS forced, allowed CIDRs)
        return _vpc_reach(target, web, inventory, _POSTGRES_PORT, "an RDS instance")
    if target.type == "aws:s3/bucket:Bucket":
        return _bucket_reach(target, wire, inventory)
    if target.type == _DISTRIBUTION:
        return _cdn_reach(target, inventory)
    return f"no way to tell how the app reaches a {short_type(target.type)}"


def _vpc_reach(group: Resource, web: Resource, inventory: Inventory, port: int, what: str) -> str:
    """Inside a VPC: reachable only through a Vercel Secure Compute network peered with it
    (accepted peering, a route back to the network's CIDR, `port` open to that CIDR)."""
    secure = web.inputs.get("secure_compute") or {}
    cidr = secure.get("cidr")
    if not cidr:
        return (
            f"{what} listens only inside its VPC, and Vercel functions reach a VPC only "
            "through Vercel Secure Compute, which this stack does not configure"
        )
    if web.inputs.get("vercel_plan") != "enterprise":
        return "Vercel Secure Compute needs the Enterprise plan"
    here = [r for r in inventory.resources if r.region == group.region]
    accepted = any(
        r.type == "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
        and r.inputs.get("autoAccept")
        for r in here
    )
    routed = any(
        r.type == "aws:ec2/route:Route" and r.inputs.get("destinationCidrBlock") == cidr
        for r in here
    )
    opened = any(_opens(r, cidr, port) for r in here)
    missing = [
        what
        for what, ok in (
            ("the peering connection is not accepted", accepted),
            (f"no route to {cidr}", routed),
            (f"port {port} is not open to {cidr}", opened),
        )
        if not ok
    ]
    if missing:
        return f"in {group.region}, " + "; ".join(missing) + " (Vercel Secure Compute)"
    return ""


def _opens(rule: Resource, cidr: str, port: int) -> bool:
    """A security group rule (or a group's inline ingress) admitting `cidr` on `port`."""

    def covers(entry: dict[str, Any], cidrs: list[Any]) -> bool:
        low, high = entry.get("fromPort"), entry.get("toPort")
        return cidr in cidrs and low is not None and high is not None and low <= port <= high

    if rule.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        return covers(rule.inputs, [rule.inputs.get("cidrIpv4")])
    if rule.type == "aws:ec2/securityGroup:SecurityGroup":
        return any(covers(e, e.get("cidrBlocks") or []) for e in rule.inputs.get("ingress") or [])
    return False


def _bucket_reach(bucket: Resource, wire: dict[str, Any], inventory: Inventory) -> str:
    variable = wire.get("credentials")
    keys = {r.inputs.get("key") for r in inventory.of_type(_ENV_VAR)}
    if not variable or variable not in keys:
        return "the app gets no credentials for it (no AWS_ROLE_ARN)"
    physical = bucket.inputs.get("bucket") or bucket.name
    wanted = f"arn:aws:s3:::{physical}/*"
    for policy in inventory.of_type("aws:iam/rolePolicy:RolePolicy"):
        try:
            document = json.loads(str(policy.inputs.get("policy") or "{}"))
        except ValueError:
            continue
        for statement in document.get("Statement", []):
            actions = statement.get("Action", [])
            resources = statement.get("Resource", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = [resources] if isinstance(resources, str) else resources
            if (
                statement.get("Effect") == "Allow"
                and "s3:GetObject" in actions
                and wanted in resources
            ):
                return ""
    return f"no role policy lets the app read {wanted}"


def cdn_bucket(distribution: Resource, inventory: Inventory) -> Resource | None:
    """The bucket a distribution's origin reads (its regional domain name)."""
    for origin in distribution.inputs.get("origins") or []:
        domain = str(origin.get("domainName") or "")
        for bucket in inventory.of_type("aws:s3/bucket:Bucket"):
            physical = bucket.inputs.get("bucket") or bucket.name
            if domain.startswith(f"{physical}.s3."):
                return bucket
    return None


def _cdn_reach(distribution: Resource, inventory: Inventory) -> str:
    """Browsers fetch FILES_CDN_URL: the distribution must be enabled, HTTPS only, read its
    bucket through Origin Access Control, and the bucket's policy must let CloudFront read
    the objects for that distribution (AWS:SourceArn), or every fetch is a 403."""
    inputs = distribution.inputs
    if not inputs.get("enabled"):
        return "the distribution is disabled"
    behaviours = [
        inputs.get("defaultCacheBehavior") or {},
        *(inputs.get("orderedCacheBehaviors") or []),
    ]
    for behaviour in behaviours:
        if behaviour.get("viewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
            return "a cache behaviour serves plain HTTP (viewer protocol policy)"
    origins = inputs.get("origins") or []
    if not origins or not all(o.get("originAccessControlId") for o in origins):
        return "its origin has no Origin Access Control, and the bucket is private"
    bucket = cdn_bucket(distribution, inventory)
    if bucket is None:
        return "its origin is no bucket this plan builds"
    physical = bucket.inputs.get("bucket") or bucket.name
    wanted = f"arn:aws:s3:::{physical}/*"
    for policy in inventory.of_type(_BUCKET_POLICY):
        if policy.name != bucket.name or policy.region != bucket.region:
            continue
        try:
            document = json.loads(str(policy.inputs.get("policy") or "{}"))
        except ValueError:
            continue
        for statement in document.get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            condition = (statement.get("Condition") or {}).get("StringEquals") or {}
            if (
                statement.get("Effect") == "Allow"
                and (statement.get("Principal") or {}).get("Service") == "cloudfront.amazonaws.com"
                and "s3:GetObject" in actions
                and wanted in resources
                and condition.get("AWS:SourceArn")
            ):
                return ""
    return f"no bucket policy lets CloudFront (this distribution) read {wanted}"
