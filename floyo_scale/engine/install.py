"""The Pulumi CLI and plugins: where they are, how they are installed (`setup`), how the
CLI runs."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

import pulumi.automation as auto
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from ..errors import (
    EngineError,
    ProviderError,
)
from ..progress import Reporter, Step, ignore
from .failures import SETUP_HINT, pulumi_headline
from .signals import run_child

CLI_VERSION = metadata.version("pulumi")  # `setup` installs the CLI of the SDK's own release
MIN_CLI_VERSION = "3.229.0"  # refresh --preview-only stopped taking the diy lock in v3.229.0


# Where `setup` downloads the CLI from, and where its checksum is published: Pulumi's own
# release archives (get.pulumi.com/releases/sdk/pulumi-v<version>-<os>-<arch>.tar.gz, as
# pulumi/actions and Pulumi's install.sh download them) and the release's
# `pulumi-<version>-checksums.txt` ("<sha256>  <file name>" lines; no "v" in its name) on the
# GitHub release v<version> (github.com/pulumi/pulumi/releases). Two origins: one tampered
# host cannot swap both the archive and its checksum.
RELEASES_URL = "https://get.pulumi.com/releases/sdk"
CHECKSUMS_URL = "https://github.com/pulumi/pulumi/releases/download"
DOWNLOAD_TIMEOUT = 60.0  # seconds without a byte before a download counts as failed


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


def setup(report: Reporter = ignore) -> SetupReport:
    """Install the pinned CLI under the data directory (unless a compatible one is found)
    and the provider plugins the installed SDKs need; each install is a progress.Step
    (where "setup") reported to `report`."""
    installed_cli = False
    try:
        command = find_cli()
    except EngineError:
        root = cli_root()
        cli_step = f"install the Pulumi CLI {CLI_VERSION}"
        report(Step("setup", cli_step, f"into {root}"))
        try:
            install_cli(root, CLI_VERSION)
            command = PulumiCLI(root=str(root), version=VersionInfo.parse(MIN_CLI_VERSION))
        except ProviderError as exc:
            raise EngineError(
                f"could not download the Pulumi CLI {CLI_VERSION}: {exc.message}",
                "check the network (or HTTPS_PROXY) and run `floyo-scale setup` again; or "
                f"install Pulumi {MIN_CLI_VERSION} or later yourself "
                "(https://www.pulumi.com/docs/install/) and put `pulumi` on PATH",
            ) from None
        except (OSError, subprocess.CalledProcessError, auto.InvalidVersionError) as exc:
            raise EngineError(
                f"could not download the Pulumi CLI {CLI_VERSION} from get.pulumi.com: "
                f"{_reason(exc)}",
                "check the network (or HTTPS_PROXY) and run `floyo-scale setup` again; or "
                f"install Pulumi {MIN_CLI_VERSION} or later yourself "
                "(https://www.pulumi.com/docs/install/) and put `pulumi` on PATH",
            ) from exc
        installed_cli = True
        report(Step("setup", cli_step, f"into {root}", done=True))
    report(
        Step(
            "setup",
            "use the Pulumi CLI",
            f"{command.command} (Pulumi {command.version})",
            done=True,
        )
    )
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
            plugin_step = f"install the {plugin.name} plugin {plugin.version}"
            report(Step("setup", plugin_step, f"for {plugin.package}"))
            try:
                if plugin.server:
                    ws.install_plugin_from_server(plugin.name, plugin.version, plugin.server)
                else:
                    ws.install_plugin(plugin.name, plugin.version)
            except auto.CommandError as exc:
                raise EngineError(
                    f"could not install the {plugin.name} plugin {plugin.version}: "
                    f"{pulumi_headline(exc)}",
                    "check the network and run `floyo-scale setup` again",
                ) from exc
            installed.append(plugin)
            report(Step("setup", plugin_step, f"for {plugin.package}", done=True))
    return SetupReport(
        command.command, str(command.version), installed_cli, plugins, tuple(installed)
    )


# -- the CLI download, verified --------------------------------------------------------------


def archive_name(version: str, system: str | None = None, machine: str | None = None) -> str:
    """The release archive for this machine: pulumi-v3.x.y-linux-x64.tar.gz and the like."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}.get(machine)
    if system not in ("linux", "darwin", "windows") or arch is None:
        raise EngineError(
            f"Pulumi publishes no CLI for {system} on {machine}",
            "install Pulumi yourself (https://www.pulumi.com/docs/install/) and put `pulumi` "
            "on PATH",
        )
    return f"pulumi-v{version}-{system}-{arch}." + ("zip" if system == "windows" else "tar.gz")


