"""`status` reads the files CDN (issue 23): CloudFront's bytes this month toward bandwidth and
its error rate, from CloudWatch (AWS/CloudFront, us-east-1) served by moto."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3

from floyo_scale.observe import aws, targets
from floyo_scale.observe.thresholds import Verdict
from floyo_scale.observe.window import Window
from floyo_scale.spec import Workspace, load_stack

from .conftest import GB, NOW

REPO = Path(__file__).resolve().parents[2]


def test_files_cdn_bytes_and_error_rate(moto_url: str) -> None:
    cloudwatch = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=moto_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    dims = [{"Name": "DistributionId", "Value": "ECDN1"}, {"Name": "Region", "Value": "Global"}]
    for days, size in ((1, 300 * GB), (2, 200 * GB), (40, 999 * GB)):  # the last: last month
        cloudwatch.put_metric_data(
            Namespace="AWS/CloudFront",
            MetricData=[
                {
                    "MetricName": "BytesDownloaded",
                    "Dimensions": dims,
                    "Timestamp": NOW - timedelta(days=days),
                    "Value": size,
                }
            ],
        )
    cloudwatch.put_metric_data(
        Namespace="AWS/CloudFront",
        MetricData=[
            {
                "MetricName": "TotalErrorRate",
                "Dimensions": dims,
                "Timestamp": NOW - timedelta(hours=2),
                "Value": 2.5,
            }
        ],
    )
    stack = load_stack(Workspace(REPO), "production", None)  # growth: 1,000 GB, alert at 80%
    readings = {r.key: r for r in aws.read_cdn(stack, cloudwatch, "ECDN1", Window.at(NOW))}
    bandwidth, errors = readings["cdn.bandwidth"], readings["cdn.error_rate"]
    assert (bandwidth.value, bandwidth.limit, bandwidth.alert_percent) == (500.0, 1000, 80)
    assert bandwidth.capacity and bandwidth.window == "month to date"
    assert (errors.value, errors.limit, errors.alert_percent) == (2.5, 100.0, 1.0)
    assert bandwidth.verdict == Verdict.OK  # 50% of the limit, under the 80% alert
    assert errors.verdict.crossed  # 2.5% is past the 1% alert


def test_the_distribution_id_comes_from_the_state() -> None:
    stack = load_stack(Workspace(REPO), "production", None)
    base = targets.from_spec(stack)
    assert base.cdn_distribution is None  # only the state knows it
    merged = targets.merge_outputs(
        base, {"files_cdn": {"url": "https://d.x", "distribution_id": "E1"}}
    )
    assert merged.cdn_distribution == "E1"
