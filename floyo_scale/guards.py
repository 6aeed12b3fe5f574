"""When a person must say yes before a change: production stacks, `--yes`, a terminal, CI.
Pure functions over plain data: no engine, no I/O. (What a plan may do at all, the data it
would lose, the budget and reachability, is policy.py; whether this runs in CI is
render.text.is_ci, with the rest of what is read of the terminal and the environment.)

Layer "guards" (docs/architecture.md): may import errors, offline, cost; never render, engine
or cli.
"""

from __future__ import annotations

from typing import Literal

from .errors import GuardrailError

PRODUCTION_STACKS = frozenset({"production", "prod"})

# -- confirmation --------------------------------------------------------------------------

Decision = Literal["proceed", "ask", "refuse"]


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
