"""Capability facts about Supabase, Vercel and AWS, each with its source.

Every rule that `spec` enforces (plan tiers, region codes, replica limits) reads its numbers
from here, so a changed limit is one edit. Sources: ../shared/facts/PROVIDERS.md and the
Supabase Management API contract (../shared/contracts/, snapshot of 2026-06-01).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict, get_args

# Region codes `POST /v1/projects` accepts in `region_selection.code` (contract enum).
SUPABASE_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-east-1", "ap-southeast-1",
    "ap-northeast-1", "ap-northeast-2", "ap-southeast-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-north-1", "eu-central-1", "eu-central-2", "ca-central-1",
    "ap-south-1", "sa-east-1",
)  # fmt: skip

# Commercial AWS regions (docs.aws.amazon.com/global-infrastructure/latest/regions).
AWS_REGIONS: tuple[str, ...] = SUPABASE_REGIONS + (
    "af-south-1", "ap-northeast-3", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-7", "ca-west-1", "eu-south-1", "eu-south-2",
    "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
)  # fmt: skip

# Supabase plans, in order; read replicas need one of REPLICA_PLANS.
SUPABASE_PLANS: tuple[str, ...] = ("free", "pro", "team", "enterprise")
REPLICA_PLANS: frozenset[str] = frozenset({"pro", "team", "enterprise"})

# Compute sizes (`desired_instance_size` enum), smallest first.
COMPUTE_SIZES: tuple[str, ...] = (
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge",
    "8xlarge", "12xlarge", "16xlarge",
)  # fmt: skip
# supabase.com/docs/guides/platform/read-replicas: compute Small or larger,
# at most 2 replicas below XL, 5 at XL and above.
REPLICA_MIN_COMPUTE = "small"
REPLICA_MAX_BELOW_XL = 2
REPLICA_MAX_AT_XL = 5
REPLICA_XL = "xlarge"
FREE_PLAN_COMPUTE: frozenset[str] = frozenset({"nano", "micro"})

# Point-in-time recovery add-on variants (`pitr_7` ...), days of retention.
PITR_DAYS: tuple[int, ...] = (7, 14, 28)

# Supavisor pool settings (PATCH config/database/pooler).
# supabase.com/docs/guides/platform/backups: PITR needs at least a Small compute add-on.
PITR_MIN_COMPUTE = "small"

POOL_MODES: tuple[str, ...] = ("transaction", "session")
POOL_SIZE_MAX = 3000

# Vercel function regions and the AWS region each sits in (vercel.com/docs/regions).
VERCEL_REGIONS: dict[str, str] = {
    "iad1": "us-east-1", "cle1": "us-east-2", "sfo1": "us-west-1", "pdx1": "us-west-2",
    "yul1": "ca-central-1", "gru1": "sa-east-1", "dub1": "eu-west-1", "lhr1": "eu-west-2",
    "cdg1": "eu-west-3", "fra1": "eu-central-1", "arn1": "eu-north-1", "bom1": "ap-south-1",
    "icn1": "ap-northeast-2", "hnd1": "ap-northeast-1", "kix1": "ap-northeast-3",
    "sin1": "ap-southeast-1", "syd1": "ap-southeast-2", "hkg1": "ap-east-1",
    "cpt1": "af-south-1", "dxb1": "me-central-1",
}  # fmt: skip
VERCEL_PLANS: tuple[str, ...] = ("hobby", "pro", "enterprise")
# How many function regions a plan may set (PROVIDERS.md: Pro up to 3; uncertain).
VERCEL_MAX_FUNCTION_REGIONS: dict[str, int] = {
    "hobby": 1,
    "pro": 3,
    "enterprise": len(VERCEL_REGIONS),
}

# ElastiCache (Redis OSS / Valkey).
CACHE_ENGINES: tuple[str, ...] = ("redis", "valkey")
CACHE_NODE_TYPES: tuple[str, ...] = (
    "cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium",
    "cache.m7g.large", "cache.m7g.xlarge", "cache.m7g.2xlarge",
    "cache.r7g.large", "cache.r7g.xlarge", "cache.r7g.2xlarge", "cache.r7g.4xlarge",
)  # fmt: skip
CACHE_MAX_REPLICAS = 5  # read replicas per node group
# Global datastores need large-or-bigger nodes (no t-class) and at most 2 secondary regions.
GLOBAL_DATASTORE_MAX_SECONDARIES = 2
EvictionPolicy = Literal[
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
]  # fmt: skip
EVICTION_POLICIES: tuple[EvictionPolicy, ...] = get_args(EvictionPolicy)

# Upstash Redis (cache.provider: upstash): the AWS regions a global database's primary and
# read regions may be in. Source: upstash-pulumi 0.5.0, RedisDatabaseArgs.primary_region and
# read_regions ("Can be one of [...]"), mirroring the Upstash Terraform provider's schema.
UPSTASH_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-west-1", "us-west-2", "eu-central-1", "eu-west-1", "sa-east-1",
    "ap-southeast-1", "ap-southeast-2",
)  # fmt: skip

# S3 storage classes a lifecycle rule may transition to.
S3StorageClass = Literal[
    "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER",
    "DEEP_ARCHIVE",
]  # fmt: skip
S3_STORAGE_CLASSES: tuple[S3StorageClass, ...] = get_args(S3StorageClass)
# Minimum days in STANDARD before a transition to the IA classes (S3 lifecycle rules).
S3_MIN_DAYS_BEFORE_IA = 30


def cache_vpc_cidr(index: int) -> str:
    """The CIDR block of the cache VPC in the phase's index-th cache region (0: primary);
    non-overlapping, so the regions and a Vercel Secure Compute network can be peered."""
    return f"10.{100 + index}.0.0/16"


def is_global_datastore_node(node_type: str) -> bool:
    """Global datastores need M5/R5 or newer large-or-bigger nodes; t-class never qualifies."""
    family = node_type.split(".")[1] if node_type.count(".") >= 2 else ""
    return not family.startswith("t") and node_type.rsplit(".", 1)[-1] != "medium"


def compute_at_least(size: str, minimum: str) -> bool:
    return COMPUTE_SIZES.index(size) >= COMPUTE_SIZES.index(minimum)


# Amazon RDS for PostgreSQL instance classes floyo-scale prices (catalog: aws.rds).
RDS_INSTANCE_CLASSES: tuple[str, ...] = (
    "db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.t4g.large",
    "db.m7g.large", "db.m7g.xlarge", "db.r7g.large", "db.r7g.xlarge", "db.r7g.2xlarge",
)  # fmt: skip
# vCPUs per class (RDS Proxy bills per vCPU of the instances behind it, at least 2).
RDS_VCPUS: dict[str, int] = {
    "db.t4g.micro": 2, "db.t4g.small": 2, "db.t4g.medium": 2, "db.t4g.large": 2,
    "db.m7g.large": 2, "db.m7g.xlarge": 4, "db.r7g.large": 2, "db.r7g.xlarge": 4,
    "db.r7g.2xlarge": 8,
}  # fmt: skip
RDS_PORT = 5432

# PostgreSQL. New Supabase projects run the platform's default major version, and the create
# body (`V1CreateProjectBody` in the Management API contract, additionalProperties: false)
# has no field to ask for another: "Postgres 17 is what we currently default to on the
# Supabase platform" (supabase.com/changelog/46080-self-hosted-supabase-upgrading-from-pg-15-
# to-17-breaking-change, 2026). The stack's one major version is this unless the spec says.
SUPABASE_POSTGRES_MAJOR = 17
# Majors RDS for PostgreSQL creates instances of, each with its parameter group family
# `postgres<N>` (docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes, "Supported
# PostgreSQL major versions"; the spec allows 14 to 17).
RDS_POSTGRES_MAJORS: tuple[int, ...] = (14, 15, 16, 17)

# S3 storage classes and the `StorageType` dimension of the daily `BucketSizeBytes` metric
# that counts their bytes (docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html,
# "Amazon S3 CloudWatch daily storage metrics for buckets"). Each class counts only in its own
# StorageType: an alarm on StandardStorage alone loses the bytes a lifecycle rule moves.
S3_SIZE_STORAGE_TYPES: dict[str, str] = {
    "STANDARD": "StandardStorage",
    "STANDARD_IA": "StandardIAStorage",
    "ONEZONE_IA": "OneZoneIAStorage",
    "INTELLIGENT_TIERING": "IntelligentTieringFAStorage",
    "GLACIER_IR": "GlacierInstantRetrievalStorage",
    "GLACIER": "GlacierStorage",
    "DEEP_ARCHIVE": "DeepArchiveStorage",
}
# The order lifecycle transitions go in ("the transition waterfall": S3 User Guide,
# "Transitioning objects using Amazon S3 Lifecycle", supported transitions); a rule may only
# move objects down it, on increasing days.
S3_TRANSITION_ORDER: tuple[str, ...] = (
    "STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER",
    "DEEP_ARCHIVE",
)  # fmt: skip
# Classes an object must stay 30 days in STANDARD before, and 30 days in before the next
# transition (same page, "Constraints and considerations for transitions").
S3_IA_CLASSES: frozenset[str] = frozenset({"STANDARD_IA", "ONEZONE_IA"})

# CloudWatch metrics the program alarms on: the dimension sets each is published with, and
# for S3's daily storage metrics the StorageType values
# (docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html;
# docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.WhichShouldIMonitor.html,
# "Dimensions for ElastiCache metrics": CacheClusterId, CacheNodeId).
_S3_BYTES_STORAGE_TYPES: frozenset[str] = frozenset(
    {
        "StandardStorage", "IntelligentTieringFAStorage", "IntelligentTieringIAStorage",
        "IntelligentTieringAAStorage", "IntelligentTieringAIAStorage",
        "IntelligentTieringDAAStorage", "StandardIAStorage", "StandardIASizeOverhead",
        "StandardIAObjectOverhead", "OneZoneIAStorage", "OneZoneIASizeOverhead",
        "ReducedRedundancyStorage", "GlacierInstantRetrievalSizeOverhead",
        "GlacierInstantRetrievalStorage", "GlacierStorage", "GlacierStagingStorage",
        "GlacierObjectOverhead", "GlacierS3ObjectOverhead", "DeepArchiveStorage",
        "DeepArchiveObjectOverhead", "DeepArchiveS3ObjectOverhead", "DeepArchiveStagingStorage",
    }
)  # fmt: skip
_CACHE_NODE_DIMENSIONS: frozenset[frozenset[str]] = frozenset(
    {frozenset({"CacheClusterId"}), frozenset({"CacheClusterId", "CacheNodeId"})}
)


class MetricDimensions(TypedDict):
    """How one CloudWatch metric is published: its dimension sets, and (S3's daily storage
    metrics) the StorageType values it has."""

    sets: frozenset[frozenset[str]]
    StorageType: NotRequired[frozenset[str]]


CLOUDWATCH_DIMENSIONS: dict[tuple[str, str], MetricDimensions] = {
    ("AWS/S3", "BucketSizeBytes"): {
        "sets": frozenset({frozenset({"BucketName", "StorageType"})}),
        "StorageType": _S3_BYTES_STORAGE_TYPES,
    },
    ("AWS/S3", "NumberOfObjects"): {
        "sets": frozenset({frozenset({"BucketName", "StorageType"})}),
        "StorageType": frozenset({"AllStorageTypes"}),
    },
    ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"): {"sets": _CACHE_NODE_DIMENSIONS},
    ("AWS/ElastiCache", "Evictions"): {"sets": _CACHE_NODE_DIMENSIONS},
}

# Upstash Developer API, `POST /v2/redis/{id}/change-plan`: the plan names its
# ChangePlanRequest.plan_name accepts (upstash/docs devops/developer-api/openapi.yml at commit
# ef0ce4387f723fa1d0bd49d29331a6ec61feb6df, 2026-08-21; `free` is the free tier).
UPSTASH_PLAN_NAMES: tuple[str, ...] = (
    "free", "payg", "fixed_250mb", "fixed_1gb", "fixed_5gb", "fixed_10gb", "fixed_50gb",
    "fixed_100gb", "fixed_500gb",
)  # fmt: skip

# Sentry metric alerts (getsentry/sentry). Dataset values (src/sentry/snuba/dataset.py):
# `transactions` and `generic_metrics` are refused for new alerts ("Creation of
# transaction-based alerts is disabled, as we migrate to the span dataset. Create span-based
# alerts (dataset: events_analytics_platform) with the is_transaction:true filter instead.":
# src/sentry/incidents/metric_issue_detector.py, _validate_transaction_dataset_deprecation).
SENTRY_DATASETS: tuple[str, ...] = ("events", "events_analytics_platform", "metrics")
SENTRY_DEPRECATED_DATASETS: tuple[str, ...] = ("transactions", "generic_metrics")
SENTRY_SPANS_DATASET = "events_analytics_platform"
# src/sentry/snuba/snuba_query_validator.py: the span dataset takes one event type
# (QUERY_TYPE_VALID_EVENT_TYPES, "Multiple event types not allowed"), and a time window of at
# least 5 minutes ("Time window for this alert type must be at least 5 minutes").
SENTRY_SPAN_EVENT_TYPE = "trace_item_span"
SENTRY_SPAN_MIN_WINDOW_MINUTES = 5
# Aggregates of the span dataset the program may use (src/sentry/search/eap/spans/
# aggregates.py: percentiles and avg of span.duration, count(); formulas.py: failure_rate()).
SENTRY_SPAN_AGGREGATES = (
    r"(?:p50|p75|p90|p95|p99|p100|avg|max|min|sum)\(span\.duration\)"
    r"|count\(\)|failure_rate\(\)|epm\(\)|eps\(\)"
)
# The database role the app connects as (not `postgres`, not the RDS master user): a group
# role with the grants the app needs (db/roles.py), and two login roles in it that take
# turns, so a password rotates without a moment when the running deployment's is refused
# (docs/db.md, "The app's database role").
APP_DATABASE_ROLE = "floyo_app"
APP_LOGIN_ROLES = ("floyo_app_a", "floyo_app_b")


def app_login_role(generation: int) -> str:
    """The login role of password generation `generation` (1: floyo_app_a, 2: _b, 3: _a...)."""
    return APP_LOGIN_ROLES[(generation - 1) % len(APP_LOGIN_ROLES)]
