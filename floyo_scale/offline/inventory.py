"""The Inventory: every resource the one Pulumi program registers, as recorded by `synth`.

Plan, diff, cost, graph, policy and PR comments are all computed from an Inventory and
from nothing else, so none of them can promise what `up` would not build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SECRET = "[secret]"  # what a secret input looks like in every output

# Resources whose deletion or replacement loses data.
STATEFUL_TYPES = frozenset(
    {
        "pulumi-python:dynamic/supabase:Project",
        "pulumi-python:dynamic/supabase:ReadReplica",
        "aws:s3/bucket:Bucket",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup",
        "upstash:index/redisDatabase:RedisDatabase",
    }
)


@dataclass(frozen=True)
class Resource:
    """One registered resource.

    `type` is the type token the engine sees (`aws:s3/bucket:Bucket`,
    `pulumi-python:dynamic/supabase:Project`, `floyo:web:Web` for a component).
    `name` is the logical name, unique per type. `inputs` are the resolved inputs with
    secret values replaced by SECRET and unknown (computed) values by None; `secrets` holds
    a keyed digest of each secret value (digest.py), never the value.
    """

    type: str
    name: str
    component: str  # web | database | cache | storage | monitoring | regions
    region: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None  # "type::name" of the parent, None at the top
    protect: bool = False
    retain_on_delete: bool = False
    custom: bool = True  # False for ComponentResources
    # input path ("value", "apiToken", "settings.token") -> keyed digest of the secret there
    secrets: dict[str, str] = field(default_factory=dict)
    # "type::name" of each resource named in the `depends_on` option (not those its
    # inputs lead to): what Pulumi creates before this one and deletes after it
    depends_on: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Identity across inventories: what diff matches on (the URN's type and name)."""
        return f"{self.type}::{self.name}"

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES

    @property
    def provider(self) -> str:
        """`aws`, `vercel`, `supabase`, `floyo` (components), from the type token."""
        if self.type.startswith("pulumi-python:dynamic/"):
            return self.type.split("/", 1)[1].split(":", 1)[0]
        return self.type.split(":", 1)[0]


@dataclass(frozen=True)
class Inventory:
    """What one stack at one phase builds."""

    phase: str
    stack: str
    resources: tuple[Resource, ...]
    digest_key: str | None = None  # id of the key the secret digests were made with

    def custom_resources(self) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.custom)

    def by_key(self) -> dict[str, Resource]:
        return {r.key: r for r in self.resources}

    def of_type(self, type_: str) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.type == type_)


def short_type(type_: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws:s3:Bucket`; dynamic Supabase types -> `supabase:Project`."""
    if type_.startswith("pulumi-python:dynamic/"):
        return type_.split("/", 1)[1]
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return type_
