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
"""

from __future__ import annotations

import pulumi

from ._sdk import budgets, cloudwatch, sns
from .common import Context
from .regions import Regions

GB = 1024**3
SENTRY_ABOVE = 0  # threshold_type: alert when the metric is above the threshold
SENTRY_WINDOW_MINUTES = 10.0  # each alert looks at the last ten minutes


class Monitoring(pulumi.ComponentResource):
    def __init__(self, ctx: Context, regions: Regions, buckets, cache_groups, opts=None) -> None:
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
        self.register_outputs({})

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

    def _sentry_alerts(self) -> None:
        """p95 latency and error rate, the seed's thresholds, as Sentry metric alerts on the
        transactions dataset, each emailing the stack's team (pulumiverse-sentry)."""
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
                "p95(transaction.duration)",
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
                dataset="transactions",
                event_types=["transaction"],
                aggregate=aggregate,
                query="",
                environment=settings.environment,
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

    def _bucket_alarm(self, name: str, bucket) -> None:
        usage = self.ctx.stack.phase.usage.storage_gb.high
        percent = self.ctx.stack.phase.alerts.database_size_percent
        self._alarm(
            f"bucket-size-{name}",
            self.regions.primary,
            namespace="AWS/S3",
            metric_name="BucketSizeBytes",
            dimensions={"BucketName": bucket.bucket, "StorageType": "StandardStorage"},
            statistic="Average",
            period=86400,
            threshold=usage * GB * percent / 100,
            description=f"{name} holds more than {percent}% of the {usage:g} GB this phase expects",
        )

    def _cache_alarms(self, region: str, group) -> None:
        member = group.replication_group_id.apply(lambda rid: f"{rid}-001")
        percent = self.ctx.stack.phase.alerts.cache_memory_percent
        common = {"namespace": "AWS/ElastiCache", "dimensions": {"CacheClusterId": member}}
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

    def _alarm(self, name: str, region: str, *, description: str, **metric) -> None:
        topic = self.topics[region]
        cloudwatch.MetricAlarm(
            name,
            alarm_description=description,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=1,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            treat_missing_data="notBreaching",
            tags=self.ctx.tags("monitoring"),
            opts=self.regions.opts(region, self),
            **metric,
        )
