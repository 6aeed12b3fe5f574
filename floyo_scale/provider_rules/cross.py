"""Provider rules across fields and resources: lifecycle days and order, public RDS after
its gateway, budget to SNS with a topic policy, alarm dimensions, one PostgreSQL major."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..catalog import facts
from ..offline.inventory import Inventory, Resource
from .base import (
    ALARM,
    BUCKET,
    BUDGET,
    CACHE_GROUP,
    CACHE_PARAMETERS,
    GATEWAY,
    LIFECYCLE,
    RDS,
    RDS_PARAMETERS,
    ROUTE,
    SUPABASE_PROJECT,
    TOPIC_POLICY,
    Rule,
    major,
)

# -- across fields and resources ---------------------------------------------------------


def _lifecycle(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    """S3 User Guide, "Transitioning objects using Amazon S3 Lifecycle": objects stay at
    least 30 days in STANDARD before STANDARD_IA or ONEZONE_IA, and 30 days in those before a
    later transition; transitions go down the waterfall (STANDARD_IA, INTELLIGENT_TIERING,
    ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE) on increasing days; expiration comes after
    the last transition."""
    order = facts.S3_TRANSITION_ORDER
    for rule in r.inputs.get("rules") or []:
        at = f"rule {rule.get('id')}"
        transitions = sorted(rule.get("transitions") or [], key=lambda t: t.get("days") or 0)
        previous: dict[str, Any] | None = None
        for t in transitions:
            days, cls = t.get("days"), t.get("storageClass")
            if cls not in order:
                yield cls, f"{at}: not a storage class a lifecycle rule transitions to"
                continue
            if not isinstance(days, int):
                continue
            if cls in facts.S3_IA_CLASSES and days < facts.S3_MIN_DAYS_BEFORE_IA:
                yield days, f"{at}: {cls} needs at least {facts.S3_MIN_DAYS_BEFORE_IA} days"
            if previous is not None:
                before, prev_days = previous["storageClass"], previous.get("days") or 0
                if order.index(cls) <= order.index(before):
                    yield cls, f"{at}: {cls} cannot follow {before} (the transition waterfall)"
                elif before in facts.S3_IA_CLASSES and days - prev_days < 30:
                    yield days, f"{at}: {cls} must come 30 days or more after {before}"
            previous = t
        expire = (rule.get("expiration") or {}).get("days")
        last = transitions[-1].get("days") if transitions else None
        if isinstance(expire, int) and isinstance(last, int) and expire <= last:
            yield expire, f"{at}: expiration must come after the last transition ({last} days)"


def _public_rds(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    """RDS refuses a publicly accessible instance in a VPC without an attached internet
    gateway (InvalidVPCNetworkStateFault): the instance must depend on the gateway and the
    route of its region, or Pulumi creates them side by side."""
    if not r.inputs.get("publiclyAccessible"):
        return
    here = [x for x in inv.resources if x.region == r.region]
    needed = [x.key for x in here if x.type in (GATEWAY,)] + [
        x.key
        for x in here
        if x.type == ROUTE and x.inputs.get("destinationCidrBlock") == "0.0.0.0/0"
    ]
    if not needed:
        yield "publiclyAccessible", f"no internet gateway and route in {r.region}"
        return
    missing = [k for k in needed if k not in r.depends_on]
    if missing:
        yield ", ".join(missing), "a public instance must depend on its gateway and route"


def _budget_topic(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    """AWS Budgets User Guide, "Creating an Amazon SNS topic for budget notifications": the
    topic's access policy must allow budgets.amazonaws.com to SNS:Publish, else the
    notification is dropped."""
    topics = {
        arn
        for n in r.inputs.get("notifications") or []
        for arn in n.get("subscriberSnsTopicArns") or []
    }
    for arn in sorted(topics):
        if not any(_allows_budgets(p, arn) for p in inv.of_type(TOPIC_POLICY)):
            yield arn, "no topic policy lets budgets.amazonaws.com publish to it"


def _allows_budgets(policy: Resource, arn: str) -> bool:
    if policy.inputs.get("arn") != arn:
        return False
    try:
        document = json.loads(str(policy.inputs.get("policy") or "{}"))
    except ValueError:
        return False
    for statement in document.get("Statement", []):
        principal = (statement.get("Principal") or {}).get("Service")
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources or []
        if (
            statement.get("Effect") == "Allow"
            and principal == "budgets.amazonaws.com"
            and "SNS:Publish" in actions
            and arn in resources
        ):
            return True
    return False


def _alarm_metrics(r: Resource) -> Iterator[dict[str, Any]]:
    """Each metric an alarm reads: its own, or each of its metric math queries'."""
    if r.inputs.get("metricName"):
        yield {
            "namespace": r.inputs.get("namespace"),
            "metricName": r.inputs.get("metricName"),
            "dimensions": r.inputs.get("dimensions") or {},
        }
    for query in r.inputs.get("metricQueries") or []:
        metric = (query.get("metric") or {}) if isinstance(query, dict) else {}
        if metric.get("metricName"):
            yield {
                "namespace": metric.get("namespace"),
                "metricName": metric.get("metricName"),
                "dimensions": metric.get("dimensions") or {},
            }


