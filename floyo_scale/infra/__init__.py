"""The one Pulumi program. `up` runs it through the engine; `plan` runs it under mocks.

Owns: one ComponentResource per concern (web, database, cache, storage, monitoring, regions),
the Supabase dynamic provider and its Management API client (supabase/), the lazy provider
SDK imports (_sdk). May import (docs/architecture.md): errors, catalog, sharding, spec, the
Pulumi SDKs. Never offline, cost, engine, render or cli.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..spec import ResolvedStack


def program(
    stack: ResolvedStack,
    secrets: Mapping[str, str],
    release: Mapping[str, Any] | None = None,
    aws_budget_usd: float | None = None,
) -> Callable[[], None]:
    """The Pulumi program for `stack`, as a function the engine or the mock engine runs.

    `release` (engine.release: commit, spec digest, version) is exported as the stack output
    `floyo_release` when given, so each update records what it ran. `aws_budget_usd`: the
    AWS Budget's monthly limit (the AWS share of the estimate, high end: `cost.plan_stack`);
    None builds no AWS Budget (the first of the two syntheses that compute it)."""

    def run() -> None:
        from .main import build

        build(stack, secrets, release, aws_budget_usd)

    return run
