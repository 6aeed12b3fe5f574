"""S3 buckets: versioned, encrypted, never public, with the phase's lifecycle rules, and
replicated to every secondary region when the bucket asks for it."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi

from ..spec.models import Bucket, LifecycleRule
from ._sdk import iam, s3
from .access import service_trust
from .common import Context, PolicyStatement
from .regions import Regions


class Storage(pulumi.ComponentResource):
    def __init__(
        self, ctx: Context, regions: Regions, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        buckets = ctx.stack.phase.storage.buckets
        super().__init__("floyo:storage:Storage", "storage", {"buckets": sorted(buckets)}, opts)
        self.ctx, self.regions = ctx, regions
        self.bucket_names: dict[str, pulumi.Output[str]] = {}
        self.buckets: dict[str, s3.Bucket] = {}
        # every bucket, replicas too (logical name -> bucket, region), and the statements
        # of each one's policy (add_statements, finish_policies)
        self._all: dict[str, tuple[s3.Bucket, str, s3.BucketPublicAccessBlock]] = {}
        # each bucket's versioning (logical name), which replication waits for
        self._versioning: dict[str, s3.BucketVersioning] = {}
        self.statements: dict[str, list[pulumi.Input[PolicyStatement]]] = {}
        for name, spec in buckets.items():
            primary = self._bucket(name, spec, regions.primary, replica=False)
            self.buckets[name] = primary
            self.bucket_names[name] = primary.bucket
            if spec.replicate and regions.secondaries:
                self._replicate(name, spec, primary)
        self.register_outputs({"buckets": self.bucket_names})

    def _bucket(self, name: str, spec: Bucket, region: str, replica: bool) -> s3.Bucket:
        logical = f"{name}-{region}" if replica else name
        physical = f"{self.ctx.prefix}-{name}" + (f"-{region}" if replica else "")
        bucket = s3.Bucket(
            logical,
            bucket=physical,
            tags=self.ctx.tags("storage"),
            opts=self.ctx.stateful(provider=self.regions.providers[region], parent=self),
        )
        child = self.regions.opts(region, bucket)
        versioning = s3.BucketVersioning(
            logical,
            bucket=bucket.id,
            versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled" if spec.versioning or spec.replicate else "Suspended"
            ),
            opts=child,
        )
        s3.BucketServerSideEncryptionConfiguration(
            logical,
            bucket=bucket.id,
            rules=[
                s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        public_access = s3.BucketPublicAccessBlock(
            logical,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        # every bucket refuses requests without TLS: the first statement of its one policy
        # (finish_policies composes it with what other components add, e.g. the CDN's)
        self.add_statements(logical, bucket.arn.apply(tls_only_statement))
        if spec.lifecycle:
            s3.BucketLifecycleConfiguration(
                logical,
                bucket=bucket.id,
                rules=[_lifecycle_rule(rule) for rule in spec.lifecycle],
                opts=self.regions.opts(region, bucket, depends_on=[versioning]),
            )
        self._versioning[logical] = versioning
        self._all[logical] = (bucket, region, public_access)
        return bucket

    def _replicate(self, name: str, spec: Bucket, source: s3.Bucket) -> None:
        primary = self.regions.primary
        targets = {r: self._bucket(name, spec, r, replica=True) for r in self.regions.secondaries}
        role = iam.Role(
            f"{name}-replication",
            assume_role_policy=json.dumps(
                service_trust("s3.amazonaws.com", self.ctx.stack.stack.aws.account_id)
            ),
            permissions_boundary=self.ctx.boundary,
            tags=self.ctx.tags("storage"),
            opts=self.regions.opts(primary, source),
        )
        iam.RolePolicy(
            f"{name}-replication",
            role=role.id,
            policy=pulumi.Output.all(source.arn, *[b.arn for b in targets.values()]).apply(
                _replication_policy
            ),
            opts=self.regions.opts(primary, role),
        )
        s3.BucketReplicationConfig(
            name,
            bucket=source.id,
            role=role.arn,
            rules=[
                s3.BucketReplicationConfigRuleArgs(
                    id=f"to-{region}",
                    priority=i,
                    status="Enabled",
                    filter=s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                    delete_marker_replication=s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Enabled"
                    ),
                    destination=s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=target.arn, storage_class="STANDARD"
                    ),
                )
                for i, (region, target) in enumerate(targets.items())
            ],
            opts=self.regions.opts(
                primary,
                source,
                depends_on=[
                    self._versioning[name],
                    *[self._versioning[f"{name}-{region}"] for region in targets],
                ],
            ),
        )

    def add_statements(self, bucket: str, *statements: pulumi.Input[PolicyStatement]) -> None:
        """Statements for `bucket`'s policy (a logical name: `uploads`, `uploads-eu-west-1`),
        each a dict or an Output of one; `finish_policies` writes them as one document."""
        self.statements.setdefault(bucket, []).extend(statements)

    def finish_policies(self) -> None:
        """One bucket policy per bucket that has statements, composed (a bucket has one
        policy document: a second BucketPolicy on the same bucket would overwrite the
        first). Called once, after every component that adds statements (main.build)."""
        for logical, items in sorted(self.statements.items()):
            if not items:
                continue
            bucket, region, public_access = self._all[logical]
            s3.BucketPolicy(
                logical,
                bucket=bucket.id,
                policy=pulumi.Output.all(*items).apply(policy_document),
                opts=self.regions.opts(region, bucket, depends_on=[public_access]),
            )


def policy_document(statements: Sequence[PolicyStatement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def app_statement(bucket_arn: str, role_arn: str) -> PolicyStatement:
    """The bucket-policy statement for the app's role (the role policy grants the same:
    infra/access.py; the bucket policy names who may read, for the CDN's bucket)."""
    return {
        "Sid": "AppReadsAndWritesFiles",
        "Effect": "Allow",
        "Principal": {"AWS": role_arn},
        "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        "Resource": f"{bucket_arn}/*",
    }


def tls_only_statement(bucket_arn: str) -> PolicyStatement:
    """Refuse every request that is not over TLS (`aws:SecureTransport` false), for anyone:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html"""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _lifecycle_rule(rule: LifecycleRule) -> s3.BucketLifecycleConfigurationRuleArgs:
    return s3.BucketLifecycleConfigurationRuleArgs(
        id=rule.id,
        status="Enabled",
        filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=rule.prefix),
        transitions=[
            s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=t.days, storage_class=t.storage_class
            )
            for t in rule.transitions
        ]
        or None,
        expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=rule.expire_days)
        if rule.expire_days
        else None,
        noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=rule.noncurrent_expire_days
        )
        if rule.noncurrent_expire_days
        else None,
    )


def _replication_policy(arns: list[str]) -> str:
    source, *targets = arns
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    "Resource": [source],
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObjectVersionForReplication",
                        "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging",
                    ],
                    "Resource": [f"{source}/*"],
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                    "Resource": [f"{t}/*" for t in targets],
                },
            ],
        }
    )
