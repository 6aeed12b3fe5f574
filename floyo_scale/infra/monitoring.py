"""Cost and health alerts.

- An AWS Budget at the AWS share of the estimate (its high end; AWS Budgets see AWS spend
  only), alerting at the phase's alert threshold: it can fire. The whole-stack spend
  (Vercel, Supabase, Upstash, Sentry) is watched by `floyo-scale status`.
- An SNS topic per region, CloudWatch alarms where AWS has the metric (bucket size,
  ElastiCache memory and evictions).
- When the stack configures Sentry: metric alerts on p95 latency and error rate at the
  seed's thresholds (alerts.p95_latency_ms, alerts.error_rate_percent), emailing a team.
- Database size and bandwidth as a share of the phase's limits are Supabase and Vercel
  usage: FLOYO_LIMITS holds the limits and thresholds; `floyo-scale status` watches them.
- Uptime (seed: "Reliability: uptime"): one Route 53 health check per domain of the stack
  (HTTPS on port 443, every 30 s, from Route 53's checkers around the world), and an alarm
  on its HealthCheckStatus to the alert topic in us-east-1, where Route 53 publishes its
  metrics ("Monitoring health check status and getting notifications", Route 53 Developer
  Guide). `floyo-scale status` judges HealthCheckPercentageHealthy against the phase's
  reliability.uptime_percent. Chosen over Sentry's uptime monitors, which the
  pulumiverse-sentry provider (0.0.9) has no resource for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi

from ..catalog import facts
from ._sdk import budgets, cloudwatch, route53, sns
from .common import Context
from .regions import Regions

if TYPE_CHECKING:  # ElastiCache's SDK is loaded only when the phase has a cache (main.py)
    from ..spec.models import Bucket
    from ._sdk import elasticache, s3

GB = 1024**3
SENTRY_ABOVE = 0  # threshold_type: alert when the metric is above the threshold
SENTRY_WINDOW_MINUTES = 10.0  # each alert looks at the last ten minutes (spans: 5 or more)
# Route 53 publishes health-check metrics in us-east-1 only, so the uptime alarms live there
# and notify that region's topic (an alarm's actions are topics of its own region).
HEALTH_CHECK_METRICS_REGION = "us-east-1"


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self,
        ctx: Context,
        regions: Regions,
        buckets: Mapping[str, s3.Bucket],
        cache_groups: Mapping[str, elasticache.ReplicationGroup],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        phase = ctx.stack.phase
        sentry_settings = ctx.stack.stack.sentry
        posthog = ctx.stack.stack.posthog
        super().__init__(
            "floyo:monitoring:Monitoring",
            "monitoring",
            {
                "budget_usd": phase.budget.monthly_usd,
                "aws_budget_usd": ctx.aws_budget_usd,
                "alert_percent": phase.budget.alert_percent,
                # what the estimate prices beside AWS: the Sentry plan, PostHog events
                "sentry": (
                    {"organization": sentry_settings.organization, "plan": "team"}
                    if sentry_settings
                    else None
                ),
                "posthog": {"host": posthog.host} if posthog else None,
            },
            opts,
        )
        self.ctx, self.regions = ctx, regions
        self.topics = {r: self._topic(r) for r in [regions.primary, *regions.secondaries]}
        if phase.budget.monthly_usd is not None and ctx.aws_budget_usd is not None:
            self._budget(ctx.aws_budget_usd, phase.budget.alert_percent)
        if sentry_settings is not None:
            self._sentry_alerts()
        for name, bucket in buckets.items():
            self._bucket_alarm(name, bucket)
        for region, group in cache_groups.items():
            self._cache_alarms(region, group)
        # domain -> health check id (assigned by Route 53: `status` reads it from the outputs)
        self.health_checks: dict[str, pulumi.Output[str]] = {}
        domains = ctx.stack.stack.vercel.uptime_domains
        if domains:
            region = HEALTH_CHECK_METRICS_REGION
            if region not in self.topics:
                regions.ensure(region)
                self.topics[region] = self._topic(region)
            for domain in domains:
                self.health_checks[domain] = self._uptime(domain, region)
        self.register_outputs({})

    def _uptime(self, domain: str, region: str) -> pulumi.Output[str]:
        """An HTTPS health check on `domain` (a 2xx or 3xx answer within the checkers' time
        is healthy; SNI so Vercel serves the domain's certificate) and an alarm when Route 53
        finds it unhealthy for three minutes in a row (or stops reporting: missing data is
        an outage here, never a pass)."""
        check = route53.HealthCheck(
            f"uptime-{domain}",
            type="HTTPS",
            fqdn=domain,
            port=443,
            resource_path="/",
            enable_sni=True,
            request_interval=30,
            failure_threshold=3,
            tags={**self.ctx.tags("monitoring"), "Name": f"{self.ctx.prefix} {domain}"},
            opts=self.regions.opts(self.regions.primary, self),
        )
        self._alarm(
            f"uptime-{domain}",
            region,
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": check.id},
            statistic="Minimum",
            period=60,
            evaluation_periods=3,
            comparison_operator="LessThanThreshold",
            threshold=1,
            treat_missing_data="breaching",
            description=f"{domain} fails Route 53's HTTPS health checks",
        )
        return check.id

    def _topic(self, region: str) -> sns.Topic:
        topic = sns.Topic(
            f"alerts-{region}",
            tags=self.ctx.tags("monitoring"),
            opts=self.regions.opts(region, self),
        )
        for email in self.ctx.stack.stack.notifications.emails:
            sns.TopicSubscription(
                f"alerts-{region}-{email}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=self.regions.opts(region, topic),
            )
        return topic

    def _budget(self, limit: float, percent: int) -> None:
        emails = list(self.ctx.stack.stack.notifications.emails)

        def notify(kind: str, threshold: float) -> budgets.BudgetNotificationArgs:
            return budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                notification_type=kind,
                threshold=threshold,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=emails or None,
                subscriber_sns_topic_arns=[self.topics[self.regions.primary].arn],
            )

        self._budget_may_publish(self.regions.primary)
        budgets.Budget(
            "monthly",
            name=f"{self.ctx.prefix}-monthly",
            budget_type="COST",
            limit_amount=f"{limit:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            notifications=[notify("ACTUAL", percent), notify("FORECASTED", 100)],
            tags=self.ctx.tags("monitoring"),
            opts=self.regions.opts(self.regions.primary, self),
        )

    def _budget_may_publish(self, region: str) -> None:
        """The topic's access policy: AWS Budgets may publish to it, for this account's budgets
        only ("Your budget must have permissions to send a notification to your topic": AWS
        Budgets User Guide, "Creating an Amazon SNS topic for budget notifications", whose
        policy this is, with its aws:SourceAccount and aws:SourceArn conditions against the
        confused deputy). A topic policy replaces the default one, so the default statement
        (the owner account's own use, CloudWatch alarms' publishing included) is kept."""
        account = self.ctx.stack.stack.aws.account_id
        topic = self.topics[region]
        sns.TopicPolicy(
            f"alerts-{region}-budgets",
            arn=topic.arn,
            policy=topic.arn.apply(lambda arn: json.dumps(_topic_policy(arn, account))),
            opts=self.regions.opts(region, topic),
        )

    def _sentry_alerts(self) -> None:
        """p95 latency and error rate, the seed's thresholds, as Sentry metric alerts on the
        span dataset, each emailing the stack's team (pulumiverse-sentry).

        Sentry refuses new alerts on the `transactions` dataset: "Creation of transaction-based
        alerts is disabled, as we migrate to the span dataset. Create span-based alerts
        (dataset: events_analytics_platform) with the is_transaction:true filter instead."
        (getsentry/sentry src/sentry/incidents/metric_issue_detector.py). The span dataset takes
        one event type, `trace_item_span` (src/sentry/snuba/snuba_query_validator.py).

        No `environment` field: Sentry looks its name up and refuses one that has not yet sent
        an event ("Environment is not part of this organization":
        src/sentry/api/serializers/rest_framework/environment.py), so a new stack's first `up`
        would fail; None is accepted without the lookup. The environment filter goes in the
        query (`environment:production`, a span attribute), which span alerts apply to each
        event without a lookup (the validator skips SnQL validation on this dataset). Whether
        Sentry accepts `failure_rate()` on spans cannot be checked offline: it is in the span
        dataset's formulas (src/sentry/search/eap/spans/formulas.py)."""
        import pulumiverse_sentry as sentry  # only when the stack configures Sentry

        settings = self.ctx.stack.stack.sentry
        assert settings is not None
        alerts = self.ctx.stack.phase.alerts
        provider = sentry.Provider(
            "sentry",
            token=self.ctx.secret(settings.auth_token),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        team = sentry.get_sentry_team_output(
            organization=settings.organization,
            slug=settings.notify_team,
            opts=pulumi.InvokeOptions(provider=provider),
        )
        for name, aggregate, threshold, what in (
            (
                "p95-latency",
                "p95(span.duration)",
                float(alerts.p95_latency_ms),
                f"p95 latency above {alerts.p95_latency_ms} ms",
            ),
            (
                "error-rate",
                "failure_rate()",  # a fraction of 1: 0.01 is 1%
                alerts.error_rate_percent / 100,
                f"error rate above {alerts.error_rate_percent:g}%",
            ),
        ):
            sentry.SentryMetricAlert(
                name,
                name=f"{self.ctx.prefix}: {what}",
                organization=settings.organization,
                project=settings.project,
                dataset=facts.SENTRY_SPANS_DATASET,
                event_types=[facts.SENTRY_SPAN_EVENT_TYPE],
                aggregate=aggregate,
                query=sentry_query(settings.environment),
                time_window=SENTRY_WINDOW_MINUTES,
                threshold_type=SENTRY_ABOVE,
                triggers=[
                    sentry.SentryMetricAlertTriggerArgs(
                        label="critical",
                        alert_threshold=threshold,
                        threshold_type=SENTRY_ABOVE,
                        actions=[
                            sentry.SentryMetricAlertTriggerActionArgs(
                                type="email",
                                target_type="team",
                                target_identifier=team.internal_id,
                            )
                        ],
                    )
                ],
                opts=child,
            )

    def _bucket_alarm(self, name: str, bucket: s3.Bucket) -> None:
        """One alarm on the bucket's bytes in every storage class it holds: BucketSizeBytes is
        published per StorageType, and each class counts only in its own (S3 User Guide,
        "Amazon S3 CloudWatch daily storage metrics for buckets"), so the lifecycle rules'
        transitions would take bytes out of an alarm on StandardStorage alone. Metric math
        sums one query per class (SUM over the array adds the series point by point)."""
        usage = self.ctx.stack.phase.usage.storage_gb.high
        percent = self.ctx.stack.phase.alerts.database_size_percent
        spec = self.ctx.stack.phase.storage.buckets[name]
        storage_types = bucket_storage_types(spec)
        metrics = [
            cloudwatch.MetricAlarmMetricQueryArgs(
                id=f"m{i}",
                metric=cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/S3",
                    metric_name="BucketSizeBytes",
                    dimensions={"BucketName": bucket.bucket, "StorageType": storage_type},
                    period=86400,
                    stat="Average",
                ),
                return_data=False,
            )
            for i, storage_type in enumerate(storage_types)
        ]
        total = cloudwatch.MetricAlarmMetricQueryArgs(
            id="total",
            expression=f"SUM([{', '.join(f'm{i}' for i in range(len(storage_types)))}])",
            label=f"{name}: bytes in every storage class",
            return_data=True,
        )
        self._alarm(
            f"bucket-size-{name}",
            self.regions.primary,
            metric_queries=[*metrics, total],
            threshold=usage * GB * percent / 100,
            description=f"{name} holds more than {percent}% of the {usage:g} GB this phase expects",
        )

    def _cache_alarms(self, region: str, group: elasticache.ReplicationGroup) -> None:
        member = group.replication_group_id.apply(lambda rid: f"{rid}-001")
        percent = self.ctx.stack.phase.alerts.cache_memory_percent
        common: dict[str, Any] = {
            "namespace": "AWS/ElastiCache",
            "dimensions": {"CacheClusterId": member},
        }
        self._alarm(
            f"cache-memory-{region}",
            region,
            metric_name="DatabaseMemoryUsagePercentage",
            statistic="Maximum",
            period=300,
            threshold=percent,
            description=f"cache memory above {percent}%",
            **common,
        )
        self._alarm(
            f"cache-evictions-{region}",
            region,
            metric_name="Evictions",
            statistic="Sum",
            period=300,
            threshold=1000,
            description="cache evicting keys under memory pressure (over 1000 in 5 minutes)",
            **common,
        )

    def _alarm(
        self,
        name: str,
        region: str,
        *,
        description: str,
        comparison_operator: str = "GreaterThanThreshold",
        evaluation_periods: int = 1,
        treat_missing_data: str = "notBreaching",
        **metric: Any,  # MetricAlarm's metric arguments, passed on as they are
    ) -> None:
        topic = self.topics[region]
        cloudwatch.MetricAlarm(
            name,
            alarm_description=description,
            comparison_operator=comparison_operator,
            evaluation_periods=evaluation_periods,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            treat_missing_data=treat_missing_data,
            tags=self.ctx.tags("monitoring"),
            opts=self.regions.opts(region, self),
            **metric,
        )


def sentry_query(environment: str | None) -> str:
    """The span alerts' filter: transactions only, and the stack's environment when it names
    one (in the query, so Sentry need not have seen it yet)."""
    return "is_transaction:true" + (f" environment:{environment}" if environment else "")


def bucket_storage_types(spec: Bucket) -> list[str]:
    """The StorageType of each class the bucket's objects can be in: STANDARD, then each
    class its lifecycle rules move them to (catalog/facts.py S3_SIZE_STORAGE_TYPES)."""
    classes = ["STANDARD"] + [t.storage_class for rule in spec.lifecycle for t in rule.transitions]
    return list(dict.fromkeys(facts.S3_SIZE_STORAGE_TYPES[c] for c in classes))


def _topic_policy(arn: str, account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerAccount",  # the default policy SNS gives a new topic
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes",
                    "SNS:SetTopicAttributes",
                    "SNS:AddPermission",
                    "SNS:RemovePermission",
                    "SNS:DeleteTopic",
                    "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic",
                    "SNS:Publish",
                ],
                "Resource": arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
            },
            {
                "Sid": "AWSBudgetsSNSPublishingPermissions",
                "Effect": "Allow",
                "Principal": {"Service": "budgets.amazonaws.com"},
                "Action": "SNS:Publish",
                "Resource": arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{account}:*"},
                },
            },
        ],
    }
