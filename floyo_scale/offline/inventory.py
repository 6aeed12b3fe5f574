"""The Inventory: every resource the one Pulumi program registers, as recorded by `synth`.

Plan, diff, cost, graph, policy and PR comments are all computed from an Inventory and
from nothing else, so none of them can promise what `up` would not build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..transport.redact import PLACEHOLDER

SECRET = PLACEHOLDER  # what a secret input looks like in every output: the redactor's one

# The one classification of every resource type the program can register, used by `plan`,
# `diff`, the preview guard and `up` (engine.results.Step, Resource.stateful).
#
# Stateful: deleting or replacing one loses data (rows, objects, cached keys, a credential
# nothing else holds) or moves the app to an empty one.
STATEFUL_TYPES = frozenset(
    {
        # databases: Supabase projects and their read replicas, RDS instances and replicas
        "pulumi-python:dynamic/supabase:Project",
        "pulumi-python:dynamic/supabase:ReadReplica",
        "aws:rds/instance:Instance",
        # caches: ElastiCache (regional and global), Upstash
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup",
        "upstash:index/redisDatabase:RedisDatabase",
        # object storage
        "aws:s3/bucket:Bucket",
        # secrets (RDS Proxy reads the database's credentials from one)
        "aws:secretsmanager/secret:Secret",
    }
)

# Stateless: what the program creates that holds no data of its own. Deleting or replacing one
# loses settings the program sets again (network, access, alarms, configuration of a stateful
# resource), never data. A delete of one of the Supabase settings resources leaves the
# project as it is (infra/supabase/provider.py); an S3 sub-resource's delete leaves the
# bucket's objects; a RandomPassword or SecretVersion is regenerated and set on what uses it.
STATELESS_TYPES = frozenset(
    {
        # the explicit providers (default ones, such as random's, are pulumi:providers:* too)
        "pulumi:providers:aws",
        "pulumi:providers:vercel",
        "pulumi:providers:upstash",
        "pulumi:providers:sentry",
        # Vercel: the project is rebuilt from git; its variables and domains from the spec
        "vercel:index/project:Project",
        "vercel:index/projectDomain:ProjectDomain",
        "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable",
        # settings of a Supabase project, and the Upstash plan of a database
        "pulumi-python:dynamic/supabase:Addon",
        "pulumi-python:dynamic/supabase:DiskConfig",
        "pulumi-python:dynamic/supabase:PoolerSettings",
        "pulumi-python:dynamic/upstash:Plan",
        # configuration of a bucket (its objects stay)
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketPolicy:BucketPolicy",
        # the files CDN: edge caches refill from the bucket. A replaced distribution gets
        # another *.cloudfront.net domain (FILES_CDN_URL follows it; the app stores keys,
        # not URLs: docs/program.md)
        "aws:cloudfront/distribution:Distribution",
        "aws:cloudfront/originAccessControl:OriginAccessControl",
        "aws:cloudfront/cachePolicy:CachePolicy",
        # configuration of a database or cache
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:rds/proxy:Proxy",
        "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup",
        "aws:rds/proxyTarget:ProxyTarget",
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "random:index/randomPassword:RandomPassword",
        # network
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/route:Route",
        "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        # access, alerts, budget
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:route53/healthCheck:HealthCheck",  # a probe of the domain; its metrics age out
        "aws:sns/topic:Topic",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:budgets/budget:Budget",
        "sentry:index/sentryMetricAlert:SentryMetricAlert",
    }
)


def is_stateful(type_: str) -> bool:
    """Whether deleting or replacing a resource of this type loses data: on STATEFUL_TYPES,
    or a custom resource type on neither list (fail closed: a type the program gained
    without being classified, or one an older program left in the state, is taken to hold
    data until it is listed). The stack, components (`floyo:...`) and providers
    (`pulumi:providers:...`, default ones included) hold none."""
    if type_ in STATEFUL_TYPES:
        return True
    if type_ in STATELESS_TYPES:
        return False
    return not type_.startswith(("pulumi:pulumi:", "pulumi:providers:", "floyo:"))


@dataclass(frozen=True)
class Resource:
    """One registered resource.

    `type` is the type token the engine sees (`aws:s3/bucket:Bucket`,
    `pulumi-python:dynamic/supabase:Project`, `floyo:web:Web` for a component).
    `name` is the logical name, unique per type. `inputs` are the resolved inputs with
    secret values replaced by SECRET and unknown (computed) values by None; `secrets` holds
    a keyed digest of each secret value (digest.py), never the value.
    """

    type: str
    name: str
    component: str  # web | database | cache | storage | monitoring | regions
    region: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None  # "type::name" of the parent, None at the top
    protect: bool = False
    retain_on_delete: bool = False
    custom: bool = True  # False for ComponentResources
    # input path ("value", "apiToken", "settings.token") -> keyed digest of the secret there
    secrets: dict[str, str] = field(default_factory=dict)
    # "type::name" of each resource named in the `depends_on` option (not those its
    # inputs lead to): what Pulumi creates before this one and deletes after it
    depends_on: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Identity across inventories: what diff matches on (the URN's type and name)."""
        return f"{self.type}::{self.name}"

    @property
    def stateful(self) -> bool:
        return is_stateful(self.type)

    @property
    def provider(self) -> str:
        """`aws`, `vercel`, `supabase`, `floyo` (components), from the type token."""
        if self.type.startswith("pulumi-python:dynamic/"):
            return self.type.split("/", 1)[1].split(":", 1)[0]
        return self.type.split(":", 1)[0]


@dataclass(frozen=True)
class Inventory:
    """What one stack at one phase builds."""

    phase: str
    stack: str
    resources: tuple[Resource, ...]
    digest_key: str | None = None  # id of the key the secret digests were made with

    def custom_resources(self) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.custom)

    def by_key(self) -> dict[str, Resource]:
        return {r.key: r for r in self.resources}

    def of_type(self, type_: str) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.type == type_)


def short_type(type_: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws:s3:Bucket`; dynamic Supabase types -> `supabase:Project`."""
    if type_.startswith("pulumi-python:dynamic/"):
        return type_.split("/", 1)[1]
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return type_
