"""The guard rules as pure functions: data loss and downgrades (policy), the preview's
steps (engine.results), confirmation (guards), CI (render.text)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from floyo_scale import guards, policy
from floyo_scale.engine import results
from floyo_scale.errors import ExitCode, GuardrailError
from floyo_scale.offline import inventory
from floyo_scale.offline.inventory import Inventory, Resource
from floyo_scale.offline.plan import diff_inventories
from floyo_scale.render import text

BUCKET = "aws:s3/bucket:Bucket"
PROJECT = "pulumi-python:dynamic/supabase:Project"
REPLICA = "pulumi-python:dynamic/supabase:ReadReplica"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def step(op: str, type_: str, name: str, **kw) -> results.Step:
    return results.Step(op, f"urn:pulumi:s::p::{type_}::{name}", type_, name, **kw)


# -- data loss from the preview ------------------------------------------------------------


def test_a_replacement_counts_once_with_its_reasons():
    losses = results.losses_from_preview(
        [
            step("create-replacement", BUCKET, "uploads", keys=("bucket",)),
            step("replace", BUCKET, "uploads", keys=("bucket",)),
            step("delete-replaced", BUCKET, "uploads"),
        ]
    )
    assert losses == (policy.Loss(BUCKET, "uploads", "replace", ("preview",), ("bucket",)),)


def test_deletes_of_stateful_resources_are_losses_unless_retained():
    losses = results.losses_from_preview(
        [
            step("delete", PROJECT, "primary"),
            step("delete", REPLICA, "analytics", retain_on_delete=True),
            step("delete", ALARM, "cpu"),
            step("update", REDIS, "cache"),
            step("create", BUCKET, "new"),
            step("same", BUCKET, "old"),
        ]
    )
    assert [(loss.type, loss.action) for loss in losses] == [(PROJECT, "delete")]


@pytest.mark.parametrize("type_", sorted(inventory.STATEFUL_TYPES))
def test_every_stateful_type_is_guarded(type_):
    assert results.losses_from_preview([step("delete", type_, "x")])


# -- data loss from the offline plan -------------------------------------------------------


def inventory(phase: str, *resources: Resource) -> Inventory:
    return Inventory(phase, "staging", tuple(resources))


def res(type_: str, name: str, retain: bool = False, **inputs) -> Resource:
    return Resource(type_, name, "storage", "us-east-1", inputs, retain_on_delete=retain)


def test_the_plan_reports_deleted_and_replaced_stateful_resources():
    old = inventory(
        "scale",
        res(BUCKET, "uploads", bucket="a"),
        res(BUCKET, "kept", retain=True),
        res(REDIS, "cache"),
        res(ALARM, "cpu"),
    )
    new = inventory("growth", res(BUCKET, "uploads", bucket="b"))
    losses = policy.losses_from_diff(diff_inventories(old, new))
    assert {(loss.name, loss.action, loss.keys) for loss in losses} == {
        ("uploads", "replace", ("bucket",)),
        ("cache", "delete", ()),
    }
    assert policy.losses_from_diff(None) == ()


def test_merged_losses_keep_every_source_and_the_worse_action():
    merged = policy.merge_losses(
        [policy.Loss(BUCKET, "uploads", "delete", ("preview",))],
        [policy.Loss(BUCKET, "uploads", "replace", ("plan",), ("bucket",))],
        [policy.Loss(REDIS, "cache", "delete", ("plan",))],
    )
    assert merged == (  # sorted by type and name
        policy.Loss(REDIS, "cache", "delete", ("plan",)),
        policy.Loss(BUCKET, "uploads", "replace", ("preview", "plan"), ("bucket",)),
    )


def test_check_destroy_lists_each_resource_and_says_how_to_go_on():
    losses = (
        policy.Loss(BUCKET, "uploads", "replace", ("preview", "plan"), ("bucket",)),
        policy.Loss(PROJECT, "primary", "delete", ("plan",)),
    )
    with pytest.raises(GuardrailError) as caught:
        policy.check_destroy(losses, allow_destroy=False)
    assert caught.value.exit_code == ExitCode.GUARDRAIL
    assert caught.value.message.splitlines()[1:] == [
        "  - replace aws:s3:Bucket uploads (because of bucket) [seen by the preview and the plan]",
        "  - delete supabase:Project primary [seen by the plan]",
    ]
    assert "--allow-destroy" in caught.value.hint
    policy.check_destroy(losses, allow_destroy=True)
    policy.check_destroy((), allow_destroy=False)


# -- downgrades ----------------------------------------------------------------------------


def test_a_downgrade_lists_what_goes_away_and_the_saving():
    old = inventory("scale", res(REDIS, "cache"), res(BUCKET, "uploads"))
    new = inventory("growth", res(BUCKET, "uploads"))
    diff = diff_inventories(old, new)
    old_cost = SimpleNamespace(total_low=300.0, total_high=900.0)
    new_cost = SimpleNamespace(total_low=100.0, total_high=250.0)
    down = policy.downgrade(
        diff, old_rank=10_000, new_rank=1_000, old_cost=old_cost, new_cost=new_cost
    )
    assert down is not None
    assert [r.name for r in down.removed] == ["cache"]
    assert (down.saving_low, down.saving_high) == (200.0, 650.0)
    assert down.describe().splitlines() == [
        "phase downgrade: scale -> growth",
        "  goes away (1):",
        "    - aws:elasticache:ReplicationGroup cache",
        "  monthly saving: $200 to $650",
    ]


def test_an_upgrade_or_no_diff_is_not_a_downgrade():
    diff = diff_inventories(inventory("growth"), inventory("scale"))
    assert policy.downgrade(diff, old_rank=1_000, new_rank=10_000) is None
    assert policy.downgrade(None, old_rank=10_000, new_rank=1_000) is None


def test_a_downgrade_without_prices_has_no_saving():
    diff = diff_inventories(inventory("scale"), inventory("growth"))
    down = policy.downgrade(diff, old_rank=2, new_rank=1)
    assert down is not None and down.saving_low is None
    assert "monthly saving" not in down.describe()


# -- confirmation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "yes", "is_tty", "is_ci"), list(itertools.product([False, True], repeat=4))
)
def test_the_confirmation_rule(required, yes, is_tty, is_ci):
    decision = guards.confirmation(required=required, yes=yes, is_tty=is_tty, is_ci=is_ci)
    if yes or not required:
        assert decision == "proceed"
    elif is_ci:
        assert decision == "refuse"  # CI never gets a prompt, even with a pseudo-terminal
    elif is_tty:
        assert decision == "ask"
    else:
        assert decision == "refuse"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "false"}, False),
        ({"CI": "0"}, False),
        ({"GITHUB_ACTIONS": "true"}, True),
        ({"GITLAB_CI": "true"}, True),
        ({"BUILDKITE": "true"}, True),
        ({"JENKINS_URL": "https://ci.example"}, True),
    ],
)
def test_ci_is_recognised(env, expected):
    assert text.is_ci(env) is expected


def test_production_is_the_production_stack():
    assert guards.is_production("production") and guards.is_production("prod")
    assert not guards.is_production("staging")


def test_a_refusal_says_where_and_what_to_pass():
    error = guards.refusal("changing", "production", is_ci=True)
    assert error.exit_code == ExitCode.GUARDRAIL
    assert "in CI" in error.message and "--yes" in error.hint
    assert "without a terminal" in guards.refusal("destroying", "dev", is_ci=False).message
