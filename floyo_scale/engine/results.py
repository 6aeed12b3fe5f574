"""What engine operations return: previews, drift, reviews, update reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi.automation as auto

from ..cost import CostEstimate
from ..offline.inventory import is_stateful
from ..offline.plan import InventoryDiff
from ..policy import Downgrade, Loss
from ..progress import QUIET_OPS

# The steps of a replacement (without --show-replacement-steps Pulumi still sends all three).
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})


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


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    value: Any
    secret: bool


@dataclass(frozen=True)
class PreviewReport:
    op: str
    stack: str
    steps: tuple[Step, ...]
    counts: Mapping[str, int]
    unreadable: int = 0  # engine events that could not be read

    @property
    def changes(self) -> tuple[Step, ...]:
        """One step per resource that changes (a replacement's three steps count once)."""
        seen: dict[str, Step] = {}
        for step in self.steps:
            if step.changes and (step.urn not in seen or step.op == "replace"):
                seen[step.urn] = step
        return tuple(seen.values())


@dataclass(frozen=True)
class Drift:
    type: str
    name: str
    op: str  # update: properties differ; delete: gone from the cloud
    keys: tuple[str, ...]


@dataclass(frozen=True)
class DriftReport:
    stack: str
    drifted: tuple[Drift, ...]
    counts: Mapping[str, int]

    @property
    def has_drift(self) -> bool:
        """The one definition of drift: a resource listed as differing, or a refresh that
        would change anything (a count other than same/read/refresh)."""
        return bool(self.drifted) or any(v for k, v in self.counts.items() if k not in QUIET_OPS)


@dataclass(frozen=True)
class Review:
    """What `up` found out before changing anything."""

    stack: str
    phase: str
    deployed_phase: str | None
    preview: PreviewReport
    diff: InventoryDiff | None
    losses: tuple[Loss, ...]
    downgrade: Downgrade | None
    cost: CostEstimate  # of the new phase
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpReport:
    stack: str
    counts: Mapping[str, int]
    outputs: Mapping[str, Output]
    review: Review | None = None


def op_counts(op_map: Mapping[Any, int] | None) -> dict[str, int]:
    return {op_name(k): int(v) for k, v in (op_map or {}).items()}


def outputs_of(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Output]:
    return {k: Output(v.value, bool(v.secret)) for k, v in sorted(outputs.items())}


def op_name(value: Any) -> str:
    return str(getattr(value, "value", value))
