"""Provider rules for the files CDN (CloudFront), each with the reference it comes from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..offline.inventory import Inventory, Resource
from .base import Rule

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
OAC = "aws:cloudfront/originAccessControl:OriginAccessControl"
CACHE_POLICY = "aws:cloudfront/cachePolicy:CachePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"

MAX_TTL = 31_536_000  # a year: CloudFront's largest TTL
OAC_NAME_MAX = 64
VIEWER_POLICIES = ("allow-all", "https-only", "redirect-to-https")


def _oac_name(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    name = r.inputs.get("name")
    if isinstance(name, str) and not 1 <= len(name) <= OAC_NAME_MAX:
        yield name, f"an origin access control's name is 1 to {OAC_NAME_MAX} characters"


def _ttls(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    low, default, high = (r.inputs.get(k) for k in ("minTtl", "defaultTtl", "maxTtl"))
    if not all(isinstance(v, int) for v in (low, default, high)):
        return
    if not low <= default <= high:  # type: ignore[operator]
        yield [low, default, high], "TTLs must be ordered: min <= default <= max"
    if high > MAX_TTL:  # type: ignore[operator]
        yield high, f"a cache policy's TTLs are at most {MAX_TTL} seconds (a year)"


def _behaviours(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    """Every behaviour names an origin the distribution has and a viewer policy CloudFront
    knows; an S3 origin with an origin access control takes no legacy origin access
    identity (s3OriginConfig) beside it."""
    origins = r.inputs.get("origins") or []
    ids = {o.get("originId") for o in origins}
    behaviours = [r.inputs.get("defaultCacheBehavior") or {}]
    behaviours += list(r.inputs.get("orderedCacheBehaviors") or [])
    for b in behaviours:
        if b.get("targetOriginId") not in ids:
            yield b.get("targetOriginId"), "a cache behaviour targets an origin that is not there"
        policy = b.get("viewerProtocolPolicy")
        if policy not in VIEWER_POLICIES:
            yield policy, "not a viewer protocol policy (" + ", ".join(VIEWER_POLICIES) + ")"
    for o in origins:
        if o.get("originAccessControlId") and (o.get("s3OriginConfig") or {}).get(
            "originAccessIdentity"
        ):
            yield o.get("originId"), "an origin has both an origin access control and an identity"


CDN_RULES: tuple[Rule, ...] = (
    Rule(
        "cloudfront-oac-name",
        (OAC,),
        "CloudFront API Reference, OriginAccessControlConfig (Name: up to 64 characters)",
        "spec",
        _oac_name,
    ),
    Rule(
        "cloudfront-cache-policy-ttl",
        (CACHE_POLICY,),
        "CloudFront Developer Guide, cache policy settings (minimum, default and maximum TTL; "
        "at most 31,536,000 seconds)",
        "program",
        _ttls,
    ),
    Rule(
        "cloudfront-behaviours",
        (DISTRIBUTION,),
        "CloudFront API Reference, DistributionConfig (CacheBehavior TargetOriginId, "
        "ViewerProtocolPolicy); Developer Guide, migrating from OAI to OAC",
        "program",
        _behaviours,
    ),
)
