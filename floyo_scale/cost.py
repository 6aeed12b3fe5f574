"""The monthly cost of what the one Pulumi program builds, computed from its Inventory.

    estimate_cost(inventory, usage, budget, users=phase.users) -> CostEstimate
    estimate_for_stack(resolved_stack, inventory)              -> CostEstimate
    diff_costs(old, new)                                        -> CostDelta

Pure: no Pulumi, no printing, no I/O beyond loading the packaged price catalog once.
Every line is priced from a resource the program registers (its type and recorded inputs)
and from the price catalog (floyo_scale/catalog/prices.yaml); usage-driven lines (storage,
egress, requests) take the phase's expected-usage figures, low and high. A resource type
with no rule in RULES is reported in `unpriced` with its count, never counted as zero.
Free resources have explicit zero-cost rules that say why. See docs/cost.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .inventory import Inventory, Resource

if TYPE_CHECKING:  # only for annotations: importing spec at run time is not needed here
    from .catalog.prices import PriceCatalog, PriceEntry
    from .spec import ResolvedStack
    from .spec.models import Budget, Usage, Users

CURRENCY = "USD"

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

UPSTASH_COMMANDS_PER_REQUEST = 1.0
"""Upstash Redis commands per app request: an API request reads the cache (and writes it on
a miss), while static files, counted among the requests too, touch no cache; one in all."""

UPSTASH_CACHE_SHARE_OF_DATABASE = 0.1
"""The data an Upstash cache holds: a tenth of usage.database_gb (the hot rows, sessions)."""

FREE_ALARMS = "aws.cloudwatch.alarm_standard"  # its free_tier: the first 10 alarms

_PROVIDER_ORDER = {"vercel": 0, "supabase": 1, "aws": 2, "upstash": 3}

# Documentation for the zero-cost rules that have no catalog entry.
_AWS_VPC_PRICING = "https://aws.amazon.com/vpc/pricing/"
_AWS_S3_PRICING = "https://aws.amazon.com/s3/pricing/"
_AWS_ELASTICACHE_PRICING = "https://aws.amazon.com/elasticache/pricing/"
_VERCEL_PRICING = "https://vercel.com/pricing"
_SUPABASE_POOLER = "https://supabase.com/docs/guides/database/connecting-to-postgres"
_PULUMI_DOCS = "https://www.pulumi.com/docs/iac/concepts/resources/"


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One priced item of one resource: `low`/`high` USD a month.

    `unit_price` (USD per `unit`) × `quantity` (low, high) = (`low`, `high`), rounded to
    cents; credits have a negative unit price. `source` is the provider page the price comes
    from; `price_key` its key in the catalog (None for rules with no catalog entry).
    `(provider, component, resource, item)` identifies the line across estimates.
    """

    provider: str
    component: str
    resource: str
    item: str
    low: float
    high: float
    unit_price: float
    quantity: tuple[float, float]
    unit: str
    source: str
    type: str = ""
    detail: str = ""
    price_key: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.provider, self.component, self.resource, self.item)

    @property
    def free(self) -> bool:
        return self.low == 0 and self.high == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "component": self.component,
            "resource": self.resource,
            "type": self.type,
            "item": self.item,
            "detail": self.detail,
            "low": self.low,
            "high": self.high,
            "unit_price": self.unit_price,
            "quantity": {"low": self.quantity[0], "high": self.quantity[1]},
            "unit": self.unit,
            "source": self.source,
            "price_key": self.price_key,
        }


@dataclass(frozen=True)
class Unpriced:
    """Resources of one type the estimate could not price, and why."""

    type: str
    count: int
    reason: str
    resources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "count": self.count,
            "reason": self.reason,
            "resources": list(self.resources),
        }


@dataclass(frozen=True)
class CostEstimate:
    """The monthly cost of one stack at one phase.

    `total_low`/`total_high` sum the priced lines; they leave out everything in `unpriced`.
    `used_percent` is the high total's share of `budget_monthly` (None without a budget).
    """

    phase: str
    stack: str
    lines: tuple[CostLine, ...]
    total_low: float
    total_high: float
    budget_monthly: float | None
    used_percent: float | None
    unpriced: tuple[Unpriced, ...] = ()
    alert_percent: int | None = None
    notes: tuple[str, ...] = ()
    currency: str = CURRENCY

    @property
    def over_budget(self) -> bool:
        """True when the high figure exceeds the budget (never without a budget)."""
        return self.budget_monthly is not None and self.total_high > self.budget_monthly

    @property
    def over_alert(self) -> bool:
        """True when the high figure reaches the budget's alert threshold."""
        if self.budget_monthly is None or self.alert_percent is None:
            return False
        return self.total_high >= self.budget_monthly * self.alert_percent / 100

    @property
    def unpriced_count(self) -> int:
        """How many resources have something unpriced (each counted once)."""
        return len({(u.type, name) for u in self.unpriced for name in u.resources})

    def by_key(self) -> dict[tuple[str, str, str, str], CostLine]:
        return {line.key: line for line in self.lines}

    def to_json(self) -> dict[str, Any]:
        """The documented, stable JSON form (docs/cost.md)."""
        return {
            "phase": self.phase,
            "stack": self.stack,
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "total": {"low": self.total_low, "high": self.total_high},
            "budget": {
                "monthly": self.budget_monthly,
                "used_percent": self.used_percent,
                "alert_percent": self.alert_percent,
                "over_budget": self.over_budget,
            },
            "unpriced": [u.to_json() for u in self.unpriced],
            "notes": list(self.notes),
        }


