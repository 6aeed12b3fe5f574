"""What `plan` and `diff` show: an Inventory with its monthly cost, and the change between two.

Composes the layers (spec -> synth -> plan/cost) so the CLI calls one function per command.
Layer "report" (docs/architecture.md): may import errors, spec, offline, cost, guards.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cost import CostDelta, CostEstimate, diff_costs, estimate_from_json, plan_stack
from .errors import UsageError
from .offline.inventory import Inventory
from .offline.plan import InventoryDiff, diff_inventories, diff_json, inventory_from_json, plan_json
from .offline.reach import unreachable
from .policy import (
    Finding,
    budget_warning,
    diff_warnings,
    exposure_warnings,
    losses_from_diff,
    provider_rule_errors,
    provider_rule_finding,
    reachability_warnings,
    read_route_warnings,
    refusals,
)
from .provider_rules import broken_rules
from .spec import Workspace, load_stack


@dataclass(frozen=True)
class PlanReport:
    inventory: Inventory
    cost: CostEstimate

    @property
    def warnings(self) -> list[str]:
        """What the plan builds but should say about: the budget, what the app cannot reach,
        what is open to the whole internet, what a provider would refuse."""
        budget = budget_warning(self.cost)
        return [
            *([budget] if budget else []),
            *reachability_warnings(self.inventory),
            *exposure_warnings(self.inventory),
            *provider_rule_errors(self.inventory),
            *read_route_warnings(self.inventory),
        ]

    @property
    def refused(self) -> Finding | None:
        """The provider rules the plan breaks: `plan` exits 3 on them once it has shown the
        plan (1 when the program, not the spec, broke them)."""
        return provider_rule_finding(self.inventory)

    def to_json(self) -> dict[str, Any]:
        """`plan --format json`: the documented plan, the estimate under "cost", and the
        warnings `plan` prints."""
        return plan_json(self.inventory) | {
            "cost": self.cost.to_json(),
            "warnings": self.warnings,
            "unreachable": unreachable(self.inventory),
            "provider_rules": [b.to_json() for b in broken_rules(self.inventory)],
        }


@dataclass(frozen=True)
class DiffReport:
    diff: InventoryDiff
    cost: CostDelta | None  # None when the FROM side is a saved plan without its cost
    target_cost: CostEstimate | None = None  # the TO side's estimate, for its budget
    findings: tuple[Finding, ...] = ()  # what `up` would refuse (policy.refusals)

    @property
    def warnings(self) -> list[str]:
        """What the change asks for that a provider will refuse, or that `up` refuses."""
        return diff_warnings(self.diff)

    def to_json(self) -> dict[str, Any]:
        data = diff_json(self.diff)
        data["cost"] = self.cost.to_json() if self.cost else None
        data["budget"] = budget_json(self.target_cost)
        data["findings"] = [f.to_json() for f in self.findings]
        data["warnings"] = self.warnings + self.diff.notes
        return data


def budget_json(cost: CostEstimate | None) -> dict[str, Any] | None:
    """The budget status of a target: its budget, the share its high figure uses, over or not."""
    if cost is None:
        return None
    return {
        "monthly": cost.budget_monthly,
        "used_percent": cost.used_percent,
        "alert_percent": cost.alert_percent,
        "over_budget": cost.over_budget,
    }


def plan_report(workspace: Workspace, phase: str | None, stack: str | None) -> PlanReport:
    """`--stack S` alone: S at its phase; `--phase P` alone: P on the dev stack; both: S at P."""
    resolved = load_stack(workspace, stack, phase)
    inventory, estimate = plan_stack(resolved)
    return PlanReport(inventory, estimate)


def diff_report(
    workspace: Workspace, from_ref: str, to_ref: str | None, stack: str | None
) -> DiffReport:
    """FROM and TO each name a phase, or FROM a saved `plan --format json` file; TO defaults
    to the stack's own phase."""
    old_inventory, old_cost = _side(workspace, from_ref, stack)
    new_inventory, new_cost = _side(workspace, to_ref, stack)
    delta = diff_costs(old_cost, new_cost) if old_cost and new_cost else None
    diff = diff_inventories(old_inventory, new_inventory)
    # what `up` would refuse when the stack is moved to TO: the same list `up` enforces
    findings = refusals(losses_from_diff(diff), new_cost, new_inventory)
    return DiffReport(diff, delta, new_cost, findings)


def _side(
    workspace: Workspace, ref: str | None, stack: str | None
) -> tuple[Inventory, CostEstimate | None]:
    if ref is not None and is_plan_file(ref):
        return read_plan_file(ref)
    try:
        report = plan_report(workspace, ref, stack)
    except UsageError as exc:
        if ref is not None and Path(ref).is_file():  # a file that was meant, said as a phase
            raise UsageError(
                exc.message,
                f"{exc.hint + '; ' if exc.hint else ''}to compare with the saved plan in the "
                f"file {ref}, write it as a path: ./{ref}",
            ) from None
        raise
    return report.inventory, report.cost


