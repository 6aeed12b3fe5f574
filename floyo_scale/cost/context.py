"""The assumptions (docs/cost.md) and the context a rule prices in: usage spans, catalog entries,
shared facts between rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..offline.inventory import Inventory, Resource
from .model import CostLine, Unpriced, round_cents

if TYPE_CHECKING:  # only for annotations: importing spec at run time is not needed here
    from ..catalog.prices import PriceCatalog, PriceEntry
    from ..spec.models import Usage, Users

    # a phase's users as the estimate takes them: the spec's, or (min, max) with max None
    # for no upper bound
    UsersArg = Users | tuple[int, int | None] | None


# -- assumptions (each documented in docs/cost.md) ----------------------------------------

HOURS_PER_MONTH = 730
"""Node-hours in a month (the catalog's convention: 8,760 h / 12)."""

OPEN_ENDED_USERS_FACTOR = 2
"""A phase with no upper user bound (enterprise: 100K+) is priced up to this × its minimum."""

S3_GETS_PER_REQUEST = 0.1
"""S3 GET requests per app request: one request in ten reads a stored object."""

S3_PUTS_PER_REQUEST = 0.01
"""S3 PUT requests per app request: one request in a hundred writes an object."""

MONTHLY_WRITE_SHARE = 0.1
"""Share of a bucket's stored data written anew each month (what replication copies)."""

TRANSITION_PRICED_DAYS = 30
"""A whole-bucket lifecycle transition at or before this age prices the bucket's storage at
the target class (objects spend at most a month in Standard); later transitions are not
counted (storage is priced at the class objects are written in: an upper bound)."""

FUNCTION_SHARE_OF_REQUESTS = 0.25
"""App requests that run a Vercel function: one in four (pages, API routes, server actions);
the rest are static files and CDN cache hits, which run none."""

ACTIVE_CPU_MS_PER_INVOCATION = 20
"""Active CPU per function invocation, ms: the app mostly waits on the database and the cache
(I/O, not billed as Active CPU)."""

FUNCTION_MEMORY_GB = 2
"""Memory of a function instance (Vercel's Standard size on fluid compute: 1 vCPU, 2 GB)."""

FUNCTION_WALL_MS = 300
"""Wall time per invocation, ms (what provisioned memory is billed for)."""

FUNCTION_CONCURRENCY = 10
"""Invocations one fluid-compute instance serves at once (provisioned memory is shared)."""

GB_HOURS_PER_INVOCATION = FUNCTION_MEMORY_GB * FUNCTION_WALL_MS / 3_600_000 / FUNCTION_CONCURRENCY
"""Provisioned memory one invocation is billed for: what the estimate's "function memory"
line counts (rules/vercel.py) and what a phase's `limits.function_gb_hours_month` is sized
against (expected_usage)."""


def expected_usage(usage: Usage, users: UsersArg) -> dict[str, tuple[float, float]]:
    """What the cost model expects a phase to use in a month, (low, high), for each limit
    `status` judges (spec.models.Limits): database size and fast data transfer as the phase
    states them (usage.database_gb, usage.egress_gb), function GB-hours from its users and
    requests, as the function rules price them."""
    span = _users_span(users)
    rpu = usage.requests_per_user_month
    requests = (0.0, 0.0) if span is None else (rpu.low * span.low, rpu.high * span.high)
    per = FUNCTION_SHARE_OF_REQUESTS * GB_HOURS_PER_INVOCATION
    return {
        "database_gb": (usage.database_gb.low, usage.database_gb.high),
        "bandwidth_gb_month": (usage.egress_gb.low, usage.egress_gb.high),
        "function_gb_hours_month": (requests[0] * per, requests[1] * per),
    }


ARCHIVE_RETRIEVED_SHARE = 0.1
"""Share of an archive-class bucket (Glacier Instant Retrieval) read back in a month."""

ARCHIVE_OBJECT_MB = 100
"""Size of one archived object, MB (a Parquet file per partition, or part of one)."""

CACHE_WRITES_PER_REQUEST = 0.1
"""Cache writes per app request (a miss writes once): what a global datastore replicates."""

CACHE_KB_PER_WRITE = 1.0
"""KB per cache write, as replicated to each secondary region."""

POSTHOG_EVENTS_PER_REQUEST = 0.2
"""Product-analytics events per app request (page views and a few actions)."""

FILES_SHARE_OF_EGRESS = 0.5
"""Share of what users download (usage.egress_gb) that is user files (uploads: images,
documents); the rest is pages, scripts and API responses. With a files CDN that share is
CloudFront data transfer, not Vercel fast data transfer."""

CLOUDFRONT_AREAS = {
    # Vercel function region -> CloudFront's pricing area of the users it serves (users are
    # assumed to be split evenly over the function regions: each region is where they are)
    "iad1": "north_america",
    "cle1": "north_america",
    "pdx1": "north_america",
    "sfo1": "north_america",
    "yul1": "north_america",
    "dub1": "europe",
    "lhr1": "europe",
    "cdg1": "europe",
    "fra1": "europe",
    "arn1": "europe",
    "sin1": "asia",
    "hkg1": "asia",
    "icn1": "asia",
}
"""CloudFront prices data transfer and requests per geographic area; a function region not
listed here (hnd1, kix1, syd1, bom1, gru1, cpt1, dxb1) is priced at north_america's rate,
a lower bound, and a note says so."""

#: the areas each price class serves from its own edges (the rest are served, and billed,
#: from the nearest included area: north_america)
#: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/PriceClass.html
PRICE_CLASS_AREAS = {
    "PriceClass_100": ("north_america", "europe"),
    "PriceClass_200": ("north_america", "europe", "asia"),
    "PriceClass_All": ("north_america", "europe", "asia"),
}

FREE_ALARMS = "aws.cloudwatch.alarm_standard"  # its free_tier: the first 10 alarms


AWS_VPC_PRICING = "https://aws.amazon.com/vpc/pricing/"
AWS_S3_PRICING = "https://aws.amazon.com/s3/pricing/"
AWS_CLOUDFRONT_PRICING = "https://aws.amazon.com/cloudfront/pricing/"
AWS_ELASTICACHE_PRICING = "https://aws.amazon.com/elasticache/pricing/"
VERCEL_PRICING = "https://vercel.com/pricing"
SUPABASE_POOLER = "https://supabase.com/docs/guides/database/connecting-to-postgres"
PULUMI_DOCS = "https://www.pulumi.com/docs/iac/concepts/resources/"


# -- the context a rule prices in ------------------------------------------------------------


@dataclass(frozen=True)
class NoPrice:
    """A rule's answer when it cannot price a resource (grouped into model.Unpriced)."""

    reason: str


@dataclass(frozen=True)
class Span:
    """A low and a high quantity."""

    low: float
    high: float

    def __mul__(self, k: float) -> Span:
        return Span(self.low * k, self.high * k)

    __rmul__ = __mul__

    def over(self, included: float) -> Span:
        """What lies beyond an included amount."""
        return Span(max(0.0, self.low - included), max(0.0, self.high - included))

    def at_least(self, floor: float) -> Span:
        return Span(max(floor, self.low), max(floor, self.high))

    def capped(self, cap: Span | float) -> Span:
        c = cap if isinstance(cap, Span) else Span(cap, cap)
        return Span(min(self.low, c.low), min(self.high, c.high))


Result = CostLine | NoPrice
Rule = Callable[[Resource, "PricingContext"], Iterable[Result]]


class PricingContext:
    """The inventory, usage and catalog a rule prices with, and what rules share (which
    Supabase project pays its organization's plan, which buckets hold what share)."""

    def __init__(
        self, inventory: Inventory, usage: Usage, users: UsersArg, catalog: PriceCatalog
    ) -> None:
        self.inventory = inventory
        self.catalog = catalog
        self.by_key = inventory.by_key()
        self.users = _users_span(users)
        self.database_gb = Span(usage.database_gb.low, usage.database_gb.high)
        self.storage_gb = Span(usage.storage_gb.low, usage.storage_gb.high)
        self.egress_gb = Span(usage.egress_gb.low, usage.egress_gb.high)
        # with a files CDN, user files leave through CloudFront, the rest through Vercel
        cdn = bool(inventory.of_type("aws:cloudfront/distribution:Distribution"))
        self.files_cdn_gb = self.egress_gb * FILES_SHARE_OF_EGRESS if cdn else Span(0, 0)
        self.app_egress_gb = self.egress_gb * (1 - FILES_SHARE_OF_EGRESS) if cdn else self.egress_gb
        rpu = usage.requests_per_user_month
        self.requests = (
            Span(rpu.low * self.users.low, rpu.high * self.users.high) if self.users else None
        )
        self._open_users = users is not None and _users_max(users) is None
        self.fallback_regions: set[str] = set()  # regions priced at a us-east-1 rate
        self._index()

    # -- indexes ------------------------------------------------------------------------
    def _index(self) -> None:
        inv = self.inventory
        self.projects = sorted(
            inv.of_type("pulumi-python:dynamic/supabase:Project"), key=lambda r: r.name
        )
        orgs: dict[str, list[Resource]] = defaultdict(list)
        for p in self.projects:
            orgs[str(p.inputs.get("organization_slug"))].append(p)
        self.org_projects = dict(orgs)
        # Buckets: a bucket named as a replication destination holds a copy of its source.
        buckets = inv.of_type("aws:s3/bucket:Bucket")
        by_physical = {str(b.inputs.get("bucket") or b.name): b for b in buckets}
        self.replica_source: dict[str, Resource] = {}
        self.replica_class: dict[str, str] = {}
        for cfg in inv.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
            source = self._source_bucket(cfg, buckets)
            for rule in cfg.inputs.get("rules") or []:
                dest = (rule or {}).get("destination") or {}
                arn = str(dest.get("bucket") or "")
                target = by_physical.get(arn.rsplit(":", 1)[-1])
                if target is not None and source is not None:
                    self.replica_source[target.key] = source
                    self.replica_class[target.key] = dest.get("storageClass") or "STANDARD"
        self.primary_buckets = [b for b in buckets if b.key not in self.replica_source]
        alarms = inv.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        self.alarms = sorted(alarms, key=lambda r: r.key)

    def _source_bucket(self, cfg: Resource, buckets: Iterable[Resource]) -> Resource | None:
        parent = self.by_key.get(cfg.parent or "")
        if parent is not None and parent.type == "aws:s3/bucket:Bucket":
            return parent
        ref = str(cfg.inputs.get("bucket") or "")
        for b in buckets:
            if ref in (b.name, f"{b.name}-id", b.inputs.get("bucket")):
                return b
        return None

    # -- catalog ------------------------------------------------------------------------
    def entry(self, key: str) -> PriceEntry | None:
        return self.catalog.get(key) if key in self.catalog else None

    # -- shared figures -----------------------------------------------------------------
    def bucket_share(self, bucket: Resource) -> Span:
        """Stored GB of one bucket: usage.storage_gb split evenly over the buckets that are
        not replicas; a replica holds what its source holds (the same share)."""
        if not self.primary_buckets:
            return Span(0, 0)
        return self.storage_gb * (1 / len(self.primary_buckets))

    def provisioned_disk_gb(self, project: Resource | None = None) -> Span:
        """Provisioned disk of a Supabase project: its DiskConfig's size_gb when the program
        sets one, and never less than its share of usage.database_gb (split evenly over the
        projects, i.e. shards: Supabase grows a disk that fills up), nor below the 8 GB a
        project starts with."""
        included = self.disk_included()
        if not self.projects:
            return Span(included, included)
        share = (self.database_gb * (1 / len(self.projects))).at_least(included)
        if project is not None:
            for disk in self.inventory.of_type(DISK_CONFIG):
                if disk.parent == project.key and disk.inputs.get("size_gb"):
                    share = share.at_least(float(disk.inputs["size_gb"]))
        return share

    def disk_included(self) -> float:
        entry = self.entry("supabase.disk.gp3_gb")
        return float(entry.extra.get("included_gb", 8)) if entry else 8.0

    def compute_price(self, size: str, plan: str | None) -> tuple[PriceEntry | None, str]:
        """The compute entry a project of `size` is billed at, and what to call it."""
        entry = self.entry(f"supabase.compute.{size}")
        if entry is not None and plan not in (None, "free"):
            billed_as = entry.extra.get("billed_as_on_paid_plans")
            if billed_as:
                return self.entry(f"supabase.compute.{billed_as}"), f"{size}, billed as {billed_as}"
        return entry, size

    def web_inputs(self, resource: Resource) -> dict[str, Any] | None:
        """The floyo:web:Web component a Vercel resource belongs to (its inputs)."""
        seen = 0
        key = resource.parent
        while key and seen < 10:
            parent = self.by_key.get(key)
            if parent is None:
                break
            if parent.type == "floyo:web:Web":
                return parent.inputs
            key, seen = parent.parent, seen + 1
        webs = self.inventory.of_type("floyo:web:Web")
        return webs[0].inputs if len(webs) == 1 else None

    def notes(self, unpriced: tuple[Unpriced, ...]) -> list[str]:
        out = []
        if unpriced:
            count = len({(u.type, name) for u in unpriced for name in u.resources})
            out.append(
                f"the total leaves out {count} unpriced resource{'s' if count != 1 else ''} "
                "(see unpriced)"
            )
        if self._open_users and self.users:
            out.append(
                f"users have no upper bound: the high figure assumes "
                f"{self.users.high:,.0f} users ({OPEN_ENDED_USERS_FACTOR}x the minimum)"
            )
        if self.fallback_regions:
            out.append(
                "the catalog has no regional rate for some items in "
                + ", ".join(sorted(self.fallback_regions))
                + ": those lines are priced at us-east-1 (or iad1) rates, a lower bound"
            )
        return out

    def regional_entry(self, region: str | None, key: str, default: str) -> PriceEntry | None:
        """`aws.regional.<region>.<key>` when the catalog has it, else the `default` entry
        (the us-east-1 rate), remembering the region for the note."""
        if region and region not in ("us-east-1", "global"):
            entry = self.entry(f"aws.regional.{region}.{key}")
            if entry is not None:
                return entry
            self.fallback_regions.add(region)
        return self.entry(default)

    # -- building lines -----------------------------------------------------------------
    def line(
        self,
        resource: Resource,
        item: str,
        unit_price: float,
        quantity: Span | float,
        unit: str,
        source: PriceEntry | str,
        *,
        provider: str | None = None,
        detail: str = "",
    ) -> CostLine:
        q = quantity if isinstance(quantity, Span) else Span(quantity, quantity)
        if isinstance(source, str):
            url, key = source, None
        else:
            url, key = source.source, source.key
        return CostLine(
            provider=provider or _line_provider(resource),
            component=resource.component,
            resource=resource.name,
            item=item,
            low=round_cents(unit_price * q.low),
            high=round_cents(unit_price * q.high),
            unit_price=unit_price,
            quantity=(_qty(q.low), _qty(q.high)),
            unit=unit,
            source=url,
            type=resource.type,
            detail=detail,
            price_key=key,
        )


def _users_max(users: Users | tuple[int, int | None]) -> int | None:
    return users[1] if isinstance(users, tuple) else users.max


def _users_span(users: UsersArg) -> Span | None:
    if users is None:
        return None
    low, high = users if isinstance(users, tuple) else (users.min, users.max)
    return Span(float(low), float(high if high is not None else OPEN_ENDED_USERS_FACTOR * low))


def _qty(value: float) -> float:
    rounded = round(value, 4)
    return float(int(rounded)) if rounded == int(rounded) else rounded


def _line_provider(resource: Resource) -> str:
    if resource.type.startswith("pulumi:providers:"):
        return resource.type.rsplit(":", 1)[-1]
    return resource.provider


# -- rules ---------------------------------------------------------------------------------


def free(item: str, why: str, source: str | None = None, provider: str | None = None) -> Rule:
    """A resource that costs nothing by itself: priced at $0, with the reason."""

    def rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
        yield ctx.line(
            resource, item, 0.0, 1, "each", source or PULUMI_DOCS, provider=provider, detail=why
        )

    return rule


def free_entry(item: str, key: str, why: str) -> Rule:
    """A resource whose catalog price is 0 (or whose use stays within a free tier)."""

    def rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
        entry = ctx.entry(key)
        if entry is None:
            yield NoPrice(f"no price entry {key!r} in the catalog")
            return
        yield ctx.line(resource, item, entry.price or 0.0, 0, entry.unit, entry, detail=why)

    return rule


def span_text(span: Span) -> str:
    return f"{span.low:,.4g}" if span.low == span.high else f"{span.low:,.4g}-{span.high:,.4g}"


DISK_CONFIG = "pulumi-python:dynamic/supabase:DiskConfig"