def estimate_from_json(data: dict[str, Any]) -> CostEstimate:
    """Read back `CostEstimate.to_json()` (the `cost` of a saved `plan --format json`)."""
    lines = tuple(
        CostLine(
            provider=ln["provider"],
            component=ln["component"],
            resource=ln["resource"],
            item=ln["item"],
            low=float(ln["low"]),
            high=float(ln["high"]),
            unit_price=float(ln["unit_price"]),
            quantity=(float(ln["quantity"]["low"]), float(ln["quantity"]["high"])),
            unit=ln["unit"],
            source=ln["source"],
            type=ln.get("type", ""),
            detail=ln.get("detail", ""),
            price_key=ln.get("price_key"),
        )
        for ln in data["lines"]
    )
    budget = data.get("budget") or {}
    return CostEstimate(
        phase=data["phase"],
        stack=data["stack"],
        lines=lines,
        total_low=float(data["total"]["low"]),
        total_high=float(data["total"]["high"]),
        budget_monthly=budget.get("monthly"),
        used_percent=budget.get("used_percent"),
        unpriced=tuple(
            Unpriced(u["type"], int(u["count"]), u["reason"], tuple(u.get("resources", ())))
            for u in data.get("unpriced", ())
        ),
        alert_percent=budget.get("alert_percent"),
        notes=tuple(data.get("notes", ())),
        currency=data.get("currency", CURRENCY),
    )


@dataclass(frozen=True)
class LineDelta:
    """One line's change between two estimates (0 on the side where it is absent)."""

    provider: str
    component: str
    resource: str
    item: str
    old_low: float
    old_high: float
    new_low: float
    new_high: float
    status: str = "changed"  # added | removed | changed | unchanged

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.provider, self.component, self.resource, self.item)

    @property
    def delta_low(self) -> float:
        return _cents(self.new_low - self.old_low)

    @property
    def delta_high(self) -> float:
        return _cents(self.new_high - self.old_high)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "component": self.component,
            "resource": self.resource,
            "item": self.item,
            "status": self.status,
            "old": {"low": self.old_low, "high": self.old_high},
            "new": {"low": self.new_low, "high": self.new_high},
            "delta": {"low": self.delta_low, "high": self.delta_high},
        }


@dataclass(frozen=True)
class CostDelta:
    """What moving from one estimate to another changes, per line and in total."""

    old_phase: str
    old_stack: str
    new_phase: str
    new_stack: str
    lines: tuple[LineDelta, ...]
    old_total: tuple[float, float]
    new_total: tuple[float, float]
    unpriced_added: tuple[str, ...] = ()
    unpriced_removed: tuple[str, ...] = ()

    @property
    def total_delta_low(self) -> float:
        return _cents(self.new_total[0] - self.old_total[0])

    @property
    def total_delta_high(self) -> float:
        return _cents(self.new_total[1] - self.old_total[1])

    def changed(self) -> tuple[LineDelta, ...]:
        """The lines whose cost changes (a $0 line that appears or goes is left out)."""
        return tuple(d for d in self.lines if d.delta_low or d.delta_high)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": {"phase": self.old_phase, "stack": self.old_stack},
            "to": {"phase": self.new_phase, "stack": self.new_stack},
            "currency": CURRENCY,
            "lines": [d.to_json() for d in self.changed()],
            "total": {
                "old": {"low": self.old_total[0], "high": self.old_total[1]},
                "new": {"low": self.new_total[0], "high": self.new_total[1]},
                "delta": {"low": self.total_delta_low, "high": self.total_delta_high},
            },
            "unpriced": {
                "added": list(self.unpriced_added),
                "removed": list(self.unpriced_removed),
            },
        }


# -- formatting helpers shared by render_cost and policy (plain text, no rich) ---------------


def usd(value: float, cents: bool = False) -> str:
    """`$1,234` (or `$1,234.56` with cents); negative as `-$10`."""
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if cents:
        return f"{sign}${amount:,.2f}"
    return f"{sign}${_whole(amount):,}"


def usd_range(low: float, high: float) -> str:
    """`$112–$160`, or `$112` when both ends round to the same dollar."""
    if _whole(abs(low)) == _whole(abs(high)) and (low < 0) == (high < 0):
        return usd(high)
    return f"{usd(low)}–{usd(high)}"


def signed_usd(value: float) -> str:
    """`+$612`, `-$40`, `$0`."""
    if _whole(abs(value)) == 0:
        return "$0"
    return ("+" if value > 0 else "") + usd(value)


def _whole(amount: float) -> int:
    return int(math.floor(amount + 0.5))  # half up, not banker's rounding