def is_plan_file(ref: str) -> bool:
    """FROM names a saved plan when it ends in `.json` or is written as a path (`./growth`,
    `plans/base`); otherwise it is a phase, even if a file of that name is in the folder."""
    return ref.endswith(".json") or "/" in ref or (os.sep != "/" and os.sep in ref)


_KIND = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    type(None): "null",
}


class _PlanShape(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def _kind(value: Any) -> str:
    return _KIND.get(type(value), type(value).__name__)


def _get(data: dict[str, Any], key: str, path: str, *kinds: type, required: bool = True) -> Any:
    """`data[key]`, which must be one of `kinds` (float also accepts a whole number)."""
    where = f"{path}.{key}" if path else key
    if key not in data:
        if required:
            raise _PlanShape(where, "missing")
        return None
    value = data[key]
    accepted = kinds + ((int,) if float in kinds else ())
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in kinds):
        wanted = " or ".join(_KIND.get(k, k.__name__) for k in kinds)
        raise _PlanShape(where, f"expected {wanted}, got {_kind(value)}")
    return value


def _items(
    data: dict[str, Any], key: str, path: str, required: bool = True
) -> list[dict[str, Any]]:
    """The objects of the list `data[key]`, each checked to be an object."""
    where = f"{path}.{key}" if path else key
    values = _get(data, key, path, list, required=required) or []
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            raise _PlanShape(f"{where}[{i}]", f"expected an object, got {_kind(value)}")
    return values


def _check_plan_shape(data: Any) -> None:
    """Every key `inventory_from_json` and `estimate_from_json` read, of the right kind; the
    first one that is not raises _PlanShape naming it (`resources[3].name: missing`)."""
    if not isinstance(data, dict):
        raise _PlanShape("(top level)", f"expected an object, got {_kind(data)}")
    if "resources" not in data:
        if "changes" in data:
            raise _PlanShape("resources", "missing: this is the output of `diff`, not `plan`")
        if "steps" in data or "changeSummary" in data:
            raise _PlanShape("resources", "missing: this looks like a Pulumi preview")
    resources = _items(data, "resources", "")
    _get(data, "phase", "", str)
    _get(data, "stack", "", str)
    for i, r in enumerate(resources):
        at = f"resources[{i}]"
        for key in ("type", "name", "component"):
            _get(r, key, at, str)
        _get(r, "region", at, str, type(None), required=False)
        _get(r, "inputs", at, dict, type(None), required=False)
        _get(r, "depends_on", at, list, required=False)
        for key in ("protect", "retain_on_delete"):
            _get(r, key, at, bool, required=False)
    cost = _get(data, "cost", "", dict, type(None), required=False)
    if not cost:
        return
    for key in ("phase", "stack"):
        _get(cost, key, "cost", str)
    _get(cost, "currency", "cost", str, required=False)
    for i, line in enumerate(_items(cost, "lines", "cost")):
        at = f"cost.lines[{i}]"
        for key in ("provider", "component", "resource", "item", "unit", "source"):
            _get(line, key, at, str)
        for key in ("low", "high", "unit_price"):
            _get(line, key, at, float)
        quantity = _get(line, "quantity", at, dict)
        for key in ("low", "high"):
            _get(quantity, key, f"{at}.quantity", float)
        for key in ("type", "detail"):
            _get(line, key, at, str, required=False)
        _get(line, "price_key", at, str, type(None), required=False)
    total = _get(cost, "total", "cost", dict)
    for key in ("low", "high"):
        _get(total, key, "cost.total", float)
    budget = _get(cost, "budget", "cost", dict, type(None), required=False) or {}
    for key in ("monthly", "used_percent", "alert_percent"):
        _get(budget, key, "cost.budget", float, type(None), required=False)
    for i, u in enumerate(_items(cost, "unpriced", "cost", required=False)):
        at = f"cost.unpriced[{i}]"
        _get(u, "type", at, str)
        _get(u, "count", at, int)
        _get(u, "reason", at, str)
        _get(u, "resources", at, list, required=False)
    _get(cost, "notes", "cost", list, required=False)


def read_plan_file(ref: str | Path) -> tuple[Inventory, CostEstimate | None]:
    """A saved `plan --format json`: its inventory and (when saved with it) its cost. A file
    that cannot be read, is not JSON, or is not a plan is exit 2 naming what is wrong (for
    JSON of another shape, the first key that is)."""
    hint = "save one with `floyo-scale plan --stack S --format json > FILE`"
    path = ref  # shown as given (./growth, not growth)
    try:
        text = Path(ref).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read a plan from {path}: {exc.strerror or exc}", hint) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}", hint) from None
    try:
        _check_plan_shape(data)
    except _PlanShape as exc:
        raise UsageError(
            f"{path} is not a plan of `floyo-scale plan --format json`: {exc}", hint
        ) from None
    inventory = inventory_from_json(data)
    cost = estimate_from_json(data["cost"]) if data.get("cost") else None
    return inventory, cost
