"""What a provider rule is (`Rule`), what breaking one records (`Broken`), and the type
tokens the rules read. Layer "guards"."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..offline.inventory import Inventory, Resource

Cause = Literal["spec", "program"]


@dataclass(frozen=True)
class Broken:
    """One value a provider would refuse."""

    rule: str  # the rule's id
    resource: str  # "aws:s3:Bucket uploads"
    value: str
    message: str
    source: str
    cause: Cause

    def describe(self) -> str:
        return f"{self.resource}: {self.message} (value {self.value}; source: {self.source})"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "resource": self.resource,
            "value": self.value,
            "message": self.message,
            "source": self.source,
            "cause": self.cause,
        }


# A check yields (value, message) for each thing it refuses on one resource.
Check = Callable[[Resource, Inventory], Iterable[tuple[Any, str]]]


@dataclass(frozen=True)
class Rule:
    id: str
    types: tuple[str, ...]  # the type tokens it reads
    source: str
    cause: Cause
    check: Check


# -- type tokens -------------------------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
ROLE = "aws:iam/role:Role"
RDS = "aws:rds/instance:Instance"
RDS_PARAMETERS = "aws:rds/parameterGroup:ParameterGroup"
RDS_SUBNETS = "aws:rds/subnetGroup:SubnetGroup"
RDS_PROXY = "aws:rds/proxy:Proxy"
CACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_PARAMETERS = "aws:elasticache/parameterGroup:ParameterGroup"
CACHE_SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
GLOBAL_CACHE = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
BUDGET = "aws:budgets/budget:Budget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE = "aws:ec2/route:Route"
VERCEL_PROJECT = "vercel:index/project:Project"
UPSTASH_DB = "upstash:index/redisDatabase:RedisDatabase"
UPSTASH_PLAN = "pulumi-python:dynamic/upstash:Plan"
SENTRY_ALERT = "sentry:index/sentryMetricAlert:SentryMetricAlert"
SUPABASE_PROJECT = "pulumi-python:dynamic/supabase:Project"


def major(version: Any) -> int | None:
    """The major version in "17", "17.2" or "postgres17"'s tail."""
    match = re.match(r"\d+", str(version))
    return int(match.group()) if match else None


def show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