def _cents(value: float) -> float:
    return round(value + 0.0, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


# -- the estimate --------------------------------------------------------------------------


def estimate_for_stack(stack: ResolvedStack, inventory: Inventory, catalog=None) -> CostEstimate:
    """The estimate for a resolved stack's inventory: usage, users and budget from its phase
    (the stack's overrides are already merged into `stack.phase`)."""
    phase = stack.phase
    return estimate_cost(inventory, phase.usage, phase.budget, catalog, users=phase.users)


def estimate_cost(
    inventory: Inventory,
    usage: Usage,
    budget: Budget | float | None,
    catalog: PriceCatalog | None = None,
    *,
    users: Users | tuple[int, int | None] | None = None,
) -> CostEstimate:
    """Price every resource in `inventory`.

    `usage`: the phase's expected usage (`database_gb`, `storage_gb`, `egress_gb`,
    `requests_per_user_month`, each with `low` and `high`). `users`: the phase's users
    (`min`, `max`; an open `max` is priced at OPEN_ENDED_USERS_FACTOR × `min`); without it,
    request-driven lines are reported unpriced. `budget`: a Budget (`monthly_usd`,
    `alert_percent`), a plain monthly figure, or None. `catalog`: defaults to the packaged
    price catalog.
    """
    if catalog is None:
        from .catalog.prices import load_prices

        catalog = load_prices()
    ctx = _Context(inventory, usage, users, catalog)
    lines: list[CostLine] = []
    order: dict[int, tuple[str, int, int]] = {}  # id(line) -> (anchor, depth, position)
    unpriced: dict[tuple[str, str], list[str]] = defaultdict(list)
    for resource in inventory.resources:
        anchor, depth = _anchor(resource, ctx.by_key)
        rule = RULES.get(resource.type)
        if rule is None:
            unpriced[(resource.type, "no pricing rule for this resource type")].append(
                resource.name
            )
            continue
        for result in rule(resource, ctx):
            if isinstance(result, _Unpriced):
                unpriced[(resource.type, result.reason)].append(resource.name)
            else:
                order[id(result)] = (anchor, depth, len(lines))
                lines.append(result)
    # grouped by provider (Vercel, Supabase, AWS, then the rest) and component; inside a
    # group, a resource comes before those it parents (a project, then its add-ons and
    # replicas), each resource's lines in the order its rule gives them
    lines.sort(
        key=lambda x: (_PROVIDER_ORDER.get(x.provider, 9), x.provider, x.component, order[id(x)])
    )
    lines = _unique(lines)
    total_low = _cents(sum(line.low for line in lines))
    total_high = _cents(sum(line.high for line in lines))
    monthly, alert = _budget(budget)
    used = round(total_high / monthly * 100, 1) if monthly else None
    missing = tuple(
        Unpriced(type_, len(names), reason, tuple(sorted(names)))
        for (type_, reason), names in sorted(unpriced.items())
    )
    return CostEstimate(
        phase=inventory.phase,
        stack=inventory.stack,
        lines=tuple(lines),
        total_low=total_low,
        total_high=total_high,
        budget_monthly=monthly,
        used_percent=used,
        unpriced=missing,
        alert_percent=alert,
        notes=tuple(ctx.notes(missing)),
    )


def diff_costs(old: CostEstimate, new: CostEstimate) -> CostDelta:
    """Per-line and total change from `old` to `new`, lines matched on
    (provider, component, resource, item)."""
    before, after = old.by_key(), new.by_key()
    keys = list(before) + [k for k in after if k not in before]
    deltas = []
    for key in keys:
        a, b = before.get(key), after.get(key)
        if a is None:
            status = "added"
        elif b is None:
            status = "removed"
        elif (a.low, a.high) == (b.low, b.high):
            status = "unchanged"
        else:
            status = "changed"
        deltas.append(
            LineDelta(
                *key,
                old_low=a.low if a else 0.0,
                old_high=a.high if a else 0.0,
                new_low=b.low if b else 0.0,
                new_high=b.high if b else 0.0,
                status=status,
            )
        )
    deltas.sort(key=lambda d: (_PROVIDER_ORDER.get(d.provider, 9), d.provider, *d.key[1:]))
    old_u = {f"{u.type} ({u.reason})" for u in old.unpriced}
    new_u = {f"{u.type} ({u.reason})" for u in new.unpriced}
    return CostDelta(
        old_phase=old.phase,
        old_stack=old.stack,
        new_phase=new.phase,
        new_stack=new.stack,
        lines=tuple(deltas),
        old_total=(old.total_low, old.total_high),
        new_total=(new.total_low, new.total_high),
        unpriced_added=tuple(sorted(new_u - old_u)),
        unpriced_removed=tuple(sorted(old_u - new_u)),
    )


def _anchor(resource: Resource, by_key: dict[str, Resource]) -> tuple[str, int]:
    """The name of the outermost resource of the same provider that parents this one (a
    Supabase project for its replicas, an S3 bucket for its settings), and how deep it is."""
    anchor, depth, seen = resource, 0, 0
    while seen < 20:
        parent = by_key.get(anchor.parent or "")
        if parent is None or not parent.custom or parent.provider != resource.provider:
            break
        anchor, depth, seen = parent, depth + 1, seen + 1
    return anchor.name, depth


def _budget(budget: Budget | float | None) -> tuple[float | None, int | None]:
    if budget is None:
        return None, None
    if isinstance(budget, int | float):
        return float(budget), None
    monthly = budget.monthly_usd
    return (float(monthly) if monthly is not None else None), budget.alert_percent


def _unique(lines: list[CostLine]) -> list[CostLine]:
    """Keys must identify lines; a clash (two types sharing a name and an item) is resolved by
    naming the type in the item."""
    seen: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for line in lines:
        seen[line.key] += 1
    out = []
    for line in lines:
        if seen[line.key] > 1:
            short = line.type.rsplit(":", 1)[-1]
            line = replace(line, item=f"{line.item} ({short})")
        out.append(line)
    return out


# -- the context a rule prices in ------------------------------------------------------------


@dataclass(frozen=True)
class _Unpriced:
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


Result = CostLine | _Unpriced
Rule = Callable[[Resource, "_Context"], Iterable[Result]]


class _Context:
    """The inventory, usage and catalog a rule prices with, and what rules share (which
    Supabase project pays its organization's plan, which buckets hold what share)."""

    def __init__(self, inventory: Inventory, usage: Usage, users, catalog: PriceCatalog) -> None:
        self.inventory = inventory
        self.catalog = catalog
        self.by_key = inventory.by_key()
        self.users = _users_span(users)
        self.database_gb = Span(usage.database_gb.low, usage.database_gb.high)
        self.storage_gb = Span(usage.storage_gb.low, usage.storage_gb.high)
        self.egress_gb = Span(usage.egress_gb.low, usage.egress_gb.high)
        rpu = usage.requests_per_user_month
        self.requests = (
            Span(rpu.low * self.users.low, rpu.high * self.users.high) if self.users else None
        )
        self._open_users = users is not None and _users_max(users) is None
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
            for disk in self.inventory.of_type(_DISK_CONFIG):
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
        elsewhere = sorted(
            {
                r.region
                for r in self.inventory.resources
                if r.provider == "aws" and r.region not in (None, "global", "us-east-1")
            }
        )
        if elsewhere:
            out.append(
                "AWS resources in " + ", ".join(elsewhere) + " are priced at us-east-1 list "
                "rates (other regions cost more)"
            )
        return out

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
            low=_cents(unit_price * q.low),
            high=_cents(unit_price * q.high),
            unit_price=unit_price,
            quantity=(_qty(q.low), _qty(q.high)),
            unit=unit,
            source=url,
            type=resource.type,
            detail=detail,
            price_key=key,
        )


