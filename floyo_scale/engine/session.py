"""A stack, opened: preview, up, destroy, refresh, drift, outputs, cancel through the Automation
API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pulumi.automation as auto

from ..errors import (
    Interrupted,
)
from ..progress import Reporter, ResourceEvent
from . import install
from .events import EventHandler, sdk_dropped
from .failures import translate_error, urn_label
from .locks import LockHolder, parse_lock_holders, read_lock_files
from .results import Drift, DriftReport, Output, PreviewReport, UpReport, op_counts, outputs_of
from .signals import GRACE_SECONDS, SignalForwarder, SignalReport
from .target import Target

T = TypeVar("T")


# -- a stack, opened -----------------------------------------------------------------------


def open_session(
    target: Target,
    *,
    create: bool = False,
    sink: Reporter | None = None,
    lock_timeout: float = 0.0,
    program: Callable[[], None] | None = None,
    command: auto.PulumiCommand | None = None,
) -> Session:
    """Select (or, with `create`, create) the Pulumi stack named after the stack file.

    The inline program is `infra.program(stack, secrets, aws_budget_usd)`, the function
    `plan` synthesizes (cost.plan_stack);
    `program` replaces it only in tests.
    """
    from ..infra import program as infra_program

    # found by prepare(cli=True), else looked up here (so tests can replace it)
    command = command or target.command or install.find_cli()
    target.work_dir.mkdir(parents=True, exist_ok=True)
    if target.state_dir is not None:
        target.state_dir.mkdir(parents=True, exist_ok=True)  # created on first use
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(target.work_dir),
        env_vars=target.env_vars(),
        secrets_provider=target.secrets_provider,
        project_settings=auto.ProjectSettings(
            name=target.project, runtime="python", main=str(target.root)
        ),
        pulumi_command=command,
    )
    open_stack = auto.create_or_select_stack if create else auto.select_stack
    session = Session(target, None, sink, lock_timeout=lock_timeout)

    def select(_: EventHandler) -> auto.Stack:
        return open_stack(
            stack_name=target.name,
            project_name=target.project,
            program=program
            or infra_program(
                target.stack, target.secrets, target.release, aws_budget_usd=target.aws_budget_usd
            ),
            opts=opts,
        )

    session.stack = session._run("select", select)[0]
    return session


class LockWait:
    """`--lock-timeout`: waits 1 s, 2 s, 4 s ... (at most 30 s between tries) while the stack
    is locked, never past the deadline (lock_timeout seconds after it was made), saying each
    wait and who holds the lock."""

    def __init__(self, session: Session, then: str = "") -> None:
        self._session = session
        self._then = then
        self.deadline = session._clock() + session.lock_timeout
        self._delay = 1.0

    def wait(self, error: BaseException) -> bool:
        """Wait before the next try; False (no wait) once the deadline has passed. `error`:
        the lock error (Pulumi's, or the StackLockedError made from it)."""
        session = self._session
        remaining = self.deadline - session._clock()
        if remaining <= 0:
            return False
        wait = min(self._delay, remaining)
        holders = parse_lock_holders(str(error.__cause__ or error))
        who = holders[0].describe() if holders else "another update"
        session._emit(
            ResourceEvent(
                "diagnostic",
                message=f"stack {session.target.name} is locked by {who}; "
                f"retrying in {wait:.0f}s{self._then}",
                severity="warning",
            )
        )
        session._sleep(wait)
        self._delay = min(self._delay * 2, 30.0)
        return True


class Session:
    """One Pulumi stack, opened. Every operation goes through `_run`: signal forwarding,
    lock retries, error translation."""

    def __init__(
        self,
        target: Target,
        stack: auto.Stack | None,
        sink: Reporter | None = None,
        *,
        lock_timeout: float = 0.0,
        grace: float = GRACE_SECONDS,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self._stack = stack
        self.sink = sink
        self.lock_timeout = lock_timeout
        self.grace = grace
        self._sleep = sleep
        self._clock = clock
        self._configured = False
        self._secrets_kept = False

    @property
    def stack(self) -> auto.Stack:
        assert self._stack is not None, "the stack is not open"
        return self._stack

    @stack.setter
    def stack(self, value: auto.Stack) -> None:
        self._stack = value

    # -- plumbing ----------------------------------------------------------------------
    def _emit(self, event: ResourceEvent) -> None:
        if self.sink is not None:
            self.sink(event)

    def lock_wait(self, then: str = "") -> LockWait:
        """The `--lock-timeout` policy, from now: see LockWait. `then`: what happens after
        each wait, said with it."""
        return LockWait(self, then)

    def _run(
        self,
        op: str,
        call: Callable[[EventHandler], T],
        *,
        preview: bool = False,
        mutating: bool = False,
        retry_locked: bool = True,
    ) -> tuple[T, EventHandler]:
        """Run `call` with signal forwarding and error translation; a locked stack is tried
        again within `lock_timeout` unless `retry_locked` is False (then the caller, who
        knows what else must run again, retries: `deploy`)."""
        waiting = self.lock_wait()
        while True:
            events = EventHandler(self.sink, self.target.redact, preview)
            forwarder = SignalForwarder(self.grace)
            try:
                with forwarder, sdk_dropped(events):
                    result = call(events)
            except Interrupted:
                raise
            except Exception as exc:
                if forwarder.report.received:
                    raise self._interrupted(op, forwarder.report, mutating) from exc
                locked = isinstance(exc, auto.ConcurrentUpdateError)
                if locked and retry_locked and waiting.wait(exc):
                    continue
                error = translate_error(
                    exc, self.target.name, failures=events.failures, redact=self.target.redact
                )
                if error is None:
                    raise
                raise error from exc
            if forwarder.report.received:
                raise self._interrupted(op, forwarder.report, mutating, finished=True)
            events.raise_sink_error()
            return result, events

    def _interrupted(
        self, op: str, report: SignalReport, mutating: bool, finished: bool = False
    ) -> Interrupted:
        name = self.target.name
        message = f"{op} of stack {name} was interrupted ({report.name})"
        if finished:
            return Interrupted(message + f"; the {op} had already finished", None)
        hints = []
        if mutating:
            pending = _quietly(self.pending_operations) or ()
            if pending:
                message += "; operations were left pending on: " + ", ".join(pending)
                hints.append(
                    "check those resources in the provider's console, then run: "
                    f"floyo-scale refresh --stack {name} --clear-pending-creates"
                )
            holders = _quietly(self.lock_holders)
            if report.killed or holders:
                hints.append(f"release the lock it left: floyo-scale cancel --stack {name}")
        if not hints:
            hints.append(
                "Pulumi stopped cleanly and released the stack; run the command again to go on"
            )
        return Interrupted(message, "; then ".join(hints))

    def configure(self) -> None:
        """Stack config from the spec. Only `floyo:phase` (plain): secrets reach the program
        in-process, because `pulumi config set --secret` takes the value on its command
        line, where any user of the machine can read it (ps, /proc)."""
        if self._configured:
            return  # once per session: each `pulumi config` is a process
        self.keep_secrets_provider()
        config = {"floyo:phase": auto.ConfigValue(value=self.target.stack.phase_name, secret=False)}
        self._run("configure", lambda _: self.stack.set_all_config(config))
        self._configured = True

    # -- the secrets provider ----------------------------------------------------------
    def keep_secrets_provider(self) -> str | None:
        """Make the stack's secrets provider the one its stack file names, before anything
        reads or writes the state's secrets (preview, up, destroy, refresh). Returns what
        was done ("changed", "named") or None.

        Pulumi reads the provider from the work folder's Pulumi.<stack>.yaml, which a fresh
        checkout does not have; PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER (Target.env_vars)
        makes it take the one recorded in the state then. What is left is a stack file that
        names another provider than the state records: `pulumi stack change-secrets-provider`
        re-encrypts the state and the work folder's file with it (pulumi/pulumi
        pkg/cmd/pulumi/stack/stack_change_secrets_provider.go). A stack whose state records
        none yet (created, never updated) gets it named in the work folder's stack file,
        where the CLI makes a new data key under it. Without `secrets_provider:` in the stack
        file, the state's provider is kept as it is."""
        wanted = self.target.stack.stack.secrets_provider
        if self._secrets_kept or not wanted:
            return None
        recorded = _recorded_secrets_provider(self._state())
        done: str | None = None
        if recorded is None:
            if self._run("configure", lambda _: self._name_secrets_provider(wanted))[0]:
                done = "named"
        elif recorded != wanted:
            self._emit(
                ResourceEvent(
                    "diagnostic",
                    message=f"stack {self.target.name}: the stack file names the secrets "
                    f"provider {wanted}, the state was encrypted with {recorded}; "
                    "re-encrypting it (pulumi stack change-secrets-provider)",
                    severity="warning",
                )
            )
            command = ["stack", "change-secrets-provider", wanted, "--stack", self.target.name]
            self._run("change-secrets-provider", lambda _: self._pulumi(command))
            done = "changed"
        self._secrets_kept = True
        return done

    def _name_secrets_provider(self, wanted: str) -> bool:
        workspace = self.stack.workspace
        try:
            settings = workspace.stack_settings(self.target.name)
        except FileNotFoundError:
            settings = auto.StackSettings()
        if settings.secrets_provider == wanted:
            return False
        # another provider's key (or a passphrase's salt) would not open this one's secrets
        settings.secrets_provider = wanted
        settings.encrypted_key = settings.encryption_salt = None
        workspace.save_stack_settings(self.target.name, settings)
        return True

    def _pulumi(self, args: list[str]) -> auto.CommandResult:
        """A `pulumi` command the Automation API has no method for, run as its LocalWorkspace
        runs its own (work folder, environment, the PulumiCLI's signal handling)."""
        workspace = self.stack.workspace
        return workspace.pulumi_command.run(args, workspace.work_dir, dict(workspace.env_vars))

    def _state(self) -> dict[str, Any]:
        """The stack's state as the backend holds it (`pulumi stack export`, without
        --show-secrets: Stack.export_stack decrypts every secret, nothing here needs one)."""
        command = ["stack", "export", "--stack", self.target.name]
        out = self._run("export", lambda _: self._pulumi(command))[0].stdout
        data = json.loads(out) if out.strip() else {}
        deployment = data.get("deployment") if isinstance(data, dict) else None
        return deployment if isinstance(deployment, dict) else {}

    def set_config(self, key: str, value: str) -> None:
        """One plain (non-secret) stack config value, e.g. `floyo:database_active`, which
        `db migrate` sets at the switch-over and the program reads."""
        item = auto.ConfigValue(value=value, secret=False)
        self._run("configure", lambda _: self.stack.set_config(key, item))

    # -- operations --------------------------------------------------------------------
    def _preview(
        self, op: str, call: Callable[[EventHandler], auto.PreviewResult]
    ) -> PreviewReport:
        self._emit(ResourceEvent("start", op=f"{op} preview" if op != "preview" else op))
        result, events = self._run(f"{op} preview", call, preview=True)
        counts = op_counts(result.change_summary)
        return PreviewReport(
            op,
            self.target.name,
            tuple(events.steps),
            counts,
            # what could not be read, and what the summary counts that was not announced
            events.unreadable + events.missing(counts),
        )

    def preview(self, *, targets: Sequence[str] = (), parallel: int | None = None) -> PreviewReport:
        self.configure()
        return self._preview(
            "preview",
            lambda ev: self.stack.preview(
                on_event=ev, target=list(targets) or None, parallel=parallel, color="never"
            ),
        )

    def up(
        self,
        *,
        targets: Sequence[str] = (),
        parallel: int | None = None,
        expected: int | None = None,
        retry_locked: bool = True,
    ) -> UpReport:
        """The update. `retry_locked=False`: a locked stack raises StackLockedError at once
        (`deploy` waits, then reviews again: the state may have changed meanwhile)."""
        self.configure()
        self._emit(ResourceEvent("start", op="up", total=expected))
        message = (
            f"floyo-scale up --phase {self.target.stack.phase_name} --stack {self.target.name}"
        )
        result, _ = self._run(
            "up",
            lambda ev: self.stack.up(
                on_event=ev,
                target=list(targets) or None,
                parallel=parallel,
                color="never",
                message=message,
                show_secrets=False,
            ),
            mutating=True,
            retry_locked=retry_locked,
        )
        return UpReport(
            self.target.name, op_counts(result.summary.resource_changes), outputs_of(result.outputs)
        )

    def preview_destroy(self, *, targets: Sequence[str] = ()) -> PreviewReport:
        self.keep_secrets_provider()
        return self._preview(
            "destroy",
            lambda ev: self.stack.preview_destroy(
                on_event=ev, target=list(targets) or None, color="never", show_secrets=False
            ),
        )

    def destroy(
        self,
        *,
        targets: Sequence[str] = (),
        parallel: int | None = None,
        expected: int | None = None,
    ) -> dict[str, int]:
        self.keep_secrets_provider()
        self._emit(ResourceEvent("start", op="destroy", total=expected))
        result, _ = self._run(
            "destroy",
            lambda ev: self.stack.destroy(
                on_event=ev,
                target=list(targets) or None,
                parallel=parallel,
                color="never",
                show_secrets=False,
            ),
            mutating=True,
        )
        return op_counts(result.summary.resource_changes)

    def refresh(
        self, *, clear_pending_creates: bool = False, parallel: int | None = None
    ) -> dict[str, int]:
        self.keep_secrets_provider()
        self._emit(ResourceEvent("start", op="refresh"))
        result, _ = self._run(
            "refresh",
            lambda ev: self.stack.refresh(
                on_event=ev,
                parallel=parallel,
                clear_pending_creates=clear_pending_creates or None,
                color="never",
                show_secrets=False,
            ),
            mutating=True,
        )
        return op_counts(result.summary.resource_changes)

    def drift(self) -> DriftReport:
        """Refresh in preview mode: nothing is written; what differs from the state."""
        self._emit(ResourceEvent("start", op="drift"))
        result, events = self._run(
            "drift",
            lambda ev: self.stack.preview_refresh(on_event=ev, color="never", show_secrets=False),
            preview=True,
        )
        drifted: dict[str, Drift] = {}
        for step in events.steps + events.outputs_steps:
            if step.type == "pulumi:pulumi:Stack" or step.type.startswith("pulumi:providers:"):
                continue
            if step.op not in ("same", "refresh", "read") or step.keys:
                op = step.op if step.op not in ("refresh", "same") else "update"
                prior = drifted.get(step.urn)
                keys = tuple(dict.fromkeys((prior.keys if prior else ()) + step.keys))
                drifted[step.urn] = Drift(step.type, step.name, op, keys)
        return DriftReport(
            self.target.name,
            tuple(sorted(drifted.values(), key=lambda d: (d.type, d.name))),
            op_counts(result.change_summary),
        )

    def outputs(self) -> dict[str, Output]:
        return outputs_of(self._run("outputs", lambda _: self.stack.outputs())[0])

    def history(self, page_size: int = 10) -> list[auto.UpdateSummary]:
        """The stack's most recent updates, refreshes and destroys, newest first."""
        call = lambda _: self.stack.history(page_size=page_size, show_secrets=False)  # noqa: E731
        return list(self._run("history", call)[0])

    def deployed_phase(self) -> str | None:
        """The phase of the last `up` (the program exports it), None if never deployed."""
        phase = self.outputs().get("phase")
        return phase.value if phase is not None and isinstance(phase.value, str) else None

    def pending_operations(self) -> tuple[str, ...]:
        """Resources an interrupted update left mid-operation ("type name (creating)")."""
        deployment = self._state()
        return tuple(
            f"{urn_label(op['resource']['urn'])} ({op.get('type', 'pending')})"
            for op in deployment.get("pending_operations") or []
        )

    def lock_holders(self) -> tuple[LockHolder, ...]:
        """Who holds the stack's lock; read from a file backend's lock files (other
        backends do not show theirs)."""
        if self.target.state_dir is None:
            return ()
        return read_lock_files(self.target.state_dir, self.target.project, self.target.name)

    def cancel(self) -> tuple[LockHolder, ...]:
        """Release the stack's lock; returns who held it (when the backend says)."""
        holders = self.lock_holders()
        self._run("cancel", lambda _: self.stack.cancel())
        return holders


def _recorded_secrets_provider(deployment: Mapping[str, Any]) -> str | None:
    """The secrets provider a state records (apitype.DeploymentV3.SecretsProviders): a cloud
    provider's URL (its state's `url`, pkg/secrets/cloud/manager.go), `passphrase`, the
    service's own (`service`); None when no update has recorded one."""
    providers = deployment.get("secrets_providers")
    if not isinstance(providers, Mapping) or not providers.get("type"):
        return None
    kind = str(providers["type"])
    state = providers.get("state")
    if kind == "cloud" and isinstance(state, Mapping) and state.get("url"):
        return str(state["url"])
    return kind


def _quietly(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception:  # noqa: BLE001 - only used to enrich an error already being raised
        return None
