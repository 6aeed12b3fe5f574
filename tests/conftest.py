"""Fixtures shared by the whole suite: the repository, a scratch workspace, the CLI in-process."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
TERMINAL_WIDTH = "100"  # fixed, so anything that wraps (help, usage) is the same everywhere

# Every subprocess a test starts (`python -m floyo_scale`, `python -c ...`) imports the code of
# this checkout, not a floyo-scale installed elsewhere: PYTHONPATH comes before site-packages
# (and before the .pth file of an editable install). tests/test_checkout.py proves it.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)
# The one test hook of floyo_scale/transport/hosts.py: provider clients accept a loopback
# address (the suite's stand-in servers) besides their providers' own https hosts. Set for
# the whole run, subprocesses included; tests/test_transport.py unsets it to see it refused.
os.environ["FLOYO_TEST_LOOPBACK"] = "1"


# Property-based tests: the same examples on every run and machine (derandomize: a failure is
# reproducible and a green run does not depend on the day's luck), no per-example deadline (a
# loaded machine is not a bug) and no example database beside the checkout. The weekly
# `newest` workflow sets HYPOTHESIS_PROFILE=explore: random examples, as many again.
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", deadline=None, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def serve_moto() -> Iterator[str]:
    """moto in server mode on a loopback port (boto3 reaches it through AWS_ENDPOINT_URL or
    endpoint_url), stopped at the end; its per-request log lines silenced."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server for the test module (its state is the module's own)."""
    yield from serve_moto()


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """stderr as one line, its wrapping undone (errors wrap to the screen's width), for
        a test that looks for a phrase."""
        return " ".join(self.err.split())


class _Terminal:
    """What the `cli` fixture's output is made for: a terminal (COLUMNS wide)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_aws_preflight() -> Iterator[None]:
    """No test has AWS: the engine's AWS preflight is skipped everywhere but in
    tests/test_aws_preflight.py, which runs it against moto. A MonkeyPatch of its own, so a
    test's `monkeypatch.undo()` keeps it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOYO_SKIP_AWS_PREFLIGHT", "1")
        yield


@pytest.fixture
def repo_root() -> Path:
    return REPO


def copy_workspace(dest: Path) -> Path:
    """Copy the repository's phases/ and stacks/ into `dest`; return `dest`."""
    for folder in ("phases", "stacks"):
        shutil.copytree(REPO / folder, dest / folder)
    return dest


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's phases/ and stacks/ in a temporary folder, which is also
    the working directory (so paths in messages print relative: phases/startup.yaml)."""
    copy_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run `floyo-scale ARGS...` in-process: cli("validate", "--format", "json"), on a
    terminal COLUMNS wide (TERMINAL_WIDTH unless the test sets another)."""
    from floyo_scale.cli import main
    from floyo_scale.render import text

    # our output is made for a terminal COLUMNS wide (piped, it would ignore COLUMNS); the
    # stream itself is still what capsys gives (so --help, rich's own, stays plain)
    detect = text.Screen.detect.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        text.Screen, "detect", classmethod(lambda cls, stream, env: detect(cls, _Terminal(), env))
    )
    monkeypatch.setenv("COLUMNS", TERMINAL_WIDTH)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()  # drop anything printed before
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


# --- a real PostgreSQL (tests/pg.py): one server per session, one database per test ---------


@contextlib.contextmanager
def _pg_folder(name: str) -> Iterator[Path]:
    """A folder the server's own system user can reach. Not under pytest's basetemp: pytest
    makes /tmp/pytest-of-<user> private (0700) at the start of every session, which would
    lock the server (it runs as another user) out of its data directory."""
    folder = Path(tempfile.mkdtemp(prefix=f"floyo-{name}-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    from pg import start_server

    with _pg_folder("pg") as folder:
        server = start_server(folder / "data")
        yield server
        server.stop()


@pytest.fixture(scope="session")
def pg_server2() -> Iterator[object]:
    """A second, independent server (the migration's target, say)."""
    from pg import start_server

    with _pg_folder("pg2") as folder:
        server = start_server(folder / "data")
        yield server
        server.stop()


@pytest.fixture
def pg_database(pg_server: object) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.create_database()  # type: ignore[attr-defined]
