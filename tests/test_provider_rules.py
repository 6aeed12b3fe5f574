"""Provider rules (floyo_scale/provider_rules.py): what the providers' APIs accept, checked
over the Inventory by `plan`, `diff` and `up` before anything is sent.

Each of the eight things issue 24 found is checked twice: the program now builds it right
(on the Inventory), and the rule set catches it when it is put back. Then every phase and
stack, and the RDS and ElastiCache stacks the other tests use, pass the whole rule set.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import copy_workspace

from floyo_scale.cost import plan_stack
from floyo_scale.errors import ExitCode
from floyo_scale.offline.inventory import Inventory, Resource
from floyo_scale.policy import provider_rule_finding, refusals
from floyo_scale.provider_rules import broken_rules
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
ALERT = "sentry:index/sentryMetricAlert:SentryMetricAlert"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUDGET = "aws:budgets/budget:Budget"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
RDS = "aws:rds/instance:Instance"
PLAN = "pulumi-python:dynamic/upstash:Plan"

PUBLIC_RDS = {
    "provider": "rds",
    "keep_supabase": True,
    "rds": {
        "instance_class": "db.r7g.large",
        "storage_gb": 100,
        "backup_retention_days": 14,
        "access": "public_tls",
        "allowed_cidrs": ["203.0.113.0/24"],
    },
}
PRIVATE_RDS = {
    **PUBLIC_RDS,
    "keep_supabase": False,
    "rds": {
        **PUBLIC_RDS["rds"],
        "access": "secure_compute",
        "proxy": True,
        "allowed_cidrs": ["10.200.0.0/16"],
    },
}
SECURE_COMPUTE = {
    "secure_compute": {
        "network_id": "scn_floyo",
        "cidr": "10.200.0.0/16",
        "peering_connections": {
            "us-east-1": "pcx-0a1b2c3d4e5f60718",
            "eu-west-1": "pcx-0a1b2c3d4e5f60719",
            "ap-southeast-1": "pcx-0a1b2c3d4e5f6071a",
        },
    }
}


@cache
def planned(stack: str | None, phase: str | None = None) -> Inventory:
    """What `plan` checks: the program with its AWS Budget (cost.plan_stack)."""
    return plan_stack(load_stack(Workspace(REPO), stack, phase))[0]


def planned_with(tmp: Path, phase: str, **overrides: Any) -> Inventory:
    copy_workspace(tmp)
    doc = yaml.safe_load((tmp / "stacks" / "production.yaml").read_text())
    doc["phase"] = phase
    doc["overrides"] = overrides
    (tmp / "stacks" / "ruled.yaml").write_text(yaml.safe_dump(doc))
    return plan_stack(load_stack(Workspace(tmp), "ruled", None))[0]


def one(inv: Inventory, type_: str, name: str) -> Resource:
    (found,) = [r for r in inv.resources if r.type == type_ and r.name == name]
    return found


def changed(inv: Inventory, type_: str, name: str, /, **inputs: Any) -> Inventory:
    """`inv` with one resource's inputs changed (a fix undone)."""
    resources = tuple(
        dataclasses.replace(r, inputs={**r.inputs, **inputs})
        if (r.type, r.name) == (type_, name)
        else r
        for r in inv.resources
    )
    return dataclasses.replace(inv, resources=resources)


def without(inv: Inventory, type_: str) -> Inventory:
    return dataclasses.replace(inv, resources=tuple(r for r in inv.resources if r.type != type_))


def rules_broken(inv: Inventory) -> set[str]:
    return {b.rule for b in broken_rules(inv)}


# -- 1 and 2: Sentry alerts on the span dataset, environment in the query ------------------


def test_sentry_alerts_are_span_alerts_filtered_to_transactions_and_the_environment():
    inv = planned("production")
    for name, aggregate in (
        ("p95-latency", "p95(span.duration)"),
        ("error-rate", "failure_rate()"),
    ):
        alert = one(inv, ALERT, name).inputs
        assert alert["dataset"] == "events_analytics_platform"
        assert alert["eventTypes"] == ["trace_item_span"]
        assert alert["aggregate"] == aggregate
        # no environment field: Sentry looks it up and refuses one that has sent no event
        # yet; the filter is in the query, which the span dataset evaluates per event
        assert "environment" not in alert
        assert alert["query"].split() == ["is_transaction:true", "environment:production"]
        assert alert["timeWindow"] >= 5
    assert not rules_broken(inv)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"dataset": "transactions", "eventTypes": ["transaction"]}, "transaction-based"),
        ({"environment": "production"}, "not yet received an event"),
        ({"query": ""}, "is_transaction:true"),
        ({"eventTypes": ["transaction"]}, "exactly one event type"),
        ({"aggregate": "p95(transaction.duration)"}, "not an aggregate of the span dataset"),
    ],
)
def test_a_sentry_alert_sentry_refuses_is_caught(inputs: dict, message: str):
    inv = changed(planned("staging"), ALERT, "p95-latency", **inputs)
    broken = [b for b in broken_rules(inv) if b.rule == "sentry-alert"]
    assert broken and any(message in b.message for b in broken)
    assert all("getsentry/sentry" in b.source and b.cause == "program" for b in broken)


