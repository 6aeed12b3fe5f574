"""Dedicated PostgreSQL on Amazon RDS (`database.provider: rds`): what `db migrate`
moves the data to (docs/migration.md).

Per shard: one RDS for PostgreSQL instance (Multi-AZ when the spec says, storage encrypted,
gp3 with optional autoscaling, automated backups with point-in-time recovery for
`backup_retention_days`, deletion protection and a final snapshot where the stack protects its
data), with a parameter group that turns logical replication on (`rds.logical_replication`,
which the migration and any later move need) and forces TLS (`rds.force_ssl`); read replicas in
the regions `database.read_replicas` names (encrypted with RDS's key of that region).

The network: a VPC per region with two subnets in two zones (a DB subnet group needs two).
How the app reaches it is an explicit choice (`database.rds.access`, spec/rules.py):

- `public_tls`: the instance is publicly accessible, in subnets routed to an internet
  gateway, and its security group admits port 5432 from `allowed_cidrs` only; TLS is forced.
- `secure_compute`: not publicly accessible; the security group admits `allowed_cidrs` (the
  Vercel Secure Compute network's CIDR). RDS Proxy (`proxy: true`, only reachable inside the
  VPC) pools connections in front of each shard.

The master password is generated (random) and kept in Secrets Manager (RDS Proxy reads it
there); connection strings are Pulumi secrets, never shown.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from ..catalog import facts
from ..sharding import ALGORITHM
from ..spec.models import Sharding
from ._sdk import ec2
from .access import service_trust
from .common import Context, replica_map
from .regions import Regions

PORT = facts.RDS_PORT
USER = "floyo"
DATABASE = "postgres"
VPC_OCTET = 110  # 10.110.0.0/16 in the primary region, 10.111.0.0/16 in the next...


class RdsDatabase(pulumi.ComponentResource):
    """Outputs for the app, as `Database` (Supabase) has them: `pooler_urls` (per shard: the
    proxy's when there is one, else the instance's), `connection_strings` (direct, per
    shard), `replica_urls` (per shard, JSON: region -> URL), `shard_map`."""

    def __init__(
        self, ctx: Context, regions: Regions, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        db = ctx.stack.phase.database
        spec = db.rds
        assert spec is not None  # spec/rules.py refuses provider rds without database.rds
        shards = db.sharding.shards if db.sharding else 1
        super().__init__(
            "floyo:database:Rds",
            "rds",
            {"instance_class": spec.instance_class, "multi_az": spec.multi_az, "shards": shards},
            opts,
        )
        self.ctx, self.regions, self.spec = ctx, regions, spec
        self.version = db.postgres_version
        self.networks: dict[
            str, tuple[aws.rds.SubnetGroup, ec2.SecurityGroup, list[ec2.Subnet]]
        ] = {}
        # per region, with access public_tls: the internet gateway and its route, which every
        # public instance there waits for (and outlives on destroy)
        self.gateways: dict[str, list[pulumi.Resource]] = {}
        self._passwords: dict[int, random.RandomPassword] = {}
        primary = regions.primary
        self.parameters = self._parameter_group(primary)
        self.instances = [self._shard(i) for i in range(shards)]
        # what DATABASE_URL(_SHARD_<n>) lead to, for the reachability check (offline.reach)
        self.wire_targets = [
            f"aws:rds/instance:Instance::{'db' if i == 0 else f'db-shard-{i}'}"
            for i in range(shards)
        ]
        self.connection_strings = [self._url(i, inst.address) for i, inst in self.instances]
        self.pooler_urls = list(self.connection_strings)
        if spec.proxy:
            self.pooler_urls = [self._proxy(i, inst) for i, inst in self.instances]
        self.replica_urls = []
        for index, instance in self.instances:
            replicas = self._replicas(index, instance)
            self.replica_urls.append(
                replica_map(
                    [r.region for r in db.read_replicas],
                    [self._url(index, r.address) for r in replicas],
                )
            )
        self.shard_map = pulumi.Output.from_input(_shard_map(db.sharding, shards))
        self.register_outputs({"endpoints": [inst.address for _, inst in self.instances]})

    # -- network ------------------------------------------------------------------------

    def _network(
        self, region: str
    ) -> tuple[aws.rds.SubnetGroup, ec2.SecurityGroup, list[ec2.Subnet]]:
        if region in self.networks:
            return self.networks[region]
        index = [self.regions.primary, *self.regions.secondaries].index(region)
        octet = VPC_OCTET + index
        public = self.spec.access == "public_tls"
        opts = self.regions.opts(region, self)
        zones = aws.get_availability_zones_output(
            state="available",
            opts=pulumi.InvokeOutputOptions(provider=self.regions.providers[region]),
        )
        vpc = ec2.Vpc(
            f"db-{region}",
            cidr_block=f"10.{octet}.0.0/16",
            enable_dns_hostnames=True,  # a public instance's name resolves only with these
            enable_dns_support=True,
            tags={**self.ctx.tags("database"), "Name": f"{self.ctx.prefix}-db"},
            opts=opts,
        )
        under = self.regions.opts(region, vpc)
        subnets = [
            ec2.Subnet(
                f"db-{region}-{i}",
                vpc_id=vpc.id,
                cidr_block=f"10.{octet}.{i}.0/24",
                availability_zone=zones.names[i],
                tags=self.ctx.tags("database"),
                opts=under,
            )
            for i in range(2)
        ]
        if public:
            gateway = aws.ec2.InternetGateway(
                f"db-{region}", vpc_id=vpc.id, tags=self.ctx.tags("database"), opts=under
            )
            route = aws.ec2.Route(
                f"db-{region}-internet",
                route_table_id=vpc.main_route_table_id,
                destination_cidr_block="0.0.0.0/0",
                gateway_id=gateway.id,
                opts=under,
            )
            self.gateways[region] = [gateway, route]
        group = aws.rds.SubnetGroup(
            f"db-{region}",
            name=f"{self.ctx.prefix}-db-{region}",
            subnet_ids=[s.id for s in subnets],
            tags=self.ctx.tags("database"),
            opts=opts,
        )
        security_group = ec2.SecurityGroup(
            f"db-{region}",
            vpc_id=vpc.id,
            description=(
                "PostgreSQL over TLS from the allowed networks"
                if public
                else "PostgreSQL from the Vercel Secure Compute network"
            ),
            ingress=[
                ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=PORT,
                    to_port=PORT,
                    cidr_blocks=list(self.spec.allowed_cidrs),
                    description="PostgreSQL clients (database.rds.allowed_cidrs)",
                ),
                ec2.SecurityGroupIngressArgs(  # RDS Proxy and replicas inside the VPC
                    protocol="tcp",
                    from_port=PORT,
                    to_port=PORT,
                    cidr_blocks=[f"10.{octet}.0.0/16"],
                    description="inside the VPC",
                ),
            ],
            egress=[
                ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=PORT,
                    to_port=PORT,
                    cidr_blocks=[f"10.{octet}.0.0/16"],
                    description="RDS Proxy to the instances",
                )
            ],
            tags=self.ctx.tags("database"),
            opts=under,
        )
        self.networks[region] = (group, security_group, subnets)
        return self.networks[region]

    def _public_network(self, region: str) -> list[pulumi.Resource]:
        """What a publicly accessible instance in `region` must wait for: RDS refuses one in
        a VPC with no internet gateway attached (InvalidVPCNetworkStateFault, "Working with a
        DB instance in a VPC", docs.aws.amazon.com/AmazonRDS/latest/UserGuide/
        USER_VPC.WorkingWithRDSInstanceinaVPC.html), and nothing in the instance's inputs
        leads to the gateway or the route, so Pulumi would create them side by side and
        delete the gateway first. Empty when the database is not public."""
        return list(self.gateways.get(region, []))

    def _parameter_group(self, region: str) -> aws.rds.ParameterGroup:
        return aws.rds.ParameterGroup(
            f"db-{region}",
            name=f"{self.ctx.prefix}-postgres{self.version}",
            family=f"postgres{self.version}",
            # (unchanged when parameters are added: a new description replaces the group)
            description=f"{self.ctx.prefix}: logical replication on, TLS forced",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(
                    name="rds.logical_replication", value="1", apply_method="pending-reboot"
                ),
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                # what `db advise` ranks statements by (static: takes effect at a reboot)
                aws.rds.ParameterGroupParameterArgs(
                    name="shared_preload_libraries",
                    value="pg_stat_statements",
                    apply_method="pending-reboot",
                ),
            ],
            tags=self.ctx.tags("database"),
            opts=self.regions.opts(region, self),
        )

    # -- instances ----------------------------------------------------------------------

    def _shard(self, index: int) -> tuple[int, aws.rds.Instance]:
        ctx, spec, region = self.ctx, self.spec, self.regions.primary
        group, security_group, _ = self._network(region)
        name = "db" if index == 0 else f"db-shard-{index}"
        self_password = random.RandomPassword(
            f"{name}-password",
            length=40,
            special=False,  # safe in a URL without escaping; the length gives the strength
            opts=pulumi.ResourceOptions(parent=self),
        )
        keep = ctx.stack.stack.protect_stateful
        identifier = f"{ctx.prefix}-{name}"
        instance = aws.rds.Instance(
            name,
            identifier=identifier,
            engine="postgres",
            engine_version=str(self.version),
            instance_class=spec.instance_class,
            allocated_storage=spec.storage_gb,
            max_allocated_storage=spec.max_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            multi_az=spec.multi_az,
            db_name=DATABASE,
            username=USER,
            password=self_password.result,
            port=PORT,
            db_subnet_group_name=group.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=self.parameters.name,
            publicly_accessible=spec.access == "public_tls",
            backup_retention_period=spec.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=keep,
            skip_final_snapshot=not keep,
            final_snapshot_identifier=f"{identifier}-final" if keep else None,
            auto_minor_version_upgrade=True,
            apply_immediately=False,  # class changes wait for the maintenance window
            tags=ctx.tags("database"),
            opts=ctx.stateful(
                provider=self.regions.providers[region],
                parent=self,
                depends_on=self._public_network(region),
            ),
        )
        self._passwords[index] = self_password
        return index, instance

    def _url(self, index: int, host: pulumi.Input[str]) -> pulumi.Output[str]:
        password = self._passwords[index].result
        return pulumi.Output.secret(
            pulumi.Output.all(password, host).apply(
                lambda v: f"postgresql://{USER}:{v[0]}@{v[1]}:{PORT}/{DATABASE}?sslmode=require"
            )
        )

    def _replicas(self, index: int, primary: aws.rds.Instance) -> list[aws.rds.Instance]:
        db = self.ctx.stack.phase.database
        made = []
        counts: dict[str, int] = {}
        for replica in db.read_replicas:
            region = replica.region
            counts[region] = counts.get(region, 0) + 1
            n = counts[region]
            base = "db" if index == 0 else f"db-shard-{index}"
            name = f"{base}-replica-{region}" + (f"-{n}" if n > 1 else "")
            group, security_group, _ = self._network(region)
            cross = region != self.regions.primary
            kms = None
            if cross:  # an encrypted copy in another region needs that region's key
                kms = aws.kms.get_alias_output(
                    name="alias/aws/rds",
                    opts=pulumi.InvokeOutputOptions(provider=self.regions.providers[region]),
                ).target_key_arn
            made.append(
                aws.rds.Instance(
                    name,
                    identifier=f"{self.ctx.prefix}-{name}"[:63],
                    replicate_source_db=primary.arn if cross else primary.identifier,
                    instance_class=self.spec.instance_class,
                    storage_encrypted=True,
                    kms_key_id=kms,
                    db_subnet_group_name=group.name if cross else None,
                    vpc_security_group_ids=[security_group.id],
                    publicly_accessible=self.spec.access == "public_tls",
                    skip_final_snapshot=True,  # a replica's data is its primary's
                    apply_immediately=False,
                    tags=self.ctx.tags("database"),
                    opts=self.ctx.stateful(
                        provider=self.regions.providers[region],
                        parent=primary,
                        depends_on=self._public_network(region),
                    ),
                )
            )
        return made

    # -- RDS Proxy ------------------------------------------------------------------------

    def _proxy(self, index: int, instance: aws.rds.Instance) -> pulumi.Output[str]:
        region = self.regions.primary
        group, security_group, subnets = self._network(region)
        opts = self.regions.opts(region, instance)
        name = "db" if index == 0 else f"db-shard-{index}"
        secret = aws.secretsmanager.Secret(
            f"{name}-credentials",
            name_prefix=f"{self.ctx.prefix}-{name}-",
            description="RDS Proxy reads the database's credentials here",
            tags=self.ctx.tags("database"),
            opts=opts,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-credentials",
            secret_id=secret.id,
            # the password is a secret output already, and so is anything made from it
            secret_string=self._passwords[index].result.apply(
                lambda p: json.dumps({"username": USER, "password": p})
            ),
            opts=opts,
        )
        # the app's login role signs in through the proxy too: RDS Proxy admits only the
        # users it has a secret for (docs/db.md, "The app's database role")
        app_secret = None
        if self.ctx.app_login and self.ctx.app_password is not None:
            login = self.ctx.app_login
            app_secret = aws.secretsmanager.Secret(
                f"{name}-app-credentials",
                name_prefix=f"{self.ctx.prefix}-{name}-app-",
                description="RDS Proxy reads the app's database credentials here",
                tags=self.ctx.tags("database"),
                opts=opts,
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-app-credentials",
                secret_id=app_secret.id,
                secret_string=self.ctx.app_password.apply(
                    lambda p: json.dumps({"username": login, "password": p})
                ),
                opts=opts,
            )
        secrets = [secret, *([app_secret] if app_secret is not None else [])]
        role = aws.iam.Role(
            f"{name}-proxy",
            assume_role_policy=json.dumps(
                service_trust("rds.amazonaws.com", self.ctx.stack.stack.aws.account_id)
            ),
            permissions_boundary=self.ctx.boundary,
            tags=self.ctx.tags("database"),
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{name}-proxy",
            role=role.id,
            policy=pulumi.Output.all(*[s.arn for s in secrets]).apply(
                lambda arns: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["secretsmanager:GetSecretValue"],
                                "Resource": arns[0] if len(arns) == 1 else list(arns),
                            }
                        ],
                    }
                )
            ),
            opts=opts,
        )
        proxy = aws.rds.Proxy(
            f"{name}-proxy",
            name=f"{self.ctx.prefix}-{name}"[:60],
            engine_family="POSTGRESQL",
            require_tls=True,
            role_arn=role.arn,
            vpc_subnet_ids=[s.id for s in subnets],
            vpc_security_group_ids=[security_group.id],
            auths=[
                aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="DISABLED", secret_arn=s.arn)
                for s in secrets
            ],
            tags=self.ctx.tags("database"),
            opts=opts,
        )
        aws.rds.ProxyDefaultTargetGroup(
            f"{name}-proxy",
            db_proxy_name=proxy.name,
            connection_pool_config=aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
                max_connections_percent=90,
                connection_borrow_timeout=120,
            ),
            opts=pulumi.ResourceOptions(provider=self.regions.providers[region], parent=proxy),
        )
        aws.rds.ProxyTarget(
            f"{name}-proxy",
            db_proxy_name=proxy.name,
            target_group_name="default",
            db_instance_identifier=instance.identifier,
            opts=pulumi.ResourceOptions(provider=self.regions.providers[region], parent=proxy),
        )
        return self._url(index, proxy.endpoint)


def _shard_map(sharding: Sharding | None, shards: int) -> str:
    """The same map the Supabase database gives the app; shards named by index."""
    return json.dumps(
        {
            "key": sharding.key if sharding else None,
            "algorithm": ALGORITHM if sharding else None,
            "shards": [
                {"index": i, "provider": "rds", "url_variable": f"DATABASE_URL_SHARD_{i}"}
                for i in range(shards)
            ],
        },
        sort_keys=True,
    )
