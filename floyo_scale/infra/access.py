"""How the app reaches its buckets without long-lived keys: Vercel's OIDC federation to AWS.

Vercel issues each function an OIDC token (issuer `https://oidc.vercel.com/<team slug>` in
the team issuer mode the project is set to, audience `https://vercel.com/<team slug>`,
subject `owner:<team slug>:project:<project>:environment:<environment>`). AWS trusts that
issuer through an IAM OIDC identity provider; one role per stack admits exactly this
stack's Vercel project in the environments its variables are set for, and may only use
this stack's buckets, with only the actions the app needs. The app gets the role's ARN as
AWS_ROLE_ARN (`@vercel/oidc-aws-credentials-provider` reads it).

One IAM OIDC provider exists per issuer URL per AWS account: two stacks in one account
would both try to create it (each stack here has its own account).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from ._sdk import iam
from .common import Context
from .regions import Regions

ISSUER_HOST = "oidc.vercel.com"
# what the app may do with a bucket: read, write and delete its objects, list the bucket
READ_WRITE = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
READ_ONLY = ("s3:GetObject",)
LIST = ("s3:ListBucket",)


def issuer(team: str) -> str:
    return f"https://{ISSUER_HOST}/{team}"


def audience(team: str) -> str:
    return f"https://vercel.com/{team}"


def subjects(
    team: str, project: str, environments: Sequence[str], previews_of: str | None = None
) -> list[str]:
    """The OIDC `sub` of each deployment the role serves: `project` in `environments`, and
    `previews_of`'s preview deployments (production's project, served by staging)."""
    served = [(project, env) for env in environments]
    if previews_of:
        served.append((previews_of, "preview"))
    return [f"owner:{team}:project:{p}:environment:{env}" for p, env in served]


def trust_policy(
    provider_arn: str,
    team: str,
    project: str,
    environments: Sequence[str],
    previews_of: str | None = None,
) -> dict[str, Any]:
    """Only tokens Vercel issued to `project` of `team` in `environments` (and to the
    preview deployments of `previews_of`) may assume."""
    host = f"{ISSUER_HOST}/{team}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:aud": audience(team),
                        f"{host}:sub": subjects(team, project, environments, previews_of),
                    }
                },
            }
        ],
    }


def bucket_policy(buckets: Mapping[str, tuple[str, bool]]) -> dict[str, Any]:
    """`buckets`: bucket name -> (physical name, read_only). Objects: read (and write and
    delete unless read_only); the bucket itself: list. Nothing else, nowhere else."""
    statements: list[dict[str, Any]] = []
    writable = sorted(physical for physical, ro in buckets.values() if not ro)
    readable = sorted(physical for physical, ro in buckets.values() if ro)
    if writable:
        statements.append(
            {
                "Sid": "ReadWriteObjects",
                "Effect": "Allow",
                "Action": list(READ_WRITE),
                "Resource": [f"arn:aws:s3:::{b}/*" for b in writable],
            }
        )
    if readable:
        statements.append(
            {
                "Sid": "ReadObjects",
                "Effect": "Allow",
                "Action": list(READ_ONLY),
                "Resource": [f"arn:aws:s3:::{b}/*" for b in readable],
            }
        )
    statements.append(
        {
            "Sid": "ListBuckets",
            "Effect": "Allow",
            "Action": list(LIST),
            "Resource": [f"arn:aws:s3:::{b}" for b in sorted(writable + readable)],
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


# What any role the program creates may ever do (its permissions boundary: a role's
# effective permissions are what both its own policies and the boundary allow,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html): the app's
# and the replication role's actions on this stack's buckets, RDS Proxy's read of this
# stack's secrets. Nothing in IAM, nothing in another stack's buckets.
REPLICATION = (
    "s3:GetReplicationConfiguration",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
)


def boundary_policy(prefix: str, account: str) -> dict[str, Any]:
    """The boundary the program creates when the stack names none: this stack's buckets
    (`<prefix>-*`) and secrets only."""
    buckets = f"arn:aws:s3:::{prefix}-*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ThisStacksBuckets",
                "Effect": "Allow",
                "Action": sorted({*READ_WRITE, *LIST, *REPLICATION}),
                "Resource": [buckets, f"{buckets}/*"],
            },
            {
                "Sid": "ThisStacksSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [f"arn:aws:secretsmanager:*:{account}:secret:{prefix}-*"],
            },
            {
                "Sid": "DecryptThroughSecretsManagerOnly",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": ["*"],
                "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
            },
        ],
    }


def permissions_boundary(ctx: Context, regions: Regions) -> pulumi.Input[str]:
    """The ARN every role the program creates is bounded by: the stack's
    `aws.permissions_boundary`, else a managed policy created here, before any role."""
    aws_stack = ctx.stack.stack.aws
    if aws_stack.permissions_boundary:
        return aws_stack.permissions_boundary
    policy = iam.Policy(
        "boundary",
        name=f"{ctx.prefix}-boundary",
        description=f"the most any role of {ctx.prefix} may do (its permissions boundary)",
        policy=json.dumps(boundary_policy(ctx.prefix, aws_stack.account_id)),
        tags=ctx.tags("access"),
        opts=regions.opts(regions.primary, regions),
    )
    return policy.arn


def service_trust(service: str, account: str) -> dict[str, Any]:
    """A trust policy for an AWS service's role: `service` may assume it on behalf of this
    account only (aws:SourceAccount, against the confused deputy:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


class AppAccess(pulumi.ComponentResource):
    """The IAM OIDC provider for the team's Vercel issuer, and the app's role on this stack's
    buckets. `role_arn` goes to the app as AWS_ROLE_ARN."""

    def __init__(
        self,
        ctx: Context,
        regions: Regions,
        buckets: Mapping[str, pulumi.Input[str]],
        read_only: set[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        settings = ctx.stack.stack.vercel
        team, project = settings.team, settings.project_name
        environments, previews_of = ctx.stack.environments, settings.previews_of
        super().__init__(
            "floyo:access:AppAccess",
            "access",
            {
                "issuer": issuer(team),
                "project": project,
                "environments": list(environments),
                "previews_of": previews_of,
            },
            opts,
        )
        child = regions.opts(regions.primary, self)
        self.provider = iam.OpenIdConnectProvider(
            "vercel-oidc",
            url=issuer(team),
            client_id_lists=[audience(team)],
            tags=ctx.tags("access"),
            opts=child,
        )
        self.role = iam.Role(
            "app",
            name=f"{ctx.prefix}-app",
            description=f"the {project} Vercel project's functions ({', '.join(environments)})"
            + (f" and {previews_of}'s previews" if previews_of else ""),
            assume_role_policy=self.provider.arn.apply(
                lambda arn: json.dumps(trust_policy(arn, team, project, environments, previews_of))
            ),
            max_session_duration=3600,
            permissions_boundary=ctx.boundary,
            tags=ctx.tags("access"),
            opts=child,
        )
        names = list(buckets)
        physical = [buckets[n] for n in names]
        iam.RolePolicy(
            "app-buckets",
            role=self.role.id,
            policy=pulumi.Output.all(*physical).apply(
                lambda values: json.dumps(
                    bucket_policy(
                        {n: (v, n in read_only) for n, v in zip(names, values, strict=True)}
                    )
                )
            ),
            opts=regions.opts(regions.primary, self.role),
        )
        self.role_arn: pulumi.Output[str] = self.role.arn
        self.register_outputs({"role_arn": self.role_arn})