def _users_max(users) -> int | None:
    return users[1] if isinstance(users, tuple) else users.max


def _users_span(users) -> Span | None:
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


def _free(item: str, why: str, source: str | None = None, provider: str | None = None) -> Rule:
    """A resource that costs nothing by itself: priced at $0, with the reason."""

    def rule(resource: Resource, ctx: _Context) -> Iterable[Result]:
        yield ctx.line(
            resource, item, 0.0, 1, "each", source or _PULUMI_DOCS, provider=provider, detail=why
        )

    return rule


def _free_entry(item: str, key: str, why: str) -> Rule:
    """A resource whose catalog price is 0 (or whose use stays within a free tier)."""

    def rule(resource: Resource, ctx: _Context) -> Iterable[Result]:
        entry = ctx.entry(key)
        if entry is None:
            yield _Unpriced(f"no price entry {key!r} in the catalog")
            return
        yield ctx.line(resource, item, entry.price or 0.0, 0, entry.unit, entry, detail=why)

    return rule


# Vercel ------------------------------------------------------------------------------------


def _vercel_team(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """floyo:web:Web carries the team's plan and paid seats."""
    plan = resource.inputs.get("vercel_plan")
    seats = int(resource.inputs.get("seats") or 1)
    entry = ctx.entry(f"vercel.plans.{plan}") if plan else None
    if entry is None:
        yield _Unpriced(f"no Vercel plan {plan!r} in the catalog")
    elif entry.is_custom:
        yield _Unpriced(f"Vercel {plan} plan: contract pricing, no list price")
    elif entry.unit == "seat-month":
        yield ctx.line(
            resource,
            f"{plan} plan seats",
            entry.price or 0.0,
            seats,
            "seat-month",
            entry,
            provider="vercel",
            detail=f"{seats} seat{'s' if seats != 1 else ''}",
        )
    else:
        yield ctx.line(
            resource, f"{plan} plan", entry.price or 0.0, 1, entry.unit, entry, provider="vercel"
        )


def _vercel_project(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """Usage beyond the plan: fast data transfer (usage.egress_gb) and edge requests (one
    per app request), less the plan's monthly usage credit."""
    web = ctx.web_inputs(resource)
    plan = (web or {}).get("vercel_plan")
    entry = ctx.entry(f"vercel.plans.{plan}") if plan else None
    if entry is None:
        yield _Unpriced("no Vercel plan found for this project (no floyo:web:Web parent)")
        return
    if entry.is_custom:
        yield _Unpriced(f"Vercel {plan} plan usage: contract pricing, no list price")
        return
    includes = entry.extra.get("includes") or {}
    if plan == "hobby":
        yield ctx.line(
            resource,
            "usage",
            0.0,
            0,
            "month",
            entry,
            detail="Hobby has no overage billing: a project over quota is paused",
        )
        return
    transfer = ctx.entry("vercel.overage.fast_data_transfer_gb")
    requests = ctx.entry("vercel.overage.edge_requests_million")
    overage = Span(0, 0)
    if transfer is not None:
        included = float(includes.get("fast_data_transfer_gb", 0))
        gb = ctx.egress_gb.over(included)
        line = ctx.line(
            resource,
            "fast data transfer",
            transfer.price or 0.0,
            gb,
            "GB",
            transfer,
            detail=f"usage.egress_gb beyond {included:,.0f} GB included",
        )
        overage = Span(overage.low + line.low, overage.high + line.high)
        yield line
    if requests is not None:
        if ctx.requests is None:
            yield _Unpriced("edge requests: no user count given to the estimate")
        else:
            included = float(includes.get("edge_requests", 0))
            millions = ctx.requests.over(included) * 1e-6
            line = ctx.line(
                resource,
                "edge requests",
                requests.price or 0.0,
                millions,
                requests.unit,
                requests,
                detail=f"requests/user x users beyond {included / 1e6:,.0f}M included",
            )
            overage = Span(overage.low + line.low, overage.high + line.high)
            yield line
    credit = float(includes.get("usage_credit", 0))
    if credit:
        yield ctx.line(
            resource,
            "usage credit",
            -1.0,
            overage.capped(credit),
            "USD",
            entry,
            detail=f"the plan's ${credit:,.0f} monthly usage credit, against usage",
        )


# Supabase ----------------------------------------------------------------------------------


def _supabase_project(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """Compute per project; the plan fee, compute credit and egress once per organization
    (on its first project by name); disk beyond the included 8 GB per project."""
    inputs = resource.inputs
    plan = inputs.get("plan")
    org = str(inputs.get("organization_slug"))
    org_projects = ctx.org_projects.get(org, [resource])
    first = org_projects[0].key == resource.key
    plan_entry = ctx.entry(f"supabase.plans.{plan}") if plan else None
    if plan_entry is None:
        yield _Unpriced(f"no Supabase plan {plan!r} in the catalog")
        return
    if first:
        if plan_entry.is_custom:
            yield _Unpriced(f"Supabase {plan} plan: contract pricing, no list price")
        else:
            yield ctx.line(
                resource,
                f"{plan} plan",
                plan_entry.price or 0.0,
                1,
                "month",
                plan_entry,
                detail=f"per organization ({org})",
            )
    # compute
    size = str(inputs.get("instance_size"))
    compute, called = ctx.compute_price(size, plan)
    if compute is None:
        yield _Unpriced(f"no Supabase compute size {size!r} in the catalog")
    elif plan == "free":
        yield ctx.line(
            resource,
            "compute",
            0.0,
            1,
            "month",
            plan_entry,
            detail=f"{size}, free on the Free plan",
        )
    else:
        yield ctx.line(
            resource, "compute", compute.price or 0.0, 1, "month", compute, detail=called
        )
    includes = plan_entry.extra.get("includes") or {}
    # compute credit, once per organization, against the compute of its projects (never replicas)
    credit = float(includes.get("compute_credit", 0))
    if first and credit and plan != "free":
        total = 0.0
        for project in org_projects:
            entry, _ = ctx.compute_price(str(project.inputs.get("instance_size")), plan)
            total += entry.price or 0.0 if entry else 0.0
        yield ctx.line(
            resource,
            "compute credit",
            -1.0,
            min(credit, total),
            "USD",
            plan_entry,
            detail=f"${credit:,.0f} per organization, against project compute",
        )
    # disk
    disk = ctx.entry("supabase.disk.gp3_gb")
    if plan == "free":
        pass  # the Free plan caps the database at 0.5 GB: no disk to buy
    elif disk is not None:
        included = ctx.disk_included()
        provisioned = ctx.provisioned_disk_gb(resource)
        yield ctx.line(
            resource,
            "disk",
            disk.price or 0.0,
            provisioned.over(included),
            disk.unit,
            disk,
            detail=f"{_span_text(provisioned)} GB provisioned, {included:,.0f} GB included",
        )
    # egress, once per organization
    egress = ctx.entry("supabase.egress.uncached_gb")
    if first and egress is not None:
        quota = (egress.extra.get("included_gb") or {}).get(plan)
        if quota is None:
            yield _Unpriced(f"Supabase egress on the {plan} plan: no list quota or rate")
        else:
            yield ctx.line(
                resource,
                "egress",
                egress.price or 0.0,
                ctx.egress_gb.over(float(quota)),
                "GB",
                egress,
                detail=f"usage.egress_gb beyond {quota:,.0f} GB included per organization",
            )


def _supabase_replica(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """A read replica: the primary's compute size (no credit) and 1.25x its disk, from GB 1."""
    primary = ctx.by_key.get(resource.parent or "")
    if primary is None or primary.type != "pulumi-python:dynamic/supabase:Project":
        yield _Unpriced("read replica whose primary project is not in the inventory")
        return
    plan = primary.inputs.get("plan")
    size = str(primary.inputs.get("instance_size"))
    compute, called = ctx.compute_price(size, plan)
    if compute is None:
        yield _Unpriced(f"no Supabase compute size {size!r} in the catalog")
    else:
        yield ctx.line(
            resource,
            "replica compute",
            compute.price or 0.0,
            1,
            "month",
            compute,
            detail=f"{called}, as its primary {primary.name}; no compute credit",
        )
    disk = ctx.entry("supabase.read_replica.disk_gb")
    if disk is not None:
        factor = float(disk.extra.get("disk_multiplier", 1.25))
        gb = ctx.provisioned_disk_gb(primary) * factor
        yield ctx.line(
            resource,
            "replica disk",
            disk.price or 0.0,
            gb,
            disk.unit,
            disk,
            detail=f"{factor:g}x the primary's provisioned disk, from the first GB",
        )


def _supabase_addon(resource: Resource, ctx: _Context) -> Iterable[Result]:
    kind, variant = resource.inputs.get("addon_type"), resource.inputs.get("addon_variant")
    if kind != "pitr":
        yield _Unpriced(f"Supabase add-on {kind!r}: no pricing rule")
        return
    entry = ctx.entry(f"supabase.pitr.{variant}")
    if entry is None:
        yield _Unpriced(f"no Supabase PITR variant {variant!r} in the catalog")
        return
    days = entry.extra.get("retention_days")
    yield ctx.line(
        resource,
        "PITR",
        entry.price or 0.0,
        1,
        "month",
        entry,
        detail=f"{days} days of retention" if days else str(variant),
    )


# AWS: S3 -----------------------------------------------------------------------------------


def _storage_class_entry(ctx: _Context, storage_class: str) -> PriceEntry | None:
    for entry in ctx.catalog.entries("aws.s3.storage"):
        if entry.extra.get("storage_class") == storage_class:
            return entry
    return None


def _bucket_class(resource: Resource, ctx: _Context) -> tuple[str, str]:
    """The storage class a bucket's data is priced at, and why."""
    written = ctx.replica_class.get(resource.key, "STANDARD")
    for cfg in ctx.inventory.of_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    ):
        if cfg.parent != resource.key:
            continue
        for rule in cfg.inputs.get("rules") or []:
            prefix = ((rule or {}).get("filter") or {}).get("prefix", "")
            if rule.get("status") != "Enabled" or prefix:
                continue
            for t in rule.get("transitions") or []:
                days = t.get("days")
                if days is not None and days <= TRANSITION_PRICED_DAYS:
                    return t["storageClass"], f"lifecycle moves objects after {days} days"
    return written, "as written (later lifecycle transitions not counted)"


def _s3_bucket(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """Storage (usage.storage_gb split over the non-replica buckets; a replica holds its
    source's share) and, on non-replica buckets, GET/PUT requests driven by app requests."""
    share = ctx.bucket_share(resource)
    storage_class, why = _bucket_class(resource, ctx)
    entry = _storage_class_entry(ctx, storage_class)
    if entry is None:
        yield _Unpriced(f"no S3 storage price for class {storage_class}")
    else:
        source = ctx.replica_source.get(resource.key)
        whose = f"a copy of {source.name}" if source else "usage.storage_gb split over buckets"
        yield ctx.line(
            resource,
            "storage",
            entry.price or 0.0,
            share,
            entry.unit,
            entry,
            detail=f"{storage_class}, {why}; {whose}",
        )
    if resource.key in ctx.replica_source:
        return
    if ctx.requests is None:
        yield _Unpriced("S3 requests: no user count given to the estimate")
        return
    per_bucket = ctx.requests * (1 / max(1, len(ctx.primary_buckets)))
    for kind, per_request in (("get", S3_GETS_PER_REQUEST), ("put", S3_PUTS_PER_REQUEST)):
        req = ctx.entry(f"aws.s3.requests.standard.{kind}")
        if req is None:
            continue
        yield ctx.line(
            resource,
            f"{kind.upper()} requests",
            req.price or 0.0,
            per_bucket * (per_request / 1000),
            req.unit,
            req,
            detail=f"{per_request:g} per app request, split over buckets",
        )


def _s3_replication(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """Cross-region transfer of what is written to the source each month, per destination."""
    entry = ctx.entry("aws.s3.replication.transfer_gb")
    source = ctx.by_key.get(resource.parent or "")
    destinations = len(resource.inputs.get("rules") or [])
    if entry is None:
        yield _Unpriced("no S3 replication transfer price in the catalog")
        return
    if source is None or source.type != "aws:s3/bucket:Bucket":
        yield _Unpriced("replication whose source bucket is not in the inventory")
        return
    gb = ctx.bucket_share(source) * (MONTHLY_WRITE_SHARE * destinations)
    yield ctx.line(
        resource,
        "replication transfer",
        entry.price or 0.0,
        gb,
        entry.unit,
        entry,
        detail=f"{MONTHLY_WRITE_SHARE:.0%} of {source.name} written a month, "
        f"to {destinations} region{'s' if destinations != 1 else ''}",
    )


# AWS: ElastiCache --------------------------------------------------------------------------


def _node_type(resource: Resource, ctx: _Context) -> tuple[str | None, str]:
    """The group's node type; a secondary member of a global datastore records none and runs
    the primary's, found through the GlobalReplicationGroup."""
    node = resource.inputs.get("nodeType")
    if node:
        return str(node), ""
    global_id = resource.inputs.get("globalReplicationGroupId")
    if not global_id:
        return None, ""
    globals_ = ctx.inventory.of_type(
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
    )
    matches = [
        g
        for g in globals_
        if str(global_id).endswith(str(g.inputs.get("globalReplicationGroupIdSuffix") or "\0"))
    ] or (list(globals_) if len(globals_) == 1 else [])
    if not matches:
        return None, ""
    primary_id = matches[0].inputs.get("primaryReplicationGroupId")
    for group in ctx.inventory.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        ids = {group.name, f"{group.name}-id", group.inputs.get("replicationGroupId")}
        if primary_id in ids and group.inputs.get("nodeType"):
            return str(group.inputs["nodeType"]), f"the global datastore primary {group.name}'s"
    return None, ""


def _elasticache_group(resource: Resource, ctx: _Context) -> Iterable[Result]:
    node, whose = _node_type(resource, ctx)
    if node is None:
        yield _Unpriced("replication group whose node type is unknown")
        return
    entry = ctx.entry(f"aws.elasticache.node_hour.{node}")
    if entry is None:
        yield _Unpriced(f"no ElastiCache node-hour price for {node}")
        return
    inputs = resource.inputs
    if inputs.get("numNodeGroups"):
        nodes = int(inputs["numNodeGroups"]) * (1 + int(inputs.get("replicasPerNodeGroup") or 0))
    else:
        nodes = int(inputs.get("numCacheClusters") or 1)
    engine = inputs.get("engine") or "redis"
    detail = f"{nodes} x {node}" + (f" ({whose})" if whose else "") + f" x {HOURS_PER_MONTH} h"
    if engine == "valkey":
        detail += "; Valkey lists ~0.8x, priced at the Redis OSS rate"
    yield ctx.line(
        resource,
        "nodes",
        entry.price or 0.0,
        nodes * HOURS_PER_MONTH,
        entry.unit,
        entry,
        detail=detail,
    )


# Upstash -----------------------------------------------------------------------------------


def _upstash_database(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """Pay as you go: commands (requests/user x users x UPSTASH_COMMANDS_PER_REQUEST) and
    storage (UPSTASH_CACHE_SHARE_OF_DATABASE of usage.database_gb beyond the included GB)."""
    commands = ctx.entry("upstash.redis.payg_100k_commands")
    storage = ctx.entry("upstash.redis.payg_storage_gb")
    if commands is None or storage is None:
        yield _Unpriced("no Upstash pay-as-you-go price in the catalog")
        return
    if ctx.requests is None:
        yield _Unpriced("Upstash commands: no user count given to the estimate")
    else:
        reads = resource.inputs.get("readRegions") or []
        detail = f"requests/user x users x {UPSTASH_COMMANDS_PER_REQUEST:g} command/request"
        if reads:
            detail += f"; writes replicated to {len(reads)} read region(s) not counted"
        yield ctx.line(
            resource,
            "commands",
            commands.price or 0.0,
            ctx.requests * (UPSTASH_COMMANDS_PER_REQUEST / 100_000),
            commands.unit,
            commands,
            detail=detail,
        )
    included = float(storage.extra.get("included_gb", 0))
    share = UPSTASH_CACHE_SHARE_OF_DATABASE
    yield ctx.line(
        resource,
        "storage",
        storage.price or 0.0,
        (ctx.database_gb * share).over(included),
        storage.unit,
        storage,
        detail=f"{share:g} x usage.database_gb beyond {included:g} GB included",
    )


# AWS: monitoring ---------------------------------------------------------------------------


def _alarm(resource: Resource, ctx: _Context) -> Iterable[Result]:
    period = resource.inputs.get("period")
    if period is not None and int(period) < 60:
        entry = ctx.entry("aws.cloudwatch.alarm_high_resolution")
        if entry is None:
            yield _Unpriced("no high-resolution alarm price in the catalog")
            return
        yield ctx.line(
            resource, "alarm", entry.price or 0.0, 1, entry.unit, entry, detail="high resolution"
        )
        return
    entry = ctx.entry(FREE_ALARMS)
    if entry is None:
        yield _Unpriced("no standard alarm price in the catalog")
        return
    free = int(entry.extra.get("free_tier", 0))
    standard = [a for a in ctx.alarms if int(a.inputs.get("period") or 60) >= 60]
    index = next((i for i, a in enumerate(standard) if a.key == resource.key), len(standard))
    within = index < free
    yield ctx.line(
        resource,
        "alarm",
        entry.price or 0.0,
        0 if within else 1,
        entry.unit,
        entry,
        detail=f"within the free tier ({free} alarms)" if within else "beyond the free tier",
    )


def _sns_subscription(resource: Resource, ctx: _Context) -> Iterable[Result]:
    protocol = resource.inputs.get("protocol")
    key = "aws.sns.email_100k" if protocol in ("email", "email-json") else "aws.sns.http_million"
    entry = ctx.entry(key)
    if entry is None:
        yield _Unpriced(f"no SNS {protocol} delivery price in the catalog")
        return
    yield ctx.line(
        resource,
        "deliveries",
        entry.price or 0.0,
        0,
        entry.unit,
        entry,
        detail=f"alert deliveries stay within the free tier ({entry.extra.get('free_tier', 0):,})",
    )


# -- the table: one entry per type token ----------------------------------------------------

_COMPONENT = "a component: groups resources; its children are priced"

_DISK_CONFIG = "pulumi-python:dynamic/supabase:DiskConfig"

RULES: dict[str, Rule] = {
    # components (floyo:web:Web also carries the Vercel plan and seats)
    "floyo:web:Web": _vercel_team,
    "floyo:database:Database": _free("component", _COMPONENT, provider="supabase"),
    "floyo:cache:Cache": _free("component", _COMPONENT, provider="aws"),
    "floyo:storage:Storage": _free("component", _COMPONENT, provider="aws"),
    "floyo:monitoring:Monitoring": _free("component", _COMPONENT, provider="aws"),
    "floyo:regions:Regions": _free("component", _COMPONENT, provider="aws"),
    # providers and local resources
    "pulumi:providers:aws": _free("provider", "a provider configuration, not a cloud resource"),
    "pulumi:providers:vercel": _free("provider", "a provider configuration, not a cloud resource"),
    "pulumi:providers:random": _free("provider", "a provider configuration, not a cloud resource"),
    "random:index/randomPassword:RandomPassword": _free(
        "generated password", "generated by the engine; nothing is billed", provider="random"
    ),
    # Vercel
    "vercel:index/project:Project": _vercel_project,
    "vercel:index/projectDomain:ProjectDomain": _free(
        "domain", "custom domains are included in every plan", _VERCEL_PRICING
    ),
    "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable": _free(
        "environment variable", "included in every plan", _VERCEL_PRICING
    ),
    # Supabase
    "pulumi-python:dynamic/supabase:Project": _supabase_project,
    "pulumi-python:dynamic/supabase:ReadReplica": _supabase_replica,
    "pulumi-python:dynamic/supabase:Addon": _supabase_addon,
    _DISK_CONFIG: _free(
        "disk size",
        "the disk is priced on its project's `disk` line (its size_gb is the provisioned size)",
        provider="supabase",
    ),
    "pulumi-python:dynamic/supabase:PoolerSettings": _free(
        "pooler settings", "Supavisor comes with every project", _SUPABASE_POOLER
    ),
    # AWS: S3
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": _s3_replication,
    "aws:s3/bucketVersioning:BucketVersioning": _free(
        "versioning",
        "no fee; noncurrent versions count as storage (expired by lifecycle)",
        _AWS_S3_PRICING,
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _free(
        "encryption", "SSE-S3 (AES256) carries no charge", _AWS_S3_PRICING
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _free(
        "public access block", "a setting; no charge", _AWS_S3_PRICING
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _free(
        "lifecycle rules",
        "no fee for the rules; transition requests not counted",
        _AWS_S3_PRICING,
    ),
    "aws:iam/role:Role": _free_entry("IAM role", "aws.iam", "IAM carries no charge"),
    "aws:iam/rolePolicy:RolePolicy": _free_entry("IAM policy", "aws.iam", "IAM carries no charge"),
    # AWS: ElastiCache and its network
    "aws:elasticache/replicationGroup:ReplicationGroup": _elasticache_group,
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": _free_entry(
        "global datastore",
        "aws.elasticache.global_datastore.surcharge",
        "no fee beyond member nodes; cross-region replication traffic not estimated",
    ),
    "aws:elasticache/parameterGroup:ParameterGroup": _free(
        "parameter group", "a setting; no charge", _AWS_ELASTICACHE_PRICING
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": _free(
        "subnet group", "a setting; no charge", _AWS_ELASTICACHE_PRICING
    ),
    "aws:ec2/vpc:Vpc": _free(
        "VPC", "no charge (no NAT gateway or endpoint is built)", _AWS_VPC_PRICING
    ),
    "aws:ec2/subnet:Subnet": _free("subnet", "no charge", _AWS_VPC_PRICING),
    "aws:ec2/securityGroup:SecurityGroup": _free("security group", "no charge", _AWS_VPC_PRICING),
    # AWS: monitoring
    "aws:budgets/budget:Budget": _free_entry(
        "budget", "aws.budgets.budget", "notification-only budgets are free"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    # Upstash
    "pulumi:providers:upstash": _free("provider", "a provider configuration, not a cloud resource"),
    "upstash:index/redisDatabase:RedisDatabase": _upstash_database,
    "aws:sns/topic:Topic": _free_entry(
        "publishes", "aws.sns.publish_million", "alert publishes stay within the 1M free tier"
    ),
    "aws:sns/topicSubscription:TopicSubscription": _sns_subscription,
}


def _span_text(span: Span) -> str:
    return f"{span.low:,.4g}" if span.low == span.high else f"{span.low:,.4g}-{span.high:,.4g}"


__all__ = [
    "CURRENCY",
    "RULES",
    "CostDelta",
    "CostEstimate",
    "CostLine",
    "LineDelta",
    "Span",
    "Unpriced",
    "diff_costs",
    "estimate_cost",
    "estimate_for_stack",
    "signed_usd",
    "usd",
    "usd_range",
]
