"""Which stacks a change affects: every stack as it is at a git revision (planned by that
revision's own program, see revision.py) against the same stack as it is now.

A stack is affected when what it builds (its inventory) or what it costs changed, when it is
new or removed, or when either side could not be planned (a failure is never shown as an
empty stack). For each stack, the findings are those `up` would refuse (policy.refusals: the
data-destroying changes of this diff and the budget of the stack as it is now), the same
list `up` enforces.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import gitrepo
from ..cost import CostDelta, CostEstimate, diff_costs, estimate_from_json
from ..errors import FloyoError, UsageError
from ..offline import digest
from ..offline.inventory import Inventory
from ..offline.plan import InventoryDiff, diff_inventories, diff_json, inventory_from_json
from ..policy import Finding, losses_from_diff, refusals
from ..report import budget_json
from ..spec import Workspace
from ..transport import Redactor
from . import revision

Status = Literal["changed", "unchanged", "new", "removed", "base-failed", "head-failed"]


@dataclass(frozen=True)
class Side:
    """One stack on one side: its inventory and cost, or why it could not be planned."""

    phase: str | None = None
    inventory: Inventory | None = None
    cost: CostEstimate | None = None
    error: str | None = None
    absent: bool = False  # the stack file does not exist on this side
    failure: FloyoError | None = field(default=None, compare=False)  # the head's own error


@dataclass(frozen=True)
class StackChange:
    stack: str
    base: Side
    head: Side
    diff: InventoryDiff | None = None
    cost: CostDelta | None = None
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        if self.head.absent:
            return "removed"
        if self.head.error is not None:
            return "head-failed"
        if self.base.absent:
            return "new"
        if self.base.error is not None:
            return "base-failed"
        return "changed" if self._changed() else "unchanged"

    @property
    def affected(self) -> bool:
        return self.status != "unchanged"

    def _changed(self) -> bool:
        if self.base.phase != self.head.phase or (self.diff and self.diff.changes):
            return True
        budgets = [c.budget_monthly if c else None for c in (self.base.cost, self.head.cost)]
        if budgets[0] != budgets[1]:
            return True  # the ceiling `up` checks moved (the AWS Budget follows the estimate)
        if self.cost is None:
            return self.base.cost is None and self.head.cost is not None
        return bool(self.cost.changed() or self.cost.total_delta_low or self.cost.total_delta_high)

    def to_json(self) -> dict[str, Any]:
        diff = diff_json(self.diff) if self.diff else None
        return {
            "stack": self.stack,
            "status": self.status,
            "affected": self.affected,
            "base": _side_json(self.base),
            "head": _side_json(self.head),
            "changes": diff["changes"] if diff else None,
            "summary": diff["summary"] if diff else None,
            "cost": self.cost.to_json() if self.cost else None,
            "budget": budget_json(self.head.cost),
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
        }


def _side_json(side: Side) -> dict[str, Any]:
    total = side.cost
    return {
        "phase": side.phase,
        "exists": not side.absent,
        "error": side.error,
        "resources": len(side.inventory.custom_resources()) if side.inventory else None,
        "cost": {"low": total.total_low, "high": total.total_high} if total else None,
    }


@dataclass(frozen=True)
class Head:
    """What "now" is: the working tree, on top of a commit (None outside git)."""

    commit: str | None
    dirty: bool


@dataclass(frozen=True)
class RevisionDiff:
    base_ref: str
    base_commit: str
    head: Head
    stacks: tuple[StackChange, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def affected(self) -> list[str]:
        return [s.stack for s in self.stacks if s.affected]

    def findings(self) -> tuple[Finding, ...]:
        """What `up` would refuse on the affected stacks (--fail-on-guard)."""
        return tuple(f for s in self.stacks if s.affected for f in s.findings)

    def head_failure(self) -> FloyoError | None:
        """The first error of a stack that cannot be planned now (its exit code wins)."""
        return next((s.head.failure for s in self.stacks if s.head.failure), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": {"ref": self.base_ref, "commit": self.base_commit},
            "head": {"commit": self.head.commit, "uncommitted_changes": self.head.dirty},
            "affected": self.affected,
            "stacks": [s.to_json() for s in self.stacks],
            "notes": list(self.notes),
        }


# -- building it ---------------------------------------------------------------------------

PlanHead = Callable[[Workspace, str], tuple[Inventory, CostEstimate]]


def _plan_head(workspace: Workspace, stack: str) -> tuple[Inventory, CostEstimate]:
    from ..report import plan_report

    report = plan_report(workspace, None, stack)
    return report.inventory, report.cost


def compare_revision(
    workspace: Workspace,
    base: str,
    stacks: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    plan_base: Callable[..., revision.BasePlan] = revision.plan_stack,
    plan_head: PlanHead = _plan_head,
) -> RevisionDiff:
    """Every stack (or those named) at git revision `base` against the working tree."""
    env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="floyo-base-") as tmp:
        rev = revision.extract(workspace.root, base, Path(tmp))
        base_names = rev.stack_names()
        head_names = workspace.stack_names()
        names = sorted(set(base_names) | set(head_names))
        if stacks:
            unknown = [s for s in stacks if s not in names]
            if unknown:
                raise UsageError(
                    f"no stack named {', '.join(unknown)} now or at {base}",
                    f"stacks: {', '.join(names) or 'none'}",
                )
            names = [s for s in names if s in stacks]
        child_env = digest.child_env(env)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                s: pool.submit(plan_base, rev, s, child_env) for s in names if s in base_names
            }
            heads = {s: _head_side(workspace, s, plan_head) for s in names if s in head_names}
            bases = {s: _base_side(f.result()) for s, f in futures.items()}
    changes = tuple(
        compare_stack(s, bases.get(s, Side(absent=True)), heads.get(s, Side(absent=True)))
        for s in names
    )
    return RevisionDiff(base, rev.commit, head_state(workspace.root), changes)


def _head_side(workspace: Workspace, stack: str, plan_head: PlanHead) -> Side:
    try:
        inventory, cost = plan_head(workspace, stack)
    except FloyoError as exc:
        return Side(error=_error_text(exc), failure=exc)
    return Side(inventory.phase, inventory, cost)


def _error_text(exc: FloyoError) -> str:
    from ..errors import SpecError

    if isinstance(exc, SpecError) and exc.issues:
        first = exc.issues[0].format()
        more = len(exc.issues) - 1
        return f"{exc.message}: {first}" + (f" (and {more} more)" if more else "")
    return exc.message


def _base_side(result: revision.BasePlan) -> Side:
    if result.plan is None:
        return Side(error=result.error or "could not be planned")
    try:
        inventory = inventory_from_json(result.plan)
    except (ValueError, KeyError, TypeError) as exc:
        return Side(error=f"its plan could not be read: {exc}")
    cost = None
    if result.plan.get("cost"):
        try:
            cost = estimate_from_json(result.plan["cost"])
        except (ValueError, KeyError, TypeError):
            cost = None  # an older cost format: the inventory is still compared
    return Side(inventory.phase, inventory, cost)


def compare_stack(stack: str, base: Side, head: Side) -> StackChange:
    """One stack, base against head: the diff, the cost change and what `up` would refuse."""
    notes: list[str] = []
    if head.inventory is None:
        return StackChange(stack, base, head)
    old = base.inventory or Inventory("-", stack, ())
    diff = diff_inventories(old, head.inventory) if base.error is None else None
    delta = None
    if head.cost is not None and base.error is None:
        if base.cost is not None:
            delta = diff_costs(base.cost, head.cost)
        elif base.absent:
            delta = diff_costs(_no_cost(stack), head.cost)
        else:
            notes.append("the base plan has no cost estimate: the cost change is not shown")
    # the list `up` enforces: what the app cannot reach, data loss, the budget
    findings = refusals(losses_from_diff(diff), head.cost, head.inventory)
    return StackChange(stack, base, head, diff, delta, findings, tuple(notes))


def _no_cost(stack: str) -> CostEstimate:
    return CostEstimate("-", stack, (), 0.0, 0.0, None, None)


def head_state(root: Path) -> Head:
    """The commit the working tree sits on, and whether the files that feed the program have
    uncommitted changes (gitrepo.state: the one definition)."""
    git = gitrepo.state(root)
    return Head(git.commit, git.dirty)


def secret_values(workspace: Workspace, env: Mapping[str, str]) -> list[str]:
    """The values, in `env`, of every `${env:NAME}` the stack files refer to: what output must
    never show (the comment is redacted with them, longest first)."""
    from ..spec import env_refs, load_stack

    names: set[str] = set()
    for stack in workspace.stack_names():
        try:
            names.update(env_refs(load_stack(workspace, stack).stack.model_dump()))
        except FloyoError:
            continue  # an invalid stack is reported by the comparison itself
    values = {env[n] for n in names if env.get(n)}
    return sorted(values, key=len, reverse=True)


def redactor(values: list[str]) -> Callable[[str], str]:
    """The one redactor (floyo_scale.transport.redact) over these values."""
    return Redactor(*values)
