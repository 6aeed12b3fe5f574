"""One explicit AWS provider per region the phase uses, so every regional resource says where
it lives (and a region is never taken from the environment by accident)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .common import Context, DependsOn


class Regions(pulumi.ComponentResource):
    providers: dict[str, aws.Provider]

    def __init__(self, ctx: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        regions = ctx.stack.phase.regions
        names = [regions.primary, *regions.secondaries]
        super().__init__("floyo:regions:Regions", "regions", {"regions": names}, opts)
        aws_stack = ctx.stack.stack.aws
        self.primary = regions.primary
        self.secondaries = list(regions.secondaries)
        self.providers = {
            region: aws.Provider(
                f"aws-{region}",
                region=region,
                allowed_account_ids=[aws_stack.account_id],
                profile=aws_stack.profile,
                default_tags=aws.ProviderDefaultTagsArgs(tags=ctx.tags("regions")),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in names
        }
        self.register_outputs({"regions": names})

    def opts(
        self, region: str, parent: pulumi.Resource, *, depends_on: DependsOn = None
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            provider=self.providers[region], parent=parent, depends_on=depends_on
        )
