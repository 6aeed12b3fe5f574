"""Supabase's performance and security advisors for `db advise`: per shard (one project per
shard), the lints of `GET /v1/projects/{ref}/advisors/performance` and `.../security`, through
the Management API client (infra/supabase/client.py). What could not be read is a note, never
a failure: the database's own findings stand without them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import FloyoError
from ..infra.supabase.client import ADVISOR_KINDS, ManagementClient
from ..spec import ResolvedStack, secret_env_name

API_URL_VAR = "FLOYO_SUPABASE_API_URL"  # as `status` (observe/status.py API_URL_VARS)


def read_advisors(
    stack: ResolvedStack,
    refs: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float = 30.0,
) -> tuple[dict[int, list[dict[str, Any]]], list[str]]:
    """({shard: lints}, notes). `refs` are the shards' project refs, shard 0 first."""
    variable = secret_env_name(stack.stack.supabase.access_token)
    token = env.get(variable, "")
    if not token:
        return {}, [f"Supabase advisors not read: {variable} is not set"]
    if not refs:
        return {}, [
            "Supabase advisors not read: the project refs are unknown (run `floyo-scale up`, "
            "or pass --supabase-ref REF per shard)"
        ]
    api_url = env.get(API_URL_VAR) or stack.stack.supabase.api_url
    client = ManagementClient(token, api_url, timeout=timeout, max_retries=2, backoff_cap=1.0)
    lints: dict[int, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for index, ref in enumerate(refs):
        lints[index] = []
        for kind in ADVISOR_KINDS:
            try:
                lints[index] += client.get_advisors(ref, kind)
            except FloyoError as exc:
                notes.append(
                    f"shard {index}: the Supabase {kind} advisor could not be read: {exc.message}"
                )
    return lints, notes
