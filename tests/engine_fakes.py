"""Fakes at the Automation API's boundary, for the engine tests.

`FakeAutomation` replaces `pulumi.automation.create_or_select_stack` / `select_stack` and
records what floyo-scale would have sent (stack name, project, program, workspace options);
`FakeStack` stands in for `pulumi.automation.Stack`, records every call with its arguments,
replays engine events (built with the SDK's own `EngineEvent.from_json`, so they take the
path real events take) and raises scripted errors (built with the SDK's own
`create_command_error`, from the text the Pulumi CLI prints).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pulumi.automation as auto
import yaml
from pulumi.automation.errors import create_command_error

REPO = Path(__file__).resolve().parent.parent
PROJECT = "floyo"

SECRET_ENV = {
    "VERCEL_API_TOKEN": "vercel-token-value-123",
    "SUPABASE_ACCESS_TOKEN": "sbp_access-token-value-456",
    "UPSTASH_API_KEY": "upstash-api-key-value-789",
    "SENTRY_AUTH_TOKEN": "sntrys_sentry-token-value-012",
    "PULUMI_CONFIG_PASSPHRASE": "correct horse battery staple",
}

DIY_LOCK_STDERR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other "
    "process(es) to end or delete the lock file with `pulumi cancel`.\n"
    "  file:///work/.floyo/state/.pulumi/locks/organization/floyo/staging/"
    "0b6e1f5c-8f1e-4c53-9a55-1c2d6f1f7e3a.json: created by alice@build-7 (pid 4242) "
    "at 2026-03-01T09:30:00Z"
)
CLOUD_LOCK_STDERR = "error: [409] Conflict: Another update is currently in progress."


def make_workspace(dest: Path) -> Path:
    """A copy of the repository's phases/ and stacks/ in `dest`."""
    for folder in ("phases", "stacks"):
        shutil.copytree(REPO / folder, dest / folder)
    return dest


def set_budget(root: Path, stack: str, monthly_usd: float) -> None:
    """Give `stack` (in the workspace at `root`) this monthly budget."""
    path = root / "stacks" / f"{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    overrides = data.setdefault("overrides", {}) or {}
    data["overrides"] = overrides
    overrides.setdefault("budget", {})["monthly_usd"] = monthly_usd
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def command_error(stderr: str = "", stdout: str = "", code: int = 255) -> auto.CommandError:
    """The error the Automation API raises for a `pulumi` that printed this and failed."""
    return create_command_error(auto.CommandResult(stdout=stdout, stderr=stderr, code=code))


def urn(type_: str, name: str, stack: str = "staging") -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{type_}::{name}"


def step_event(
    kind: str,
    op: str,
    type_: str,
    name: str,
    *,
    keys: list[str] | None = None,
    diffs: list[str] | None = None,
    retain: bool = False,
    stack: str = "staging",
) -> dict[str, Any]:
    """A resourcePreEvent / resOutputsEvent / resOpFailedEvent, as the engine sends it."""
    metadata: dict[str, Any] = {
        "op": op,
        "urn": urn(type_, name, stack),
        "type": type_,
        "provider": "",
        "old": {"type": type_, "urn": urn(type_, name, stack), "retainOnDelete": retain},
    }
    if keys is not None:
        metadata["keys"] = keys
    if diffs is not None:
        metadata["diffs"] = diffs
    body: dict[str, Any] = {"metadata": metadata}
    if kind == "resOpFailedEvent":
        body |= {"status": 1, "steps": 1}
    return {"sequence": 0, "timestamp": 0, kind: body}


def diagnostic(message: str, severity: str = "error", on: str = "") -> dict[str, Any]:
    body = {"message": message, "color": "never", "severity": severity}
    if on:
        body["urn"] = on
    return {"sequence": 0, "timestamp": 0, "diagnosticEvent": body}


def summary(**counts: int) -> dict[str, Any]:
    return {"sequence": 0, "timestamp": 0, "summaryEvent": {"resourceChanges": counts}}


