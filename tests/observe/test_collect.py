"""The concurrent read: bounded by the timeout, results in order, failures kept apart."""

from __future__ import annotations

import functools
import threading
import time

import pytest
from botocore.exceptions import ClientError

from floyo_scale.errors import ProviderError
from floyo_scale.observe.collect import Source, SourceUnavailable, collect, gather
from floyo_scale.observe.http import SourceError
from floyo_scale.observe.thresholds import Reading, SourceState


def reading(name: str) -> Reading:
    return Reading(name, f"{name}.x", name, 1.0, "count")


def sleeper(seconds: float, release: threading.Event):
    def read(deadline: float) -> list[Reading]:
        release.wait(seconds)
        return [reading("slow")]

    return read


def test_one_hung_source_costs_the_timeout_and_no_more() -> None:
    """Asserted by outcome, not by seconds: `collect` returns while the hung source is still
    waiting (it never gets its answer), with the others' readings and the hung one failed."""
    release = threading.Event()
    sources = [
        Source("fast", lambda deadline: [reading("fast")]),
        Source("hung", sleeper(60, release)),
        Source("also", lambda deadline: [reading("also")]),
    ]
    try:  # ample for the two instant sources on a loaded machine; the hung one never answers
        results = collect(sources, timeout=2)
        assert not release.is_set()  # the hung reader is still blocked: nobody waited for it
    finally:
        release.set()
    assert [r.name for r in results] == ["fast", "hung", "also"]
    assert [r.state for r in results] == [SourceState.OK, SourceState.FAILED, SourceState.OK]
    assert results[1].message == "hung did not answer within 2 s"


def together(n: int) -> threading.Barrier:
    """Passed only when `n` callers wait on it at the same time: run one after another, the
    first would wait alone until the barrier's safety timeout broke it."""
    return threading.Barrier(n, timeout=30)


def test_sources_run_at_once() -> None:
    barrier = together(5)

    def read(deadline: float) -> list[Reading]:
        barrier.wait()
        return [reading("s")]

    results = collect([Source(f"s{i}", read) for i in range(5)], timeout=60)
    assert [r.state for r in results] == [SourceState.OK] * 5, [r.message for r in results]


def test_failures_and_unavailable_sources_are_kept_apart() -> None:
    def broken(deadline: float) -> list[Reading]:
        raise ProviderError("vercel answered HTTP 500", "run status again later")

    def no_keys(deadline: float) -> list[Reading]:
        raise SourceUnavailable("no AWS credentials", "set AWS_PROFILE")

    def bug(deadline: float) -> list[Reading]:  # an SDK's own error (a bug would propagate)
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")

    results = collect(
        [
            Source("vercel", broken),
            Source("aws", no_keys),
            Source("odd", bug),
            Source.unavailable("supabase", "SUPABASE_ACCESS_TOKEN is not set", "export it"),
            Source.not_applicable("upstash", "no Upstash cache"),
        ],
        timeout=2,
    )
    states = [r.state for r in results]
    assert states == [
        SourceState.FAILED,
        SourceState.UNAVAILABLE,
        SourceState.FAILED,
        SourceState.UNAVAILABLE,
        SourceState.NOT_APPLICABLE,
    ]
    assert results[0].hint == "run status again later"
    assert "AccessDenied" in results[2].message


def test_gather_runs_a_sources_requests_at_once_and_raises_the_first_failure() -> None:
    barrier = together(4)

    def ask(key: str) -> str:
        barrier.wait()
        return key

    found = gather(
        {k: functools.partial(ask, k) for k in ("a", "b", "c", "d")},
        time.monotonic() + 60,
        what="vercel",
    )
    assert found == {"a": "a", "b": "b", "c": "c", "d": "d"}

    def fail() -> str:
        raise SourceError("vercel", "vercel answered HTTP 502")

    with pytest.raises(SourceError, match="HTTP 502"):
        gather({"ok": lambda: "x", "bad": fail}, time.monotonic() + 5, what="vercel")
    never = threading.Event()
    try:
        with pytest.raises(SourceError, match="did not answer"):
            gather({"slow": lambda: never.wait(60)}, time.monotonic() + 0.2, what="vercel")
    finally:
        never.set()
