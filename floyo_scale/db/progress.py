"""Progress of a `db` command, reported to a callback; the CLI decides how to show it (a live
line on a terminal, one line per step in CI).

`Step` opens or closes a step (`done=True` when it finished); `Count` moves a running count
(rows copied, bytes uploaded) forward. The library never prints: it calls `report(event)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """A step began (`done` False) or ended (`done` True). `where` names the shard and table."""

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


Event = Step | Count
Reporter = Callable[[Event], None]


def ignore(_: Event) -> None:
    """The default reporter: says nothing."""
