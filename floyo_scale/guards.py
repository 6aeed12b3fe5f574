"""The rules between a plan and `up`: what would lose data, what a phase downgrade removes and
saves, and when a person must confirm. Pure functions over plain data: no engine, no I/O.

Two views feed the destroy guard. The offline plan (plan.diff_inventories between the phase
the stack is deployed at and the phase asked for) knows phases; the real preview knows the
state. Either one announcing that a stateful resource (offline.inventory.is_stateful:
database, replica, bucket, cache, secret) is deleted or replaced is enough to stop `up`
unless --allow-destroy: a false alarm costs one flag, a missed one costs data.

Layer "guards" (docs/architecture.md): may import errors, offline, cost (the one money
formatter, cost.currency); never render, engine or cli.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .cost.currency import money
from .errors import FloyoError, GuardrailError, ProviderRuleError
from .offline.inventory import STATEFUL_TYPES as STATEFUL_TYPES  # the list, for readers
from .offline.inventory import Resource, is_stateful, short_type
from .offline.plan import InventoryDiff

# The steps of a replacement (without --show-replacement-steps Pulumi still sends all three).
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
# Steps that change nothing.
QUIET_OPS = frozenset({"same", "read", "refresh"})

PRODUCTION_STACKS = frozenset({"production", "prod"})
# Set by the CI systems floyo-scale is run from (GitHub Actions, GitLab, Buildkite, CircleCI,
# Jenkins, Azure Pipelines, TeamCity); most also set CI=true.
CI_VARIABLES = (
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
)


@dataclass(frozen=True)
class Step:
    """One resource operation a preview announced (from Pulumi's engine events)."""

    op: str  # create, update, delete, replace, create-replacement, delete-replaced, same, ...
    urn: str
    type: str
    name: str
    retain_on_delete: bool = False  # the old resource stays in the cloud when deleted
    keys: tuple[str, ...] = ()  # the inputs that changed (or force the replacement)

    @property
    def stateful(self) -> bool:
        return is_stateful(self.type)

    @property
    def changes(self) -> bool:
        return self.op not in QUIET_OPS

    @property
    def destroys_data(self) -> bool:
        """A stateful resource replaced, or deleted without being retained in the cloud."""
        return self.stateful and (
            self.op in REPLACE_OPS or (self.op == "delete" and not self.retain_on_delete)
        )


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


def losses_from_preview(steps: Iterable[Step]) -> tuple[Loss, ...]:
    """Stateful resources the preview deletes (not retained) or replaces, one per resource."""
    actions: dict[tuple[str, str], tuple[Literal["delete", "replace"], tuple[str, ...]]] = {}
    for step in steps:
        if not step.destroys_data:
            continue
        key = (step.type, step.name)
        if step.op in REPLACE_OPS:
            prior = actions.get(key)
            actions[key] = ("replace", step.keys or (prior[1] if prior else ()))
        else:
            actions.setdefault(key, ("delete", ()))
    return tuple(
        Loss(type_, name, action, ("preview",), keys)
        for (type_, name), (action, keys) in sorted(actions.items())
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


# -- confirmation --------------------------------------------------------------------------

Decision = Literal["proceed", "ask", "refuse"]


def is_ci(env: Mapping[str, str]) -> bool:
    return any(env.get(name, "").lower() not in ("", "0", "false") for name in CI_VARIABLES)


def is_production(stack: str) -> bool:
    return stack in PRODUCTION_STACKS


def confirmation(*, required: bool, yes: bool, is_tty: bool, is_ci: bool) -> Decision:
    """Whether to go ahead, ask the person at the terminal, or refuse.

    `--yes` always proceeds; a change that needs no confirmation proceeds; CI never gets a
    prompt (even with a pseudo-terminal), it must pass --yes; a terminal is asked; anything
    else (a pipe, cron) is refused.
    """
    if yes or not required:
        return "proceed"
    if is_ci:
        return "refuse"
    return "ask" if is_tty else "refuse"


def refusal(what: str, stack: str, is_ci: bool) -> GuardrailError:
    where = "in CI" if is_ci else "without a terminal"
    return GuardrailError(
        f"{what} stack {stack} needs confirmation, and none can be asked {where}",
        "pass --yes once the preview has been reviewed",
    )
