"""Where state and secrets live: the Target (a resolved stack, its backend, its secrets) that every
engine command runs against.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    UsageError,
)
from ..spec import ResolvedStack, env_refs
from ..transport import Redactor

STATE_DIR = Path(".floyo") / "state"
WORK_DIR = Path(".floyo") / "work"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


# -- where state and secrets live ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A stack at a phase, and where its state and secrets come from."""

    stack: ResolvedStack
    root: Path  # the folder that holds phases/ and stacks/ (and .floyo/)
    backend: str  # file://..., s3://..., https://api.pulumi.com
    secrets_provider: str | None  # "passphrase", "awskms://...", None: the backend's own
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # what an update records (release.Release.to_output()), exported as `floyo_release`
    release: Mapping[str, Any] | None = None
    command: Any = field(default=None, repr=False, compare=False)  # the Pulumi CLI, if found
    # the AWS Budget's limit the program builds (cost.plan_stack: the AWS share, high)
    aws_budget_usd: float | None = None

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def project(self) -> str:
        return self.stack.stack.project

    @property
    def work_dir(self) -> Path:
        """Pulumi.yaml and Pulumi.<stack>.yaml (config, passphrase salt); git-ignored."""
        return self.root / WORK_DIR / self.project

    @property
    def state_dir(self) -> Path | None:
        return Path(self.backend[len("file://") :]) if self.backend.startswith("file://") else None

    def env_vars(self) -> dict[str, str]:
        """Added to the environment of every `pulumi` command. The passphrase and cloud
        credentials are inherited, not listed here: the workspace's repr shows these. The one
        exception is a PULUMI_BACKEND_URL with userinfo (https://user:PASSWORD@...), which
        Pulumi needs as given; whatever quotes it (an engine message, a traceback) goes
        through the one redactor (`redact` here, the CLI's boundary)."""
        return {
            "PULUMI_BACKEND_URL": self.backend,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_PYTHON_CMD": sys.executable,  # dynamic providers: this interpreter
            # The work folder (.floyo/work, git-ignored) is fresh on every CI checkout, and
            # its Pulumi.<stack>.yaml is where the CLI reads the secrets provider: without a
            # provider there it would fall back to the backend's default (the passphrase on
            # a self-managed backend) and re-encrypt the state with it. With this set it
            # takes the provider (and data key, or salt) recorded in the state instead, and
            # writes it back to the file (pulumi/pulumi pkg/cmd/pulumi/stack/secrets.go,
            # SecretsManagerLoader.GetSecretsManager, FallbackToState; #17236, v3.134.0).
            "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
        }

    def redact(self, text: str) -> str:
        """`text` with the stack's secret values, and any password in a URL (the backend's,
        a database's), replaced: the one redactor (floyo_scale.transport.redact)."""
        return Redactor(*self.secrets.values())(text)


def default_backend(root: Path) -> str:
    return f"file://{(root / STATE_DIR).resolve()}"


def secret_refs(stack: ResolvedStack) -> tuple[str, ...]:
    """The environment variables the stack file refers to (`${env:NAME}`), in file order."""
    settings = stack.stack.model_dump()
    cache = stack.phase.cache
    if cache is None or cache.provider != "upstash":
        settings.pop("upstash", None)  # its key is needed only when the phase uses Upstash
    return env_refs(settings)


def stack_secrets(
    stack: ResolvedStack, env: Mapping[str, str], *, required: bool
) -> dict[str, str]:
    """The secret values, read from the environment; a missing one is a usage error (exit 2)
    when the program will run (preview, up)."""
    names = secret_refs(stack)
    missing = [n for n in names if not env.get(n)]
    if missing and required:
        verb = "is" if len(missing) == 1 else "are"
        raise UsageError(
            f"{', '.join(missing)} {verb} not set: stacks/{stack.name}.yaml refers to "
            f"{'it' if len(missing) == 1 else 'them'} as "
            + ", ".join(f"${{env:{n}}}" for n in missing),
            "export "
            + " ".join(f"{n}=..." for n in missing)
            + " (secrets are read from the environment, never from files)",
        )
    return {n: env[n] for n in names if env.get(n)}


def secrets_provider(
    stack: ResolvedStack, backend: str, env: Mapping[str, str], *, required: bool
) -> str | None:
    """The stack file's `secrets_provider`; else Pulumi Cloud's own; else a passphrase, which
    must then be in the environment."""
    if stack.stack.secrets_provider:
        return stack.stack.secrets_provider
    if backend.startswith(("https://", "http://")):
        return None
    passfile = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if required and "PULUMI_CONFIG_PASSPHRASE" not in env and not passfile:
        raise UsageError(
            f"no passphrase for the secrets of stack {stack.name}",
            "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE, a file holding "
            "it) and keep it safe: the stack's secrets cannot be read without it; or set "
            f"`secrets_provider: awskms://...` in stacks/{stack.name}.yaml",
        )
    passphrase_given = "PULUMI_CONFIG_PASSPHRASE" in env
    if required and passfile and not passphrase_given and not Path(passfile).is_file():
        raise UsageError(
            f"PULUMI_CONFIG_PASSPHRASE_FILE names {passfile}, which does not exist",
            "point it at the file that holds the passphrase",
        )
    return "passphrase"
