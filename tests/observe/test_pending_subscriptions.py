"""Alert e-mail subscriptions waiting for confirmation (issue 24): SNS ListSubscriptionsByTopic
against moto's server on loopback, for `up` (listed once it is done) and `status` (a reading).

moto confirms every subscription at once; AWS keeps an e-mail subscription's SubscriptionArn
at "PendingConfirmation" until its address clicks the link. The test puts that state into
moto's own backend (the session's server, `moto_url` in tests/observe/conftest.py, runs in this
process), so the answer still travels as real SNS XML through boto3's paginator.
"""

from __future__ import annotations

import boto3
import pytest

from floyo_scale.observe import aws
from floyo_scale.observe.targets import Targets, merge_outputs
from floyo_scale.render.engine import pending_text

ACCOUNT = "123456789012"  # moto's default account
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def sns(moto_url: str, monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOYOTESTKEY0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "floyo-test-secret-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clients = {r: boto3.client("sns", region_name=r) for r in REGIONS}
    return clients


def unconfirmed(region: str, endpoint: str) -> None:
    """What AWS shows for an address that has not clicked its link yet."""
    from moto.sns.models import sns_backends

    for sub in sns_backends[ACCOUNT][region].subscriptions.values():
        if sub.endpoint == endpoint:
            sub.arn = aws.PENDING


def test_pending_email_subscriptions_are_listed_per_region(sns):
    topics = {}
    for region, client in sns.items():
        arn = client.create_topic(Name=f"alerts-{region}-a1b2c3d")["TopicArn"]
        topics[region] = arn
        for email in ("oncall@floyo.app", "finance@floyo.app"):
            client.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
    assert aws.pending_subscriptions(sns.__getitem__, topics) == []  # all confirmed
    # one per topic: moto lists a topic's subscriptions keyed by their ARN, so two set to
    # "PendingConfirmation" on one topic would show as one (AWS lists each)
    unconfirmed("us-east-1", "finance@floyo.app")
    unconfirmed("eu-west-1", "oncall@floyo.app")
    pending = aws.pending_subscriptions(sns.__getitem__, topics)
    assert sorted((p.region, p.endpoint) for p in pending) == [
        ("eu-west-1", "oncall@floyo.app"),
        ("us-east-1", "finance@floyo.app"),
    ]
    assert {p.protocol for p in pending} == {"email"}
    # `up`: listed once it is done, with what to do
    text = pending_text(pending, None)
    assert text.startswith("waiting for confirmation: 2 alert subscriptions")
    assert "  - finance@floyo.app (email, us-east-1)" in text
    # `status`: a reading with the count and who must confirm
    reading = aws.pending_reading(pending)
    assert reading.value == 2 and reading.endpoint == "SNS ListSubscriptionsByTopic"
    assert "oncall@floyo.app (eu-west-1)" in reading.note


def test_up_reads_them_itself_and_says_so_when_it_cannot(sns, monkeypatch):
    arn = sns["us-east-1"].create_topic(Name="alerts-us-east-1-e5f6a7b")["TopicArn"]
    sns["us-east-1"].subscribe(TopicArn=arn, Protocol="email", Endpoint="dev@floyo.app")
    unconfirmed("us-east-1", "dev@floyo.app")
    pending, problem = aws.pending_after_up(None, {"us-east-1": arn})
    assert problem is None and [p.endpoint for p in pending] == ["dev@floyo.app"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    pending, problem = aws.pending_after_up(None, {"us-east-1": arn}, timeout=1)
    assert pending == [] and problem is not None and "could not be read" in problem
    assert pending_text(pending, problem).startswith("note: ")
    assert pending_text([], None) == ""


def test_status_finds_the_topics_in_the_stacks_outputs():
    outputs = {"alert_topics": {"us-east-1": "arn:aws:sns:us-east-1:1:alerts-us-east-1-x"}}
    targets = merge_outputs(Targets(), outputs)
    assert targets.alert_topics == {"us-east-1": "arn:aws:sns:us-east-1:1:alerts-us-east-1-x"}
    assert merge_outputs(Targets(), {}).alert_topics == {}


def test_status_shows_who_must_confirm():
    from floyo_scale.errors import ExitCode
    from floyo_scale.observe.status import StatusReport
    from floyo_scale.observe.thresholds import SourceResult, SourceState
    from floyo_scale.render.status import status_table

    reading = aws.pending_reading([aws.Pending("us-east-1", "email", "oncall@floyo.app")])
    source = SourceResult("aws", SourceState.OK, (reading,))
    report = StatusReport("staging", "growth", "2026-12-07T03:00:00Z", 24, (source,))
    text = status_table(report, width=160)
    assert "alert e-mails awaiting confirmation" in text
    assert "oncall@floyo.app (us-east-1)" in text
    # something to do, not a threshold crossed: the report is blind here only because this
    # one-source report measured none of the seed's thresholds (issue 19), never "over"
    assert report.exit_code == ExitCode.BLIND
    assert not any(r.verdict.crossed for r in report.readings)
