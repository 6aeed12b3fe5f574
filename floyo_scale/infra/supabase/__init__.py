"""Supabase: a Management API client and Pulumi dynamic resources built on it."""

from floyo_scale.infra.supabase.client import ManagementClient
from floyo_scale.infra.supabase.resources import (
    Addon,
    DiskConfig,
    PoolerSettings,
    Project,
    ReadReplica,
)

__all__ = ["Addon", "DiskConfig", "ManagementClient", "PoolerSettings", "Project", "ReadReplica"]
