"""Provider rules on names: lengths and characters (S3, IAM, RDS, ElastiCache, SNS,
Budgets), each with the API reference it comes from."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import Any

from ..offline.inventory import Inventory, Resource
from .base import (
    BUCKET,
    BUDGET,
    CACHE_GROUP,
    CACHE_PARAMETERS,
    CACHE_SUBNETS,
    RDS,
    RDS_PARAMETERS,
    RDS_PROXY,
    RDS_SUBNETS,
    ROLE,
    TOPIC,
    Rule,
)

# -- names -------------------------------------------------------------------------------


def _name_rule(
    id: str,
    type_: str,
    key: str,
    pattern: str,
    limit: int,
    what: str,
    source: str,
    extra: Callable[[str], str] | None = None,
) -> Rule:
    compiled = re.compile(pattern)

    def check(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
        value = r.inputs.get(key)
        if not isinstance(value, str):
            return  # computed, or left to the provider's own naming
        if len(value) > limit:
            yield value, f"{key} is {len(value)} characters; {what} allows at most {limit}"
        elif not compiled.fullmatch(value):
            yield value, f"{key} is not a valid {what}"
        elif extra is not None and (why := extra(value)):
            yield value, why

    return Rule(id, (type_,), source, "spec", check)


def _no_double_hyphen(value: str) -> str:
    return "it has two hyphens in a row" if "--" in value else ""


def _bucket_extra(value: str) -> str:
    if ".." in value:
        return "it has two periods in a row"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return "it is formatted as an IP address"
    if value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3")):
        return "it uses a prefix or suffix S3 reserves"
    return ""


_LETTER_THEN = r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"

NAME_RULES: tuple[Rule, ...] = (
    # docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html: 3-63 characters;
    # lowercase letters, digits, periods, hyphens; begins and ends with a letter or digit; no
    # two adjacent periods; not an IP address; no xn--/sthree- prefix, -s3alias/--ol-s3 suffix
    _name_rule(
        "s3-bucket-name",
        BUCKET,
        "bucket",
        r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        63,
        "S3 bucket name",
        "AWS S3 User Guide, general purpose bucket naming rules",
        _bucket_extra,
    ),
    # IAM API Reference, CreateRole: RoleName 1-64 characters, pattern [\w+=,.@-]+
    _name_rule(
        "iam-role-name",
        ROLE,
        "name",
        r"[\w+=,.@-]+",
        64,
        "IAM role name",
        "IAM API Reference, CreateRole (RoleName)",
    ),
    # RDS API Reference, CreateDBInstance: DBInstanceIdentifier 1-63 letters, digits or
    # hyphens; first a letter; no hyphen at the end, no two in a row
    _name_rule(
        "rds-instance-identifier",
        RDS,
        "identifier",
        _LETTER_THEN,
        63,
        "RDS DB instance identifier",
        "RDS API Reference, CreateDBInstance (DBInstanceIdentifier)",
        _no_double_hyphen,
    ),
    # RDS API Reference, CreateDBParameterGroup: DBParameterGroupName 1-255, same characters
    _name_rule(
        "rds-parameter-group-name",
        RDS_PARAMETERS,
        "name",
        _LETTER_THEN,
        255,
        "RDS DB parameter group name",
        "RDS API Reference, CreateDBParameterGroup (DBParameterGroupName)",
        _no_double_hyphen,
    ),
    # RDS API Reference, CreateDBSubnetGroup: at most 255 letters, digits, periods,
    # underscores, spaces or hyphens; not "default"
    _name_rule(
        "rds-subnet-group-name",
        RDS_SUBNETS,
        "name",
        r"[A-Za-z0-9._ -]+",
        255,
        "RDS DB subnet group name",
        "RDS API Reference, CreateDBSubnetGroup (DBSubnetGroupName)",
        lambda v: "it may not be 'default'" if v.lower() == "default" else "",
    ),
    # RDS API Reference, CreateDBProxy: DBProxyName 1-63, first a letter, letters, digits or
    # hyphens, no hyphen at the end or two in a row
    _name_rule(
        "rds-proxy-name",
        RDS_PROXY,
        "name",
        _LETTER_THEN,
        63,
        "RDS Proxy name",
        "RDS API Reference, CreateDBProxy (DBProxyName)",
        _no_double_hyphen,
    ),
    # ElastiCache API Reference, CreateReplicationGroup: ReplicationGroupId 1-40 letters,
    # digits or hyphens; first a letter; no hyphen at the end or two in a row
    _name_rule(
        "elasticache-replication-group-id",
        CACHE_GROUP,
        "replicationGroupId",
        _LETTER_THEN,
        40,
        "ElastiCache replication group id",
        "ElastiCache API Reference, CreateReplicationGroup (ReplicationGroupId)",
        _no_double_hyphen,
    ),
    # ElastiCache API Reference, CreateCacheParameterGroup / CreateCacheSubnetGroup: names of
    # at most 255 letters, digits or hyphens
    _name_rule(
        "elasticache-parameter-group-name",
        CACHE_PARAMETERS,
        "name",
        r"[A-Za-z0-9-]+",
        255,
        "ElastiCache parameter group name",
        "ElastiCache API Reference, CreateCacheParameterGroup (CacheParameterGroupName)",
    ),
    _name_rule(
        "elasticache-subnet-group-name",
        CACHE_SUBNETS,
        "name",
        r"[A-Za-z0-9-]+",
        255,
        "ElastiCache subnet group name",
        "ElastiCache API Reference, CreateCacheSubnetGroup (CacheSubnetGroupName)",
    ),
    # SNS API Reference, CreateTopic: Name 1-256 letters, digits, hyphens, underscores
    # (a FIFO topic ends in .fifo)
    _name_rule(
        "sns-topic-name",
        TOPIC,
        "name",
        r"[A-Za-z0-9_-]+(?:\.fifo)?",
        256,
        "SNS topic name",
        "SNS API Reference, CreateTopic (Name)",
    ),
    # AWS Budgets API Reference, Budget data type: BudgetName 1-100 characters, pattern
    # [^:\\]+
    _name_rule(
        "budget-name",
        BUDGET,
        "name",
        r"[^:\\]+",
        100,
        "AWS Budgets budget name",
        "AWS Budgets API Reference, Budget (BudgetName)",
    ),
)


def _sns_autoname(r: Resource, _inv: Inventory) -> Iterator[tuple[Any, str]]:
    """A topic without `name` is auto-named `<logical name>-<7 hex>` by Pulumi: the logical
    name must make a valid topic name too (an e-mail address in it would not)."""
    if r.inputs.get("name") is None and not re.fullmatch(r"[A-Za-z0-9_-]{1,248}", r.name):
        yield r.name, "the topic's generated name (from its logical name) is not a valid SNS name"


NAME_RULES = (
    *NAME_RULES,
    Rule(
        "sns-topic-autoname",
        (TOPIC,),
        "SNS API Reference, CreateTopic (Name)",
        "program",
        _sns_autoname,
    ),
)
