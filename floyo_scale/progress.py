"""The one progress model: what the library reports while it works, as data, never text.

Every long-running piece of the library (the engine's preview/up/destroy/refresh, `setup`,
and every `db` command) takes a `Reporter` and calls it with a `ProgressEvent`; the CLI
passes the one display (render.progress), which decides how to show it: live on a
terminal, one line per step in CI, JSON lines with `--format json`.

- `Step` opens a step (`done` False) or closes it (`done` True); `where` names what it is
  about (a shard and table, "setup", "shard 0 → shard 2"), `detail` says the rest.
- `Count` moves a running count (rows copied, bytes uploaded) of the current step forward.
- `ResourceEvent` is what the engine reports about a Pulumi resource operation: richer,
  but it flows through the same `Reporter` to the same display.

This module is at the bottom layer: it imports nothing of ours, so engine, db, render and
cli all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Step:
    """A step began (`done` False) or ended (`done` True). `where` names the shard and
    table (or "setup", ...), `step` what is done there, `detail` the rest (a count, a key)."""

    where: str
    step: str
    detail: str = ""
    done: bool = False


@dataclass(frozen=True)
class Count:
    """`done` of `total` (None: unknown) `unit`s (rows, bytes) so far in the current step."""

    where: str
    step: str
    done: int
    total: int | None
    unit: str


ResourceKind = Literal["start", "step", "done", "failed", "diagnostic", "summary"]


# Resource operations that change nothing (a ResourceEvent's `op`, a summary's `counts` keys).
QUIET_OPS = frozenset({"same", "read", "refresh"})


@dataclass(frozen=True)
class ResourceEvent:
    """One thing the engine reported, without Pulumi's types.

    `start` opens an operation (`op` is preview/up/destroy/refresh/drift, `total` the number
    of changes expected when known); `step` a resource operation begins; `done` it finished;
    `failed` it failed (`message` is the provider's error); `diagnostic` a warning or error
    (`severity`); `summary` the operation ended (`counts` by op). The engine redacts every
    message before it builds one.
    """

    kind: ResourceKind
    op: str = ""
    urn: str = ""
    type: str = ""
    name: str = ""
    message: str = ""
    severity: str = ""
    total: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    preview: bool = False  # a step planned by a preview, not performed


ProgressEvent = Step | Count | ResourceEvent
Reporter = Callable[[ProgressEvent], None]


def ignore(_: ProgressEvent) -> None:
    """The default reporter: says nothing."""
