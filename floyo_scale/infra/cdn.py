"""CloudFront in front of the files bucket: the bucket stays private, CloudFront reads it with
Origin Access Control (SigV4-signed requests), viewers get HTTPS only, compressed where it
helps, cached at the edge for as long as a user file never changes.

Sources (read 2026-12-07):
- Origin Access Control, and the bucket policy it needs (principal `cloudfront.amazonaws.com`,
  `s3:GetObject`, condition `AWS:SourceArn` = the distribution's ARN):
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html
- `aws.cloudfront.OriginAccessControl(origin_access_control_origin_type="s3",
  signing_behavior="always", signing_protocol="sigv4")`:
  https://www.pulumi.com/registry/packages/aws/api-docs/cloudfront/originaccesscontrol/
- Compression needs the cache policy to include Accept-Encoding (gzip, brotli) and the
  behaviour's `compress`:
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/ServingCompressedFiles.html
- Cache policy TTLs (min <= default <= max; max up to 31,536,000 s):
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/controlling-the-cache-key.html
- CloudFront is global: its API lives in us-east-1, whichever provider region is named
  (docs/program.md; PROVIDERS.md "Budgets, IAM and CloudFront are global").
"""

from __future__ import annotations

import pulumi

from ..spec.models import Cdn as CdnSpec
from ._sdk import cloudfront, s3
from .common import Context, PolicyStatement
from .regions import Regions

ORIGIN_ID = "files"
YEAR_SECONDS = 31_536_000  # CloudFront's largest max TTL
DAY_SECONDS = 86_400

#: images: separate behaviours (their cache policy keeps them a day by default, so a replaced
#: avatar shows within a day even when its key is reused); everything else is an immutable
#: user file (the app writes each upload under a new key).
IMAGE_PATTERNS = ("*.avif", "*.gif", "*.jpeg", "*.jpg", "*.png", "*.svg", "*.webp")

#: (name, min, default, max) TTLs in seconds; the origin's Cache-Control wins within them.
CACHE_POLICIES = {
    "immutable": (DAY_SECONDS, YEAR_SECONDS, YEAR_SECONDS),
    "images": (0, DAY_SECONDS, YEAR_SECONDS),
}


class Cdn(pulumi.ComponentResource):
    """`url` (https://<distribution domain>) goes to the app as FILES_CDN_URL; `arn` is what
    the bucket's policy admits (Storage.add_statements)."""

    def __init__(
        self,
        ctx: Context,
        regions: Regions,
        bucket_name: str,
        bucket: s3.Bucket,
        spec: CdnSpec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            "floyo:cdn:Cdn",
            "cdn",
            {"bucket": bucket_name, "price_class": spec.price_class},
            opts,
        )
        self.bucket_name = bucket_name
        child = regions.opts(regions.primary, self)
        oac = cloudfront.OriginAccessControl(
            bucket_name,
            name=f"{ctx.prefix}-{bucket_name}",
            description=f"CloudFront reads {ctx.prefix}-{bucket_name} (signed, SigV4)",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        policies = {
            kind: cloudfront.CachePolicy(
                f"{bucket_name}-{kind}",
                name=f"{ctx.prefix}-{bucket_name}-{kind}",
                comment=f"{kind} files of {ctx.prefix}-{bucket_name}",
                min_ttl=low,
                default_ttl=default,
                max_ttl=high,
                parameters_in_cache_key_and_forwarded_to_origin=cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                    cookies_config=cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                        cookie_behavior="none"
                    ),
                    headers_config=cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                        header_behavior="none"
                    ),
                    query_strings_config=cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                        query_string_behavior="none"
                    ),
                    enable_accept_encoding_gzip=True,
                    enable_accept_encoding_brotli=True,
                ),
                opts=child,
            )
            for kind, (low, default, high) in CACHE_POLICIES.items()
        }
        read_only = ["GET", "HEAD"]
        self.distribution = cloudfront.Distribution(
            bucket_name,
            enabled=True,
            comment=f"{ctx.prefix} user files",
            price_class=spec.price_class,
            http_version="http2and3",
            is_ipv6_enabled=True,
            origins=[
                cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=bucket.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                )
            ],
            default_cache_behavior=cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=read_only,
                cached_methods=read_only,
                compress=True,
                cache_policy_id=policies["immutable"].id,
            ),
            ordered_cache_behaviors=[
                cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=pattern,
                    target_origin_id=ORIGIN_ID,
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=read_only,
                    cached_methods=read_only,
                    compress=True,
                    cache_policy_id=policies["images"].id,
                )
                for pattern in IMAGE_PATTERNS
            ],
            restrictions=cloudfront.DistributionRestrictionsArgs(
                geo_restriction=cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            # the CloudFront domain (*.cloudfront.net) and its certificate; a custom domain
            # (files.<domain>) would need an ACM certificate in us-east-1 and a DNS record
            # in a zone the spec does not describe
            viewer_certificate=cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            ),
            tags=ctx.tags("cdn"),
            opts=child,
        )
        self.arn: pulumi.Output[str] = self.distribution.arn
        self.url: pulumi.Output[str] = self.distribution.domain_name.apply(
            lambda domain: f"https://{domain}"
        )
        self.register_outputs({"url": self.url})


def oac_statement(bucket_arn: str, distribution_arn: str) -> PolicyStatement:
    """The bucket-policy statement that lets only this distribution read the objects."""
    return {
        "Sid": "CloudFrontReadsFiles",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"{bucket_arn}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }
