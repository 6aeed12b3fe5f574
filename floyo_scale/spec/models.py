"""The spec's shape: Pydantic v2 models for a resolved phase and for a stack file.

A phase file holds only its differences from the phase it extends; the models describe the
result of resolving that chain (see merge.py), so every field here is present after merging.
Capability rules that span fields (plan tiers, replica limits) live in rules.py.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo

from ..catalog import facts
from .refs import SECRET_REF


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SpecValueError(ValueError):
    """A validator's complaint with a hint (messages.py shows the value in front of it)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _one_of(choices: tuple[str, ...], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            raise SpecValueError(
                f"not a known {what}",
                (f"did you mean {close[0]}? " if close else "") + "one of: " + ", ".join(choices),
            )
        return value

    check.choices, check.what = choices, what  # type: ignore[attr-defined]  # for messages.py
    return AfterValidator(check)


AwsRegion = Annotated[str, _one_of(facts.AWS_REGIONS, "AWS region")]
VercelRegion = Annotated[str, _one_of(tuple(facts.VERCEL_REGIONS), "Vercel region")]
ComputeSize = Annotated[str, _one_of(facts.COMPUTE_SIZES, "compute size")]
NodeType = Annotated[str, _one_of(facts.CACHE_NODE_TYPES, "cache node type")]
# The one pattern of a name: stacks, phases, projects, buckets. No path separator, dot,
# backtick, space or line break, so a name is safe in a path, a command line, Markdown.
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,40}$"
NAME_HINT = "a name is lowercase letters, digits and '-', starting with a letter, at most 41 long"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


_NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))


def is_name(value: object) -> bool:
    """Whether `value` is a name (the whole of it: a final line break is not allowed)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _secret_ref(example: str) -> AfterValidator:
    """A field that holds a secret takes only `${env:NAME}`; `example` is its usual NAME."""

    def check(value: str) -> str:
        if not SECRET_REF.match(value):
            raise SpecValueError(
                "secrets are never written in a spec",
                f"refer to an environment variable instead, e.g. ${{env:{example}}}",
            )
        return value

    check.secret = True  # type: ignore[attr-defined]  # messages never show its value
    return AfterValidator(check)


def is_secret_field(field: FieldInfo) -> bool:
    return any(getattr(getattr(m, "func", None), "secret", False) for m in field.metadata)


VercelToken = Annotated[str, _secret_ref("VERCEL_API_TOKEN")]
SupabaseToken = Annotated[str, _secret_ref("SUPABASE_ACCESS_TOKEN")]
UpstashKey = Annotated[str, _secret_ref("UPSTASH_API_KEY")]
SentryToken = Annotated[str, _secret_ref("SENTRY_AUTH_TOKEN")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")]


def _ipv4_network(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block: {value!r} ({exc})") from None
    return str(network)


Cidr = Annotated[str, AfterValidator(_ipv4_network)]
PeeringId = Annotated[str, Field(pattern=r"^pcx-[0-9a-f]{8,17}$")]


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


class Range(Model):
    """A low and a high figure (a cost or usage estimate)."""

    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise SpecValueError(
                f"low ({_num(self.low)}) is greater than high ({_num(self.high)})",
                "swap them, so that low is the smaller figure",
            )
        return self


class Users(Model):
    min: int = Field(ge=0)
    max: int | None = Field(default=None, ge=1, description="null: no upper bound")

    @model_validator(mode="after")
    def _ordered(self) -> Users:
        if self.max is not None and self.max <= self.min:
            raise SpecValueError(
                f"max ({self.max}) must be greater than min ({self.min})",
                "raise max above min, or write max: null for no upper bound",
            )
        return self


class Budget(Model):
    monthly_usd: float | None = Field(
        default=None, gt=0, description="the ceiling the guardrail enforces; null: set per stack"
    )
    expected_usd: Range | None = Field(default=None, description="the seed's cost range")
    alert_percent: int = Field(default=80, ge=1, le=100)


class Limits(Model):
    """Plan limits that alerts are computed against."""

    database_gb: float = Field(gt=0)
    bandwidth_gb_month: float = Field(gt=0)
    function_gb_hours_month: float = Field(gt=0)


class Reliability(Model):
    """What `status` judges availability against (seed: "Reliability: uptime"): the share of
    the time the app's domains answer Route 53's HTTPS health checks, over its window."""

    uptime_percent: float = Field(ge=90, lt=100)


class SecureCompute(Model):
    """A Vercel Secure Compute network (Enterprise) the project's functions run in, as Vercel
    gives it: its id, its CIDR block and, per region, the VPC peering connection it asked
    for to the cache's VPC (the program accepts it and routes the CIDR to port 6379)."""

    network_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Vercel's network id")
    cidr: Cidr = Field(description="the Secure Compute network's CIDR block")
    peering_connections: dict[AwsRegion, PeeringId] = Field(
        default={},
        description="per cache region, the pcx-... peering connection Vercel requested to "
        "the cache's VPC (known after the VPC exists: see docs/program.md)",
    )


class Web(Model):
    vercel_plan: Literal["hobby", "pro", "enterprise"]
    seats: int = Field(default=1, ge=1, le=1000)
    framework: Literal["nextjs"] = "nextjs"
    function_regions: list[VercelRegion] = Field(min_length=1)
    function_failover: bool = False
    secure_compute: SecureCompute | None = Field(
        default=None,
        description="Vercel Secure Compute (Enterprise): required for an ElastiCache cache, "
        "which Vercel functions reach only through it",
    )


class Pooler(Model):
    pool_mode: Literal["transaction", "session"] = "transaction"
    default_pool_size: int = Field(default=15, ge=0, le=facts.POOL_SIZE_MAX)


class ReadReplica(Model):
    region: AwsRegion
    purpose: str | None = None


class Sharding(Model):
    key: Literal["user_id", "organization_id"]
    shards: int = Field(ge=2, le=64)
    algorithm: Literal["hash"] = Field(
        default="hash",
        description="hash: jump consistent hash over SHA-256 of the key, named "
        "jump-sha256-v1 in FLOYO_SHARD_MAP (docs/sharding.md)",
    )
    unkeyed_tables: Literal["every_shard", "shard0"] = Field(
        default="every_shard",
        description="tables without the key column (lookups, global tables): every_shard "
        "copies them to each new shard (the app then writes them to every shard); shard0 "
        "keeps them on shard 0 only (no sharded table may then have a foreign key to them)",
    )
    key_columns: dict[str, str] = Field(
        default={},
        description="table -> column, for tables keyed by a column not named after the key "
        "(e.g. organizations: id); other tables are keyed when they have the key column",
    )


class Partition(Model):
    column: str = "created_at"
    interval: Literal["day", "week", "month"] = "month"
    retention_days: int = Field(ge=1)
    archive_bucket: str | None = Field(default=None, description="bucket old partitions go to")


RdsClass = Annotated[str, _one_of(facts.RDS_INSTANCE_CLASSES, "RDS instance class")]


class Rds(Model):
    """Dedicated PostgreSQL on Amazon RDS (`database.provider: rds`), one instance per shard,
    in its own VPC in the primary region, read replicas in the regions `read_replicas` names."""

    instance_class: RdsClass = "db.t4g.medium"
    multi_az: bool = Field(default=True, description="a synchronous standby in another zone")
    storage_gb: int = Field(default=20, ge=20, le=65_536, description="gp3, encrypted")
    max_storage_gb: int | None = Field(
        default=None, ge=20, le=65_536, description="storage autoscaling ceiling (null: off)"
    )
    backup_retention_days: int = Field(
        default=7, ge=1, le=35, description="automated backups and point-in-time recovery"
    )
    access: Literal["public_tls", "secure_compute"] = Field(
        description="how the app reaches the database: public_tls (publicly accessible, TLS "
        "required, the security group open to allowed_cidrs only) or secure_compute (private, "
        "reached from a Vercel Secure Compute network: allowed_cidrs is its CIDR)"
    )
    allowed_cidrs: list[str] = Field(
        min_length=1,
        description="the networks that may connect on port 5432 (0.0.0.0/0 must be written "
        "out: Vercel functions without Secure Compute have no fixed addresses)",
    )
    proxy: bool = Field(
        default=False,
        description="RDS Proxy for connection pooling (reachable only inside the VPC: needs "
        "access: secure_compute)",
    )


class Database(Model):
    provider: Literal["supabase", "rds"] = Field(
        default="supabase",
        description="supabase: Supabase projects; rds: dedicated PostgreSQL on Amazon RDS "
        "(database.rds); move the data with `floyo-scale db migrate`",
    )
    keep_supabase: bool = Field(
        default=False,
        description="with provider rds: keep the Supabase projects (the migration's source "
        "and way back) until `db migrate --finalize`; the app uses the database that "
        "`active` names",
    )
    active: Literal["supabase", "rds"] | None = Field(
        default=None,
        description="which database the app's DATABASE_URL names while both exist "
        "(default: supabase while keep_supabase, else the provider); `db migrate` switches it",
    )
    rds: Rds | None = Field(default=None, description="required with provider: rds")
    plan: Literal["free", "pro", "team", "enterprise"]
    compute: ComputeSize
    disk_gb: int = Field(
        ge=8, le=60_000, description="every project starts with 8 GB; disks only grow"
    )
    postgres_version: int = Field(
        default=facts.SUPABASE_POSTGRES_MAJOR,
        ge=min(facts.RDS_POSTGRES_MAJORS),
        le=max(facts.RDS_POSTGRES_MAJORS),
        description="the stack's one PostgreSQL major version: the RDS engine, its parameter "
        "family and the client tools `db` runs; while a Supabase project exists it must be "
        "the version Supabase creates (17), which its API offers no way to choose",
    )
    pooler: Pooler = Pooler()
    pitr_days: Literal[0, 7, 14, 28] = 0
    read_replicas: list[ReadReplica] = []
    sharding: Sharding | None = None
    partitioning: dict[str, Partition] = {}


class Ttl(Model):
    api_responses: int = Field(ge=1)
    queries: int = Field(ge=1)
    sessions: int = Field(ge=1)


class Cache(Model):
    provider: Literal["elasticache", "upstash"] = Field(
        default="upstash",
        description="upstash (default): serverless Redis over TLS, reachable from Vercel "
        "functions; elasticache: Redis in a VPC, reachable only through Vercel Secure "
        "Compute (web.secure_compute)",
    )
    memory_gb: float | None = Field(
        default=None,
        gt=0,
        le=500,
        description="the data the cache holds at most; Upstash: required, it picks the offer",
    )
    engine: Literal["redis", "valkey"] = Field(default="redis", description="ElastiCache only")
    node_type: NodeType | None = Field(
        default=None, description="ElastiCache only, and required there"
    )
    replicas: int = Field(
        default=0, ge=0, le=facts.CACHE_MAX_REPLICAS, description="ElastiCache only"
    )
    eviction_policy: facts.EvictionPolicy = Field(
        default="allkeys-lru",
        description="Upstash: any policy but noeviction turns its (own) eviction on",
    )
    ttl_seconds: Ttl
    global_datastore: bool = Field(
        default=False,
        description="ElastiCache only; an Upstash database reads in every secondary region",
    )


class Regions(Model):
    primary: AwsRegion
    secondaries: list[AwsRegion] = []


class Transition(Model):
    days: int = Field(ge=0)
    storage_class: facts.S3StorageClass


class LifecycleRule(Model):
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,255}$")
    prefix: str = ""
    transitions: list[Transition] = []
    expire_days: int | None = Field(default=None, ge=1)
    noncurrent_expire_days: int | None = Field(default=None, ge=1)


class Cdn(Model):
    """A CloudFront distribution in front of a bucket (infra/cdn.py): Origin Access Control,
    HTTPS only, compression, cache policies for immutable files and images."""

    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = Field(
        default="PriceClass_100",
        description="CloudFront's edge locations: 100 = North America and Europe, 200 adds "
        "Asia, the Middle East and Africa, All adds South America and Oceania",
    )


class Bucket(Model):
    versioning: bool = True
    lifecycle: list[LifecycleRule] = []
    replicate: bool = Field(default=False, description="replicate to every secondary region")
    cdn: Cdn | None = Field(
        default=None,
        description="serve the bucket's objects through a CloudFront distribution (the "
        "bucket stays private; the app gets FILES_CDN_URL)",
    )


class Storage(Model):
    buckets: dict[Name, Bucket] = {}


class Alerts(Model):
    database_size_percent: int = Field(default=80, ge=1, le=100)
    bandwidth_percent: int = Field(default=80, ge=1, le=100)
    p95_latency_ms: int = Field(default=1000, ge=1)
    error_rate_percent: float = Field(default=1.0, gt=0, le=100)
    cache_memory_percent: int = Field(default=80, ge=1, le=100)


class Usage(Model):
    """Expected usage at this phase; the cost estimate prices usage-driven lines with it."""

    database_gb: Range
    storage_gb: Range
    egress_gb: Range
    requests_per_user_month: Range


class Phase(Model):
    """A fully resolved phase (its `extends` chain merged, a stack's overrides applied)."""

    description: str
    users: Users
    budget: Budget
    limits: Limits
    reliability: Reliability
    web: Web
    database: Database
    cache: Cache | None = None
    regions: Regions
    storage: Storage
    alerts: Alerts = Alerts()
    usage: Usage


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
)


def _hostname(value: str) -> str:
    """A domain is a bare lowercase hostname (`dev.floyo.app`, or `*.floyo.app`)."""
    if _HOSTNAME.match(value):
        return value
    text = value.strip()
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname or ""
    except ValueError:
        host = ""
    host = host.rstrip(".")
    if host and _HOSTNAME.match(host):
        problem = "a domain is a bare hostname, not " + (
            "a URL" if "://" in text else "a hostname with a path or port"
        )
        if host == text.lower().rstrip("."):
            problem = "a domain is written in lower case, without a final dot"
        raise SpecValueError(problem, f"write {host}")
    raise SpecValueError(
        "not a hostname",
        "a domain is labels of lowercase letters, digits and '-' joined by dots, "
        "e.g. dev.floyo.app",
    )


Domain = Annotated[str, AfterValidator(_hostname)]


class GitRepository(Model):
    type: Literal["github", "gitlab", "bitbucket"] = "github"
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    production_branch: str = "main"


# Vercel's environments (https://vercel.com/docs/deployments/environments): a variable is
# set for some of them (`targets`), and an OIDC token names the one its deployment runs in
# (`sub`: owner:<team>:project:<project>:environment:<environment>).
# `development` is left out: Vercel keeps sensitive variables from it, and a laptop's
# `vercel env pull` is no place for a stack's credentials.
VercelEnvironment = Literal["production", "preview"]
PRODUCTION_STACK = "production"


class VercelStack(Model):
    team: str = Field(description="Vercel team slug or id")
    project_name: Name
    git_repository: GitRepository
    domains: list[Domain] = Field(default=[], description="bare hostnames, each once")
    api_token: VercelToken = "${env:VERCEL_API_TOKEN}"
    environments: list[VercelEnvironment] | None = Field(
        default=None,
        min_length=1,
        description="the Vercel environments this stack's variables and its AWS role serve "
        "(default: [production] for the production stack, [production, preview] for the "
        "others); the production stack serves production only",
    )
    previews_of: Name | None = Field(
        default=None,
        description="another Vercel project (production's) whose preview deployments get "
        "this stack's variables and AWS role, never their own stack's (e.g. staging: "
        "previews_of: floyo); unset: that project's previews get no variables from here",
    )

    @property
    def uptime_domains(self) -> list[str]:
        """The domains with a health check each (a wildcard names no one host to request)."""
        return [d for d in self.domains if not d.startswith("*.")]


def _provider_url(provider: str) -> AfterValidator:
    """A provider API URL: https on one of the provider's own hosts (transport.hosts), so a
    spec cannot send the account token anywhere else. No loopback here: the test hook is for
    the clients, never a spec field."""

    def check(value: str) -> str:
        from ..transport.hosts import PROVIDER_HOSTS, problem

        why = problem(provider, value, env={})
        if why is not None:
            hosts = ", ".join(f"https://{h}" for h in PROVIDER_HOSTS[provider])
            raise SpecValueError(
                f"not an address of the {provider} API ({why}): the account token is sent there",
                f"leave it out (the default is {hosts}); it may only be {hosts}",
            )
        return value.rstrip("/")

    return AfterValidator(check)


class SupabaseStack(Model):
    organization: str = Field(pattern=r"^[\w-]+$", description="organization slug")
    access_token: SupabaseToken = "${env:SUPABASE_ACCESS_TOKEN}"
    api_url: Annotated[str, _provider_url("supabase")] = Field(
        default="https://api.supabase.com",
        description="the Management API (https://api.supabase.com only: the token goes there)",
    )


class UpstashStack(Model):
    """The Upstash account a `cache.provider: upstash` database is created in."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="account email")
    api_key: UpstashKey = "${env:UPSTASH_API_KEY}"


class SentryStack(Model):
    """The Sentry project the app reports to; the program creates its metric alerts."""

    organization: Slug = Field(description="organization slug")
    project: Slug = Field(description="project slug")
    auth_token: SentryToken = "${env:SENTRY_AUTH_TOKEN}"
    notify_team: Slug = Field(description="slug of the Sentry team the alerts email")
    environment: str | None = Field(
        default=None,
        description="the Sentry environment the alerts watch (default: all); a filter in "
        "the alerts' query, so Sentry need not have seen it before the first `up`",
    )


class PostHogStack(Model):
    """The PostHog project the app sends product analytics to (its public project key)."""

    project_api_key: str = Field(pattern=r"^phc_[A-Za-z0-9]{10,64}$")
    host: str = Field(default="https://us.i.posthog.com", pattern=r"^https://[^\s/]+$")


class AwsStack(Model):
    account_id: str = Field(pattern=r"^\d{12}$")
    profile: str | None = None
    permissions_boundary: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:policy/[A-Za-z0-9+=,.@_/-]{1,200}$",
        description="the managed policy every IAM role the program creates is bounded by "
        "(its ARN); default: one the program creates first, allowing only this stack's "
        "buckets and secrets (infra/access.py)",
    )


class Notifications(Model):
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []


class Stack(Model):
    """A stack file, without its `overrides` (those are validated as part of the phase)."""

    phase: str
    description: str = ""
    project: Name = "floyo"
    protect_stateful: bool = Field(
        default=False, description="protect + retain_on_delete databases, buckets and caches"
    )
    vercel: VercelStack
    supabase: SupabaseStack
    aws: AwsStack
    upstash: UpstashStack | None = Field(
        default=None, description="required when the phase's cache.provider is upstash"
    )
    notifications: Notifications = Notifications()
    sentry: SentryStack | None = Field(
        default=None, description="Sentry metric alerts on p95 latency and error rate"
    )
    posthog: PostHogStack | None = Field(default=None, description="PostHog product analytics")
    secrets_provider: str | None = Field(
        default=None, description="Pulumi secrets provider URL (awskms://...); default passphrase"
    )
    app_password_generation: int = Field(
        default=1,
        ge=1,
        description="the generation of the app's database password: raise it by one to rotate "
        "(the app's login role alternates between floyo_app_a and floyo_app_b; then run "
        "`floyo-scale db app-role`, docs/db.md)",
    )
    overrides: dict[str, Any] = Field(default={}, description="any phase value, merged last")
