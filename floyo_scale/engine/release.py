"""What a stack runs: the commit, the digest of the resolved spec and the floyo-scale version.

Every `up` hands it to the program, which exports it as the stack output `floyo_release`; the
stack's update history says whether that update succeeded. `promote` compares staging's
record with the checkout it runs from, so production gets exactly what staging ran.

The spec digest covers every stack's resolved spec (settings and phase, as `show --stack S
--format json` prints it; an invalid stack as its error), so staging and production, built
from one checkout, record the same digest, and any change to a phase or a stack file changes
it. Plain SHA-256: the specs hold secret references, never secret values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .. import __version__, gitrepo
from ..errors import FloyoError
from ..spec import Workspace, describe

OUTPUT = "floyo_release"


@dataclass(frozen=True)
class Release:
    commit: str | None  # None outside a git checkout
    dirty: bool  # uncommitted changes in the files that feed the program (gitrepo.state)
    spec_digest: str
    version: str

    def to_output(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "uncommitted_changes": self.dirty,
            "spec_digest": self.spec_digest,
            "version": self.version,
        }

    @classmethod
    def from_output(cls, value: Any) -> Release | None:
        """Read back `to_output()` from the stack's outputs; None when absent or malformed."""
        if not isinstance(value, dict) or not isinstance(value.get("spec_digest"), str):
            return None
        commit = value.get("commit")
        return cls(
            commit if isinstance(commit, str) else None,
            bool(value.get("uncommitted_changes")),
            value["spec_digest"],
            str(value.get("version", "?")),
        )

    def describe(self) -> str:
        commit = self.commit[:12] if self.commit else "no commit"
        dirty = " with uncommitted changes" if self.dirty else ""
        return f"{commit}{dirty}, spec {self.spec_digest[:19]}, floyo-scale {self.version}"


def spec_digest(workspace: Workspace) -> str:
    """SHA-256 of every stack's resolved spec, in canonical JSON."""
    specs: dict[str, Any] = {}
    for name in workspace.stack_names():
        try:
            specs[name] = describe(workspace, None, name).data
        except FloyoError as exc:
            specs[name] = {"invalid": exc.message}
    text = json.dumps(specs, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def current(workspace: Workspace) -> Release:
    """The release this checkout would deploy."""
    git = gitrepo.state(workspace.root)
    return Release(git.commit, git.dirty, spec_digest(workspace), __version__)
