"""The one Pulumi program. `up` runs it through the engine; `plan` runs it under mocks."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..spec import ResolvedStack


def program(stack: ResolvedStack, secrets: Mapping[str, str]) -> Callable[[], None]:
    """The Pulumi program for `stack`, as a function the engine or the mock engine runs."""

    def run() -> None:
        from .main import build

        build(stack, secrets)

    return run
