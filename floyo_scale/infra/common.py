"""What every component shares: naming, tags, options for stateful resources, secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from ..spec import ResolvedStack, secret_env_name

# Offline synthesis never needs a secret's value: it is replaced by this marker followed by
# the variable's name, and every secret input is shown as "[secret]" anyway. The name makes
# a change of reference (`${env:A}` to `${env:B}`) show as a changed secret (digest.py).
OFFLINE_SECRET = "offline-placeholder"


@dataclass(frozen=True)
class Context:
    """The resolved stack and the secret values the program may use."""

    stack: ResolvedStack
    secrets: Mapping[str, str]
    # The AWS Budget's limit: the AWS share of the estimate (high), computed before the
    # program runs (cost.aws_budget); None: no AWS Budget is registered.
    aws_budget_usd: float | None = None

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

    def stateful(self, **kwargs) -> pulumi.ResourceOptions:
        """Options for resources that hold data: protected and retained when the stack asks."""
        keep = self.stack.stack.protect_stateful
        return pulumi.ResourceOptions(protect=keep, retain_on_delete=keep, **kwargs)


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
