"""What `plan` and `diff` show: an Inventory with its monthly cost, and the change between two.

Composes the layers (spec -> synth -> plan/cost) so the CLI calls one function per command.
Layer "report" (docs/architecture.md): may import errors, spec, offline, cost, guards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cost import CostDelta, CostEstimate, diff_costs, estimate_for_stack, estimate_from_json
from .errors import UsageError
from .offline.inventory import Inventory
from .offline.plan import InventoryDiff, diff_inventories, diff_json, inventory_from_json, plan_json
from .policy import budget_warning, diff_warnings, reachability_warnings
from .spec import Workspace, load_stack


@dataclass(frozen=True)
class PlanReport:
    inventory: Inventory
    cost: CostEstimate

    @property
    def warnings(self) -> list[str]:
        """What the plan builds but should say about: the budget, what the app cannot reach."""
        budget = budget_warning(self.cost)
        return [*([budget] if budget else []), *reachability_warnings(self.inventory)]

    def to_json(self) -> dict[str, Any]:
        """`plan --format json`: the documented plan, the estimate under "cost", and the
        warnings `plan` prints."""
        return plan_json(self.inventory) | {
            "cost": self.cost.to_json(),
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class DiffReport:
    diff: InventoryDiff
    cost: CostDelta | None  # None when the FROM side is a saved plan without its cost

    @property
    def warnings(self) -> list[str]:
        """What the change asks for that a provider will refuse."""
        return diff_warnings(self.diff)

    def to_json(self) -> dict[str, Any]:
        data = diff_json(self.diff)
        data["cost"] = self.cost.to_json() if self.cost else None
        data["warnings"] = self.warnings
        return data


def plan_report(workspace: Workspace, phase: str | None, stack: str | None) -> PlanReport:
    """`--stack S` alone: S at its phase; `--phase P` alone: P on the dev stack; both: S at P."""
    from .offline.synth import synthesize

    resolved = load_stack(workspace, stack, phase)
    inventory = synthesize(resolved)
    return PlanReport(inventory, estimate_for_stack(resolved, inventory))


def diff_report(
    workspace: Workspace, from_ref: str, to_ref: str | None, stack: str | None
) -> DiffReport:
    """FROM and TO each name a phase, or FROM a saved `plan --format json` file; TO defaults
    to the stack's own phase."""
    old_inventory, old_cost = _side(workspace, from_ref, stack)
    new_inventory, new_cost = _side(workspace, to_ref, stack)
    delta = diff_costs(old_cost, new_cost) if old_cost and new_cost else None
    return DiffReport(diff_inventories(old_inventory, new_inventory), delta)


def _side(
    workspace: Workspace, ref: str | None, stack: str | None
) -> tuple[Inventory, CostEstimate | None]:
    if ref is not None and (ref.endswith(".json") or Path(ref).is_file()):
        try:
            data = json.loads(Path(ref).read_text(encoding="utf-8"))
            inventory = inventory_from_json(data)
            cost = estimate_from_json(data["cost"]) if data.get("cost") else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"cannot read a plan from {ref}: {exc}",
                "save one with `floyo-scale plan --stack S --format json > FILE`",
            ) from None
        return inventory, cost
    report = plan_report(workspace, ref, stack)
    return report.inventory, report.cost
