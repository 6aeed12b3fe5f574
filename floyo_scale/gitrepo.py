"""Every read of git: the commit a checkout is on, whether it is dirty, a revision's tree.

One definition of **dirty**: the files that feed the program have uncommitted changes
(modified, staged, deleted, or new and not ignored). Those files are the spec (the
workspace's `phases/` and `stacks/` folders) and the program's code (the `floyo_scale`
package this process runs, when it sits in the same checkout). A change anywhere else in
the repository (a README, the tests, another project) does not change what a stack builds,
so it does not make a release (`engine.release`) or the head of `diff --base`
(`review.affected`) dirty.

Every call has a timeout (`TIMEOUT`): git waiting on a lock or a slow network filesystem
never hangs a command. `git()` raises a UsageError (git missing, failed or too slow);
`state()` is the forgiving reader: outside a checkout, or without git, there is no commit.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from .errors import UsageError

TIMEOUT = 120.0  # seconds for one git command (an archive of a large tree included)
SPEC_FOLDERS = ("phases", "stacks")  # the spec, under the workspace root
PACKAGE = Path(__file__).resolve().parent  # the program's code, when run from a checkout
HINT = "run floyo-scale inside a git repository and name a commit, branch or tag"


@dataclass(frozen=True)
class State:
    """The commit a checkout is on (None outside git) and whether it is dirty."""

    commit: str | None
    dirty: bool


@overload
def git(repo: Path, *args: str, binary: Literal[False] = False) -> str: ...
@overload
def git(repo: Path, *args: str, binary: Literal[True]) -> bytes: ...
def git(repo: Path, *args: str, binary: bool = False) -> str | bytes:
    """`git -C repo ARGS`: its output (stripped text, or the bytes), or a UsageError."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError("git is not installed", "install git, or compare a saved plan") from None
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"git {args[0]} took longer than {TIMEOUT:g} s", "check the repository, then retry"
        ) from None
    except OSError as exc:
        raise UsageError(f"git could not run: {exc}", "check that git is installed") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed: {message[-1] if message else 'no message'}", HINT)
    return result.stdout if binary else result.stdout.decode().strip()


def program_paths(root: Path, top: Path) -> list[str]:
    """The pathspecs, relative to `root`, of the files that feed the program (see the
    module's docstring)."""
    paths = list(SPEC_FOLDERS)
    if PACKAGE.is_relative_to(top.resolve()):
        paths.append(os.path.relpath(PACKAGE, root.resolve()))
    return paths


def state(root: Path) -> State:
    """The commit the checkout at `root` is on, and whether the files that feed the program
    have uncommitted changes. Outside a checkout, or without git: State(None, False)."""
    try:
        commit = git(root, "rev-parse", "HEAD")
        top = Path(git(root, "rev-parse", "--show-toplevel"))
        status = git(
            root,
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--",
            *program_paths(root, top),
        )
    except UsageError:
        return State(None, False)
    return State(commit, bool(status))


def resolve(root: Path, ref: str) -> tuple[Path, str, str]:
    """The repository's top folder, the commit `ref` names, and where `root` sits in it."""
    top = Path(git(root, "rev-parse", "--show-toplevel"))
    prefix = git(root, "rev-parse", "--show-prefix")
    try:
        commit = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except UsageError:
        raise UsageError(
            f"{ref!r} is not a commit in this repository",
            "name a branch, tag or commit hash (in CI: fetch it first, e.g. "
            "actions/checkout with fetch-depth: 0)",
        ) from None
    return top, commit, prefix


def archive(top: Path, commit: str) -> bytes:
    """The tree at `commit` as a tar archive, from git's object store (no checkout: the
    working tree, the index and HEAD are never touched)."""
    return git(top, "archive", "--format=tar", commit, binary=True)
