"""Reading every source at once, each within its own time.

Each source runs in a daemon thread with a deadline. The caller waits for all of them, but
never past the deadline: a source still running then is reported as timed out and left
behind (a daemon thread does not keep the process alive). So with every source answering
the whole read takes as long as the slowest source, and with one hung it takes the timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import FloyoError, provider_errors
from .http import SourceError
from .thresholds import Reading, SourceResult, SourceState


class SourceUnavailable(FloyoError):  # noqa: N818 (a state, not a failure)
    """Raised by a reader that finds, once running, that it cannot be read (no credentials
    in boto3's chain): the source is reported unavailable, with the hint."""


T = TypeVar("T")
Reader = Callable[[float], list[Reading]]  # gets its deadline (time.monotonic() based)


@dataclass(frozen=True)
class Source:
    """A source to read, or why it cannot be (`unavailable`: a missing credential, nothing
    configured) with a hint."""

    name: str
    read: Reader | None = None
    state: SourceState = SourceState.OK
    message: str = ""
    hint: str = ""
    notes: tuple[str, ...] = ()

    @classmethod
    def unavailable(cls, name: str, message: str, hint: str = "") -> Source:
        return cls(name, None, SourceState.UNAVAILABLE, message, hint)

    @classmethod
    def not_applicable(cls, name: str, message: str) -> Source:
        return cls(name, None, SourceState.NOT_APPLICABLE, message)


def collect(
    sources: Sequence[Source],
    timeout: float,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[SourceResult]:
    """Run every readable source concurrently; results in the order given."""
    start = monotonic()
    deadline = start + timeout
    results: dict[int, SourceResult] = {}
    threads: dict[int, threading.Thread] = {}
    bugs: list[Exception] = []
    lock = threading.Lock()

    def run(index: int, source: Source) -> None:
        began = monotonic()
        assert source.read is not None
        try:
            readings = source.read(deadline)
            result = SourceResult(
                source.name,
                SourceState.OK,
                tuple(readings),
                seconds=monotonic() - began,
                notes=source.notes,
            )
        except SourceUnavailable as exc:
            result = SourceResult(
                source.name, SourceState.UNAVAILABLE, message=exc.message, hint=exc.hint or ""
            )
        except FloyoError as exc:
            result = SourceResult(
                source.name,
                SourceState.FAILED,
                message=exc.message,
                hint=exc.hint or "",
                seconds=monotonic() - began,
                notes=source.notes,
            )
        except provider_errors() as exc:  # a client library's own error (botocore, OSError)
            result = SourceResult(
                source.name,
                SourceState.FAILED,
                message=f"{source.name}: {_describe(exc)}",
                hint="run status again; if it persists, check the provider's status page",
                seconds=monotonic() - began,
                notes=source.notes,
            )
        except Exception as exc:  # a bug, not the provider: raised on the caller's thread
            with lock:
                bugs.append(exc)
            return
        with lock:
            results.setdefault(index, result)

    for index, source in enumerate(sources):
        if source.read is None:
            results[index] = SourceResult(
                source.name, source.state, message=source.message, hint=source.hint
            )
            continue
        thread = threading.Thread(
            target=run, args=(index, source), name=f"status-{source.name}", daemon=True
        )
        threads[index] = thread
        thread.start()

    for index, thread in threads.items():
        thread.join(max(0.0, deadline - monotonic()))
        with lock:
            if index not in results:  # still running: give up on it
                source = sources[index]
                results[index] = SourceResult(
                    source.name,
                    SourceState.FAILED,
                    message=f"{source.name} did not answer within {timeout:g} s",
                    hint="raise --timeout, or check the provider's status page",
                    seconds=timeout,
                    notes=source.notes,
                )
        if bugs:
            raise bugs[0]
    return [results[i] for i in range(len(sources))]


def gather(
    calls: Mapping[str, Callable[[], T]],
    deadline: float,
    *,
    what: str,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, T]:
    """Run a source's independent requests at once (daemon threads), so the source takes as
    long as its slowest request, not their sum. The first failure (in the order given) is
    raised; a request still running at the deadline is a timeout."""
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}

    def run(key: str, call: Callable[[], T]) -> None:
        try:
            results[key] = call()
        except BaseException as exc:  # handed to the caller's thread below
            errors[key] = exc

    threads = {
        key: threading.Thread(target=run, args=(key, call), daemon=True, name=f"{what}-{key}")
        for key, call in calls.items()
    }
    for thread in threads.values():
        thread.start()
    for thread in threads.values():
        thread.join(max(0.0, deadline - monotonic()))
    for key in calls:
        if key in errors:
            raise errors[key]
        if key not in results:
            raise SourceError(
                what,
                f"{what} did not answer within the time allowed ({key})",
                hint="raise --timeout, or check the provider's status page",
            )
    return results


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
