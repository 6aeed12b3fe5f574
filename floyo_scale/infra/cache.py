"""Redis on ElastiCache: a replication group per region with the phase's node type and
replicas, encrypted in transit and at rest, behind an auth token, with the eviction policy in
its parameter group; joined into a global datastore when the phase spans regions.

The VPC: ElastiCache lives only inside a VPC, so each region with a cache gets a small
dedicated VPC (non-overlapping /16 per region, so the regions and a Vercel Secure Compute
network can be peered) with two private subnets in two availability zones. Nothing else
shares it; nothing in it is reachable from the internet.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from ..catalog import facts
from ..spec.models import Cache as CacheSpec
from ._sdk import ec2, elasticache
from ._sdk import vpc as vpc_rules
from .common import Context
from .regions import Regions

PORT = 6379
ENGINE_FAMILY = {"redis": "redis7", "valkey": "valkey8"}
ENGINE_VERSION = {"redis": "7.1", "valkey": "8.0"}


def _regional(region: str) -> str:
    return f"REDIS_URL_{region.upper().replace('-', '_')}"


class Cache(pulumi.ComponentResource):
    """Outputs for the app: `url` (secret, rediss://), per region in `urls`."""

    def __init__(
        self,
        ctx: Context,
        regions: Regions,
        spec: CacheSpec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            "floyo:cache:Cache",
            "cache",
            {"node_type": spec.node_type, "replicas": spec.replicas},
            opts,
        )
        self.ctx, self.regions, self.spec = ctx, regions, spec
        self.auth_token = random.RandomPassword(
            "cache-auth-token",
            length=40,
            special=False,  # ElastiCache tokens allow few symbols; length gives the strength
            opts=pulumi.ResourceOptions(parent=self),
        )
        spans = spec.global_datastore and regions.secondaries
        self.groups: dict[str, elasticache.ReplicationGroup] = {}
        primary = self._group(regions.primary, 0, global_id=None)
        if spans:
            glob = elasticache.GlobalReplicationGroup(
                "cache-global",
                global_replication_group_id_suffix=f"{ctx.prefix}-cache",
                primary_replication_group_id=primary.id,
                global_replication_group_description=f"{ctx.prefix} cache across regions",
                opts=ctx.stateful(provider=regions.providers[regions.primary], parent=self),
            )
            for i, region in enumerate(regions.secondaries, start=1):
                self._group(region, i, global_id=glob.global_replication_group_id)
        self.urls = {region: self._url(group) for region, group in self.groups.items()}
        self.url = self.urls[regions.primary]
        group_type = "aws:elasticache/replicationGroup:ReplicationGroup"
        self.wires = [
            {
                "variable": "REDIS_URL" if region == regions.primary else _regional(region),
                "target": f"{group_type}::cache-{region}",
            }
            for region in self.groups
        ]
        self.register_outputs({})

    def _group(
        self, region: str, index: int, global_id: pulumi.Output[str] | None
    ) -> elasticache.ReplicationGroup:
        spec, ctx = self.spec, self.ctx
        subnets, security_group = self._network(region, index)
        secondary = global_id is not None
        params = None
        if not secondary:  # members of a global datastore take the primary's parameters
            params = elasticache.ParameterGroup(
                f"cache-{region}",
                family=ENGINE_FAMILY[spec.engine],
                description=f"{ctx.prefix} cache: eviction policy {spec.eviction_policy}",
                parameters=[
                    elasticache.ParameterGroupParameterArgs(
                        name="maxmemory-policy", value=spec.eviction_policy
                    )
                ],
                opts=self.regions.opts(region, self),
            )
        multi = spec.replicas > 0
        group = elasticache.ReplicationGroup(
            f"cache-{region}",
            replication_group_id=f"{ctx.prefix}-{region}"[:40],
            description=f"{ctx.prefix} cache in {region}",
            engine=spec.engine,
            engine_version=None if secondary else ENGINE_VERSION[spec.engine],
            node_type=None if secondary else spec.node_type,
            num_cache_clusters=1 + spec.replicas,
            automatic_failover_enabled=multi,
            multi_az_enabled=multi,
            at_rest_encryption_enabled=None if secondary else True,
            transit_encryption_enabled=None if secondary else True,
            auth_token=None if secondary else self.auth_token.result,
            parameter_group_name=params.name if params else None,
            subnet_group_name=subnets.name,
            security_group_ids=[security_group.id],
            global_replication_group_id=global_id,
            port=PORT,
            snapshot_retention_limit=1 if multi else 0,
            apply_immediately=False,  # resizes wait for the maintenance window
            tags=ctx.tags("cache"),
            opts=ctx.stateful(provider=self.regions.providers[region], parent=self),
        )
        self.groups[region] = group
        return group

    def _network(
        self, region: str, index: int
    ) -> tuple[elasticache.SubnetGroup, ec2.SecurityGroup]:
        opts = self.regions.opts(region, self)
        zones = aws.get_availability_zones_output(
            state="available",
            opts=pulumi.InvokeOutputOptions(provider=self.regions.providers[region]),
        )
        vpc = ec2.Vpc(
            f"cache-{region}",
            cidr_block=facts.cache_vpc_cidr(index),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**self.ctx.tags("cache"), "Name": f"{self.ctx.prefix}-cache"},
            opts=opts,
        )
        subnets = [
            ec2.Subnet(
                f"cache-{region}-{i}",
                vpc_id=vpc.id,
                cidr_block=f"10.{100 + index}.{i}.0/24",
                availability_zone=zones.names[i],
                tags=self.ctx.tags("cache"),
                opts=self.regions.opts(region, vpc),
            )
            for i in range(2)
        ]
        group = elasticache.SubnetGroup(
            f"cache-{region}",
            name=f"{self.ctx.prefix}-cache-{region}",
            subnet_ids=[s.id for s in subnets],
            opts=opts,
        )
        security_group = ec2.SecurityGroup(
            f"cache-{region}",
            vpc_id=vpc.id,
            description="Redis clients inside the VPC (and peered networks)",
            egress=[],
            tags=self.ctx.tags("cache"),
            opts=self.regions.opts(region, vpc),
        )
        self._secure_compute(region, vpc, security_group)
        return group, security_group

    def _secure_compute(self, region: str, vpc: ec2.Vpc, security_group: ec2.SecurityGroup) -> None:
        """Let the Vercel Secure Compute network in: accept the peering connection Vercel
        requested to this VPC, route its CIDR back over it, and open port 6379 to that CIDR
        (and to nothing else). Without Secure Compute the spec is refused (spec/rules.py)."""
        secure = self.ctx.stack.phase.web.secure_compute
        if secure is None or region not in secure.peering_connections:
            return
        opts = self.regions.opts(region, vpc)
        peering = ec2.VpcPeeringConnectionAccepter(
            f"cache-{region}-secure-compute",
            vpc_peering_connection_id=secure.peering_connections[region],
            auto_accept=True,
            tags={**self.ctx.tags("cache"), "Name": f"{self.ctx.prefix}-vercel-secure-compute"},
            opts=opts,
        )
        ec2.Route(
            f"cache-{region}-secure-compute",
            route_table_id=vpc.main_route_table_id,
            destination_cidr_block=secure.cidr,
            vpc_peering_connection_id=peering.id,
            opts=opts,
        )
        vpc_rules.SecurityGroupIngressRule(
            f"cache-{region}-secure-compute",
            security_group_id=security_group.id,
            ip_protocol="tcp",
            from_port=PORT,
            to_port=PORT,
            cidr_ipv4=secure.cidr,
            description=f"Redis from Vercel Secure Compute network {secure.network_id}",
            tags=self.ctx.tags("cache"),
            opts=self.regions.opts(region, security_group),
        )

    def _url(self, group: elasticache.ReplicationGroup) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.all(self.auth_token.result, group.primary_endpoint_address).apply(
                lambda v: f"rediss://:{v[0]}@{v[1]}:{PORT}"
            )
        )
