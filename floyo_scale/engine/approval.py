"""Who says yes before a change: the confirmation rule of `up`, `promote`, `destroy` and the
`db` commands that move, drop or switch, behind a prompt the caller supplies (the CLI reads
the terminal; tests give a fake).

The rule (guards.confirmation): --yes, or a change that needs no confirmation, goes on; CI
and a run without a terminal are refused before anything is read or run (exit 6, saying to
pass --yes); a person at a terminal is shown what would change and asked to type the stack's
name. Any other answer, or none, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import GuardrailError
from ..guards import confirmation, is_production, refusal

T = TypeVar("T")

Show = Callable[[str], None]
"""Shows text to the person (the CLI: on stderr, the progress display paused)."""

Prompt = Callable[[str], str | None]
"""Shows a question and returns the line typed; None when nothing can be read (end of input)."""


@dataclass(frozen=True)
class Approval:
    """The decision for one stack: go on, or ask first. Made by `approval` before anything
    runs; consulted (`granted`, `require`, `approver`) once the change is known."""

    stack: str
    what: str  # "changing", "destroying", "moving rows between the shards of", ...
    ask: bool  # False: go on without asking

    def granted(
        self, prompt: Prompt, shown: str = "", question: str = "", show: Show | None = None
    ) -> bool:
        """Show `shown` (what would change), then, when a confirmation is needed, ask
        `question` (default: "<what> stack <stack>."). True only for the stack's own name;
        anything else, or end of input, is a no."""
        if not self.ask:
            if shown and show is not None:
                show(shown)
            return True
        question = question or f"{self.what} stack {self.stack}."
        answer = prompt(f"{shown}{question} Type the stack's name ({self.stack}) to go on: ")
        return answer is not None and answer.strip() == self.stack

    def require(self, prompt: Prompt) -> None:
        """Ask (when needed); GuardrailError (exit 6), nothing changed, unless confirmed."""
        if not self.granted(prompt):
            raise GuardrailError(
                f"{self.what} stack {self.stack} was not confirmed", "nothing was changed"
            )

    def approver(
        self, describe: Callable[[T], str], question: str, prompt: Prompt, show: Show
    ) -> Callable[[T], bool]:
        """The callback engine.deploy, engine.promote (a Review) and engine.destroy (its
        preview) take: show what would change, `describe`d, then ask `question`."""

        def approve(change: T) -> bool:
            return self.granted(prompt, describe(change), question, show)

        return approve


def approval(
    stack: str, what: str, *, yes: bool, is_tty: bool, is_ci: bool, always: bool = False
) -> Approval:
    """Whether `stack` may be changed without asking (staging; --yes), must be asked
    (production, or `always`, at a terminal), or cannot be: CI or no terminal without
    --yes, refused here before anything runs (GuardrailError, exit 6)."""
    required = always or is_production(stack)
    decision = confirmation(required=required, yes=yes, is_tty=is_tty, is_ci=is_ci)
    if decision == "refuse":
        raise refusal(what, stack, is_ci)
    return Approval(stack, what, ask=decision == "ask")
