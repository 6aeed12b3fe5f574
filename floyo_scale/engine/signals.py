"""Signals: `pulumi` runs in its own session; SIGINT/SIGTERM/SIGHUP are forwarded as one graceful
cancel, escalated after a grace period.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from ..errors import (
    Interrupted,
)

GRACE_SECONDS = 60.0  # after the first forwarded SIGINT, before Pulumi is told to stop at once
KILL_SECONDS = 10.0  # after that, before the child is killed


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
