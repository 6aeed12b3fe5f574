"""Supabase: one project per shard (one in all when the phase does not shard), each with its
read replicas, pooler settings and point-in-time recovery; and the shard map the app reads.

Supabase has no usable Pulumi provider for Python, so these are dynamic resources over the
Management API (infra/supabase/).
"""

from __future__ import annotations

import json

import pulumi

from ..sharding import ALGORITHM
from ..spec.models import ReadReplica as ReadReplicaSpec
from ..spec.models import Sharding
from .common import Context, replica_map
from .supabase import Addon, DiskConfig, PoolerSettings, Project, ReadReplica


class Database(pulumi.ComponentResource):
    """Outputs for the app: `pooler_urls` (one per shard, secret), `replica_urls` (per shard,
    secret: JSON, region -> URL), `shard_map` (JSON, no secrets)."""

    def __init__(self, ctx: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        db = ctx.stack.phase.database
        shards = db.sharding.shards if db.sharding else 1
        super().__init__(
            "floyo:database:Database",
            "database",
            {"plan": db.plan, "compute": db.compute, "shards": shards},
            opts,
        )
        self.ctx = ctx
        supabase = ctx.stack.stack.supabase
        self._token = ctx.secret(supabase.access_token)
        self._api = supabase.api_url
        self._replicas: list[list[ReadReplica]] = []
        self.projects = [self._shard(i, shards) for i in range(shards)]
        self.names = [_project_name(i) for i in range(shards)]
        # what DATABASE_URL(_SHARD_<n>) lead to, for the reachability check
        self.wire_targets = [f"pulumi-python:dynamic/supabase:Project::{n}" for n in self.names]
        self.pooler_urls = [p.pooler_connection_string for p in self.projects]
        regions = [r.region for r in db.read_replicas]  # the order replicas are made in
        self.replica_urls = [
            replica_map(regions, [r.connection_string for r in replicas])
            for replicas in self._replicas
        ]
        self.shard_map = pulumi.Output.all(*[p.ref for p in self.projects]).apply(
            lambda refs: _shard_map(db.sharding, refs)
        )
        self.register_outputs({"refs": [p.ref for p in self.projects]})

    def _shard(self, index: int, count: int) -> Project:
        db, region = self.ctx.stack.phase.database, self.ctx.stack.phase.regions.primary
        # Shard 0 is the project that existed before sharding: same name, so sharding an
        # existing database adds projects instead of replacing the one holding the data.
        name = _project_name(index)
        project = Project(
            name,
            project_name=self.ctx.prefix if index == 0 else f"{self.ctx.prefix}-shard-{index}",
            organization_slug=self.ctx.stack.stack.supabase.organization,
            region=region,
            instance_size=db.compute,
            plan=db.plan,
            access_token=self._token,
            api_url=self._api,
            opts=self.ctx.stateful(parent=self),
        )
        child = pulumi.ResourceOptions(parent=project)
        PoolerSettings(
            name,
            project_ref=project.ref,
            pool_mode=db.pooler.pool_mode,
            default_pool_size=db.pooler.default_pool_size,
            access_token=self._token,
            api_url=self._api,
            opts=child,
        )
        if db.plan != "free":  # the Free plan's disk cannot be changed
            # After the project (and any compute resize) settles: Supabase refuses a disk
            # change while the project is not healthy. Disks only grow (the provider refuses
            # a shrink at preview).
            DiskConfig(
                f"{name}-disk",
                project_ref=project.ref,
                size_gb=db.disk_gb,
                access_token=self._token,
                api_url=self._api,
                opts=pulumi.ResourceOptions(parent=project, depends_on=[project]),
            )
        if db.pitr_days:
            Addon(
                f"{name}-pitr",
                project_ref=project.ref,
                addon_type="pitr",
                addon_variant=f"pitr_{db.pitr_days}",
                access_token=self._token,
                api_url=self._api,
                opts=child,
            )
        # One at a time: the setup call returns nothing that tells two new replicas in one
        # region apart, so the provider waits for each before the next is asked for.
        replicas: list[ReadReplica] = []
        for replica_name, replica in _replica_names(name, db.read_replicas):
            replicas.append(
                ReadReplica(
                    replica_name,
                    project_ref=project.ref,
                    region=replica.region,
                    access_token=self._token,
                    api_url=self._api,
                    db_pass=project.db_pass,
                    opts=self.ctx.stateful(parent=project, depends_on=replicas[-1:]),
                )
            )
        self._replicas.append(replicas)
        return project


def _project_name(index: int) -> str:
    return "primary" if index == 0 else f"shard-{index}"


def _replica_names(
    project: str, replicas: list[ReadReplicaSpec]
) -> list[tuple[str, ReadReplicaSpec]]:
    """`primary-replica-eu-west-1`, then `...-eu-west-1-2` for a second one in that region:
    names follow regions, so removing one replica does not rename the others."""
    seen: dict[str, int] = {}
    named = []
    for replica in replicas:
        seen[replica.region] = seen.get(replica.region, 0) + 1
        n = seen[replica.region]
        named.append((f"{project}-replica-{replica.region}" + (f"-{n}" if n > 1 else ""), replica))
    return named


def _shard_map(sharding: Sharding | None, refs: list[str]) -> str:
    """What the app routes by: no connection strings here (those are secret variables)."""
    return json.dumps(
        {
            "key": sharding.key if sharding else None,
            # The shard function by name and version (docs/sharding.md); `hash` is the only
            # algorithm the spec accepts.
            "algorithm": ALGORITHM if sharding else None,
            "shards": [
                {"index": i, "project_ref": ref, "url_variable": f"DATABASE_URL_SHARD_{i}"}
                for i, ref in enumerate(refs)
            ],
        },
        sort_keys=True,
    )
