"""Supabase: a Management API client and Pulumi dynamic resources built on it.

The resources import Pulumi; the client is stdlib only. Names are loaded on first use, so
`from floyo_scale.infra.supabase.client import ManagementClient` (what `status` reads usage
with) does not import Pulumi.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floyo_scale.infra.supabase.client import ManagementClient
    from floyo_scale.infra.supabase.resources import (
        Addon,
        DiskConfig,
        PoolerSettings,
        Project,
        ReadReplica,
    )

__all__ = ["Addon", "DiskConfig", "ManagementClient", "PoolerSettings", "Project", "ReadReplica"]

_WHERE = {name: "resources" for name in __all__} | {"ManagementClient": "client"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
