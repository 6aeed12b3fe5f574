"""The Pulumi program, run under Pulumi's mock engine through the real provider SDKs.

What each phase builds, where, with which key inputs; that the inventory is exactly what the
program registered; that secrets stay secret.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from floyo_scale.cost import plan_stack
from floyo_scale.offline.inventory import SECRET, Inventory, Resource
from floyo_scale.offline.synth import synthesize
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
PROJECT = "pulumi-python:dynamic/supabase:Project"
REPLICA = "pulumi-python:dynamic/supabase:ReadReplica"
ADDON = "pulumi-python:dynamic/supabase:Addon"
BUCKET = "aws:s3/bucket:Bucket"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
UPSTASH = "upstash:index/redisDatabase:RedisDatabase"
GLOBAL_CACHE = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
AWS_PROVIDER = "pulumi:providers:aws"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"


@cache
def inventory(phase: str | None, stack: str = "dev") -> Inventory:
    """What `plan` shows: the program with the AWS Budget at the AWS share (cost.plan_stack)."""
    return plan_stack(load_stack(Workspace(REPO), stack, phase))[0]


def types(inv: Inventory) -> Counter[str]:
    return Counter(r.type for r in inv.custom_resources())


def one(inv: Inventory, type_: str, name: str) -> Resource:
    found = [r for r in inv.resources if r.type == type_ and r.name == name]
    assert len(found) == 1, f"{type_}::{name}: {len(found)} found"
    return found[0]


def env_vars(inv: Inventory) -> dict[str, bool]:
    """Variable name -> whether Vercel keeps it sensitive. (The Vercel SDK stores every
    variable's value as a Pulumi secret; the inventory shows the value of a variable that
    is not sensitive, and only a digest of a sensitive one.)"""
    for r in inv.of_type(ENV_VAR):
        if r.inputs["sensitive"]:
            assert r.inputs["value"] == SECRET and set(r.secrets) == {"value"}, r.name
        else:
            assert r.inputs["value"] != SECRET and r.secrets == {}, r.name
    return {r.inputs["key"]: r.inputs["sensitive"] for r in inv.of_type(ENV_VAR)}


def test_startup_is_one_region_no_cache_no_replicas():
    inv = inventory("startup")
    t = types(inv)
    assert t[AWS_PROVIDER] == 1 and t[PROJECT] == 1
    assert t[CACHE] == 0 and t[REPLICA] == 0 and t[ADDON] == 0
    assert {r.region for r in inv.custom_resources() if r.type.startswith("aws:s3")} == {
        "us-east-1"
    }
    project = one(inv, PROJECT, "primary")
    assert project.inputs["instance_size"] == "micro"
    assert project.inputs["plan"] == "pro"
    assert project.inputs["region"] == "us-east-1"
    assert project.inputs["access_token"] == SECRET
    assert "REDIS_URL" not in env_vars(inv)
    assert env_vars(inv)["DATABASE_URL"] is True


def test_every_bucket_is_versioned_encrypted_private():
    inv = inventory("scale")
    for bucket in inv.of_type(BUCKET):
        children = {r.type.split(":")[-1]: r for r in inv.resources if r.parent == bucket.key}
        assert children["BucketVersioning"].inputs["versioningConfiguration"]["status"] == "Enabled"
        sse = children["BucketServerSideEncryptionConfiguration"].inputs["rules"][0]
        assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        block = children["BucketPublicAccessBlock"].inputs
        assert all(
            block[k]
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
        assert "BucketLifecycleConfiguration" in children


def test_growth_adds_cache_replica_and_archive():
    inv = inventory("growth")
    # the default cache is one Vercel functions reach: Upstash over TLS, no VPC
    assert not inv.of_type(CACHE) and not inv.of_type("aws:ec2/vpc:Vpc")
    database = one(inv, UPSTASH, "cache")
    assert database.inputs["tls"] is True and database.inputs["eviction"] is True
    plan = one(inv, "pulumi-python:dynamic/upstash:Plan", "cache-plan")
    assert plan.inputs["plan_name"] == "fixed_1gb" and plan.inputs["api_key"] == SECRET
    replica = one(inv, REPLICA, "primary-replica-us-east-1")
    assert replica.region == "us-east-1" and replica.parent == f"{PROJECT}::primary"
    assert one(inv, BUCKET, "archive").inputs["bucket"] == "floyo-dev-archive"
    env = env_vars(inv)
    assert env["REDIS_URL"] is True and env["DATABASE_REPLICA_URLS"] is True
    assert env["CACHE_TTL_SESSIONS"] is False and env["FLOYO_PARTITIONING"] is False


def test_scale_adds_region_shard_and_replication():
    inv = inventory("scale")
    assert {r.inputs["region"] for r in inv.of_type(AWS_PROVIDER)} == {"us-east-1", "eu-west-1"}
    projects = {r.name: r for r in inv.of_type(PROJECT)}
    assert set(projects) == {"primary", "shard-1"}  # shard 0 keeps the primary's name
    assert {p.inputs["instance_size"] for p in projects.values()} == {"medium"}
    assert {r.region for r in inv.of_type(REPLICA)} == {"eu-west-1"}
    assert len(inv.of_type(REPLICA)) == 2  # one per shard
    replica_bucket = one(inv, BUCKET, "uploads-eu-west-1")
    assert replica_bucket.region == "eu-west-1"
    replication = one(inv, "aws:s3/bucketReplicationConfig:BucketReplicationConfig", "uploads")
    assert replication.inputs["rules"][0]["destination"]["bucket"].endswith("uploads-eu-west-1")
    assert one(inv, "aws:iam/role:Role", "uploads-replication").region == "global"
    database = one(inv, UPSTASH, "cache")
    assert database.inputs["readRegions"] == ["eu-west-1"]
    assert one(inv, "pulumi-python:dynamic/upstash:Plan", "cache-plan").inputs["plan_name"] == (
        "fixed_5gb"
    )
    env = env_vars(inv)
    assert env["DATABASE_URL_SHARD_1"] is True and env["FLOYO_SHARD_MAP"] is False


def test_enterprise_spans_three_regions_with_global_cache():
    inv = inventory("enterprise")
    regions = {"us-east-1", "eu-west-1", "ap-southeast-1"}
    assert {r.inputs["region"] for r in inv.of_type(AWS_PROVIDER)} == regions
    assert len(inv.of_type(PROJECT)) == 4
    assert len(inv.of_type(REPLICA)) == 8
    assert {r.inputs["addon_variant"] for r in inv.of_type(ADDON)} == {"pitr_14"}
    # one Upstash database read in every secondary region (a global datastore would be
    # ElastiCache, which Vercel functions reach only through Secure Compute)
    database = one(inv, UPSTASH, "cache")
    assert database.inputs["primaryRegion"] == "us-east-1"
    assert database.inputs["readRegions"] == ["eu-west-1", "ap-southeast-1"]
    assert not inv.of_type(CACHE) and not inv.of_type(GLOBAL_CACHE)
    app = one(inv, "vercel:index/project:Project", "app")
    assert app.inputs["resourceConfig"]["functionDefaultRegions"] == ["iad1", "dub1", "sin1"]
    # dev sets no budget and enterprise's is custom: no AWS Budget rather than a made-up one
    assert not inv.of_type("aws:budgets/budget:Budget")


def test_every_regional_resource_has_an_explicit_region():
    for phase in ("startup", "growth", "scale", "enterprise"):
        for r in inventory(phase).custom_resources():
            if r.provider == "aws" or r.type.startswith("pulumi-python:dynamic/supabase"):
                assert r.region, f"{phase}: {r.key} has no region"


def test_production_protects_stateful_resources_dev_does_not():
    prod, dev = inventory(None, "production"), inventory(None, "dev")
    stateful = [r for r in prod.custom_resources() if r.stateful]
    assert stateful and all(r.protect and r.retain_on_delete for r in stateful)
    assert not any(r.protect or r.retain_on_delete for r in dev.custom_resources())
    budget = one(prod, "aws:budgets/budget:Budget", "monthly")
    # the AWS share of the estimate's high figure (AWS Budgets see AWS spend only), not the
    # stack's $300 whole-stack budget
    estimate = plan_stack(load_stack(Workspace(REPO), "production", None))[1]
    assert budget.inputs["limitAmount"] == f"{estimate.aws_budget:.2f}"
    assert 1 <= float(budget.inputs["limitAmount"]) < 50
    thresholds = {n["notificationType"]: n["threshold"] for n in budget.inputs["notifications"]}
    assert thresholds == {"ACTUAL": 80, "FORECASTED": 100}
    assert one(prod, ADDON, "primary-pitr").inputs["addon_variant"] == "pitr_7"


def test_stack_overrides_reach_the_program():
    staging = inventory(None, "staging")
    assert not staging.of_type(REPLICA)  # staging's override drops growth's replica
    assert one(staging, "floyo:web:Web", "web").inputs["seats"] == 1


def registered_under_stock_mocks(
    stack: str, run, preview: bool = False, inputs: dict | None = None
) -> list[tuple[str, str]]:
    """(type, name) of every resource `run` registers under Pulumi's stock `set_mocks`, with
    a Mocks that only counts (and answers as synth's do): a path independent of synth's
    recording monitor. `inputs`: filled with each resource's inputs, by (type, name)."""
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from floyo_scale.offline.synth import _Mocks

    registered: list[tuple[str, str]] = []

    class Counting(pulumi.runtime.Mocks):
        def new_resource(self, args):
            registered.append((args.typ, args.name))
            if inputs is not None:
                inputs[(args.typ, args.name)] = dict(args.inputs)
            return _Mocks().new_resource(args)

        def call(self, args):
            return _Mocks().call(args)

    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(Counting(), project="floyo", stack=stack, preview=preview)
    try:
        _sync_await(run_pulumi_func(run))
    finally:
        settings.set_root_resource(None)
    return sorted(registered)


def test_inventory_is_exactly_what_the_program_registered():
    """Run the program again under the stock mock engine and compare: plan cannot show a
    resource the program does not register, or miss one."""
    from floyo_scale.infra import program

    stack = load_stack(Workspace(REPO), "dev", "enterprise")
    recorded = sorted((r.type, r.name) for r in inventory("enterprise").resources)
    assert registered_under_stock_mocks("dev", program(stack, {})) == recorded


def test_a_wrong_sdk_argument_fails_as_under_pulumi_up(monkeypatch):
    """The program goes through the real SDK: a misspelt argument is an error, not a no-op
    (a bug in the program: its TypeError reaches the CLI's boundary, not an EngineError)."""
    from pulumi_aws import s3

    from floyo_scale.infra import storage

    real = s3.Bucket

    def misspelt(name, **kwargs):
        kwargs["bukcet"] = kwargs.pop("bucket")
        return real(name, **kwargs)

    monkeypatch.setattr(storage.s3, "Bucket", misspelt)
    with pytest.raises(TypeError, match="bukcet"):
        synthesize(load_stack(Workspace(REPO), "dev", "startup"))


def test_app_settings_carry_the_phase():
    from floyo_scale.infra.common import Context
    from floyo_scale.infra.web import app_settings

    env = app_settings(Context(load_stack(Workspace(REPO), "dev", "growth"), {}))
    assert env["CACHE_TTL_SESSIONS"] == "86400" and env["CACHE_TTL_API_RESPONSES"] == "60"
    assert '"retention_days": 365' in env["FLOYO_PARTITIONING"]
    assert '"p95_latency_ms": 1000' in env["FLOYO_ALERTS"]


def test_synthesis_is_deterministic():
    stack = load_stack(Workspace(REPO), "dev", "scale")
    assert synthesize(stack) == synthesize(stack)


def test_secret_values_never_reach_the_inventory():
    marker = "CANARY-7f3a9c"
    stack = load_stack(Workspace(REPO), "production", "enterprise")
    inv = synthesize(stack, {"SUPABASE_ACCESS_TOKEN": marker, "VERCEL_API_TOKEN": marker + "v"})
    assert marker not in repr(inv)
    assert "mock-password" not in repr(inv)  # generated passwords and connection strings


def test_the_plain_pulumi_entry_point_previews_the_same_program_and_refuses_updates():
    """`pulumi preview -s staging` runs floyo_scale/infra/__main__.py (Pulumi.yaml's main):
    under the mock engine, as stack "staging", it registers what `plan --stack staging` shows.
    A plain `pulumi up` is refused before anything is registered: it would skip floyo-scale's
    guards and release record, and not see its config (docs/program.md)."""
    import runpy

    import pulumi

    entry = REPO / "floyo_scale" / "infra" / "__main__.py"
    assert "floyo_scale/infra/__main__.py" in (REPO / "Pulumi.yaml").read_text()

    def run() -> None:
        runpy.run_path(str(entry), run_name="__main__")

    registered = registered_under_stock_mocks("staging", run, preview=True)
    expected = sorted((r.type, r.name) for r in inventory(None, "staging").resources)
    assert registered == expected
    with pytest.raises(pulumi.RunError, match="floyo-scale up --stack staging"):
        registered_under_stock_mocks("staging", run, preview=False)


def test_the_plain_entry_point_sizes_the_budget_in_process(monkeypatch, capsys):
    """floyo_scale/infra/__main__.py, run as Pulumi's language host runs it (inside a Pulumi
    runtime already configured), sizes the AWS Budget at the figure `cost` reports, from a
    synthesis in this process: no child process (it used to run `python -m floyo_scale
    cost`, a second run of the whole program), and the host's runtime is left as it was
    (everything the program registers reaches it)."""
    import json
    import runpy
    import subprocess

    from floyo_scale.cli import main

    assert main(["--root", str(REPO), "cost", "--stack", "staging", "--format", "json"]) == 0
    reported = json.loads(capsys.readouterr().out)["budget"]["aws_budget"]
    assert reported is not None and reported > 0

    def no_child(*args, **kwargs):
        raise AssertionError(f"the entry point ran a child process: {args[0]!r}")

    for name in ("run", "Popen", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, no_child)
    entry = REPO / "floyo_scale" / "infra" / "__main__.py"
    inputs: dict = {}
    registered = registered_under_stock_mocks(
        "staging", lambda: runpy.run_path(str(entry), run_name="__main__"), True, inputs
    )
    budgets = [v for (t, _), v in inputs.items() if t == "aws:budgets/budget:Budget"]
    assert [b["limitAmount"] for b in budgets] == [f"{reported:.2f}"]
    assert registered == sorted((r.type, r.name) for r in inventory(None, "staging").resources)