class FakeStack:
    """Records calls; `events[op]` are replayed through on_event; `errors[op]` (a list) are
    raised one per call; `hooks[op]` run during the call (e.g. send a signal)."""

    def __init__(self, name: str = "staging") -> None:
        self.name = name
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.events: dict[str, list[Any]] = {}  # JSON dicts, or EngineEvents as they are
        self.errors: dict[str, list[BaseException]] = {}
        self.hooks: dict[str, Callable[[], None]] = {}
        self.output_values: dict[str, auto.OutputValue] = {}
        self.pending: list[dict[str, Any]] = []
        # the state's secrets provider (apitype.SecretsProvidersV1), None: none recorded yet
        self.secrets_providers: dict[str, Any] | None = None
        self.workspace = FakeWorkspace(self)
        self.changes: dict[str, int] = {}
        self.updates: list[auto.UpdateSummary] = [self._summary()]  # history(), newest first

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def kwargs(self, op: str) -> dict[str, Any]:
        return next(kw for name, kw in self.calls if name == op)

    def _call(self, op: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((op, kwargs))
        on_event = kwargs.get("on_event")
        for data in self.events.get(op, []):
            assert on_event is not None, f"{op} was called without on_event"
            on_event(
                data if isinstance(data, auto.EngineEvent) else auto.EngineEvent.from_json(data)
            )
        if op in self.hooks:
            self.hooks[op]()
        queue = self.errors.get(op)
        if queue:
            raise queue.pop(0)

    def _summary(self, kind: str = "update", result: str = "succeeded") -> auto.UpdateSummary:
        return auto.UpdateSummary(
            kind=kind,
            start_time=datetime(2026, 3, 1),
            message="",
            environment={},
            config={},
            result=result,
            resource_changes=dict(getattr(self, "changes", {})),  # type: ignore[arg-type]
        )

    # the Automation API's Stack methods floyo-scale calls
    def set_all_config(self, config: auto.ConfigMap, *, path: bool = False) -> None:
        self._call("set_all_config", {"config": dict(config)})

    def preview(self, **kwargs: Any) -> auto.PreviewResult:
        self._call("preview", kwargs)
        return auto.PreviewResult("", "", dict(self.changes))  # type: ignore[arg-type]

    def up(self, **kwargs: Any) -> auto.UpResult:
        self._call("up", kwargs)
        return auto.UpResult("", "", self._summary(), dict(self.output_values))

    def preview_destroy(self, **kwargs: Any) -> auto.PreviewResult:
        self._call("preview_destroy", kwargs)
        return auto.PreviewResult("", "", dict(self.changes))  # type: ignore[arg-type]

    def destroy(self, **kwargs: Any) -> auto.DestroyResult:
        self._call("destroy", kwargs)
        return auto.DestroyResult("", "", self._summary())

    def refresh(self, **kwargs: Any) -> auto.RefreshResult:
        self._call("refresh", kwargs)
        return auto.RefreshResult("", "", self._summary())

    def preview_refresh(self, **kwargs: Any) -> auto.PreviewResult:
        self._call("preview_refresh", kwargs)
        return auto.PreviewResult("", "", dict(self.changes))  # type: ignore[arg-type]

    def outputs(self) -> dict[str, auto.OutputValue]:
        self._call("outputs", {})
        return dict(self.output_values)

    def history(self, **kwargs: Any) -> list[auto.UpdateSummary]:
        self._call("history", kwargs)
        return list(self.updates)

    def cancel(self) -> None:
        self._call("cancel", {})


class FakeWorkspace:
    """The stack's LocalWorkspace: the `pulumi` commands floyo-scale runs itself through its
    `pulumi_command` (recorded in the stack's calls as "pulumi stack export", ...), and the
    work folder's stack settings (`settings`, by stack name)."""

    def __init__(self, stack: FakeStack) -> None:
        self._stack = stack
        self.work_dir = "/repo/.floyo/work/floyo"
        self.env_vars: dict[str, str] = {"PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true"}
        self.pulumi_command = self
        self.settings: dict[str, auto.StackSettings] = {}

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: dict[str, str],
        on_output: Any = None,
        on_error: Any = None,
    ) -> auto.CommandResult:
        op = "pulumi " + " ".join(args[:2])
        self._stack._call(op, {"args": list(args), "cwd": cwd, "env": dict(additional_env)})
        if args[:2] == ["stack", "export"]:
            deployment: dict[str, Any] = {"pending_operations": self._stack.pending}
            if self._stack.secrets_providers is not None:
                deployment["secrets_providers"] = self._stack.secrets_providers
            out = json.dumps({"version": 3, "deployment": deployment})
            return auto.CommandResult(stdout=out, stderr="", code=0)
        if args[:2] == ["stack", "change-secrets-provider"]:
            new = args[2]
            self._stack.secrets_providers = (
                {"type": "passphrase", "state": {"salt": "v1:c2FsdA==:v1:x"}}
                if new == "passphrase"
                else {"type": "cloud", "state": {"url": new, "encryptedkey": "a2V5"}}
            )
        return auto.CommandResult(stdout="", stderr="", code=0)

    def stack_settings(self, stack_name: str) -> auto.StackSettings:
        if stack_name not in self.settings:
            raise FileNotFoundError(f"no Pulumi.{stack_name}.yaml in the work folder")
        return self.settings[stack_name]

    def save_stack_settings(self, stack_name: str, settings: auto.StackSettings) -> None:
        self._stack._call("save_stack_settings", {"settings": settings._serialize()})
        self.settings[stack_name] = settings


class FakeAutomation:
    """Patches create_or_select_stack and select_stack; `opened` holds their arguments."""

    def __init__(
        self, stack: FakeStack | None = None, stacks: dict[str, FakeStack] | None = None
    ) -> None:
        self.stack = stack or FakeStack()
        self.stacks = stacks or {}  # by stack name; any other name opens `stack`
        self.opened: list[tuple[str, dict[str, Any]]] = []
        self.open_errors: list[BaseException] = []

    def install(self, monkeypatch: Any) -> FakeAutomation:
        def opener(how: str) -> Callable[..., FakeStack]:
            def open_stack(**kwargs: Any) -> FakeStack:
                self.opened.append((how, kwargs))
                if self.open_errors:
                    raise self.open_errors.pop(0)
                return self.stacks.get(kwargs.get("stack_name", ""), self.stack)

            return open_stack

        monkeypatch.setattr(auto, "create_or_select_stack", opener("create_or_select"))
        monkeypatch.setattr(auto, "select_stack", opener("select"))
        return self


class FakeCommand:
    """Stands in for the PulumiCommand (never run: the stack is fake too)."""

    command = "/opt/pulumi/bin/pulumi"
    version = "3.272.0"
