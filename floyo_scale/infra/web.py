"""Vercel: the Next.js project, its function regions and domains, and the environment
variables that wire the app to what floyo-scale builds. Connection strings and tokens are
sensitive variables (Vercel never shows them again) and Pulumi secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi

from ..spec.models import Phase
from ._sdk import vercel
from .common import Context

ROLE_ENV = "AWS_ROLE_ARN"  # the IAM role the app's functions assume with their OIDC token


class Web(pulumi.ComponentResource):
    def __init__(
        self,
        ctx: Context,
        env: Mapping[str, pulumi.Input[str]],
        secret_env: Mapping[str, pulumi.Input[str]],
        wires: list[dict[str, str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        web, settings = ctx.stack.phase.web, ctx.stack.stack.vercel
        secure = web.secure_compute
        super().__init__(
            "floyo:web:Web",
            "web",
            {
                "vercel_plan": web.vercel_plan,
                "seats": web.seats,
                "team": settings.team,
                # what the app is handed and what each variable leads to (guards check it)
                "wiring": list(wires or []),
                "secure_compute": (
                    {"network_id": secure.network_id, "cidr": secure.cidr} if secure else None
                ),
            },
            opts,
        )
        provider = vercel.Provider(
            "vercel",
            api_token=ctx.secret(settings.api_token),
            team=settings.team,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        repo = settings.git_repository
        self.project = vercel.Project(
            "app",
            name=settings.project_name,
            framework=web.framework,
            git_repository=vercel.ProjectGitRepositoryArgs(
                type=repo.type, repo=repo.repo, production_branch=repo.production_branch
            ),
            resource_config=vercel.ProjectResourceConfigArgs(
                function_default_regions=list(web.function_regions)
            ),
            function_failover=web.function_failover or None,
            # OIDC tokens with the team's issuer (https://oidc.vercel.com/<team>), which the
            # AWS role of infra/access.py trusts
            oidc_token_config=vercel.ProjectOidcTokenConfigArgs(issuer_mode="team"),
            opts=child,
        )
        under = pulumi.ResourceOptions(parent=self.project, provider=provider)
        for domain in settings.domains:
            vercel.ProjectDomain(domain, project_id=self.project.id, domain=domain, opts=under)
        # Each environment its own: the stack's variables go to the Vercel environments it
        # serves (`vercel.environments`; production: production only), so a preview
        # deployment never gets production's database, cache or role.
        # https://vercel.com/docs/environment-variables#environments
        targets = list(ctx.stack.environments)
        projects: list[tuple[str, pulumi.Input[str], list[str], pulumi.ResourceOptions]] = [
            ("", self.project.id, targets, under)
        ]
        if settings.previews_of:  # production's previews get this (non-production) stack's
            other = vercel.get_project_output(
                name=settings.previews_of, opts=pulumi.InvokeOutputOptions(provider=provider)
            )
            projects.append((f"{settings.previews_of}-preview-", other.id, ["preview"], under))
        for prefix, project_id, on, opts_ in projects:
            for key, value in sorted(env.items()):
                self._variable(prefix, project_id, key, value, on, False, opts_)
            for key, value in sorted(secret_env.items()):
                secret = pulumi.Output.secret(value)
                self._variable(prefix, project_id, key, secret, on, True, opts_)
        self.register_outputs({"project_id": self.project.id})

    def _variable(
        self,
        prefix: str,
        project_id: pulumi.Input[str],
        key: str,
        value: pulumi.Input[str],
        targets: list[str],
        sensitive: bool,
        opts: pulumi.ResourceOptions,
    ) -> None:
        vercel.ProjectEnvironmentVariable(
            prefix + key.lower().replace("_", "-"),
            project_id=project_id,
            key=key,
            value=value,
            targets=targets,
            sensitive=sensitive,
            comment="managed by floyo-scale",
            opts=opts,
        )


def app_settings(ctx: Context) -> dict[str, str]:
    """Plain (non-secret) settings the app reads: cache TTLs, partitioning, alert thresholds."""
    phase = ctx.stack.phase
    env: dict[str, str] = {
        "FLOYO_PHASE": ctx.stack.phase_name,
        "FLOYO_REGIONS": ",".join([phase.regions.primary, *phase.regions.secondaries]),
        "FLOYO_ALERTS": json.dumps(phase.alerts.model_dump(), sort_keys=True),
        "FLOYO_LIMITS": json.dumps(limits(phase), sort_keys=True),
    }
    if phase.cache:
        ttl = phase.cache.ttl_seconds
        env |= {
            "CACHE_TTL_API_RESPONSES": str(ttl.api_responses),
            "CACHE_TTL_QUERIES": str(ttl.queries),
            "CACHE_TTL_SESSIONS": str(ttl.sessions),
        }
    posthog = ctx.stack.stack.posthog
    if posthog is not None:  # product analytics: the public project key, read by the browser
        env |= {"NEXT_PUBLIC_POSTHOG_KEY": posthog.project_api_key}
        env |= {"NEXT_PUBLIC_POSTHOG_HOST": posthog.host}
    if phase.database.partitioning:
        parts = {k: v.model_dump() for k, v in phase.database.partitioning.items()}
        env["FLOYO_PARTITIONING"] = json.dumps(parts, sort_keys=True)
    return env


def limits(phase: Phase) -> dict[str, dict[str, float]]:
    """The phase's plan limits, and on those the seed puts an alert on (database size and
    bandwidth) the threshold and the figure it fires at, so "80% of the limit" is computed
    once, here (FLOYO_LIMITS; read by `floyo-scale status`)."""
    alerts, lim = phase.alerts, phase.limits
    out: dict[str, dict[str, float]] = {}
    for key, value, percent in (
        ("database_gb", lim.database_gb, alerts.database_size_percent),
        ("bandwidth_gb_month", lim.bandwidth_gb_month, alerts.bandwidth_percent),
    ):
        out[key] = {
            "limit": value,
            "alert_percent": percent,
            "alert_at": round(value * percent / 100, 4),
        }
    out["function_gb_hours_month"] = {"limit": lim.function_gb_hours_month}
    return out