# -- 3: bucket alarms count every storage class the lifecycle rules use ---------------------


def test_bucket_size_alarms_sum_every_storage_class_their_lifecycle_moves_bytes_to():
    inv = planned("production")
    expected = {
        "uploads": {"StandardStorage", "StandardIAStorage"},
        "archive": {"StandardStorage", "GlacierInstantRetrievalStorage"},
    }
    for bucket, storage_types in expected.items():
        alarm = one(inv, ALARM, f"bucket-size-{bucket}").inputs
        metrics = [q["metric"] for q in alarm["metricQueries"] if q.get("metric")]
        assert {m["dimensions"]["StorageType"] for m in metrics} == storage_types
        assert {m["dimensions"]["BucketName"] for m in metrics} == {f"floyo-production-{bucket}"}
        (total,) = [q for q in alarm["metricQueries"] if q.get("returnData")]
        assert total["expression"].startswith("SUM(") or "+" in total["expression"]
    assert not rules_broken(inv)


def test_an_alarm_on_standard_storage_alone_is_caught():
    inv = changed(
        planned("production"),
        ALARM,
        "bucket-size-archive",
        metricQueries=None,
        namespace="AWS/S3",
        metricName="BucketSizeBytes",
        dimensions={"BucketName": "floyo-production-archive", "StorageType": "StandardStorage"},
    )
    (broken,) = broken_rules(inv)
    assert broken.rule == "bucket-alarm-storage-classes"
    assert broken.value == "GlacierInstantRetrievalStorage"


def test_an_alarm_dimension_the_metric_is_not_published_with_is_caught():
    inv = changed(
        planned("production"),
        ALARM,
        "bucket-size-uploads",
        metricQueries=None,
        namespace="AWS/S3",
        metricName="BucketSizeBytes",
        dimensions={"BucketName": "floyo-production-uploads", "StorageClass": "STANDARD"},
    )
    assert "alarm-dimensions" in rules_broken(inv)


# -- 4: the budget may publish to its topic ------------------------------------------------


def test_the_budgets_topic_lets_aws_budgets_publish_from_this_account_only():
    inv = planned("production")
    (budget,) = inv.of_type(BUDGET)
    arns = {a for n in budget.inputs["notifications"] for a in n["subscriberSnsTopicArns"]}
    policies = [p for p in inv.of_type(TOPIC_POLICY) if p.inputs["arn"] in arns]
    assert len(policies) == 1
    statements = json.loads(policies[0].inputs["policy"])["Statement"]
    (statement,) = [s for s in statements if s["Sid"] == "AWSBudgetsSNSPublishingPermissions"]
    # the default statement stays: the account's own use (CloudWatch alarms publish under it)
    (owner,) = [s for s in statements if s["Sid"] == "OwnerAccount"]
    assert owner["Condition"]["StringEquals"]["AWS:SourceOwner"] == "333333333333"
    assert statement["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert statement["Action"] == "SNS:Publish"
    assert statement["Resource"] in arns
    # the confused-deputy guard AWS Budgets documents
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "333333333333"
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == ("arn:aws:budgets::333333333333:*")
    assert not rules_broken(inv)


def test_a_budget_notifying_a_topic_without_a_policy_is_caught():
    inv = without(planned("production"), TOPIC_POLICY)
    (broken,) = broken_rules(inv)
    assert broken.rule == "budget-topic-policy" and "budgets.amazonaws.com" in broken.message


# -- 5 and 6: public RDS after its gateway; one PostgreSQL major ----------------------------


def test_public_rds_without_its_gateway_dependency_is_caught(tmp_path):
    inv = planned_with(tmp_path, "scale", database=PUBLIC_RDS)
    assert not rules_broken(inv)
    resources = tuple(
        dataclasses.replace(r, depends_on=()) if r.type == RDS else r for r in inv.resources
    )
    broken = broken_rules(dataclasses.replace(inv, resources=resources))
    assert {b.rule for b in broken} == {"rds-public-gateway"}
    assert {b.resource for b in broken} >= {
        "aws:rds:Instance db",
        "aws:rds:Instance db-replica-eu-west-1",
    }


def test_a_migration_target_on_another_major_is_caught(tmp_path):
    inv = planned_with(tmp_path, "scale", database=PUBLIC_RDS)
    inv = changed(inv, RDS, "db", engineVersion="15")
    broken = [b for b in broken_rules(inv) if b.rule == "postgres-one-major"]
    assert {b.value for b in broken} == {"postgres17", "15"}  # the family, the engine
    assert any("Supabase creates PostgreSQL 17" in b.message for b in broken)


# -- 8: the Upstash plan names the Developer API accepts ------------------------------------


def test_an_upstash_plan_name_the_api_does_not_list_is_caught():
    inv = changed(planned("production"), PLAN, "cache-plan", plan_name="fixed-1gb")
    (broken,) = broken_rules(inv)
    assert broken.rule == "upstash-plan" and "openapi.yml" in broken.source


# -- names, enums, lifecycle days ----------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "name", "inputs", "rule"),
    [
        ("aws:s3/bucket:Bucket", "uploads", {"bucket": "Floyo_Uploads"}, "s3-bucket-name"),
        ("aws:s3/bucket:Bucket", "uploads", {"bucket": "a" * 64}, "s3-bucket-name"),
        ("aws:s3/bucket:Bucket", "uploads", {"bucket": "192.168.1.10"}, "s3-bucket-name"),
        ("aws:iam/role:Role", "app", {"name": "floyo app"}, "iam-role-name"),
        ("aws:sns/topic:Topic", "alerts-us-east-1", {"name": "alerts:us"}, "sns-topic-name"),
        (
            "vercel:index/project:Project",
            "app",
            {"resourceConfig": {"functionDefaultRegions": ["us-east-1"]}},
            "vercel-function-regions",
        ),
        (
            "upstash:index/redisDatabase:RedisDatabase",
            "cache",
            {"primaryRegion": "us-east-2"},
            "upstash-regions",
        ),
        (
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "uploads",
            {
                "rules": [
                    {
                        "id": "ia-too-soon",
                        "status": "Enabled",
                        "transitions": [{"days": 10, "storageClass": "STANDARD_IA"}],
                    }
                ]
            },
            "s3-lifecycle-days",
        ),
        (
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "uploads",
            {
                "rules": [
                    {
                        "id": "glacier-right-after-ia",
                        "status": "Enabled",
                        "transitions": [
                            {"days": 30, "storageClass": "STANDARD_IA"},
                            {"days": 40, "storageClass": "GLACIER"},
                        ],
                        "expiration": {"days": 35},
                    }
                ]
            },
            "s3-lifecycle-days",
        ),
    ],
)
def test_names_enums_and_lifecycle_days_a_provider_refuses_are_caught(type_, name, inputs, rule):
    inv = changed(planned("production"), type_, name, **inputs)
    assert rule in rules_broken(inv)


def test_rds_and_elasticache_enums_are_caught(tmp_path):
    inv = planned_with(tmp_path, "scale", database=PUBLIC_RDS)
    assert "rds-instance" in rules_broken(changed(inv, RDS, "db", instanceClass="db.x9.huge"))
    assert "rds-instance-identifier" in rules_broken(changed(inv, RDS, "db", identifier="1-db"))
    cache = planned_with(
        tmp_path / "cache",
        "growth",
        cache={"provider": "elasticache", "node_type": "cache.t4g.micro"},
        web={"vercel_plan": "enterprise", **SECURE_COMPUTE},
    )
    group = "aws:elasticache/replicationGroup:ReplicationGroup"
    params = "aws:elasticache/parameterGroup:ParameterGroup"
    assert "elasticache-node" in rules_broken(
        changed(cache, group, "cache-us-east-1", nodeType="cache.t2.nano")
    )
    assert "elasticache-replication-group-id" in rules_broken(
        changed(cache, group, "cache-us-east-1", replicationGroupId="floyo--cache")
    )
    assert "elasticache-engine-family" in rules_broken(
        changed(cache, params, "cache-us-east-1", family="redis6.x")
    )


# -- every phase and stack passes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "phase"),
    [
        ("dev", "startup"),
        ("dev", "growth"),
        ("dev", "scale"),
        ("dev", "enterprise"),
        ("dev", None),
        ("staging", None),
        ("production", None),
        ("production", "scale"),
        ("production", "enterprise"),
    ],
)
def test_every_phase_and_stack_passes_the_rule_set(stack, phase):
    inv = planned(stack, phase)
    assert broken_rules(inv) == [], [b.describe() for b in broken_rules(inv)]


