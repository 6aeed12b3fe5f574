"""What a plan may do: small pure functions that look at what a change would build, lose or
cost and either say something about it or refuse it (a Finding; GuardrailError, exit code 6).
`refusals` makes the one list `up` enforces and `diff` reports.

Data loss: two views feed the destroy rule. The offline plan (plan.diff_inventories between
the phase the stack is deployed at and the phase asked for) knows phases; the real preview
knows the state (engine.results.losses_from_preview). Either one announcing that a stateful
resource (offline.inventory.is_stateful: database, replica, bucket, cache, secret) is deleted
or replaced is enough to stop `up` unless --allow-destroy: a false alarm costs one flag, a
missed one costs data. A phase downgrade: what goes away and what it saves.

Budget: the estimate (cost.estimate_cost) is over budget when its HIGH figure exceeds the
monthly budget of the phase, with the stack's overrides merged (`budget.monthly_usd`), the
same figure and alert threshold the program's AWS Budget is created with.

Layer "guards" (docs/architecture.md): may import errors, offline, cost; never render, engine
or cli.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .catalog.facts import VERCEL_REGIONS
from .catalog.regions import SAME_AREA_MS, round_trip_ms
from .cost import CostEstimate, usd, usd_range
from .cost.currency import money
from .errors import FloyoError, GuardrailError, ProviderRuleError
from .offline.inventory import Inventory, Resource, short_type
from .offline.plan import InventoryDiff
from .offline.reach import unreachable
from .provider_rules import Broken, broken_rules

ALLOW_OVER_BUDGET = "--allow-over-budget"


# -- data loss ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    """A stateful resource that would be deleted or replaced, and who said so."""

    type: str
    name: str
    action: Literal["delete", "replace"]
    sources: tuple[str, ...]  # "preview", "plan"
    keys: tuple[str, ...] = ()

    def describe(self) -> str:
        why = f" (because of {', '.join(self.keys)})" if self.keys else ""
        return (
            f"{self.action} {short_type(self.type)} {self.name}{why}"
            f" [seen by the {' and the '.join(self.sources)}]"
        )


def losses_from_diff(diff: InventoryDiff | None) -> tuple[Loss, ...]:
    """Stateful resources the offline plan deletes or replaces."""
    if diff is None:
        return ()
    losses = []
    for change in diff.destructive:  # a retained delete is not (Change.destructive)
        action: Literal["delete", "replace"] = "replace" if change.kind == "replace" else "delete"
        r = change.resource
        losses.append(Loss(r.type, r.name, action, ("plan",), change.replaced_by))
    return tuple(losses)


def merge_losses(*groups: Iterable[Loss]) -> tuple[Loss, ...]:
    """One Loss per resource; a replacement outranks a deletion; every source is kept."""
    merged: dict[tuple[str, str], Loss] = {}
    for loss in (loss for group in groups for loss in group):
        key = (loss.type, loss.name)
        prior = merged.get(key)
        if prior is None:
            merged[key] = loss
            continue
        action: Literal["delete", "replace"] = (
            "replace" if "replace" in (prior.action, loss.action) else "delete"
        )
        sources = tuple(dict.fromkeys(prior.sources + loss.sources))
        keys = tuple(dict.fromkeys(prior.keys + loss.keys))
        merged[key] = Loss(loss.type, loss.name, action, sources, keys)
    return tuple(merged[k] for k in sorted(merged))


@dataclass(frozen=True)
class Finding:
    """Something `up` refuses, found before anything runs. `policy.refusals` makes the list
    that `up` enforces and `diff` reports: one code path, so a pull request shows exactly
    what `up` would refuse."""

    kind: Literal["destroy", "budget", "unreachable", "provider"]
    summary: str  # a few words, for a table cell
    message: str
    hint: str
    override: str | None  # the flag that lets `up` go on anyway; None: nothing does
    subjects: tuple[str, ...] = ()  # the resources concerned ("type name")
    from_spec: bool = True  # kind "provider": a value of the spec broke the rule (else the program)

    def error(self) -> FloyoError:
        """A provider rule broken is exit 3 (1 when the program broke it); the others exit 6."""
        if self.kind == "provider":
            return ProviderRuleError(self.message, self.hint, from_spec=self.from_spec)
        return GuardrailError(self.message, self.hint)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "message": self.message,
            "hint": self.hint,
            "override": self.override,
            "subjects": list(self.subjects),
        }


def destroy_finding(losses: tuple[Loss, ...]) -> Finding | None:
    """Data would be lost: each stateful resource deleted or replaced, listed."""
    if not losses:
        return None
    listed = "\n".join(f"  - {loss.describe()}" for loss in losses)
    count = len(losses)
    return Finding(
        "destroy",
        f"destroys data ({count})",
        f"this change would destroy data: {count} stateful resource"
        f"{'s' if count != 1 else ''} would be deleted or replaced:\n{listed}",
        "back up what they hold first, then rerun with --allow-destroy; "
        "or change the spec so they stay",
        "--allow-destroy",
        tuple(f"{short_type(loss.type)} {loss.name}" for loss in losses),
    )


def check_destroy(losses: tuple[Loss, ...], allow_destroy: bool) -> None:
    """Refuse (exit 6) when data would be lost, listing each resource, unless allowed."""
    finding = destroy_finding(losses)
    if finding is not None and not allow_destroy:
        raise finding.error()


# -- phase downgrades ----------------------------------------------------------------------


@dataclass(frozen=True)
class Downgrade:
    """Moving a stack to a smaller phase: what goes away and what it saves a month."""

    old_phase: str
    new_phase: str
    removed: tuple[Resource, ...]
    saving_low: float | None = None
    saving_high: float | None = None

    def describe(self) -> str:
        lines = [f"phase downgrade: {self.old_phase} -> {self.new_phase}"]
        if self.removed:
            lines.append(f"  goes away ({len(self.removed)}):")
            lines += [f"    - {short_type(r.type)} {r.name}" for r in self.removed]
        else:
            lines.append("  nothing is deleted")
        if self.saving_low is not None and self.saving_high is not None:
            lines.append(f"  monthly saving: {money(self.saving_low)} to {money(self.saving_high)}")
        return "\n".join(lines)


def downgrade(
    diff: InventoryDiff | None,
    old_rank: int,
    new_rank: int,
    old_cost: Any | None = None,
    new_cost: Any | None = None,
) -> Downgrade | None:
    """A Downgrade when the new phase ranks below the deployed one (ranks: users.min).

    `old_cost` and `new_cost` are cost.CostEstimate (`total_low`, `total_high`) or None.
    """
    if diff is None or new_rank >= old_rank:
        return None
    removed = tuple(c.resource for c in diff.of_kind("delete"))
    low = high = None
    if old_cost is not None and new_cost is not None:
        low = round(float(old_cost.total_low) - float(new_cost.total_low), 2)
        high = round(float(old_cost.total_high) - float(new_cost.total_high), 2)
        low, high = min(low, high), max(low, high)
    return Downgrade(diff.old.phase, diff.new.phase, removed, low, high)


# -- budget ---------------------------------------------------------------------------------


def budget_finding(estimate: CostEstimate) -> Finding | None:
    """Over budget: the high figure of the estimate exceeds the monthly budget."""
    if not estimate.over_budget:
        return None
    assert estimate.budget_monthly is not None  # over_budget implies a budget
    return Finding(
        "budget",
        f"over budget ({estimate.used_percent:g}%)",
        f"the estimated monthly cost of stack {estimate.stack} at phase {estimate.phase}, "
        f"{usd_range(estimate.total_low, estimate.total_high)}, exceeds its budget of "
        f"{usd(estimate.budget_monthly)} ({estimate.used_percent:g}% of it at the high figure)",
        "run `floyo-scale cost` to see where it goes; lower the phase's resources or expected "
        "usage, or raise budget.monthly_usd (in the stack's overrides); or pass "
        f"{ALLOW_OVER_BUDGET} to apply anyway",
        ALLOW_OVER_BUDGET,
    )


def check_budget(estimate: CostEstimate, allow_over_budget: bool) -> None:
    """Refuse (GuardrailError, exit 6) a change whose estimate is over budget, unless allowed."""
    finding = budget_finding(estimate)
    if finding is not None and not allow_over_budget:
        raise finding.error()


def budget_warning(estimate: CostEstimate) -> str | None:
    """What `plan` says about the budget, or None when there is nothing to say."""
    where = f"stack {estimate.stack} at phase {estimate.phase}"
    cost = usd_range(estimate.total_low, estimate.total_high)
    if estimate.budget_monthly is None:
        return (
            f"no monthly budget is set for {where}: the budget guardrail and the AWS Budget "
            "alert are off (set budget.monthly_usd in the stack's overrides)"
        )
    budget = usd(estimate.budget_monthly)
    unpriced = estimate.unpriced_count
    partial = (
        f"; {unpriced} resource{'s' if unpriced != 1 else ''} could not be priced, so the "
        "real figure is higher"
        if unpriced
        else ""
    )
    if estimate.over_budget:
        return (
            f"over budget: the estimated monthly cost of {where}, {cost}, exceeds its {budget} "
            f"budget ({estimate.used_percent:g}% used); commands that apply changes refuse "
            f"without {ALLOW_OVER_BUDGET}{partial}"
        )
    if estimate.over_alert:
        return (
            f"the estimated monthly cost of {where}, {cost}, reaches {estimate.used_percent:g}% "
            f"of its {budget} budget, past the {estimate.alert_percent}% alert threshold{partial}"
        )
    if unpriced:
        return f"the budget check of {where} is incomplete{partial}"
    return None


def reachability_finding(inventory: Inventory) -> Finding | None:
    """What the app is wired to but cannot reach (offline.reach): refused, no override."""
    problems = unreachable(inventory)
    if not problems:
        return None
    listed = "\n".join(f"  - {p}" for p in problems)
    count = len(problems)
    return Finding(
        "unreachable",
        f"{count} unreachable",
        f"stack {inventory.stack} at phase {inventory.phase} wires the app to {count} "
        f"component{'s' if count != 1 else ''} it cannot reach:\n{listed}",
        "use a cache Vercel functions reach (cache.provider: upstash), or configure "
        'web.secure_compute (docs/program.md, "Reachability"); nothing was changed',
        None,  # a component the app cannot use is a bill, not a feature: no flag
        tuple(p.split(":", 1)[0] for p in problems),
    )


def check_reachable(inventory: Inventory) -> None:
    """Refuse (GuardrailError, exit 6) to build what the app cannot reach; no flag overrides
    it. `up` calls it offline, before any credential is read (engine.prepare)."""
    finding = reachability_finding(inventory)
    if finding is not None:
        raise finding.error()


def read_route_warnings(inventory: Inventory) -> list[str]:
    """A function region whose reads go to a database outside its area (no replica near it):
    a warning with the round trip every query from there pays (catalog/regions.py)."""
    routes: dict[str, str] = {}
    for variable in inventory.of_type(
        "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
    ):
        if variable.inputs.get("key") == "FLOYO_READ_ROUTES":
            try:
                routes = json.loads(str(variable.inputs.get("value")))
            except ValueError:
                routes = {}
    out = []
    for function, target in sorted(routes.items()):
        here = VERCEL_REGIONS.get(function, function)
        rtt = round_trip_ms(here, target)
        if rtt > SAME_AREA_MS:
            out.append(
                f"reads: functions in {function} ({here}) read from {target}, about {rtt} ms "
                f"a round trip per query; a read replica in {here} (database.read_replicas) "
                "would serve them nearby"
            )
    return out


def reachability_warnings(inventory: Inventory) -> list[str]:
    """What `plan` lists about reachability (the errors of `unreachable`, worded as such)."""
    return [f"unreachable: {p}" for p in unreachable(inventory)]


def provider_rule_finding(inventory: Inventory) -> Finding | None:
    """Values a provider's API would refuse (provider_rules.py): `plan` exits 3 on them after
    listing the plan, `diff` reports them, `up` refuses them before any credential is read.
    No flag overrides a rule the provider itself enforces."""
    broken = broken_rules(inventory)
    if not broken:
        return None
    return Finding(
        "provider",
        f"{len(broken)} provider rule{'s' if len(broken) != 1 else ''} broken",
        f"stack {inventory.stack} at phase {inventory.phase} builds what the providers would "
        f"refuse:\n{_listed(broken)}",
        "change the value in the spec (the source of each rule is named)"
        if any(b.cause == "spec" for b in broken)
        else "this is a bug in floyo-scale's program: report it with this output",
        None,
        tuple(dict.fromkeys(b.resource for b in broken)),
        from_spec=any(b.cause == "spec" for b in broken),
    )


def provider_rule_errors(inventory: Inventory) -> list[str]:
    """What `plan` lists about provider rules (`provider_rules` in `plan --format json`)."""
    return [f"provider rule: {b.describe()}" for b in broken_rules(inventory)]


def _listed(broken: list[Broken]) -> str:
    return "\n".join(f"  - {b.describe()}" for b in broken)


_SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
ANYWHERE = ("0.0.0.0/0", "::/0")


def exposure_warnings(inventory: Inventory) -> list[str]:
    """Every security-group ingress open to the whole internet (0.0.0.0/0 or ::/0): `plan`
    says so, whichever component made it (an RDS `public_tls` database open to all, as
    Vercel functions without Secure Compute have no fixed addresses, is allowed, and said)."""
    found: list[str] = []

    def note(name: str, cidrs: list[str], rule: dict[str, Any]) -> None:
        port = rule.get("fromPort")
        ports = (
            f"port {port}" if port == rule.get("toPort") else f"ports {port}-{rule.get('toPort')}"
        )
        why = f" ({rule['description']})" if rule.get("description") else ""
        found.append(
            f"open to the internet: security group {name} admits {' and '.join(cidrs)} on "
            f"{rule.get('protocol', 'tcp')} {ports}{why}; narrow it to known networks "
            "(or reach the database through Vercel Secure Compute)"
        )

    for group in inventory.of_type(_SECURITY_GROUP):
        for rule in group.inputs.get("ingress") or []:
            cidrs = [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
            if wide := [c for c in cidrs if c in ANYWHERE]:
                note(group.name, wide, rule)
    for rule in inventory.of_type(_INGRESS_RULE):
        cidrs = [rule.inputs.get("cidrIpv4"), rule.inputs.get("cidrIpv6")]
        if wide := [c for c in cidrs if c in ANYWHERE]:
            note(rule.name, wide, rule.inputs)
    for rule in inventory.of_type(_SG_RULE):
        if rule.inputs.get("type") != "ingress":
            continue
        cidrs = [*(rule.inputs.get("cidrBlocks") or []), *(rule.inputs.get("ipv6CidrBlocks") or [])]
        if wide := [c for c in cidrs if c in ANYWHERE]:
            note(rule.name, wide, rule.inputs)
    return found


_DISK = "pulumi-python:dynamic/supabase:DiskConfig"


def diff_warnings(diff: InventoryDiff) -> list[str]:
    """What a diff asks for that the providers will refuse: a database disk cannot shrink
    (its provider fails the preview), so a downgrade must keep the larger disk."""
    warnings = []
    for change in diff.changes:
        if change.kind != "update" or change.resource.type != _DISK:
            continue
        before, after = change.inputs.get("size_gb", (None, None))
        if isinstance(before, int | float) and isinstance(after, int | float) and after < before:
            warnings.append(
                f"{change.resource.name}: a database disk cannot shrink ({before:g} GB to "
                f"{after:g} GB): the preview will fail; keep database.disk_gb at {before:g} or "
                "more in the stack's overrides"
            )
    return warnings


# -- what `up` refuses: one list for `up` and for `diff` -------------------------------------


def refusals(
    losses: tuple[Loss, ...],
    estimate: CostEstimate | None,
    inventory: Inventory | None = None,
) -> tuple[Finding, ...]:
    """Everything `up` would refuse, in the order it checks: values the providers refuse and
    what the app cannot reach (both of `inventory`, the plan being applied), data loss, then
    the budget.

    `up` enforces this list (engine.deploy, with the real preview's losses merged in); `diff`
    and the pull-request comment report it (with the offline plan's losses), so a change
    that `up` will refuse is visible, and red with --fail-on-guard, before it is merged.
    """
    found = [
        provider_rule_finding(inventory) if inventory is not None else None,
        reachability_finding(inventory) if inventory is not None else None,
        destroy_finding(losses),
        budget_finding(estimate) if estimate else None,
    ]
    return tuple(f for f in found if f is not None)


def enforce(findings: tuple[Finding, ...], *, allow_destroy: bool, allow_over_budget: bool) -> None:
    """Refuse (exit 6) with the first finding no flag allows."""
    allowed = {"--allow-destroy": allow_destroy, ALLOW_OVER_BUDGET: allow_over_budget}
    for finding in findings:
        if finding.override is None or not allowed.get(finding.override, False):
            raise finding.error()
