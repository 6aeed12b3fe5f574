"""The uptime checks the program makes (issue 19): one Route 53 HTTPS health check per domain
of the stack, each with an alarm on HealthCheckStatus in us-east-1 (where Route 53 publishes
its metrics) notifying that region's alert topic, made there when the phase's regions do not
include it; synthesized under Pulumi's mock engine."""

from __future__ import annotations

from pathlib import Path

from test_app_works import synth, with_overrides

from floyo_scale.offline.synth import synthesize
from floyo_scale.spec import load_stack

CHECK = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
PROVIDER = "pulumi:providers:aws"


def test_one_https_check_and_alarm_per_domain() -> None:
    inv = synth("production", None)
    checks = {r.name: r for r in inv.of_type(CHECK)}
    assert sorted(checks) == ["uptime-floyo.app", "uptime-www.floyo.app"]
    inputs = checks["uptime-floyo.app"].inputs
    assert {k: inputs[k] for k in ("type", "fqdn", "port", "resourcePath", "enableSni",
                                   "requestInterval", "failureThreshold")} == {
        "type": "HTTPS", "fqdn": "floyo.app", "port": 443, "resourcePath": "/",
        "enableSni": True, "requestInterval": 30, "failureThreshold": 3,
    }  # fmt: skip
    alarms = {r.name: r for r in inv.of_type(ALARM) if r.name.startswith("uptime-")}
    assert sorted(alarms) == ["uptime-floyo.app", "uptime-www.floyo.app"]
    alarm = alarms["uptime-www.floyo.app"]
    assert alarm.region == "us-east-1"
    assert {k: alarm.inputs[k] for k in ("namespace", "metricName", "statistic", "period",
                                          "evaluationPeriods", "comparisonOperator",
                                          "threshold", "treatMissingData")} == {
        "namespace": "AWS/Route53", "metricName": "HealthCheckStatus", "statistic": "Minimum",
        "period": 60, "evaluationPeriods": 3, "comparisonOperator": "LessThanThreshold",
        "threshold": 1, "treatMissingData": "breaching",
    }  # fmt: skip
    assert set(alarm.inputs["dimensions"]) == {"HealthCheckId"}
    assert alarm.inputs["alarmActions"] and alarm.inputs["okActions"]


def test_outside_us_east_1_the_alarms_get_a_topic_there(tmp_path: Path) -> None:
    ws = with_overrides(tmp_path, "\n  regions: {primary: eu-west-1}\n")
    inv = synthesize(load_stack(ws, "dev", None))  # startup, one domain
    assert {r.region for r in inv.of_type(TOPIC)} == {"eu-west-1", "us-east-1"}
    assert {r.name for r in inv.of_type(PROVIDER)} >= {"aws-eu-west-1", "aws-us-east-1"}
    (alarm,) = [r for r in inv.of_type(ALARM) if r.name.startswith("uptime-")]
    assert alarm.region == "us-east-1"
    # the e-mail addresses hear the us-east-1 topic too
    subscribed = {r.region for r in inv.of_type("aws:sns/topicSubscription:TopicSubscription")}
    assert subscribed == {"eu-west-1", "us-east-1"}


def test_a_wildcard_domain_gets_no_check(tmp_path: Path) -> None:
    ws = with_overrides(tmp_path, "\n  users: {min: 0, max: 1000}\n")
    path = tmp_path / "stacks" / "dev.yaml"
    text = path.read_text()
    path.write_text(text.replace("[dev.floyo.app]", "['*.dev.floyo.app', dev.floyo.app]"))
    inv = synthesize(load_stack(ws, "dev", None))
    assert [r.inputs["fqdn"] for r in inv.of_type(CHECK)] == ["dev.floyo.app"]
