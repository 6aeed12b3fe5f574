"""The Pulumi engine, driven through the Automation API. The only module that imports
`pulumi.automation` (see docs/engine.md).

It runs the ONE program (`floyo_scale.infra.program`, the function `plan` synthesizes) as an
inline program on the Pulumi stack named after the stack file, in a self-managed backend
(`file://<root>/.floyo/state` unless PULUMI_BACKEND_URL says otherwise). It never prints:
progress goes to a sink (progress.Event), results are returned, failures are raised as
FloyoError subclasses with the exit codes of errors.ExitCode.

Three things the Automation API does not do for us, done here:
- signals: `pulumi` runs in its own session; SIGINT/SIGTERM/SIGHUP reach floyo-scale only,
  which passes one SIGINT on (Pulumi's graceful cancel: in-flight operations finish, the lock
  is released), escalates after a grace period, and says how to recover (pulumi/pulumi#9103);
- locks: a locked stack is exit 5 naming the holder; `lock_timeout` waits and retries;
- secrets: values come from the environment variables the stack file names, reach the
  program in-process, and are redacted from every message shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata, util
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

import pulumi.automation as auto
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from . import aws_preflight
from .errors import (
    EngineError,
    FloyoError,
    GuardrailError,
    Interrupted,
    StackLockedError,
    UsageError,
)
from .guards import (
    Downgrade,
    Loss,
    Step,
    downgrade,
    losses_from_diff,
    losses_from_preview,
    merge_losses,
)
from .inventory import Inventory
from .plan import InventoryDiff, diff_inventories
from .progress import Event, Sink
from .spec import ResolvedStack, Workspace, load_stack, secret_env_name

T = TypeVar("T")

CLI_VERSION = metadata.version("pulumi")  # `setup` installs the CLI of the SDK's own release
MIN_CLI_VERSION = "3.229.0"  # refresh --preview-only stopped taking the diy lock in v3.229.0
PROVIDER_PACKAGES = ("pulumi_aws", "pulumiverse_vercel", "pulumi_random", "upstash_pulumi")
STATE_DIR = Path(".floyo") / "state"
WORK_DIR = Path(".floyo") / "work"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
GRACE_SECONDS = 60.0  # after the first forwarded SIGINT, before Pulumi is told to stop at once
KILL_SECONDS = 10.0  # after that, before the child is killed
SETUP_HINT = "run `floyo-scale setup` (it installs the Pulumi CLI and the provider plugins)"


# -- where state and secrets live ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A stack at a phase, and where its state and secrets come from."""

    stack: ResolvedStack
    root: Path  # the folder that holds phases/ and stacks/ (and .floyo/)
    backend: str  # file://..., s3://..., https://api.pulumi.com
    secrets_provider: str | None  # "passphrase", "awskms://...", None: the backend's own
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

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
        """Added to the environment of every `pulumi` command (never a secret: the workspace's
        repr shows them). The passphrase and cloud credentials are inherited."""
        return {
            "PULUMI_BACKEND_URL": self.backend,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_PYTHON_CMD": sys.executable,  # dynamic providers: this interpreter
        }

    def redact(self, text: str) -> str:
        for value in sorted(self.secrets.values(), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "[secret]")
        return text


def default_backend(root: Path) -> str:
    return f"file://{(root / STATE_DIR).resolve()}"


