"""Upstash pricing rules: Redis databases."""

from __future__ import annotations

from collections.abc import Iterable

from ...offline.inventory import Resource
from ..context import (
    UPSTASH_CACHE_SHARE_OF_DATABASE,
    UPSTASH_COMMANDS_PER_REQUEST,
    Result,
    _Context,
    _Unpriced,
)

# Upstash -----------------------------------------------------------------------------------


def _upstash_database(resource: Resource, ctx: _Context) -> Iterable[Result]:
    """Pay as you go: commands (requests/user x users x UPSTASH_COMMANDS_PER_REQUEST) and
    storage (UPSTASH_CACHE_SHARE_OF_DATABASE of usage.database_gb beyond the included GB)."""
    commands = ctx.entry("upstash.redis.payg_100k_commands")
    storage = ctx.entry("upstash.redis.payg_storage_gb")
    if commands is None or storage is None:
        yield _Unpriced("no Upstash pay-as-you-go price in the catalog")
        return
    if ctx.requests is None:
        yield _Unpriced("Upstash commands: no user count given to the estimate")
    else:
        reads = resource.inputs.get("readRegions") or []
        detail = f"requests/user x users x {UPSTASH_COMMANDS_PER_REQUEST:g} command/request"
        if reads:
            detail += f"; writes replicated to {len(reads)} read region(s) not counted"
        yield ctx.line(
            resource,
            "commands",
            commands.price or 0.0,
            ctx.requests * (UPSTASH_COMMANDS_PER_REQUEST / 100_000),
            commands.unit,
            commands,
            detail=detail,
        )
    included = float(storage.extra.get("included_gb", 0))
    share = UPSTASH_CACHE_SHARE_OF_DATABASE
    yield ctx.line(
        resource,
        "storage",
        storage.price or 0.0,
        (ctx.database_gb * share).over(included),
        storage.unit,
        storage,
        detail=f"{share:g} x usage.database_gb beyond {included:g} GB included",
    )
