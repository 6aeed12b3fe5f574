"""Pure functions over Inventories: what a plan holds, and what changes between two.

No Pulumi here. Which input changes replace a resource is known to each provider; offline we
keep the short list below for the stateful and networking types (where a replacement loses
data or connectivity), from the providers' schemas (`forceNew`) and, for Supabase, from our
own provider's diff. The real preview that `up` runs is authoritative; this is what `diff`
and the PR comment show before anything runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from .inventory import Inventory, Resource

# Inputs whose change replaces the resource (forceNew in the provider schema).
REPLACE_ON: dict[str, frozenset[str]] = {
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix"}),
    "aws:elasticache/replicationGroup:ReplicationGroup": frozenset(
        {"replicationGroupId", "atRestEncryptionEnabled", "subnetGroupName", "kmsKeyId", "port"}
    ),
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": frozenset(
        {"globalReplicationGroupIdSuffix", "primaryReplicationGroupId"}
    ),
    # forceNew in the AWS provider's aws_db_instance schema (pulumi/terraform-provider-aws,
    # internal/service/rds/instance.go); the replica's source is not
    "aws:rds/instance:Instance": frozenset(
        {
            "availabilityZone",
            "characterSetName",
            "dbName",
            "engine",
            "kmsKeyId",
            "snapshotIdentifier",
            "storageEncrypted",
            "timezone",
            "username",
        }
    ),
    "aws:elasticache/parameterGroup:ParameterGroup": frozenset({"family", "name"}),
    "aws:elasticache/subnetGroup:SubnetGroup": frozenset({"name"}),
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock"}),
    "aws:ec2/subnet:Subnet": frozenset({"cidrBlock", "availabilityZone", "vpcId"}),
    "aws:ec2/securityGroup:SecurityGroup": frozenset({"vpcId", "name", "description"}),
    "aws:budgets/budget:Budget": frozenset({"name"}),
    "pulumi:providers:aws": frozenset({"region"}),
    "vercel:index/project:Project": frozenset({"teamId"}),
    "pulumi-python:dynamic/supabase:Project": frozenset({"region", "organization_slug"}),
    "pulumi-python:dynamic/supabase:ReadReplica": frozenset({"region", "project_ref"}),
    # a database does not move: another region is another database (assumed; not verified
    # against the Upstash provider's schema)
    "upstash:index/redisDatabase:RedisDatabase": frozenset({"region", "primaryRegion"}),
}

Kind = Literal["create", "update", "replace", "delete"]


@dataclass(frozen=True)
class Change:
    kind: Kind
    resource: Resource  # the new resource; the old one for a delete
    old: Resource | None = None
    inputs: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key: (old, new)
    replaced_by: tuple[str, ...] = ()  # the inputs that force a replacement
    secrets: tuple[str, ...] = ()  # secret inputs whose value changed (shown, never the value)

    @property
    def destructive(self) -> bool:
        """Deleting or replacing a resource that holds data: what `diff` marks `!! destroys
        data` and what `up` refuses without --allow-destroy (policy.losses_from_diff), one
        rule. A delete of a resource kept on delete (retain_on_delete: production's data)
        is not: it leaves Pulumi's care, but the cloud resource and its data stay."""
        if self.kind == "delete" and self.resource.retain_on_delete:
            return False
        return self.kind in ("delete", "replace") and self.resource.stateful


@dataclass(frozen=True)
class InventoryDiff:
    old: Inventory
    new: Inventory
    changes: tuple[Change, ...]
    secrets_compared: bool = True  # False when the two plans' digest keys differ

    @property
    def notes(self) -> list[str]:
        if self.secrets_compared:
            return []
        return [
            "secret values were not compared: the two plans were digested with different "
            "keys (set the same FLOYO_DIGEST_KEY where both are made)"
        ]

    def of_kind(self, kind: Kind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == kind)

    @property
    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.destructive)

    def counts(self) -> dict[str, int]:
        counts = Counter(c.kind for c in self.changes)
        return {k: counts.get(k, 0) for k in ("create", "update", "replace", "delete")}


