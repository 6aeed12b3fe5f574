"""Pricing rules for dedicated PostgreSQL on Amazon RDS (`database.provider: rds`):
instance-hours (twice for Multi-AZ), gp3 storage (twice for Multi-AZ), backups within the free
allowance, RDS Proxy by vCPU, the Secrets Manager secret it reads; the network pieces free."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...catalog import facts
from ...offline.inventory import Resource
from ..context import HOURS_PER_MONTH, NoPrice, PricingContext, Result, Rule, free
from ..currency import unit_usd

_RDS_PRICING = "https://aws.amazon.com/rds/postgresql/pricing/"
_VPC_PRICING = "https://aws.amazon.com/vpc/pricing/"


def _instances(ctx: PricingContext) -> list[Resource]:
    return list(ctx.inventory.of_type("aws:rds/instance:Instance"))


def _primary_of(resource: Resource, ctx: PricingContext) -> Resource | None:
    """A replica's primary: by identifier (same region) or ARN; else the first primary (a
    cross-region replica names its primary by an ARN not known before deployment)."""
    source = resource.inputs.get("replicateSourceDb")
    primaries = [r for r in _instances(ctx) if not r.inputs.get("replicateSourceDb")]
    for candidate in primaries:
        if source and source in (candidate.inputs.get("identifier"), candidate.inputs.get("arn")):
            return candidate
    return primaries[0] if primaries else None


def _rds_instance(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    inputs: dict[str, Any] = resource.inputs
    replica = bool(inputs.get("replicateSourceDb"))
    primary = _primary_of(resource, ctx) if replica else resource
    size = inputs.get("instanceClass") or (primary.inputs.get("instanceClass") if primary else None)
    entry = ctx.entry(f"aws.rds.instance_hour.{size}")
    if entry is None or entry.price is None:
        yield NoPrice(f"no RDS instance-hour price for {size}")
        return
    copies = 2 if inputs.get("multiAz") else 1
    what = "Multi-AZ (primary + standby)" if copies == 2 else "Single-AZ"
    if replica:
        what = "read replica"
    yield ctx.line(
        resource,
        "instance",
        entry.price,
        copies * HOURS_PER_MONTH,
        entry.unit,
        entry,
        detail=f"{size}, {what}, {copies} x {HOURS_PER_MONTH} h",
    )
    storage = ctx.entry("aws.rds.storage_gp3_gb")
    gb = (primary.inputs.get("allocatedStorage") if primary else None) or 20
    if storage is None or storage.price is None:
        yield NoPrice("no RDS storage price in the catalog")
        return
    yield ctx.line(
        resource,
        "storage (gp3)",
        storage.price,
        copies * float(gb),
        storage.unit,
        storage,
        detail=f"{gb} GB provisioned" + (" x 2 (standby)" if copies == 2 else ""),
    )
    backup = ctx.entry("aws.rds.backup_gb")
    if not replica and backup is not None:
        days = inputs.get("backupRetentionPeriod") or 0
        yield ctx.line(
            resource,
            "backups and point-in-time recovery",
            0.0,
            1,
            "each",
            backup,
            detail=f"{days} days; free up to the provisioned {gb} GB, then "
            + (f"{unit_usd(backup.price)}/GB-month" if backup.price is not None else "billed")
            + " (not estimated)",
        )


def _rds_proxy(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    entry = ctx.entry("aws.rds.proxy_vcpu_hour")
    if entry is None or entry.price is None:
        yield NoPrice("no RDS Proxy price in the catalog")
        return
    name = resource.inputs.get("name")
    fronted = [r for r in _instances(ctx) if r.inputs.get("identifier") == name] or [
        r for r in _instances(ctx) if not r.inputs.get("replicateSourceDb")
    ][:1]
    size = fronted[0].inputs.get("instanceClass") if fronted else None
    vcpus = max(facts.RDS_VCPUS.get(str(size), 2), int(entry.extra.get("min_vcpus", 2)))
    yield ctx.line(
        resource,
        "proxy",
        entry.price,
        vcpus * HOURS_PER_MONTH,
        entry.unit,
        entry,
        detail=f"{vcpus} vCPUs of {size} x {HOURS_PER_MONTH} h",
    )


def _secret(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    entry = ctx.entry("aws.secretsmanager.secret")
    if entry is None or entry.price is None:
        yield NoPrice("no Secrets Manager price in the catalog")
        return
    yield ctx.line(resource, "secret", entry.price, 1, entry.unit, entry, detail=entry.note or "")


RDS_RULES: dict[str, Rule] = dict(
    {
        "floyo:database:Rds": free(
            "component", "a component: groups resources; its children are priced", provider="aws"
        ),
        "aws:rds/instance:Instance": _rds_instance,
        "aws:rds/proxy:Proxy": _rds_proxy,
        "aws:secretsmanager/secret:Secret": _secret,
        "aws:secretsmanager/secretVersion:SecretVersion": free(
            "secret version",
            "billed with its secret",
            "https://aws.amazon.com/secrets-manager/pricing/",
        ),
        "aws:rds/parameterGroup:ParameterGroup": free("parameter group", "no charge", _RDS_PRICING),
        "aws:rds/subnetGroup:SubnetGroup": free("subnet group", "no charge", _RDS_PRICING),
        "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": free(
            "proxy target group", "billed with the proxy", _RDS_PRICING
        ),
        "aws:rds/proxyTarget:ProxyTarget": free(
            "proxy target", "billed with the proxy", _RDS_PRICING
        ),
        "aws:ec2/internetGateway:InternetGateway": free(
            "internet gateway", "no charge (data transfer is)", _VPC_PRICING
        ),
        "aws:ec2/route:Route": free("route", "no charge", _VPC_PRICING),
    }
)
