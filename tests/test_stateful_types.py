"""The one list of stateful types (offline/inventory.py), checked against what the program
itself registers: every phase of every stack, an RDS stack (public, with Supabase kept, and
private behind RDS Proxy) and ElastiCache behind Secure Compute, synthesized under Pulumi's
mock engine. A type the program gains must be put on STATEFUL_TYPES or STATELESS_TYPES
before this passes; and the RDS case of issue 25: deleting the databases is a destroy
finding in `diff` and `up` refuses it without --allow-destroy."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import yaml
from engine_fakes import SECRET_ENV, FakeAutomation, FakeCommand, make_workspace, step_event
from test_app_works import ELASTICACHE, SECURE_COMPUTE, with_overrides
from test_rds import PUBLIC, stack_with

from floyo_scale import engine
from floyo_scale.cost import plan_stack
from floyo_scale.errors import ExitCode, GuardrailError, SpecError
from floyo_scale.offline.inventory import (
    STATEFUL_TYPES,
    STATELESS_TYPES,
    Inventory,
    is_stateful,
)
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
INSTANCE = "aws:rds/instance:Instance"
RDS = {"provider": "rds", "rds": PUBLIC["rds"], "keep_supabase": True}


@cache
def built(tmp: str) -> tuple[Inventory, ...]:
    """What the program registers in every configuration the tests know."""
    root = Path(tmp)
    made: list[Inventory] = []
    workspace = Workspace(REPO)
    for stack in workspace.stack_names():
        for phase in workspace.phase_names():
            try:
                resolved = load_stack(workspace, stack, phase)
            except SpecError:
                continue  # e.g. production at startup: a combination the spec refuses
            made.append(plan_stack(resolved)[0])
    made.append(plan_stack(stack_with(root / "rds-public", {**PUBLIC, "keep_supabase": True}))[0])
    private = {
        **PUBLIC,
        "rds": {
            **PUBLIC["rds"],
            "access": "secure_compute",
            "proxy": True,
            "allowed_cidrs": ["10.200.0.0/16"],
        },
    }
    made.append(
        plan_stack(stack_with(root / "rds-private", private, web={"vercel_plan": "enterprise"}))[0]
    )
    for stack in ("dev", "production"):  # without and with protect_stateful
        cached = with_overrides(root / f"elasticache-{stack}", ELASTICACHE + SECURE_COMPUTE, stack)
        made.append(plan_stack(load_stack(cached, stack, "enterprise"))[0])
    return tuple(made)


@pytest.fixture(scope="module")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inventory, ...]:
    for folder in ("rds-public", "rds-private", "elasticache-dev", "elasticache-production"):
        (tmp_path_factory.getbasetemp() / "stateful" / folder).mkdir(parents=True, exist_ok=True)
    return built(str(tmp_path_factory.getbasetemp() / "stateful"))


def test_every_type_the_program_registers_is_classified(inventories):
    registered = {r.type for inv in inventories for r in inv.custom_resources()}
    unclassified = sorted(registered - STATEFUL_TYPES - STATELESS_TYPES)
    assert unclassified == [], (
        "put each on STATEFUL_TYPES (deleting or replacing it loses data) or STATELESS_TYPES "
        f"in floyo_scale/offline/inventory.py: {unclassified}"
    )
    assert not STATEFUL_TYPES & STATELESS_TYPES
    # no stale entry: each listed type is one the program registers somewhere
    assert sorted((STATEFUL_TYPES | STATELESS_TYPES) - registered) == []


def test_what_the_program_marks_as_holding_data_is_stateful(inventories):
    """The program marks what holds data itself (infra/common.Context.stateful: protect and
    retain_on_delete where the stack sets protect_stateful); each of those is stateful.
    (retain_on_delete, not protect: Pulumi passes protect on to a resource's children.)"""
    marked = (r for inv in inventories for r in inv.custom_resources() if r.retain_on_delete)
    protected = {r.type for r in marked}
    assert protected, "no configuration above retains anything: the check checks nothing"
    assert sorted(protected - STATEFUL_TYPES) == []
    # and the databases, caches, buckets the issue names are among them
    assert {
        INSTANCE,
        "pulumi-python:dynamic/supabase:Project",
        "pulumi-python:dynamic/supabase:ReadReplica",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup",
        "upstash:index/redisDatabase:RedisDatabase",
        "aws:s3/bucket:Bucket",
    } <= protected


def test_a_type_on_neither_list_counts_as_holding_data():
    assert is_stateful(INSTANCE) and is_stateful("aws:secretsmanager/secret:Secret")
    assert not is_stateful("aws:ec2/vpc:Vpc")
    assert is_stateful("aws:dynamodb/table:Table")  # unknown: fail closed
    for quiet in ("pulumi:pulumi:Stack", "pulumi:providers:aws", "floyo:cache:Cache"):
        assert not is_stateful(quiet)


# -- issue 25's reproduction: the RDS databases of a stack without protect_stateful ---------


def write_rds_stack(root: Path, *, rds: bool) -> None:
    doc = yaml.safe_load((REPO / "stacks" / "production.yaml").read_text())
    doc["phase"] = "scale"
    doc["protect_stateful"] = False  # as staging has
    if rds:
        doc["overrides"] = {**(doc.get("overrides") or {}), "database": RDS}
    (root / "stacks" / "rdstest.yaml").write_text(yaml.safe_dump(doc))


def test_diff_reports_deleting_the_rds_databases_as_a_destroy_finding(cli, workspace):
    write_rds_stack(workspace, rds=True)
    plan = cli("plan", "--stack", "rdstest", "--format", "json")
    assert plan.code == 0, plan.err
    (workspace / "plan.json").write_text(plan.out)
    write_rds_stack(workspace, rds=False)  # the same stack without RDS

    args = ("diff", "./plan.json", "--stack", "rdstest")
    data = json.loads(cli(*args, "--format", "json").out)
    deleted = {c["name"]: c for c in data["changes"] if c["type"] == INSTANCE}
    assert set(deleted) == {
        "db",
        "db-shard-1",
        "db-replica-eu-west-1",
        "db-shard-1-replica-eu-west-1",
    }
    assert all(
        c["action"] == "delete" and c["stateful"] and c["destructive"] for c in deleted.values()
    )
    (destroy,) = [f for f in data["findings"] if f["kind"] == "destroy"]
    assert {f"aws:rds:Instance {name}" for name in deleted} <= set(destroy["subjects"])
    red = cli(*args, "--fail-on-guard")
    assert red.code == ExitCode.GUARDRAIL
    assert "delete aws:rds:Instance db [seen by the plan]" in red.out
    assert "`up` would refuse this change: destroys data" in red.err


def test_up_refuses_to_delete_an_rds_database_without_allow_destroy(tmp_path, monkeypatch):
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    root = make_workspace(tmp_path / "repo")
    write_rds_stack(root, rds=False)
    fake = FakeAutomation().install(monkeypatch)
    fake.stack.events["preview"] = [
        step_event("resourcePreEvent", "delete", INSTANCE, name, stack="rdstest")
        for name in ("db", "db-replica-eu-west-1")
    ]
    target = engine.prepare(load_stack(Workspace(root), "rdstest", None), root, dict(SECRET_ENV))
    session = engine.open_session(target, create=True, command=FakeCommand())  # type: ignore[arg-type]
    with pytest.raises(GuardrailError) as caught:
        engine.deploy(session, approve=lambda _: True, allow_over_budget=True)
    assert "delete aws:rds:Instance db [seen by the preview]" in caught.value.message
    assert "delete aws:rds:Instance db-replica-eu-west-1" in caught.value.message
    assert "up" not in fake.stack.ops()
    engine.deploy(session, approve=lambda _: True, allow_destroy=True, allow_over_budget=True)
    assert "up" in fake.stack.ops()