def published_checksum(checksums: str, name: str) -> str | None:
    """The sha256 `checksums` (sha256sum's format) gives for the file `name`."""
    for line in checksums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name and len(parts[0]) == 64:
            return parts[0].lower()
    return None


def install_cli(
    root: Path,
    version: str,
    *,
    releases_url: str | None = None,
    checksums_url: str | None = None,
    name: str | None = None,
) -> Path:
    """Download the CLI archive and its published checksum, refuse any mismatch, then unpack
    the archive's binaries into `root/bin` (all or nothing). Returns the `pulumi` binary."""
    name = name or archive_name(version)
    archive = _download(f"{releases_url or RELEASES_URL}/{name}")
    checksums = _download(
        f"{checksums_url or CHECKSUMS_URL}/v{version}/pulumi-{version}-checksums.txt"
    )
    expected = published_checksum(checksums.decode("utf-8", "replace"), name)
    if expected is None:
        raise EngineError(
            f"the published checksums of Pulumi {version} list no {name}; nothing was installed",
            "install Pulumi yourself (https://www.pulumi.com/docs/install/) and put `pulumi` "
            "on PATH",
        )
    actual = hashlib.sha256(archive).hexdigest()
    if not hmac.compare_digest(actual, expected):
        raise EngineError(
            f"the download of {name} does not match its published checksum (sha256 "
            f"{actual[:16]}..., published {expected[:16]}...); nothing was installed",
            "run `floyo-scale setup` again; if it still does not match, the download is not "
            "Pulumi's: check the network (a proxy rewriting downloads) before anything else",
        )
    return _unpack(archive, name, root / "bin")


def _download(url: str) -> bytes:
    from urllib.parse import urlsplit

    from ..transport import HttpClient, RetryPolicy

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    http = HttpClient(
        "pulumi-releases",
        base,
        timeout=DOWNLOAD_TIMEOUT,
        policy=RetryPolicy(max_retries=2, backoff_cap=2.0),  # 1 s, then 2 s
    )
    answer = http.request("GET", parts.path, accept="*/*")
    assert answer is not None
    if answer.status != 200:
        raise EngineError(
            f"{base}{parts.path} answered HTTP {answer.status}",
            "check that Pulumi published this version, and the network",
        )
    return answer.data


def _unpack(archive: bytes, name: str, bin_dir: Path) -> Path:
    """The files under the archive's `pulumi/` folder into `bin_dir`: regular files only, by
    their base name (no path from the archive is trusted), moved in place all at once."""
    import io
    import tarfile
    import zipfile

    files: dict[str, bytes] = {}
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            for info in zipped.infolist():
                if not info.is_dir():
                    files[Path(info.filename).name] = zipped.read(info)
    else:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    files[Path(member.name).name] = extracted.read()
    binary = "pulumi.exe" if name.endswith(".zip") else "pulumi"
    if binary not in files:
        raise EngineError(f"{name} holds no {binary}", "report it to floyo-scale")
    bin_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bin-", dir=bin_dir.parent))
    for file_name, data in files.items():
        target = staging / file_name
        target.write_bytes(data)
        target.chmod(0o755)
    if bin_dir.exists():
        shutil.rmtree(bin_dir)
    staging.rename(bin_dir)
    return bin_dir / binary


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, subprocess.CalledProcessError) and exc.output:
        out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else exc.output
        return out.strip().splitlines()[-1]
    return str(reason or exc)
