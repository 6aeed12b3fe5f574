"""`database.provider: rds`: what the program builds (under Pulumi's mock engine), what it
costs, and the spec rules that keep it reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from floyo_scale.cost import estimate_for_stack
from floyo_scale.errors import SpecError
from floyo_scale.offline.synth import synthesize
from floyo_scale.spec import Workspace, load_stack

INSTANCE = "aws:rds/instance:Instance"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"

PUBLIC = {
    "provider": "rds",
    "rds": {
        "instance_class": "db.r7g.large",
        "storage_gb": 100,
        "backup_retention_days": 14,
        "access": "public_tls",
        "allowed_cidrs": ["203.0.113.0/24"],
    },
}


def stack_with(tmp: Path, database: dict[str, Any], phase: str = "scale", **extra: Any) -> Any:
    repo = Path(__file__).resolve().parent.parent
    for folder in ("phases", "stacks"):
        (tmp / folder).mkdir(exist_ok=True)
        for file in (repo / folder).glob("*"):
            (tmp / folder / file.name).write_text(file.read_text())
    doc = yaml.safe_load((repo / "stacks" / "production.yaml").read_text())
    doc["phase"] = phase
    doc["overrides"] = {"database": database, **extra}
    (tmp / "stacks" / "rdstest.yaml").write_text(yaml.safe_dump(doc))
    return load_stack(Workspace(tmp), "rdstest", None)


def test_public_rds_with_a_migration_in_progress(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {**PUBLIC, "keep_supabase": True})
    inv = synthesize(stack)
    instances = {r.name: r.inputs for r in inv.of_type(INSTANCE)}
    assert set(instances) == {
        "db",
        "db-shard-1",
        "db-replica-eu-west-1",
        "db-shard-1-replica-eu-west-1",
    }
    db = instances["db"]
    # one major version for the stack: Supabase's default (catalog), since the migration's
    # source is a Supabase project the program cannot ask for another version of
    assert db["engine"] == "postgres" and db["engineVersion"] == "17"
    assert db["multiAz"] is True and db["storageEncrypted"] is True
    assert db["storageType"] == "gp3" and db["backupRetentionPeriod"] == 14
    assert db["publiclyAccessible"] is True
    assert db["deletionProtection"] is True  # production protects its data
    params = next(iter(inv.of_type("aws:rds/parameterGroup:ParameterGroup"))).inputs
    assert {(p["name"], p["value"]) for p in params["parameters"]} == {
        ("rds.logical_replication", "1"),
        ("rds.force_ssl", "1"),
        ("shared_preload_libraries", "pg_stat_statements"),  # db advise reads it
    }
    groups = [
        r for r in inv.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == "db-us-east-1"
    ]
    ingress = groups[0].inputs["ingress"]
    assert {tuple(rule["cidrBlocks"]) for rule in ingress} == {
        ("203.0.113.0/24",),
        ("10.110.0.0/16",),
    }
    assert len(list(inv.of_type("aws:rds/subnetGroup:SubnetGroup"))) == 2  # one per region
    assert not list(inv.of_type("aws:rds/proxy:Proxy"))
    # the Supabase projects stay (the source and the way back) and the app still uses them
    assert len(list(inv.of_type("pulumi-python:dynamic/supabase:Project"))) == 2
    # both sides' connections are there for `db migrate`
    keys = {r.inputs["key"] for r in inv.of_type(ENV_VAR)}
    assert {
        "DATABASE_URL",
        "DATABASE_URL_SHARD_0",
        "DATABASE_URL_SHARD_1",
        "DATABASE_URL_OTHER",  # where the app goes when the old database refuses (FLY03)
        "DATABASE_URL_SHARD_1_OTHER",
    } <= keys
    from floyo_scale.offline.graph import graph_model

    edges = graph_model(inv).edges
    assert ("app", "rds_db", "SQL over TLS") in edges
    assert ("rds_db", "rds_db_replica_eu_west_1", "replication") in edges
    cost = estimate_for_stack(stack, inv)
    rds_lines = [line for line in cost.lines if line.type == INSTANCE]
    assert rds_lines and all(line.high > 0 for line in rds_lines if line.item == "instance")
    primary = next(line for line in rds_lines if line.resource == "db" and line.item == "instance")
    assert primary.quantity == (1460, 1460)  # Multi-AZ: two instances' hours
    assert not [u for u in cost.unpriced if "rds" in u.type]


def test_public_rds_waits_for_the_gateway_and_its_route(tmp_path: Path) -> None:
    """RDS refuses a publicly accessible instance in a VPC without an attached internet
    gateway (InvalidVPCNetworkStateFault): each public instance and replica depends on its
    region's gateway and route, so Pulumi creates them first and deletes them last."""
    inv = synthesize(stack_with(tmp_path, PUBLIC))
    public = [r for r in inv.of_type(INSTANCE) if r.inputs.get("publiclyAccessible")]
    assert {r.name for r in public} >= {"db", "db-replica-eu-west-1"}
    for instance in public:
        wanted = {
            f"aws:ec2/internetGateway:InternetGateway::db-{instance.region}",
            f"aws:ec2/route:Route::db-{instance.region}-internet",
        }
        assert wanted <= set(instance.depends_on), instance.name


