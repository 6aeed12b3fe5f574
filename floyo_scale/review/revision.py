"""The stacks as they are at a git revision, planned by that revision's own program.

`diff --base REF` compares two revisions of the whole thing: phases, stacks AND the program
(a change to infra/ changes what a stack builds as surely as a change to its YAML). So the
base side cannot be planned with today's code. Instead:

1. The tree at REF is read from git's object store (`git archive REF`, unpacked into a
   temporary folder): the working tree, the index and HEAD are never touched, and
   uncommitted work stays where it is.
2. Its stacks are discovered from its own `stacks/` folder, never listed by hand.
3. Each stack is planned by a child Python process that imports the `floyo_scale` package of
   that tree (PYTHONPATH at the tree; the child checks it did) and runs its own
   `plan --stack S --format json`, the stable interface every revision has. The child uses
   this interpreter and the installed provider SDKs: a revision that needs other versions
   fails to plan, and is reported as such (with the end of what it printed), never as an
   empty stack.

The child gets the parent's digest key (digest.child_env), so the secret digests of both
sides are comparable, and nothing else of the environment but PATH and HOME
(`child_environment`): the base revision may be anyone's branch, and it never sees the
caller's credentials.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import gitrepo

PLAN_TIMEOUT = 600.0  # seconds for one stack's plan in the child process
DEFAULT_ENTRY = "floyo_scale.cli:run"


@dataclass(frozen=True)
class Revision:
    """A revision unpacked in a temporary folder."""

    ref: str  # as the user gave it
    commit: str  # the full hash it resolved to
    tree: Path  # the repository's top folder, unpacked
    root: Path  # the folder holding phases/ and stacks/ in that tree

    @property
    def short(self) -> str:
        return self.commit[:12]

    def stack_names(self) -> list[str]:
        """The stacks this revision defines (its stacks/*.yaml files)."""
        folder = self.root / "stacks"
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


@dataclass(frozen=True)
class BasePlan:
    """One stack planned at the base revision: its `plan --format json`, or why not."""

    stack: str
    plan: dict[str, Any] | None
    error: str | None = None  # set when the revision could not plan this stack

    @property
    def ok(self) -> bool:
        return self.plan is not None


def extract(root: Path, ref: str, dest: Path) -> Revision:
    """Unpack the tree at `ref` into `dest` from git's object store (no checkout)."""
    top, commit, prefix = gitrepo.resolve(root, ref)
    with tarfile.open(fileobj=io.BytesIO(gitrepo.archive(top, commit))) as tar:
        tar.extractall(dest, filter="data")
    return Revision(ref, commit, dest, dest / prefix)


def entry_point(tree: Path) -> str:
    """`module:function` of the revision's `floyo-scale` console script (its pyproject)."""
    try:
        data = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
        entry = data["project"]["scripts"]["floyo-scale"]
    except (OSError, KeyError, ValueError):
        return DEFAULT_ENTRY
    return entry if isinstance(entry, str) and ":" in entry else DEFAULT_ENTRY


# The child: import the revision's package (refusing one from anywhere else), then run its CLI.
_CHILD = """
import importlib, os, sys
tree = os.path.realpath(sys.argv.pop(1))
module, _, attr = sys.argv.pop(1).partition(":")
package = importlib.import_module(module.split(".")[0])
where = os.path.realpath(package.__file__ or "")
if not where.startswith(tree + os.sep):
    sys.exit(f"floyo_scale was imported from {where}, not from the revision at {tree}")
sys.argv[0] = "floyo-scale"
getattr(importlib.import_module(module), attr)()
"""


def plan_command(revision: Revision, stack: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        _CHILD,
        str(revision.tree),
        entry_point(revision.tree),
        "--root",
        str(revision.root),
        "plan",
        "--stack",
        stack,
        "--format",
        "json",
    ]


# What the base revision's child gets of the environment: nothing else. The base may be any
# branch (a pull request's), and its code runs here: it must not see the caller's credentials.
# - PATH: the child runs `git`-free, but Python and the provider SDKs look up tools on it
# - HOME: Python's site and the SDKs resolve `~` (user site-packages, config folders)
# - FLOYO_DIGEST_KEY: the digest key (offline.digest.child_env), so both sides' digests compare
# - SYSTEMROOT (Windows only): Python cannot start its socket or random modules without it
# Set here, not inherited: PYTHONPATH (the revision's tree alone; the interpreter finds its
# own site-packages), PYTHONSAFEPATH, PYTHONDONTWRITEBYTECODE (nothing written into the
# tree), PYTHONUTF8 (its JSON on stdout is UTF-8 whatever the caller's locale).
CHILD_KEEPS = ("PATH", "HOME", "FLOYO_DIGEST_KEY", *(("SYSTEMROOT",) if os.name == "nt" else ()))


def child_environment(revision: Revision, env: Mapping[str, str]) -> dict[str, str]:
    child = {name: env[name] for name in CHILD_KEEPS if name in env}
    child["PYTHONPATH"] = str(revision.tree)
    child["PYTHONDONTWRITEBYTECODE"] = "1"
    child["PYTHONSAFEPATH"] = "1"  # the child's working folder is not on its path
    child["PYTHONUTF8"] = "1"
    return child


def plan_stack(revision: Revision, stack: str, env: Mapping[str, str]) -> BasePlan:
    """Plan `stack` with the revision's own program, in a child process."""
    try:
        result = subprocess.run(
            plan_command(revision, stack),
            capture_output=True,
            text=True,
            env=child_environment(revision, env),
            cwd=revision.root,
            timeout=PLAN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return BasePlan(stack, None, f"planning took longer than {PLAN_TIMEOUT:g} s")
    # a plan that breaks a provider rule is printed, then exits 3 (or 1): still a plan
    try:
        data = json.loads(result.stdout) if result.stdout.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("resources"), list):
        return BasePlan(stack, data)
    if result.returncode == 0:
        return BasePlan(stack, None, "its plan did not print a plan as JSON")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    why = "; ".join(line.strip() for line in lines[-3:]) or "no message"
    return BasePlan(stack, None, f"exit {result.returncode}: {why}")


def plan_stacks(
    revision: Revision,
    stacks: Iterable[str],
    env: Mapping[str, str],
    plan: Callable[[Revision, str, Mapping[str, str]], BasePlan] = plan_stack,
) -> dict[str, BasePlan]:
    """Each stack at the revision (one child each, two at a time: the children are CPU-bound
    and a CI runner has two to four cores)."""
    from concurrent.futures import ThreadPoolExecutor

    names = list(stacks)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: plan(revision, s, env), names))
    return dict(zip(names, results, strict=True))
