"""What the daily watch's AWS role may do (the OIDC role `.github/workflows/watch.yml` assumes,
`AWS_STATUS_ROLE_ARN`): made by hand in the watched stack's account like the deploy role
(README.md, "CI"), since it must exist before anything runs; its policy is generated here so
that it names exactly what `status --record` and `drift` call, and is tested.

- `status`: CloudWatch GetMetricData (S3, ElastiCache, CloudFront, Route 53 metrics), Cost
  Explorer's month and forecast, Route 53 ListHealthChecks (a domain's check when the state
  does not name it), SNS ListSubscriptionsByTopic on the alert topics; the stack's outputs
  from its state (read only).
- `status --record`: read and write the stack's one history object in the state bucket
  (`PREFIX/.floyo-history/<stack>.jsonl`, observe/history.py) and nothing else there: the
  only write the role has.
- `drift` (a refresh in preview mode: nothing is written, and Pulumi takes no lock for it on
  a self-managed backend since pulumi/pulumi#22385): reads the configuration of what `up`
  manages. Bucket configuration only (never an object: no s3:GetObject on the app's buckets,
  no s3:ListBucket on them), never a secret's value.

Conditions and resources are as narrow as each API allows: GetMetricData, the Cost Explorer
calls, ListHealthChecks and the Describe/List calls of EC2, ElastiCache and RDS take no
resource-level permission, so they are `*`.
"""

from __future__ import annotations

from typing import Any

from ..spec import ResolvedStack
from .history import history_key, s3_backend

# what `status` calls (observe/aws.py, observe/status.py); no resource-level permissions
STATUS_READS = (
    "cloudwatch:GetMetricData",
    "ce:GetCostAndUsage",
    "ce:GetCostForecast",
    "route53:ListHealthChecks",
)
# what `drift` reads of each kind of resource the program makes (its refresh reads each one)
DRIFT_READS = (
    "budgets:ViewBudget",
    "budgets:ListTagsForResource",
    "cloudfront:GetCachePolicy",
    "cloudfront:GetDistribution",
    "cloudfront:GetOriginAccessControl",
    "cloudfront:ListTagsForResource",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource",
    "ec2:Describe*",
    "elasticache:Describe*",
    "elasticache:ListTagsForResource",
    "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "rds:Describe*",
    "rds:ListTagsForResource",
    "route53:GetHealthCheck",
    "route53:ListTagsForResource",
    "sns:GetSubscriptionAttributes",
    "sns:GetTopicAttributes",
    "sns:ListTagsForResource",
)
# a bucket's configuration, which the refresh of the program's S3 resources reads
BUCKET_CONFIG_READS = (
    "s3:GetAccelerateConfiguration",
    "s3:GetBucket*",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
)


def watch_policy(stack: ResolvedStack, backend_url: str) -> dict[str, Any]:
    """The watch role's permissions for `stack` whose state is at `backend_url`
    (`s3://BUCKET[/PREFIX]`)."""
    if not backend_url.startswith("s3://"):
        raise ValueError(f"the watch keeps its history in an S3 state backend, not {backend_url}")
    bucket, prefix, _ = s3_backend(backend_url)
    account = stack.stack.aws.account_id
    project, name = stack.stack.project, stack.name
    state = f"arn:aws:s3:::{bucket}/" + (f"{prefix}/" if prefix else "")
    physical = f"{project}-{name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StatusReads",
                "Effect": "Allow",
                "Action": list(STATUS_READS),
                "Resource": "*",
            },
            {
                "Sid": "AlertSubscriptions",
                "Effect": "Allow",
                "Action": ["sns:ListSubscriptionsByTopic"],
                "Resource": f"arn:aws:sns:*:{account}:alerts-*",
            },
            {
                "Sid": "ReadTheStacksState",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [
                    f"{state}.pulumi/meta.yaml",
                    f"{state}.pulumi/stacks/{project}/{name}.json*",
                ],
            },
            {
                "Sid": "ListTheState",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
            {
                "Sid": "KeepTheHistory",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/{history_key(prefix, name)}",
            },
            {
                "Sid": "DriftReads",
                "Effect": "Allow",
                "Action": list(DRIFT_READS),
                "Resource": "*",
            },
            {
                "Sid": "DriftBucketConfiguration",
                "Effect": "Allow",
                "Action": list(BUCKET_CONFIG_READS),
                "Resource": f"arn:aws:s3:::{physical}-*",
            },
        ],
    }


__all__ = ["BUCKET_CONFIG_READS", "DRIFT_READS", "STATUS_READS", "watch_policy"]