def secret_refs(stack: ResolvedStack) -> tuple[str, ...]:
    """The environment variables the stack file refers to (`${env:NAME}`), in file order."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a reference
                names.append(secret_env_name(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    settings = stack.stack.model_dump()
    cache = stack.phase.cache
    if cache is None or cache.provider != "upstash":
        settings.pop("upstash", None)  # its key is needed only when the phase uses Upstash
    walk(settings)
    return tuple(dict.fromkeys(names))


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


def prepare(
    stack: ResolvedStack,
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    run_program: bool = True,
    decrypt: bool = True,
    aws: bool = False,
) -> Target:
    """Everything the engine needs for `stack`, checked before any process starts.

    `run_program`: the command runs the program (preview, up), so every secret it refers to
    must be set. `decrypt`: the command reads or writes secrets (all but `cancel`). `aws`:
    the command touches AWS (preview, up, destroy, refresh, drift; not outputs, cancel).
    """
    env = os.environ if env is None else env
    backend = env.get("PULUMI_BACKEND_URL") or default_backend(root)
    target = Target(
        stack=stack,
        root=root,
        backend=backend,
        secrets_provider=secrets_provider(stack, backend, env, required=decrypt),
        secrets=stack_secrets(stack, env, required=run_program),
    )
    if aws and not aws_preflight.skipped(env):
        # AWS preflight (docs/engine.md): the credentials work, are the stack's account
        # (exit 6 if not) and reach an s3:// state bucket; boto3, before `pulumi` starts.
        aws_preflight.check_aws(stack, backend)
    return target


# -- the CLI: where it is, and how it runs -------------------------------------------------


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """floyo-scale's folder in the user's data directory."""
    env = os.environ if env is None else env
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "floyo-scale"


def cli_root(env: Mapping[str, str] | None = None) -> Path:
    """Where `setup` installs the pinned CLI: <data dir>/pulumi/<version>/bin/pulumi."""
    return data_dir(env) / "pulumi" / CLI_VERSION


class PulumiCLI(auto.PulumiCommand):
    """PulumiCommand whose `pulumi` runs in its own session, so that the signals a terminal
    sends to its foreground group reach floyo-scale only; floyo-scale forwards exactly one
    SIGINT (two would make Pulumi stop at once, without finishing in-flight operations)."""

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: auto.OnOutput | None = None,
        on_error: auto.OnOutput | None = None,
    ) -> auto.CommandResult:
        # as PulumiCommand.run: non-interactive, before any "--" separator
        end = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:end]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):  # plugins bundled next to the binary come first
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        code, stdout, stderr = run_child([self.command, *args], cwd, env, on_output, on_error)
        result = auto.CommandResult(stdout=stdout, stderr=stderr, code=code)
        if code != 0:
            raise create_command_error(result)
        return result


def find_cli(env: Mapping[str, str] | None = None) -> auto.PulumiCommand:
    """The CLI `setup` installed, else a compatible `pulumi` on PATH; else exit 4 saying to
    run `setup`."""
    minimum = VersionInfo.parse(MIN_CLI_VERSION)
    root = cli_root(env)
    try:
        if (root / "bin" / "pulumi").is_file():
            return PulumiCLI(root=str(root), version=minimum)
        if shutil.which("pulumi"):
            return PulumiCLI(version=minimum)
    except auto.InvalidVersionError as exc:
        raise EngineError(
            f"the Pulumi CLI on PATH cannot be used: {exc}",
            f"{SETUP_HINT}; it installs {CLI_VERSION} for floyo-scale alone",
        ) from exc
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EngineError(f"the Pulumi CLI does not run: {exc}", SETUP_HINT) from exc
    raise EngineError("the Pulumi CLI is not installed", SETUP_HINT)


@dataclass(frozen=True)
class Plugin:
    """A provider plugin, at the version an installed provider SDK was generated for."""

    name: str
    version: str
    server: str | None
    package: str


def required_plugins(packages: Sequence[str] = PROVIDER_PACKAGES) -> tuple[Plugin, ...]:
    """From each provider package's `pulumi-plugin.json` (read, not imported)."""
    plugins = []
    for package in packages:
        spec = util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise EngineError(
                f"the provider package {package} is not installed",
                "reinstall floyo-scale: python3 -m pip install -e .",
            )
        data = json.loads(
            (Path(spec.submodule_search_locations[0]) / "pulumi-plugin.json").read_text()
        )
        # upstash_pulumi's file has no version: its SDK asks for its own package version
        # (its _utilities.get_version), so that is the plugin version to install
        version = data.get("version") or metadata.version(package)
        plugins.append(Plugin(data["name"], version, data.get("server"), package))
    return tuple(plugins)


@dataclass(frozen=True)
class SetupReport:
    cli: str
    cli_version: str
    installed_cli: bool
    plugins: tuple[Plugin, ...]
    installed_plugins: tuple[Plugin, ...]


