"""The files CDN (issue 23) under Pulumi's mocks: the distribution, its Origin Access Control
and cache policies, the bucket policy parsed and compared exactly, FILES_CDN_URL, reachability
and the graph."""

from __future__ import annotations

import json
from dataclasses import replace

from test_program import ENV_VAR, inventory, one

from floyo_scale.offline.graph import graph_model
from floyo_scale.offline.inventory import Inventory
from floyo_scale.offline.reach import unreachable

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
OAC = "aws:cloudfront/originAccessControl:OriginAccessControl"
CACHE_POLICY = "aws:cloudfront/cachePolicy:CachePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
IMAGES = ["*.avif", "*.gif", "*.jpeg", "*.jpg", "*.png", "*.svg", "*.webp"]


def _env(inv: Inventory) -> dict[str, object]:
    return {r.inputs["key"]: r.inputs["value"] for r in inv.of_type(ENV_VAR)}


def test_startup_has_no_cdn_and_growth_on_has_one():
    assert not inventory("startup").of_type(DISTRIBUTION)
    assert "FILES_CDN_URL" not in _env(inventory("startup"))
    for phase in ("growth", "scale", "enterprise"):
        inv = inventory(phase)
        assert [r.name for r in inv.of_type(DISTRIBUTION)] == ["uploads"], phase
        assert _env(inv)["FILES_CDN_URL"] == "https://d-uploads.cloudfront.net"


def test_the_distribution_https_only_compressed_behind_oac():
    inv = inventory(None, "production")
    d = one(inv, DISTRIBUTION, "uploads").inputs
    assert d["enabled"] is True
    assert d["priceClass"] == "PriceClass_100"
    assert d["origins"] == [
        {
            "domainName": "floyo-production-uploads.s3.amazonaws.com",
            "originAccessControlId": "uploads-id",
            "originId": "files",
        }
    ]
    behaviour = {
        "allowedMethods": ["GET", "HEAD"],
        "cachedMethods": ["GET", "HEAD"],
        "compress": True,
        "targetOriginId": "files",
        "viewerProtocolPolicy": "redirect-to-https",
    }
    assert d["defaultCacheBehavior"] == {**behaviour, "cachePolicyId": "uploads-immutable-id"}
    assert d["orderedCacheBehaviors"] == [
        {**behaviour, "cachePolicyId": "uploads-images-id", "pathPattern": p} for p in IMAGES
    ]
    assert d["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert one(inv, OAC, "uploads").inputs == {
        "description": "CloudFront reads floyo-production-uploads (signed, SigV4)",
        "name": "floyo-production-uploads",
        "originAccessControlOriginType": "s3",
        "signingBehavior": "always",
        "signingProtocol": "sigv4",
    }


def test_cache_policies_immutable_files_and_images():
    inv = inventory(None, "production")
    key = {
        "cookiesConfig": {"cookieBehavior": "none"},
        "enableAcceptEncodingBrotli": True,
        "enableAcceptEncodingGzip": True,
        "headersConfig": {"headerBehavior": "none"},
        "queryStringsConfig": {"queryStringBehavior": "none"},
    }
    ttl = {
        name: (r.inputs["minTtl"], r.inputs["defaultTtl"], r.inputs["maxTtl"])
        for r in inv.of_type(CACHE_POLICY)
        for name in [r.name]
    }
    assert ttl == {
        "uploads-immutable": (86400, 31536000, 31536000),
        "uploads-images": (0, 86400, 31536000),
    }
    for r in inv.of_type(CACHE_POLICY):
        assert r.inputs["parametersInCacheKeyAndForwardedToOrigin"] == key


