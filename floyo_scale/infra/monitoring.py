"""Cost and health alerts: an AWS Budget at the phase's (or stack's) monthly ceiling, an SNS
topic per region for alarms, and CloudWatch alarms where AWS has the metric (bucket size,
cache memory and evictions). Database size, bandwidth, p95 latency and error rate are
Supabase and Vercel metrics that CloudWatch does not see: their thresholds reach the app as
FLOYO_ALERTS (see web.app_settings)."""

from __future__ import annotations

import pulumi

from ._sdk import budgets, cloudwatch, sns
from .common import Context
from .regions import Regions

GB = 1024**3


class Monitoring(pulumi.ComponentResource):
    def __init__(self, ctx: Context, regions: Regions, buckets, cache_groups, opts=None) -> None:
        phase = ctx.stack.phase
        super().__init__(
            "floyo:monitoring:Monitoring",
            "monitoring",
            {"budget_usd": phase.budget.monthly_usd, "alert_percent": phase.budget.alert_percent},
            opts,
        )
        self.ctx, self.regions = ctx, regions
        self.topics = {r: self._topic(r) for r in [regions.primary, *regions.secondaries]}
        if phase.budget.monthly_usd is not None:
            self._budget(phase.budget.monthly_usd, phase.budget.alert_percent)
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