def setup(on_step: Callable[[str], Any] = lambda _: None) -> SetupReport:
    """Install the pinned CLI under the data directory (unless a compatible one is found)
    and the provider plugins the installed SDKs need."""
    installed_cli = False
    try:
        command = find_cli()
    except EngineError:
        root = cli_root()
        on_step(f"installing the Pulumi CLI {CLI_VERSION} into {root}")
        try:
            auto.PulumiCommand.install(root=str(root), version=VersionInfo.parse(CLI_VERSION))
            command = PulumiCLI(root=str(root), version=VersionInfo.parse(MIN_CLI_VERSION))
        except (OSError, subprocess.CalledProcessError, auto.InvalidVersionError) as exc:
            raise EngineError(
                f"could not download the Pulumi CLI {CLI_VERSION} from get.pulumi.com: "
                f"{_reason(exc)}",
                "check the network (or HTTPS_PROXY) and run `floyo-scale setup` again; or "
                f"install Pulumi {MIN_CLI_VERSION} or later yourself "
                "(https://www.pulumi.com/docs/install/) and put `pulumi` on PATH",
            ) from exc
        installed_cli = True
    on_step(f"using {command.command} (Pulumi {command.version})")
    plugins = required_plugins()
    installed: list[Plugin] = []
    with tempfile.TemporaryDirectory(prefix="floyo-setup-") as work_dir:
        ws = auto.LocalWorkspace(
            work_dir=work_dir, pulumi_command=command, env_vars={"PULUMI_SKIP_UPDATE_CHECK": "true"}
        )
        have = {(p.name, p.version) for p in ws.list_plugins() if p.kind == "resource"}
        for plugin in plugins:
            if (plugin.name, plugin.version) in have:
                continue
            on_step(f"installing the {plugin.name} plugin {plugin.version} (for {plugin.package})")
            try:
                if plugin.server:
                    ws.install_plugin_from_server(plugin.name, plugin.version, plugin.server)
                else:
                    ws.install_plugin(plugin.name, plugin.version)
            except auto.CommandError as exc:
                raise EngineError(
                    f"could not install the {plugin.name} plugin {plugin.version}: "
                    f"{_headline(exc)}",
                    "check the network and run `floyo-scale setup` again",
                ) from exc
            installed.append(plugin)
    return SetupReport(
        command.command, str(command.version), installed_cli, plugins, tuple(installed)
    )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, subprocess.CalledProcessError) and exc.output:
        out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else exc.output
        return out.strip().splitlines()[-1]
    return str(reason or exc)


# -- signals -------------------------------------------------------------------------------

_FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class _Children:
    """The `pulumi` processes running now. A signal handler reads this set from the main
    thread while the main thread may be inside add/discard: hence a re-entrant lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._procs: set[subprocess.Popen[str]] = set()
        self.stopping = False  # a signal arrived: start no new child, interrupt new ones

    def add(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.add(proc)
            stopping = self.stopping
        if stopping:  # the signal arrived between Popen and add
            _send(proc, signal.SIGINT)

    def discard(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def send(self, sig: int) -> int:
        with self._lock:
            procs = list(self._procs)
        return sum(_send(p, sig) for p in procs)


def _send(proc: subprocess.Popen[str], sig: int) -> bool:
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
            return True
    except (ProcessLookupError, OSError):
        pass
    return False


CHILDREN = _Children()


def run_child(
    args: list[str],
    cwd: str,
    env: Mapping[str, str],
    on_output: Callable[[str], Any] | None = None,
    on_error: Callable[[str], Any] | None = None,
) -> tuple[int, str, str]:
    """Run a command in its own session, registered for signal forwarding; returns
    (exit code, stdout, stderr). Output lines go to the callbacks as they come."""
    if CHILDREN.stopping:
        raise Interrupted("interrupted before `pulumi` was started")
    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def pump(stream: IO[str], callback: Callable[[str], Any] | None, into: list[str]) -> None:
        for line in iter(stream.readline, ""):
            line = line.rstrip()
            if callback:
                callback(line)
            into.append(line)
        stream.close()

    with subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env),
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    ) as proc:
        CHILDREN.add(proc)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            readers = [
                threading.Thread(target=pump, args=(proc.stdout, on_output, chunks["out"])),
                threading.Thread(target=pump, args=(proc.stderr, on_error, chunks["err"])),
            ]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
            proc.wait()
        finally:
            CHILDREN.discard(proc)
    return proc.returncode, "\n".join(chunks["out"]), "\n".join(chunks["err"])


@dataclass
class SignalReport:
    signals: list[int] = field(default_factory=list)
    escalated: bool = False  # Pulumi was told to stop at once
    killed: bool = False  # and did not: SIGKILL

    @property
    def received(self) -> bool:
        return bool(self.signals)

    @property
    def name(self) -> str:
        return signal.Signals(self.signals[0]).name if self.signals else ""


class SignalForwarder:
    """While active (main thread only), SIGINT, SIGTERM and SIGHUP do not stop floyo-scale:

    1st signal: one SIGINT to each `pulumi` child: Pulumi cancels gracefully, lets in-flight
       resource operations finish, writes its state and releases the stack's lock;
    2nd signal, or `grace` seconds without the child ending: a second SIGINT, on which Pulumi
       stops at once (operations may be left pending);
    `kill_after` seconds later: SIGKILL.
    The caller turns a received signal into Interrupted (exit 130) once the child is gone.
    """

    def __init__(self, grace: float = GRACE_SECONDS, kill_after: float = KILL_SECONDS) -> None:
        self.grace = grace
        self.kill_after = kill_after
        self.report = SignalReport()
        self._lock = threading.RLock()
        self._previous: dict[int, Any] = {}
        self._timers: list[threading.Timer] = []

    def __enter__(self) -> SignalForwarder:
        if threading.current_thread() is threading.main_thread():
            for sig in _FORWARDED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        with self._lock:
            for timer in self._timers:
                timer.cancel()
        CHILDREN.stopping = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.report.signals.append(signum)
        if len(self.report.signals) == 1:
            CHILDREN.stopping = True
            CHILDREN.send(signal.SIGINT)
            self._later(self.grace, self._escalate)
        else:
            self._escalate()

    def _escalate(self) -> None:
        with self._lock:
            if self.report.escalated:
                return
            self.report.escalated = True
        CHILDREN.send(signal.SIGINT)
        self._later(self.kill_after, self._kill)

    def _kill(self) -> None:
        if CHILDREN.send(signal.SIGKILL):
            self.report.killed = True

    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()


# -- errors --------------------------------------------------------------------------------

_LOCK_LINE = re.compile(
    r"^\s*(?P<path>\S+\.json): created by (?P<user>[^@\s]+)@(?P<host>\S+) "
    r"\(pid (?P<pid>\d+)\) at (?P<since>\S+)",
    re.MULTILINE,
)
_COLOR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[^%]*%\}>")


@dataclass(frozen=True)
class LockHolder:
    user: str
    host: str
    pid: int | None
    since: str
    path: str = ""

    def describe(self) -> str:
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        return f"{self.user}@{self.host}{pid} since {self.since}"

    def alive_here(self) -> bool:
        """Held by a process that still runs on this machine: not a stale lock."""
        if self.pid is None or self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def parse_lock_holders(text: str) -> tuple[LockHolder, ...]:
    """Holders named in a self-managed backend's "the stack is currently locked" error."""
    return tuple(
        LockHolder(m["user"], m["host"], int(m["pid"]), m["since"], m["path"])
        for m in _LOCK_LINE.finditer(text)
    )


def _stderr(exc: BaseException) -> str:
    text = str(exc)  # CommandError: "\n code: N\n stdout: ...\n stderr: ..."
    return text.partition("\n stderr: ")[2] or text


def _headline(exc: BaseException) -> str:
    """The lines of Pulumi's stderr that say what went wrong."""
    lines = [_COLOR.sub("", line).strip() for line in _stderr(exc).splitlines()]
    errors = [line for line in lines if line.startswith("error:")]
    chosen = errors or [line for line in lines if line][-3:]
    return " ".join(line.removeprefix("error:").strip() for line in chosen) or "no message"