def test_production_bucket_policy_admits_only_the_distribution_and_the_app_role():
    inv = inventory(None, "production")
    policies = inv.of_type(BUCKET_POLICY)
    # one document per bucket: every bucket's refuses requests without TLS, the CDN's
    # bucket's also admits the distribution and the app's role, and nobody else
    assert [p.name for p in policies] == ["archive", "uploads"]
    uploads = next(p for p in policies if p.name == "uploads")
    assert json.loads(uploads.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [
                    "arn:aws:s3:::floyo-production-uploads",
                    "arn:aws:s3:::floyo-production-uploads/*",
                ],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "CloudFrontReadsFiles",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::floyo-production-uploads/*",
                "Condition": {
                    "StringEquals": {
                        "AWS:SourceArn": "arn:aws:cloudfront::000000000000:distribution/EUPLOADS"
                    }
                },
            },
            {
                "Sid": "AppReadsAndWritesFiles",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:mock:::role/app"},
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::floyo-production-uploads/*",
            },
        ],
    }
    # the bucket stays private
    block = one(inv, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "uploads")
    assert block.inputs["blockPublicPolicy"] and block.inputs["restrictPublicBuckets"]


def test_reachability_follows_files_cdn_url_and_refuses_a_broken_one():
    inv = inventory("growth")
    assert unreachable(inv) == []
    policy = one(inv, BUCKET_POLICY, "uploads")
    without = replace(inv, resources=tuple(r for r in inv.resources if r is not policy))
    assert unreachable(without) == [
        "FILES_CDN_URL -> aws:cloudfront:Distribution uploads: no bucket policy lets "
        "CloudFront (this distribution) read arn:aws:s3:::floyo-dev-uploads/*"
    ]
    dist = one(inv, DISTRIBUTION, "uploads")
    plain = replace(
        dist,
        inputs={
            **dist.inputs,
            "defaultCacheBehavior": {
                **dist.inputs["defaultCacheBehavior"],
                "viewerProtocolPolicy": "allow-all",
            },
        },
    )
    http = replace(inv, resources=tuple(plain if r is dist else r for r in inv.resources))
    assert "serves plain HTTP" in unreachable(http)[0]


def test_graph_draws_the_cdn_and_its_origin():
    model = graph_model(inventory("growth"))
    assert ("cdn_uploads", "CloudFront uploads<br/>PriceClass_100", "cdn") in model.regions[
        "global"
    ]
    assert ("app", "cdn_uploads", "FILES_CDN_URL over HTTPS") in model.edges
    assert ("cdn_uploads", "bucket_uploads", "origin via OAC") in model.edges


def test_provider_rules_for_cloudfront():
    from floyo_scale.provider_rules import broken_rules
    from floyo_scale.provider_rules.cloudfront import CDN_RULES

    inv = inventory("enterprise")
    assert broken_rules(inv, CDN_RULES) == []
    policy = one(inv, CACHE_POLICY, "uploads-images")
    oac = one(inv, OAC, "uploads")
    bad = replace(
        inv,
        resources=tuple(
            replace(r, inputs={**r.inputs, "minTtl": 90_000})
            if r is policy
            else replace(r, inputs={**r.inputs, "name": "x" * 65})
            if r is oac
            else r
            for r in inv.resources
        ),
    )
    found = {(b.rule, b.value) for b in broken_rules(bad, CDN_RULES)}
    assert found == {
        ("cloudfront-oac-name", "x" * 65),
        ("cloudfront-cache-policy-ttl", "[90000, 86400, 31536000]"),
    }


def test_spec_refuses_a_second_cdn_bucket():
    from pathlib import Path

    from floyo_scale.spec import Workspace, load_stack
    from floyo_scale.spec.models import Cdn
    from floyo_scale.spec.rules import check_phase

    phase = load_stack(Workspace(Path(__file__).resolve().parent.parent), "dev", "growth").phase
    buckets = dict(phase.storage.buckets)
    buckets["archive"] = buckets["archive"].model_copy(update={"cdn": Cdn()})
    storage = phase.storage.model_copy(update={"buckets": buckets})
    found = check_phase(phase.model_copy(update={"storage": storage}))
    assert (
        ("storage", "buckets", "archive", "cdn"),
        "only one bucket can have a CDN, and 'uploads' already has one (the app gets one "
        "FILES_CDN_URL)",
        "remove cdn from 'archive'",
    ) in found
    assert check_phase(phase) == []
