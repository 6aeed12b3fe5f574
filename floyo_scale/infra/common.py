"""What every component shares: naming, tags, options for stateful resources, secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pulumi

from ..spec import ResolvedStack, secret_env_name

# Offline synthesis never needs a secret's value: it is replaced by this marker followed by
# the variable's name, and every secret input is shown as "[secret]" anyway. The name makes
# a change of reference (`${env:A}` to `${env:B}`) show as a changed secret (digest.py).
OFFLINE_SECRET = "offline-placeholder"

# What `depends_on` of ResourceOptions takes, as this program passes it: a list of resources.
DependsOn = Sequence[pulumi.Resource] | None


class PolicyStatement(TypedDict):
    """One statement of an IAM or bucket policy document, as the program writes them."""

    Sid: NotRequired[str]
    Effect: Literal["Allow", "Deny"]
    Principal: NotRequired[str | dict[str, str]]
    Action: str | list[str]
    Resource: str | list[str]
    Condition: NotRequired[dict[str, dict[str, str]]]


@dataclass(frozen=True)
class Context:
    """The resolved stack and the secret values the program may use."""

    stack: ResolvedStack
    secrets: Mapping[str, str]
    # The AWS Budget's limit: the AWS share of the estimate (high), computed before the
    # program runs (cost.aws_budget); None: no AWS Budget is registered.
    aws_budget_usd: float | None = None
    # The permissions boundary of every IAM role the program creates (its ARN: the stack's
    # aws.permissions_boundary, or the policy infra/access.py creates first)
    boundary: pulumi.Input[str] | None = None
    # The database role the app connects as and its password (infra/main.py; db app-role)
    app_login: str | None = None
    app_password: pulumi.Output[str] | None = None

    @property
    def prefix(self) -> str:
        """Physical names: `floyo-staging-...`."""
        return f"{self.stack.stack.project}-{self.stack.name}"

    def secret(self, ref: str) -> pulumi.Output[str]:
        """The value of a `${env:NAME}` reference, as a Pulumi secret."""
        name = secret_env_name(ref)
        return pulumi.Output.secret(self.secrets.get(name, f"{OFFLINE_SECRET}:{name}"))

    def tags(self, component: str) -> dict[str, str]:
        # No phase tag: a phase change would then touch every resource for nothing.
        return {
            "floyo:project": self.stack.stack.project,
            "floyo:stack": self.stack.name,
            "floyo:component": component,
        }

    def stateful(
        self,
        *,
        parent: pulumi.Resource | None = None,
        provider: pulumi.ProviderResource | None = None,
        depends_on: DependsOn = None,
    ) -> pulumi.ResourceOptions:
        """Options for resources that hold data: protected and retained when the stack asks."""
        keep = self.stack.stack.protect_stateful
        return pulumi.ResourceOptions(
            protect=keep,
            retain_on_delete=keep,
            parent=parent,
            provider=provider,
            depends_on=depends_on,
        )


def as_app(urls: str, login: str, password: str) -> str:
    """Each connection string of `urls` (comma-separated) with the app's login role and
    password instead of its own user's; Supavisor's `<user>.<project ref>` form keeps its
    project ref (`postgres.abc` becomes `floyo_app_a.abc`)."""
    out = []
    for url in filter(None, urls.split(",")):
        parts = urlsplit(url)
        _, dot, ref = unquote(parts.username or "").partition(".")
        user = quote(login + dot + ref, safe="")
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:{quote(password, safe='')}@{host}{port}"
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return ",".join(out)


def as_app_map(urls_json: str, login: str, password: str) -> str:
    """`as_app` on each URL of a region -> URL map (DATABASE_REPLICA_URLS, JSON)."""
    urls = json.loads(urls_json) if urls_json else {}
    return json.dumps({k: as_app(v, login, password) for k, v in urls.items()}, sort_keys=True)


def replica_map(regions: Sequence[str], urls: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """DATABASE_REPLICA_URLS(_SHARD_<n>): JSON, AWS region -> the replica's URL, so the app
    reads from the replica its function region routes to (FLOYO_READ_ROUTES;
    docs/program.md)."""
    return pulumi.Output.all(*urls).apply(lambda values: replica_json(regions, values))


def replica_json(regions: Sequence[str], urls: Sequence[str]) -> str:
    """Region -> URL, the first replica of a region when it has several."""
    out: dict[str, str] = {}
    for region, url in zip(regions, urls, strict=True):
        out.setdefault(region, url)
    return json.dumps(out, sort_keys=True)
