"""floyo_scale.gitrepo against a real temporary git repository: the commit, the one
definition of dirty (the files that feed the program), a revision's tree, the timeout."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from floyo_scale import gitrepo
from floyo_scale.engine.release import current
from floyo_scale.errors import UsageError
from floyo_scale.review.affected import head_state
from floyo_scale.spec import Workspace


def run(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout whose workspace is the folder `infra/` (phases/, stacks/), with a README
    and a docs/ folder beside it."""
    top = tmp_path / "repo"
    for name, text in {
        "README.md": "readme\n",
        "docs/notes.md": "notes\n",
        "infra/phases/startup.yaml": "name: startup\n",
        "infra/stacks/dev.yaml": "phase: startup\n",
        "infra/notes.txt": "beside the spec\n",
        ".gitignore": "*.log\n",
    }.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    run(top, "init", "-q", "-b", "main")
    run(top, "config", "user.email", "test@example.com")
    run(top, "config", "user.name", "test")
    run(top, "add", "-A")
    run(top, "commit", "-q", "-m", "first")
    return top


def test_a_clean_checkout_has_its_commit_and_is_not_dirty(repo: Path) -> None:
    state = gitrepo.state(repo / "infra")
    assert state == gitrepo.State(run(repo, "rev-parse", "HEAD"), False)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "infra/stacks/dev.yaml").write_text("phase: growth\n"),  # modified
        lambda r: (r / "infra/phases/growth.yaml").write_text("name: growth\n"),  # untracked
        lambda r: (r / "infra/phases/startup.yaml").unlink(),  # deleted
        lambda r: run(r, "rm", "-q", "--cached", "infra/stacks/dev.yaml"),  # staged
    ],
    ids=["modified", "untracked", "deleted", "staged"],
)
def test_a_change_to_the_spec_is_dirty(repo: Path, change: Any) -> None:
    change(repo)
    assert gitrepo.state(repo / "infra").dirty


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "README.md").write_text("edited\n"),
        lambda r: (r / "docs/new.md").write_text("new\n"),
        lambda r: (r / "infra/notes.txt").write_text("edited\n"),
        lambda r: (r / "infra/stacks/debug.log").write_text("ignored\n"),
    ],
    ids=["readme", "docs", "beside-the-spec", "ignored"],
)
def test_a_change_elsewhere_is_not_dirty(repo: Path, change: Any) -> None:
    change(repo)
    assert not gitrepo.state(repo / "infra").dirty


def test_the_package_counts_when_it_sits_in_the_checkout(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = repo / "floyo_scale"
    package.mkdir()
    (package / "__init__.py").write_text("")
    run(repo, "add", "-A")
    run(repo, "commit", "-q", "-m", "package")
    monkeypatch.setattr(gitrepo, "PACKAGE", package)
    assert not gitrepo.state(repo / "infra").dirty
    (package / "program.py").write_text("x = 1\n")
    assert gitrepo.state(repo / "infra").dirty
    assert gitrepo.program_paths(repo / "infra", repo) == ["phases", "stacks", "../floyo_scale"]


def test_release_and_diff_base_share_the_definition(repo: Path) -> None:
    """engine.release and review.affected read the same state (they used to differ: the
    whole repository against the workspace folder)."""
    ws = Workspace(repo / "infra")
    (repo / "README.md").write_text("edited\n")
    assert not current(ws).dirty and not head_state(ws.root).dirty
    (repo / "infra/stacks/dev.yaml").write_text("phase: growth\n")
    assert current(ws).dirty and head_state(ws.root).dirty
    assert current(ws).commit == head_state(ws.root).commit == run(repo, "rev-parse", "HEAD")


def test_outside_a_checkout_there_is_no_commit(tmp_path: Path) -> None:
    assert gitrepo.state(tmp_path) == gitrepo.State(None, False)
    with pytest.raises(UsageError, match="git rev-parse failed"):
        gitrepo.resolve(tmp_path, "HEAD")


def test_resolve_and_archive_read_a_revision_without_touching_the_tree(repo: Path) -> None:
    first = run(repo, "rev-parse", "HEAD")
    (repo / "infra/stacks/dev.yaml").write_text("phase: growth\n")
    top, commit, prefix = gitrepo.resolve(repo / "infra", "main")
    assert (top.resolve(), commit, prefix) == (repo.resolve(), first, "infra/")
    with tarfile.open(fileobj=io.BytesIO(gitrepo.archive(top, commit))) as tar:
        member = tar.extractfile("infra/stacks/dev.yaml")
        assert member is not None and member.read() == b"phase: startup\n"
    assert (repo / "infra/stacks/dev.yaml").read_text() == "phase: growth\n"
    with pytest.raises(UsageError, match="'nope' is not a commit"):
        gitrepo.resolve(repo, "nope")


def test_every_call_has_the_timeout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    real = subprocess.run

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["timeout"])
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    gitrepo.state(repo)
    gitrepo.archive(*gitrepo.resolve(repo, "HEAD")[:2])
    assert seen and set(seen) == {gitrepo.TIMEOUT}

    def slow(*args: Any, **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(UsageError, match="took longer than"):
        gitrepo.git(repo, "status")
    assert gitrepo.state(repo) == gitrepo.State(None, False)


def test_no_git_is_a_usage_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(UsageError, match="git is not installed"):
        gitrepo.git(repo, "status")


def test_no_other_module_runs_git() -> None:
    """One git module: nothing else in the package spawns `git`."""
    package = Path(gitrepo.__file__).parent
    others = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.name != "gitrepo.py" and '"git"' in p.read_text()
    ]
    assert others == []
