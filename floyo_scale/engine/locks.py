"""Stack locks: who holds one (from Pulumi's error or the backend's lock files), and the stale-lock
policy of `cancel`.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import GuardrailError

_LOCK_LINE = re.compile(
    r"^\s*(?P<path>\S+\.json): created by (?P<user>[^@\s]+)@(?P<host>\S+) "
    r"\(pid (?P<pid>\d+)\) at (?P<since>\S+)",
    re.MULTILINE,
)


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


def check_stale(holders: tuple[LockHolder, ...], stack: str, force: bool) -> None:
    """The stale-lock policy of `cancel`: a lock whose holder still runs on this machine is
    not stale, and is released only with `force` (exit 6 otherwise)."""
    alive = [h for h in holders if h.alive_here()]
    if alive and not force:
        raise GuardrailError(
            f"stack {stack} is locked by a process that still runs: {alive[0].describe()}",
            "that update is not stale: wait for it or stop it; --force releases the lock anyway",
        )