def test_one_postgres_major_for_rds_and_its_parameter_group(tmp_path: Path) -> None:
    inv = synthesize(stack_with(tmp_path, {**PUBLIC, "postgres_version": 16}))
    db = next(r for r in inv.of_type(INSTANCE) if r.name == "db").inputs
    group = next(iter(inv.of_type("aws:rds/parameterGroup:ParameterGroup"))).inputs
    assert db["engineVersion"] == "16" and group["family"] == "postgres16"


def test_private_rds_behind_rds_proxy(tmp_path: Path) -> None:
    database = {
        **PUBLIC,
        "rds": {
            **PUBLIC["rds"],
            "access": "secure_compute",
            "proxy": True,
            "allowed_cidrs": ["10.200.0.0/16"],
        },
    }
    stack = stack_with(tmp_path, database, web={"vercel_plan": "enterprise"})
    inv = synthesize(stack)
    db = next(r for r in inv.of_type(INSTANCE) if r.name == "db").inputs
    assert db["publiclyAccessible"] is False
    proxies = list(inv.of_type("aws:rds/proxy:Proxy"))
    assert len(proxies) == 2 and all(p.inputs["requireTls"] for p in proxies)
    assert not list(inv.of_type("aws:ec2/internetGateway:InternetGateway"))
    # per shard: the master user's secret and the app's login role's (issue 18)
    assert len(list(inv.of_type("aws:secretsmanager/secret:Secret"))) == 4
    assert all(len(p.inputs["auths"]) == 2 for p in proxies)
    assert not list(inv.of_type("pulumi-python:dynamic/supabase:Project"))  # migration done
    keys = {r.inputs["key"] for r in inv.of_type(ENV_VAR)}
    assert "DATABASE_URL" in keys and "DATABASE_URL_OTHER" not in keys
    cost = estimate_for_stack(stack, inv)
    assert any(line.item == "proxy" and line.high > 0 for line in cost.lines)


@pytest.mark.parametrize(
    ("database", "extra", "message"),
    [
        ({"provider": "rds"}, {}, "database.rds is not set"),
        ({**PUBLIC, "rds": {**PUBLIC["rds"], "proxy": True}}, {}, "RDS Proxy is reachable only"),
        (
            {**PUBLIC, "rds": {**PUBLIC["rds"], "access": "secure_compute"}},
            {},
            "Secure Compute is an Enterprise feature",
        ),
        ({**PUBLIC, "rds": {**PUBLIC["rds"], "allowed_cidrs": ["10.0.0.1/8"]}}, {}, "not a CIDR"),
        ({"keep_supabase": True}, {}, "keep_supabase only applies"),
        ({"active": "rds"}, {}, "only supabase exists"),
        # Supabase creates PostgreSQL 17: a target one major behind its source fails at the
        # migration's first step (pg_dump 17 writes `SET transaction_timeout`)
        ({**PUBLIC, "keep_supabase": True, "postgres_version": 15}, {}, "PostgreSQL 17"),
        ({"postgres_version": 15}, {}, "PostgreSQL 17"),
    ],
)
def test_rules(tmp_path: Path, database: dict, extra: dict, message: str) -> None:
    with pytest.raises(SpecError) as error:
        stack_with(tmp_path, database, **extra)
    assert message in "\n".join(i.message for i in error.value.issues)