def diff_inventories(old: Inventory, new: Inventory) -> InventoryDiff:
    """What changes when `old` becomes `new`; resources match on type and name (their URN)."""
    before, after = old.by_key(), new.by_key()
    # Secret digests are comparable only when both plans used one key (digest.py); a plan
    # without digests (an older floyo-scale) has nothing to compare.
    compare = old.digest_key is not None and old.digest_key == new.digest_key
    changes: list[Change] = []
    for key, res in after.items():
        if not res.custom:
            continue
        prior = before.get(key)
        if prior is None:
            changes.append(Change("create", res))
            continue
        changed = _changed_inputs(prior.inputs, res.inputs)
        secrets = _changed_secrets(prior, res, changed) if compare else ()
        moved = prior.region != res.region  # a new provider region: a new resource
        if not changed and not secrets and not moved:
            continue
        forced = tuple(sorted(k for k in (*changed, *secrets) if k in REPLACE_ON.get(res.type, ())))
        if moved:
            forced = ("region", *forced)
        kind: Kind = "replace" if forced else "update"
        changes.append(Change(kind, res, prior, changed, forced, secrets))
    for key, res in before.items():
        if res.custom and key not in after:
            changes.append(Change("delete", res))
    order = {"delete": 0, "replace": 1, "update": 2, "create": 3}
    changes.sort(
        key=lambda c: (order[c.kind], c.resource.component, c.resource.type, c.resource.name)
    )
    unknown = old.digest_key != new.digest_key and None not in (old.digest_key, new.digest_key)
    return InventoryDiff(old, new, tuple(changes), not unknown)


def _changed_secrets(
    old: Resource, new: Resource, changed: dict[str, tuple[Any, Any]]
) -> tuple[str, ...]:
    """Secret inputs present on both sides whose digests differ (an input that became or
    stopped being secret is already among the changed inputs)."""
    return tuple(
        sorted(
            path
            for path, value in new.secrets.items()
            if path in old.secrets and old.secrets[path] != value and path not in changed
        )
    )


def _changed_inputs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    keys = sorted(set(old) | set(new))
    return {k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)}


def summarize(inventory: Inventory) -> dict[str, Any]:
    """Counts by component, by region and by type (the `summary` of `plan --format json`)."""
    custom = inventory.custom_resources()
    return {
        "resources": len(custom),
        "by_component": dict(sorted(Counter(r.component for r in custom).items())),
        "by_region": dict(sorted(Counter(r.region or "global" for r in custom).items())),
        "by_type": dict(sorted(Counter(r.type for r in custom).items())),
        "protected": sum(1 for r in custom if r.protect),
        "stateful": sum(1 for r in custom if r.stateful),
    }


def plan_json(inventory: Inventory) -> dict[str, Any]:
    """The documented, stable JSON form of a plan (README, "plan --format json")."""
    return {
        "phase": inventory.phase,
        "stack": inventory.stack,
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "component": r.component,
                "region": r.region,
                "inputs": r.inputs,
                "protect": r.protect,
                "retain_on_delete": r.retain_on_delete,
                "secret_digests": r.secrets,
                **({"depends_on": list(r.depends_on)} if r.depends_on else {}),
            }
            for r in inventory.custom_resources()
        ],
        "summary": summarize(inventory),
        "digest_key": inventory.digest_key,
    }


def diff_json(diff: InventoryDiff) -> dict[str, Any]:
    return {
        "from": {"phase": diff.old.phase, "stack": diff.old.stack},
        "to": {"phase": diff.new.phase, "stack": diff.new.stack},
        "changes": [
            {
                "action": c.kind,
                "type": c.resource.type,
                "name": c.resource.name,
                "component": c.resource.component,
                "region": c.resource.region,
                "stateful": c.resource.stateful,
                "destructive": c.destructive,
                "replaced_by": list(c.replaced_by),
                "inputs": {k: {"old": o, "new": n} for k, (o, n) in c.inputs.items()},
                "secrets_changed": list(c.secrets),
            }
            for c in diff.changes
        ],
        "summary": diff.counts() | {"destructive": len(diff.destructive)},
        "secrets_compared": diff.secrets_compared,
    }


def inventory_from_json(data: Any) -> Inventory:
    """Read back `plan --format json` (for example a plan of the base branch, saved by CI),
    so it can be compared with a plan of the working tree."""
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise ValueError("not the output of `floyo-scale plan --format json`")
    resources = tuple(
        Resource(
            type=r["type"],
            name=r["name"],
            component=r["component"],
            region=r.get("region"),
            inputs=r.get("inputs") or {},
            protect=bool(r.get("protect")),
            retain_on_delete=bool(r.get("retain_on_delete")),
            secrets=dict(r.get("secret_digests") or {}),
            depends_on=tuple(str(k) for k in r.get("depends_on") or ()),
        )
        for r in data["resources"]
    )
    key = data.get("digest_key")
    return Inventory(
        str(data.get("phase")),
        str(data.get("stack")),
        resources,
        key if isinstance(key, str) else None,
    )