@pytest.mark.parametrize(
    ("phase", "overrides"),
    [
        ("scale", {"database": PUBLIC_RDS}),
        ("scale", {"database": PRIVATE_RDS, "web": {"vercel_plan": "enterprise"}}),
        (
            "growth",
            {
                "cache": {"provider": "elasticache", "node_type": "cache.t4g.micro"},
                "web": {"vercel_plan": "enterprise", **SECURE_COMPUTE},
            },
        ),
        (
            "enterprise",
            {
                "cache": {
                    "provider": "elasticache",
                    "node_type": "cache.r7g.large",
                    "global_datastore": True,
                },
                "web": SECURE_COMPUTE,
                "budget": {"monthly_usd": 50000},
            },
        ),
    ],
    ids=["rds-public", "rds-proxy", "elasticache-growth", "elasticache-global"],
)
def test_the_rds_and_elasticache_stacks_pass_the_rule_set(tmp_path, phase, overrides):
    inv = planned_with(tmp_path, phase, **overrides)
    assert broken_rules(inv) == [], [b.describe() for b in broken_rules(inv)]


# -- where the rules run: plan, diff, up ----------------------------------------------------


def test_a_broken_rule_is_what_up_refuses_and_diff_reports():
    inv = changed(planned("production"), PLAN, "cache-plan", plan_name="fixed-1gb")
    finding = provider_rule_finding(inv)
    assert finding is not None and finding.kind == "provider" and finding.override is None
    assert "fixed-1gb" in finding.message and "openapi.yml" in finding.message
    assert refusals((), None, inv)[0] == finding  # the list `up` enforces and `diff` shows
    assert finding.error().exit_code == ExitCode.UNEXPECTED  # the program broke it: a bug
    bucket = changed(planned("production"), "aws:s3/bucket:Bucket", "uploads", bucket="A_b")
    spec_made = provider_rule_finding(bucket)
    assert spec_made is not None and spec_made.error().exit_code == ExitCode.INVALID_SPEC


def test_plan_lists_a_broken_rule_and_exits_3(cli, workspace, monkeypatch):
    from floyo_scale import provider_rules
    from floyo_scale.provider_rules import Rule

    def too_long(r: Resource, _inv: Inventory):
        yield r.inputs["bucket"], "a test rule refuses every bucket name"

    rule = Rule("test-bucket", ("aws:s3/bucket:Bucket",), "this test", "spec", too_long)
    monkeypatch.setattr(provider_rules, "RULES", (*provider_rules.RULES, rule))
    result = cli("plan", "--stack", "dev", "--format", "json")
    assert result.code == ExitCode.INVALID_SPEC, result.err
    data = json.loads(result.out)
    assert {b["rule"] for b in data["provider_rules"]} == {"test-bucket"}
    assert data["provider_rules"][0]["value"] == "floyo-dev-uploads"
    assert "source: this test" in result.said
    monkeypatch.setattr(provider_rules, "RULES", provider_rules.RULES[:-1])  # the real ones
    clean = cli("plan", "--stack", "dev", "--format", "json")
    assert clean.code == 0 and json.loads(clean.out)["provider_rules"] == []


def test_up_refuses_a_broken_rule_offline_before_any_credential(cli, workspace, monkeypatch):
    """`up` runs the same rule set before it reads a secret or sets up the engine: exit 3
    for a value of the spec (it would be exit 2 had it got as far as the secrets)."""
    from floyo_scale import provider_rules
    from floyo_scale.provider_rules import Rule

    def refuse(r: Resource, _inv: Inventory):
        yield r.inputs["bucket"], "a test rule refuses every bucket name"

    rule = Rule("test-bucket", ("aws:s3/bucket:Bucket",), "this test", "spec", refuse)
    monkeypatch.setattr(provider_rules, "RULES", (*provider_rules.RULES, rule))
    for name in ("VERCEL_API_TOKEN", "SUPABASE_ACCESS_TOKEN", "UPSTASH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SENTRY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    up = cli("up", "--stack", "staging", "--yes", "--allow-destroy", "--allow-over-budget")
    assert up.code == ExitCode.INVALID_SPEC, up.err
    assert "floyo-staging-uploads" in up.err and "source: this test" in up.err
    assert "is not set" not in up.err
    assert not (workspace / ".floyo").exists()  # nothing of the engine was set up
    diff = cli("diff", "growth", "--stack", "staging", "--fail-on-guard")
    assert "provider rule" in diff.out + diff.err and diff.code == ExitCode.GUARDRAIL
