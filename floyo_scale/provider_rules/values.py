"""Provider rules on values: the enums the program uses (RDS classes and versions,
ElastiCache nodes, Vercel regions, Upstash regions and plans, Sentry datasets and aggregates)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..catalog import facts
from ..offline.inventory import Inventory, Resource
from .base import (
    CACHE_GROUP,
    GLOBAL_CACHE,
    RDS,
    RDS_PARAMETERS,
    SENTRY_ALERT,
    UPSTASH_DB,
    UPSTASH_PLAN,
    VERCEL_PROJECT,
    Rule,
    major,
)

# -- enums -------------------------------------------------------------------------------


def _rds_enums(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    cls = r.inputs.get("instanceClass")
    if isinstance(cls, str) and cls not in facts.RDS_INSTANCE_CLASSES:
        yield cls, "not an RDS for PostgreSQL instance class floyo-scale knows (catalog)"
    version = r.inputs.get("engineVersion")
    if version is not None and major(version) not in facts.RDS_POSTGRES_MAJORS:
        yield version, "not a PostgreSQL major version RDS creates instances of"


def _rds_family(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    family = r.inputs.get("family")
    if not isinstance(family, str) or not family.startswith("postgres"):
        yield family, "not an RDS for PostgreSQL parameter group family (postgres<major>)"
    elif major(family.removeprefix("postgres")) not in facts.RDS_POSTGRES_MAJORS:
        yield family, "no RDS for PostgreSQL parameter group family of that major"


def _cache_enums(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    node = r.inputs.get("nodeType")
    if isinstance(node, str) and node not in facts.CACHE_NODE_TYPES:
        yield node, "not an ElastiCache node type floyo-scale knows (catalog)"
    engine = r.inputs.get("engine")
    if isinstance(engine, str) and engine not in facts.CACHE_ENGINES:
        yield engine, "not an ElastiCache engine (redis or valkey, lower case)"


def _global_cache_node(r: Resource, inv: Inventory) -> Iterator[tuple[Any, str]]:
    # ElastiCache User Guide, "Global Datastore prerequisites": M5/R5 or newer, large or
    # bigger; no T-class nodes
    primary = r.inputs.get("primaryReplicationGroupId")
    for group in inv.of_type(CACHE_GROUP):
        node = group.inputs.get("nodeType")
        if (
            group.inputs.get("replicationGroupId") == primary
            and isinstance(node, str)
            and not facts.is_global_datastore_node(node)
        ):
            yield node, "a global datastore needs large-or-bigger M/R-class nodes"


def _vercel_regions(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    config = r.inputs.get("resourceConfig") or {}
    for region in config.get("functionDefaultRegions") or []:
        if region not in facts.VERCEL_REGIONS:
            yield region, "not a Vercel function region"


def _upstash_regions(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    if r.inputs.get("region") not in (None, "global"):
        # upstash-pulumi 0.5.0: new databases are global; `region` is deprecated otherwise
        yield r.inputs.get("region"), "Upstash creates only global databases (region: global)"
    primary = r.inputs.get("primaryRegion")
    if primary is not None and primary not in facts.UPSTASH_REGIONS:
        yield primary, "not an Upstash primary region"
    for region in r.inputs.get("readRegions") or []:
        if region not in facts.UPSTASH_REGIONS or region == primary:
            yield region, "not an Upstash read region (or the primary itself)"


def _upstash_plan(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    plan = r.inputs.get("plan_name")
    if plan not in facts.UPSTASH_PLAN_NAMES:
        yield plan, "not a plan_name of the Developer API's ChangePlanRequest"


# Sentry (getsentry/sentry): src/sentry/snuba/snuba_query_validator.py and
# src/sentry/incidents/metric_issue_detector.py.
SENTRY_SOURCE = (
    "getsentry/sentry src/sentry/snuba/snuba_query_validator.py, "
    "src/sentry/incidents/metric_issue_detector.py (_validate_transaction_dataset_deprecation)"
)


def _sentry_alert(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    dataset = r.inputs.get("dataset")
    if dataset in facts.SENTRY_DEPRECATED_DATASETS:
        yield (
            dataset,
            (
                "Sentry refuses new transaction-based alerts; use dataset "
                "events_analytics_platform with the is_transaction:true filter"
            ),
        )
    elif dataset not in facts.SENTRY_DATASETS:
        yield dataset, "not a Sentry metric alert dataset"
    if r.inputs.get("environment"):
        # EnvironmentField looks the name up and refuses one no event has created yet
        # (src/sentry/api/serializers/rest_framework/environment.py): the first `up` of a
        # new stack fails. The environment goes in the query instead.
        yield (
            r.inputs["environment"],
            (
                "Sentry refuses an environment it has not yet received an event from; filter "
                "with environment:<name> in the query"
            ),
        )
    if dataset != facts.SENTRY_SPANS_DATASET:
        return
    events = r.inputs.get("eventTypes") or []
    if list(events) != [facts.SENTRY_SPAN_EVENT_TYPE]:
        # QUERY_TYPE_VALID_EVENT_TYPES; "Multiple event types not allowed" on this dataset
        yield events, f"span alerts take exactly one event type, {facts.SENTRY_SPAN_EVENT_TYPE}"
    aggregate = r.inputs.get("aggregate")
    if not isinstance(aggregate, str) or not re.fullmatch(facts.SENTRY_SPAN_AGGREGATES, aggregate):
        yield aggregate, "not an aggregate of the span dataset floyo-scale knows"
    query = str(r.inputs.get("query") or "")
    transactions = "span.duration" in str(aggregate) or "failure_rate" in str(aggregate)
    if transactions and "is_transaction:true" not in query.split():
        yield query or "(empty)", "a transaction alert on spans needs is_transaction:true"
    window = r.inputs.get("timeWindow")
    if isinstance(window, int | float) and window < facts.SENTRY_SPAN_MIN_WINDOW_MINUTES:
        yield window, "span alerts need a time window of at least 5 minutes"


ENUM_RULES = (
    Rule(
        "rds-instance",
        (RDS,),
        "AWS RDS User Guide, DB instance classes supported for PostgreSQL; PostgreSQL release "
        "calendar (catalog/facts.py)",
        "spec",
        _rds_enums,
    ),
    Rule(
        "rds-parameter-family",
        (RDS_PARAMETERS,),
        "RDS API Reference, CreateDBParameterGroup (DBParameterGroupFamily)",
        "spec",
        _rds_family,
    ),
    Rule(
        "elasticache-node",
        (CACHE_GROUP,),
        "ElastiCache User Guide, supported node types (catalog/facts.py)",
        "spec",
        _cache_enums,
    ),
    Rule(
        "elasticache-global-node",
        (GLOBAL_CACHE,),
        "ElastiCache User Guide, Global Datastore prerequisites",
        "spec",
        _global_cache_node,
    ),
    Rule(
        "vercel-function-regions",
        (VERCEL_PROJECT,),
        "vercel.com/docs/regions (catalog/facts.py VERCEL_REGIONS)",
        "spec",
        _vercel_regions,
    ),
    Rule(
        "upstash-regions",
        (UPSTASH_DB,),
        "upstash-pulumi 0.5.0 RedisDatabaseArgs primary_region/read_regions",
        "spec",
        _upstash_regions,
    ),
    Rule(
        "upstash-plan",
        (UPSTASH_PLAN,),
        "upstash/docs devops/developer-api/openapi.yml, ChangePlanRequest.plan_name",
        "program",
        _upstash_plan,
    ),
    Rule("sentry-alert", (SENTRY_ALERT,), SENTRY_SOURCE, "program", _sentry_alert),
)