def _alarm_dimensions(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    """CloudWatch returns no data for a dimension set a metric is not published with: the
    alarm never fires (its missing data is "notBreaching")."""
    for metric in _alarm_metrics(r):
        known = facts.CLOUDWATCH_DIMENSIONS.get((metric["namespace"], metric["metricName"]))
        if known is None:
            continue
        keys = frozenset(metric["dimensions"])
        if keys not in known["sets"]:
            yield sorted(keys), f"{metric['metricName']} is not published with these dimensions"
        storage = metric["dimensions"].get("StorageType")
        values = known.get("StorageType")
        if storage is not None and values is not None and storage not in values:
            yield storage, f"{metric['metricName']} has no StorageType {storage}"


def _bucket_alarm_covers(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    """A bucket-size alarm must count every storage class the bucket's lifecycle rules move
    objects to (each class is its own StorageType of BucketSizeBytes)."""
    metrics = [m for m in _alarm_metrics(r) if m["metricName"] == "BucketSizeBytes"]
    if not metrics:
        return
    buckets = {m["dimensions"].get("BucketName") for m in metrics}
    watched = {m["dimensions"].get("StorageType") for m in metrics}
    for bucket in inv.of_type(BUCKET):
        if bucket.inputs.get("bucket") not in buckets:
            continue
        wanted = {facts.S3_SIZE_STORAGE_TYPES["STANDARD"]}
        for config in inv.of_type(LIFECYCLE):
            if config.name != bucket.name or config.region != bucket.region:
                continue
            for rule in config.inputs.get("rules") or []:
                for t in rule.get("transitions") or []:
                    storage = facts.S3_SIZE_STORAGE_TYPES.get(t.get("storageClass"))
                    if storage:
                        wanted.add(storage)
        missing = sorted(wanted - watched)
        if missing:
            yield (
                ", ".join(missing),
                (
                    f"the alarm on bucket {bucket.inputs.get('bucket')} misses bytes its "
                    "lifecycle rules move to other storage classes"
                ),
            )


def _one_postgres_major(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    """One major version: each RDS instance's engine, its parameter group's family and, while
    a Supabase project exists (a migration's source), the major Supabase creates."""
    version = r.inputs.get("engineVersion")
    if version is None:
        return  # a replica follows its source
    engine = major(version)
    for group in inv.of_type(RDS_PARAMETERS):
        family = str(group.inputs.get("family") or "")
        if family.startswith("postgres") and major(family.removeprefix("postgres")) != engine:
            yield family, f"the parameter group's family is not postgres{engine}"
    if inv.of_type(SUPABASE_PROJECT) and engine != facts.SUPABASE_POSTGRES_MAJOR:
        yield (
            version,
            (
                f"Supabase creates PostgreSQL {facts.SUPABASE_POSTGRES_MAJOR}: a migration target "
                "older than its source cannot load its schema"
            ),
        )


def _cache_family(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    """A replication group's parameter group family is its engine and major version
    (`redis7` for Redis OSS 7.x, `valkey8` for Valkey 8.x: ElastiCache API Reference,
    CreateCacheParameterGroup, CacheParameterGroupFamily); another family is refused. The
    program names both after the cache's region (infra/cache.py), which is how they pair."""
    engine, version = r.inputs.get("engine"), r.inputs.get("engineVersion")
    if not isinstance(engine, str) or version is None:
        return  # a global datastore's secondary follows its primary
    wanted = f"{engine}{major(version)}"
    for group in inv.of_type(CACHE_PARAMETERS):
        family = group.inputs.get("family")
        if group.name == r.name and group.region == r.region and family != wanted:
            yield family, f"the group runs {engine} {version}: its family is {wanted}"


CROSS_RULES = (
    Rule(
        "elasticache-engine-family",
        (CACHE_GROUP,),
        "ElastiCache API Reference, CreateCacheParameterGroup (CacheParameterGroupFamily)",
        "program",
        _cache_family,
    ),
    Rule(
        "s3-lifecycle-days",
        (LIFECYCLE,),
        "AWS S3 User Guide, lifecycle transition constraints",
        "spec",
        _lifecycle,
    ),
    Rule(
        "rds-public-gateway",
        (RDS,),
        "AWS RDS User Guide, working with a DB instance in a VPC (InvalidVPCNetworkStateFault)",
        "program",
        _public_rds,
    ),
    Rule(
        "budget-topic-policy",
        (BUDGET,),
        "AWS Budgets User Guide, creating an Amazon SNS topic for budget notifications",
        "program",
        _budget_topic,
    ),
    Rule(
        "alarm-dimensions",
        (ALARM,),
        "AWS S3 User Guide, metrics and dimensions; ElastiCache User Guide, metrics dimensions",
        "program",
        _alarm_dimensions,
    ),
    Rule(
        "bucket-alarm-storage-classes",
        (ALARM,),
        "AWS S3 User Guide, CloudWatch daily storage metrics (StorageType)",
        "program",
        _bucket_alarm_covers,
    ),
    Rule(
        "postgres-one-major",
        (RDS,),
        "supabase.com/changelog/46080 (Supabase's default, 17); RDS CreateDBParameterGroup",
        "spec",
        _one_postgres_major,
    ),
)