def translate_error(
    exc: BaseException,
    stack: str,
    *,
    failures: Sequence[tuple[str, str]] = (),
    redact: Callable[[str], str] = lambda text: text,
) -> FloyoError | None:
    """The FloyoError (and so the exit code) for an Automation API error; None: not one."""
    if isinstance(exc, FloyoError):
        return exc
    if isinstance(exc, auto.ConcurrentUpdateError):
        holders = parse_lock_holders(str(exc))
        who = (
            "; ".join(h.describe() for h in holders)
            if holders
            else "another update (the backend does not say whose)"
        )
        return StackLockedError(
            f"stack {stack} is locked by {who}",
            "wait for that update to finish, or retry with --lock-timeout SECONDS; if it was "
            f"killed and left its lock behind: floyo-scale cancel --stack {stack}",
        )
    if isinstance(exc, auto.StackNotFoundError):
        return UsageError(
            f"stack {stack} does not exist in the backend yet",
            f"create it with `floyo-scale up --stack {stack}` (or check PULUMI_BACKEND_URL)",
        )
    headline = redact(_headline(exc))
    if failures:
        listed = "; ".join(f"{_urn_label(urn)}: {redact(msg)}" for urn, msg in failures)
        return EngineError(
            f"{len(failures)} resource{'s' if len(failures) != 1 else ''} failed: {listed}",
            "fix the cause the provider gives, then run the command again (resources that "
            "succeeded are kept)",
        )
    if isinstance(exc, auto.StackAlreadyExistsError):
        return EngineError(f"stack {stack} could not be created: {headline}")
    if isinstance(exc, auto.InlineSourceRuntimeError | auto.RuntimeError | auto.CompilationError):
        return EngineError(
            f"the Pulumi program failed: {headline}",
            "this is a bug in floyo-scale's program (infra/) or an input it rejects; "
            "`floyo-scale plan` runs the same program offline",
        )
    if isinstance(exc, auto.CommandError):
        return EngineError(f"pulumi failed: {headline}")
    if isinstance(exc, auto.InvalidVersionError):
        return EngineError(f"the Pulumi CLI cannot be used: {exc}", SETUP_HINT)
    if isinstance(exc, FileNotFoundError):
        return EngineError(f"the Pulumi CLI is gone: {exc}", SETUP_HINT)
    return None


