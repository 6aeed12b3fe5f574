"""The Pulumi CLI and plugins: where they are, how they are installed (`setup`), how the
CLI runs."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import pulumi.automation as auto
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from ..errors import (
    EngineError,
)
from .failures import SETUP_HINT, _headline
from .signals import run_child

CLI_VERSION = metadata.version("pulumi")  # `setup` installs the CLI of the SDK's own release
MIN_CLI_VERSION = "3.229.0"  # refresh --preview-only stopped taking the diy lock in v3.229.0


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


def provider_packages() -> tuple[str, ...]:
    """The provider SDK packages the program imports, read from its source (nothing is
    imported): every top-level package an `import` anywhere in floyo_scale/infra names
    that ships a `pulumi-plugin.json` naming a resource plugin, the file the Python
    language host reads to find the plugins a program needs (pulumi/pulumi
    sdk/python/cmd/pulumi-language-python/main.go, listPulumiPackageInfos). Imports inside
    functions count (`pulumiverse_sentry`, only for stacks that configure Sentry), and so do
    those for type checkers, which name what infra/_sdk.py loads leaf by leaf. A package
    the program imports that is not installed is listed too (required_plugins says so)."""
    infra = Path(__file__).resolve().parent.parent / "infra"
    names: set[str] = set()
    for path in sorted(infra.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return tuple(sorted(name for name in names if _plugin_file(name) is not False))


def _plugin_file(package: str) -> Path | None | bool:
    """The package's pulumi-plugin.json naming a resource plugin; False: the package has
    none (not a provider SDK); None: the package is not installed."""
    try:
        spec = util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        # a provider SDK by its name, though absent (reported by required_plugins)
        return None if package.startswith(("pulumi_", "pulumiverse_")) else False
    if not spec.submodule_search_locations:
        return False
    path = Path(spec.submodule_search_locations[0]) / "pulumi-plugin.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return path if isinstance(data, dict) and data.get("resource") and data.get("name") else False


def required_plugins(packages: Sequence[str] | None = None) -> tuple[Plugin, ...]:
    """From each provider package's `pulumi-plugin.json` (read, not imported); `packages`:
    the ones the program imports (provider_packages) unless given."""
    plugins = []
    for package in provider_packages() if packages is None else packages:
        found = _plugin_file(package)
        if not isinstance(found, Path):
            raise EngineError(
                f"the provider package {package} is not installed",
                "reinstall floyo-scale: python3 -m pip install -e .",
            )
        data = json.loads(found.read_text(encoding="utf-8"))
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
