"""The watch role's policy (observe/permissions.py, issue 19): `status --record` may write the
stack's history object and nothing else, checked with a small evaluator of the policy's Allow
statements (IAM's own wildcard matching: `*` any run of characters, `?` one) against what
the history store really writes on moto's S3; and README shows the generated document."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import boto3
import pytest

from floyo_scale.observe.history import S3History, record_of
from floyo_scale.observe.permissions import watch_policy
from floyo_scale.spec import Workspace, load_stack

from .conftest import NOW

REPO = Path(__file__).resolve().parents[2]
STATE = "s3://floyo-pulumi-state"


@pytest.fixture(scope="module")
def production():
    return load_stack(Workspace(REPO), "production", None)


def allowed(policy: dict, action: str, resource: str) -> bool:
    """Whether an Allow statement grants `action` on `resource` (no Deny is used here)."""
    for st in policy["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if any(fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
            fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def test_the_history_object_is_the_only_write(production) -> None:
    policy = watch_policy(production, STATE)
    history = "arn:aws:s3:::floyo-pulumi-state/.floyo-history/production.jsonl"
    assert allowed(policy, "s3:PutObject", history)
    assert allowed(policy, "s3:GetObject", history)
    for other in (
        "arn:aws:s3:::floyo-pulumi-state/.floyo-history/staging.jsonl",  # another stack's
        "arn:aws:s3:::floyo-pulumi-state/.pulumi/stacks/floyo/production.json",  # the state
        "arn:aws:s3:::floyo-pulumi-state/.pulumi/locks/floyo/production/x.json",
        "arn:aws:s3:::floyo-production-uploads/user/file.png",  # the app's data
    ):
        assert not allowed(policy, "s3:PutObject", other), other
        assert not allowed(policy, "s3:DeleteObject", other), other
    # every write action in the document is the history's PutObject
    writes = [
        (a, st["Resource"])
        for st in policy["Statement"]
        for a in st["Action"]
        if re.match(r"^[a-z0-9]+:(Put|Create|Delete|Update|Set|Modify|Tag|Untag)", a)
    ]
    assert writes == [("s3:PutObject", history)]


def test_reads_what_status_and_drift_read_but_no_data(production) -> None:
    policy = watch_policy(production, STATE)
    stacks = "arn:aws:s3:::floyo-pulumi-state/.pulumi/stacks/floyo"
    assert allowed(policy, "s3:GetObject", f"{stacks}/production.json")
    assert not allowed(policy, "s3:GetObject", f"{stacks}/staging.json")
    for action in ("cloudwatch:GetMetricData", "ce:GetCostForecast", "route53:ListHealthChecks"):
        assert allowed(policy, action, "*")
    assert allowed(policy, "sns:ListSubscriptionsByTopic",
                   "arn:aws:sns:us-east-1:333333333333:alerts-us-east-1-5e1f2a3")  # fmt: skip
    # drift reads a bucket's configuration, never its objects, nor lists them
    assert allowed(policy, "s3:GetBucketPolicy", "arn:aws:s3:::floyo-production-uploads")
    assert allowed(policy, "s3:GetLifecycleConfiguration", "arn:aws:s3:::floyo-production-uploads")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::floyo-production-uploads/a.png")
    assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::floyo-production-uploads")
    assert not allowed(policy, "secretsmanager:GetSecretValue", "*")


def test_the_store_writes_exactly_where_the_policy_allows(production, moto_url) -> None:
    """S3History (what `status --record` uses) on moto: the one key it writes is the one the
    policy allows, with and without a prefix in the backend URL."""
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url,
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    for bucket, prefix in (("watch-state-a", ""), ("watch-state-b", "team/floyo")):
        s3.create_bucket(Bucket=bucket)
        store = S3History(bucket, prefix, s3)
        store.append("production", record_of("production", "growth", NOW, [], 0.5))
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert len(keys) == 1
        policy = watch_policy(production, f"s3://{bucket}" + (f"/{prefix}" if prefix else ""))
        assert allowed(policy, "s3:PutObject", f"arn:aws:s3:::{bucket}/{keys[0]}")
        assert store.read("production")[0]["stack"] == "production"


def test_only_an_s3_backend(production) -> None:
    with pytest.raises(ValueError, match="S3 state backend"):
        watch_policy(production, "file:///tmp/state")


def test_readme_shows_the_generated_policy(production) -> None:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- watch-policy:start -->\n", 1)[1].split("<!-- watch-policy:end -->")[0]
    shown = block.removeprefix("```json\n").rstrip().removesuffix("```").strip()
    assert json.loads(shown) == watch_policy(production, STATE)
    assert shown == json.dumps(watch_policy(production, STATE), indent=2), (
        "README.md's watch policy is out of date: regenerate it with "
        'json.dumps(watch_policy(production, "s3://floyo-pulumi-state"), indent=2)'
    )