def _urn_label(urn: str) -> str:
    """`urn:pulumi:s::p::a$aws:s3/bucket:Bucket::uploads` -> `aws:s3/bucket:Bucket uploads`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    return f"{parts[2].rsplit('$', 1)[-1]} {parts[-1]}"


# -- engine events -------------------------------------------------------------------------


def _op(value: Any) -> str:
    return str(getattr(value, "value", value))


class _Events:
    """Receives Pulumi's engine events (on the Automation API's threads), keeps the steps and
    failures, and hands redacted progress.Events to the sink. A display error never stops
    the engine; an event that cannot be read is counted (`unreadable`), so that the destroy
    guard does not vouch for a preview it could not read whole."""

    def __init__(self, sink: Sink | None, redact: Callable[[str], str], preview: bool) -> None:
        self.sink = sink
        self.redact = redact
        self.preview = preview
        self.steps: list[Step] = []
        self.outputs_steps: list[Step] = []
        self.failures: list[tuple[str, str]] = []
        self.errors: dict[str, str] = {}
        self.unreadable = 0
        self._lock = threading.Lock()

    def __call__(self, event: auto.EngineEvent) -> None:
        with self._lock:
            try:
                converted = self._convert(event)
            except Exception:  # noqa: BLE001 - counted; raising here would only break the stream
                self.unreadable += 1
                return
        if converted is not None and self.sink is not None:
            with contextlib.suppress(Exception):  # progress is best effort; the result is not
                self.sink(converted)

    def _convert(self, event: auto.EngineEvent) -> Event | None:
        if event.resource_pre_event is not None:
            step = _step(event.resource_pre_event.metadata)
            self.steps.append(step)
            return Event("step", step.op, step.urn, step.type, step.name, preview=self.preview)
        if event.res_outputs_event is not None:
            step = _step(event.res_outputs_event.metadata)
            self.outputs_steps.append(step)
            return Event("done", step.op, step.urn, step.type, step.name, preview=self.preview)
        if event.res_op_failed_event is not None:
            step = _step(event.res_op_failed_event.metadata)
            message = self.errors.get(step.urn, "")
            self.failures.append((step.urn, message))
            return Event("failed", step.op, step.urn, step.type, step.name, message)
        if event.diagnostic_event is not None:
            diag = event.diagnostic_event
            message = self.redact(_COLOR.sub("", diag.message).strip())
            severity = diag.severity.split("#")[0]
            if diag.severity == "error" and diag.urn:
                self.errors[diag.urn] = message
            urn = diag.urn or ""
            label = _urn_label(urn).split(" ") if urn else ["", ""]
            return Event("diagnostic", "", urn, label[0], label[-1], message, severity)
        if event.summary_event is not None:
            return Event("summary", counts=_counts(event.summary_event.resource_changes))
        return None


def _step(meta: auto.StepEventMetadata) -> Step:
    old = meta.old
    return Step(
        op=_op(meta.op),
        urn=meta.urn,
        type=meta.type,
        name=meta.urn.rsplit("::", 1)[-1],
        retain_on_delete=bool(old and old.retain_on_delete),
        keys=tuple(meta.keys or meta.diffs or sorted(meta.detailed_diff or {})),
    )


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    value: Any
    secret: bool


@dataclass(frozen=True)
class PreviewReport:
    op: str
    stack: str
    steps: tuple[Step, ...]
    counts: Mapping[str, int]
    unreadable: int = 0  # engine events that could not be read

    @property
    def changes(self) -> tuple[Step, ...]:
        """One step per resource that changes (a replacement's three steps count once)."""
        seen: dict[str, Step] = {}
        for step in self.steps:
            if step.changes and (step.urn not in seen or step.op == "replace"):
                seen[step.urn] = step
        return tuple(seen.values())


@dataclass(frozen=True)
class Drift:
    type: str
    name: str
    op: str  # update: properties differ; delete: gone from the cloud
    keys: tuple[str, ...]


@dataclass(frozen=True)
class DriftReport:
    stack: str
    drifted: tuple[Drift, ...]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Review:
    """What `up` found out before changing anything."""

    stack: str
    phase: str
    deployed_phase: str | None
    preview: PreviewReport
    diff: InventoryDiff | None
    losses: tuple[Loss, ...]
    downgrade: Downgrade | None
    cost: Any | None  # cost.CostEstimate of the new phase, when cost.py is there
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpReport:
    stack: str
    counts: Mapping[str, int]
    outputs: Mapping[str, Output]
    review: Review | None = None


def _counts(op_map: Mapping[Any, int] | None) -> dict[str, int]:
    return {_op(k): int(v) for k, v in (op_map or {}).items()}


def _outputs(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Output]:
    return {k: Output(v.value, bool(v.secret)) for k, v in sorted(outputs.items())}


# -- a stack, opened -----------------------------------------------------------------------


def open_session(
    target: Target,
    *,
    create: bool = False,
    sink: Sink | None = None,
    lock_timeout: float = 0.0,
    program: Callable[[], None] | None = None,
    command: auto.PulumiCommand | None = None,
) -> Session:
    """Select (or, with `create`, create) the Pulumi stack named after the stack file.

    The inline program is `infra.program(stack, secrets)`, the function `plan` synthesizes;
    `program` replaces it only in tests.
    """
    from .infra import program as infra_program

    command = command or find_cli()
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

    def select(_: _Events) -> auto.Stack:
        return open_stack(
            stack_name=target.name,
            project_name=target.project,
            program=program or infra_program(target.stack, target.secrets),
            opts=opts,
        )

    session.stack = session._run("select", select)[0]
    return session


class Session:
    """One Pulumi stack, opened. Every operation goes through `_run`: signal forwarding,
    lock retries, error translation."""

    def __init__(
        self,
        target: Target,
        stack: auto.Stack | None,
        sink: Sink | None = None,
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

    @property
    def stack(self) -> auto.Stack:
        assert self._stack is not None, "the stack is not open"
        return self._stack

    @stack.setter
    def stack(self, value: auto.Stack) -> None:
        self._stack = value

    # -- plumbing ----------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)

    def _run(
        self,
        op: str,
        call: Callable[[_Events], T],
        *,
        preview: bool = False,
        mutating: bool = False,
    ) -> tuple[T, _Events]:
        deadline = self._clock() + self.lock_timeout
        delay = 1.0
        while True:
            events = _Events(self.sink, self.target.redact, preview)
            forwarder = SignalForwarder(self.grace)
            try:
                with forwarder:
                    result = call(events)
            except Interrupted:
                raise
            except Exception as exc:
                if forwarder.report.received:
                    raise self._interrupted(op, forwarder.report, mutating) from exc
                remaining = deadline - self._clock()
                if isinstance(exc, auto.ConcurrentUpdateError) and remaining > 0:
                    wait = min(delay, remaining)
                    holders = parse_lock_holders(str(exc))
                    who = holders[0].describe() if holders else "another update"
                    self._emit(
                        Event(
                            "diagnostic",
                            message=f"stack {self.target.name} is locked by {who}; "
                            f"retrying in {wait:.0f}s",
                            severity="warning",
                        )
                    )
                    self._sleep(wait)
                    delay = min(delay * 2, 30.0)
                    continue
                error = translate_error(
                    exc, self.target.name, failures=events.failures, redact=self.target.redact
                )
                if error is None:
                    raise
                raise error from exc
            if forwarder.report.received:
                raise self._interrupted(op, forwarder.report, mutating, finished=True)
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
        config = {"floyo:phase": auto.ConfigValue(value=self.target.stack.phase_name, secret=False)}
        self._run("configure", lambda _: self.stack.set_all_config(config))
        self._configured = True

    # -- operations --------------------------------------------------------------------
    def _preview(self, op: str, call: Callable[[_Events], auto.PreviewResult]) -> PreviewReport:
        self._emit(Event("start", op=f"{op} preview" if op != "preview" else op))
        result, events = self._run(f"{op} preview", call, preview=True)
        return PreviewReport(
            op,
            self.target.name,
            tuple(events.steps),
            _counts(result.change_summary),
            events.unreadable,
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
    ) -> UpReport:
        self.configure()
        self._emit(Event("start", op="up", total=expected))
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
        )
        return UpReport(
            self.target.name, _counts(result.summary.resource_changes), _outputs(result.outputs)
        )

    def preview_destroy(self, *, targets: Sequence[str] = ()) -> PreviewReport:
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
        self._emit(Event("start", op="destroy", total=expected))
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
        return _counts(result.summary.resource_changes)

    def refresh(
        self, *, clear_pending_creates: bool = False, parallel: int | None = None
    ) -> dict[str, int]:
        self._emit(Event("start", op="refresh"))
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
        return _counts(result.summary.resource_changes)

    def drift(self) -> DriftReport:
        """Refresh in preview mode: nothing is written; what differs from the state."""
        self._emit(Event("start", op="drift"))
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
            _counts(result.change_summary),
        )

    def outputs(self) -> dict[str, Output]:
        return _outputs(self._run("outputs", lambda _: self.stack.outputs())[0])

    def deployed_phase(self) -> str | None:
        """The phase of the last `up` (the program exports it), None if never deployed."""
        phase = self.outputs().get("phase")
        return phase.value if phase is not None and isinstance(phase.value, str) else None

    def pending_operations(self) -> tuple[str, ...]:
        """Resources an interrupted update left mid-operation ("type name (creating)")."""
        deployment = self._run("export", lambda _: self.stack.export_stack())[0].deployment or {}
        return tuple(
            f"{_urn_label(op['resource']['urn'])} ({op.get('type', 'pending')})"
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


def _quietly(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception:  # noqa: BLE001 - only used to enrich an error already being raised
        return None


def read_lock_files(state_dir: Path, project: str, stack: str) -> tuple[LockHolder, ...]:
    """Lock files of a self-managed backend: .pulumi/locks/organization/<project>/<stack>/*.json
    (project-scoped) or .pulumi/locks/<stack>/*.json (legacy)."""
    locks = state_dir / ".pulumi" / "locks"
    scoped = sorted(locks.glob(f"*/{project}/{stack}/*.json"))
    paths = scoped + sorted(locks.glob(f"{stack}/*.json"))
    holders = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = data.get("pid")
        holders.append(
            LockHolder(
                str(data.get("username", "?")),
                str(data.get("hostname", "?")),
                int(pid) if isinstance(pid, int) else None,
                str(data.get("timestamp", "?")),
                str(path),
            )
        )
    return tuple(holders)


# -- up, with its guards -------------------------------------------------------------------


def review_up(
    session: Session, *, targets: Sequence[str] = (), parallel: int | None = None
) -> Review:
    """The offline plan (and, on a phase change, its diff from the deployed phase), the cost,
    and a real preview."""
    from .synth import synthesize

    target = session.target
    stack = target.stack
    notes: list[str] = []
    deployed = session.deployed_phase()
    new_inventory = synthesize(stack)
    old_stack: ResolvedStack | None = None
    diff = None
    if deployed and deployed != stack.phase_name:
        try:
            old_stack = load_stack(Workspace(target.root), target.name, deployed)
        except FloyoError as exc:
            notes.append(f"deployed phase {deployed!r} does not load ({exc}); no offline diff")
        else:
            diff = diff_inventories(synthesize(old_stack), new_inventory)
    new_cost = estimate(stack, new_inventory, notes)
    preview = session.preview(targets=targets, parallel=parallel)
    losses = merge_losses(losses_from_preview(preview.steps), losses_from_diff(diff))
    change = None
    if old_stack is not None and diff is not None:
        old_cost = estimate(old_stack, diff.old, [])
        change = downgrade(
            diff, old_stack.phase.users.min, stack.phase.users.min, old_cost, new_cost
        )
    return Review(
        target.name,
        stack.phase_name,
        deployed,
        preview,
        diff,
        losses,
        change,
        new_cost,
        tuple(notes),
    )


def estimate(stack: ResolvedStack, inventory: Inventory, notes: list[str]) -> Any | None:
    """The monthly cost of `inventory` (cost.estimate_for_stack: the phase's usage, users and
    budget with the stack's overrides), None when cost.py is absent."""
    try:
        from .cost import estimate_for_stack
    except ImportError:  # INTEGRATION POINT: cost.py comes with the cost change (issue #4)
        notes.append("cost not estimated: floyo_scale/cost.py is not available")
        return None
    return estimate_for_stack(stack, inventory)


def check_budget(cost: Any | None, allow_over_budget: bool) -> None:
    """policy.check_budget (exit 6 over budget unless allowed); nothing without a cost."""
    if cost is None:
        return
    try:
        from .policy import check_budget as policy_check
    except ImportError:  # INTEGRATION POINT: policy.py comes with the cost change (issue #4)
        return
    policy_check(cost, allow_over_budget)


def deploy(
    session: Session,
    *,
    approve: Callable[[Review], bool],
    allow_destroy: bool = False,
    allow_over_budget: bool = False,
    targets: Sequence[str] = (),
    parallel: int | None = None,
) -> UpReport:
    """`up`, safely: review (offline plan + real preview), refuse data loss (exit 6) and an
    over-budget phase (exit 6) unless allowed, ask `approve` (the confirmation rule lives
    with the caller, who knows the terminal), then update."""
    from .guards import check_destroy

    review = review_up(session, targets=targets, parallel=parallel)
    if review.preview.unreadable and not allow_destroy:
        raise GuardrailError(
            f"{review.preview.unreadable} event(s) of the preview could not be read, so it "
            "cannot be shown that no database, bucket or cache is deleted or replaced",
            "run `floyo-scale preview` to look at it, then rerun with --allow-destroy",
        )
    check_destroy(review.losses, allow_destroy)
    check_budget(review.cost, allow_over_budget)
    if not approve(review):
        raise GuardrailError("not confirmed: nothing was changed")
    report = session.up(targets=targets, parallel=parallel, expected=len(review.preview.changes))
    return replace(report, review=review)
