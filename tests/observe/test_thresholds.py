"""Verdicts: the edges written down in floyo_scale/observe/thresholds.py, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floyo_scale.errors import ExitCode
from floyo_scale.observe.status import StatusReport
from floyo_scale.observe.thresholds import (
    Kind,
    Reading,
    SourceResult,
    SourceState,
    Verdict,
    judge,
)

# -- share of a limit (database 8 GB, alert at 80 %) -----------------------------------------


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (0.0, Verdict.OK),
        (6.39, Verdict.OK),
        (6.4, Verdict.WARNING),  # exactly 80 %: the alert fires when the share reaches it
        (6.41, Verdict.WARNING),  # just over
        (8.0, Verdict.WARNING),  # exactly the limit: full, not past it
        (8.0001, Verdict.OVER),
        (100.0, Verdict.OVER),
    ],
)
def test_share_of_a_limit(value: float, verdict: Verdict) -> None:
    assert judge(Kind.SHARE, value, 8.0, 80) is verdict


def test_exactly_80_percent_despite_float_arithmetic() -> None:
    # 0.8 * 50 is 40.00000000000001 in binary; 40 GB of 50 GB is still exactly 80 %
    assert judge(Kind.SHARE, 40.0, 50.0, 80) is Verdict.WARNING
    assert judge(Kind.SHARE, 0.7 * 100 / 0.875, 100.0, 80) is Verdict.WARNING


# -- absolute thresholds (p95 > 1 s, errors > 1 %) -------------------------------------------


@pytest.mark.parametrize(
    ("value", "verdict"),
    [(999.0, Verdict.OK), (1000.0, Verdict.OK), (1000.1, Verdict.OVER), (5000.0, Verdict.OVER)],
)
def test_p95_above_one_second(value: float, verdict: Verdict) -> None:
    assert judge(Kind.ABOVE, value, 1000, None) is verdict


def test_error_rate_edges() -> None:
    assert judge(Kind.ABOVE, 1.0, 1.0, None) is Verdict.OK  # the seed: "> 1 %"
    assert judge(Kind.ABOVE, 1.01, 1.0, None) is Verdict.OVER


# -- missing data points ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.SHARE, Kind.ABOVE, Kind.INFO])
def test_no_value_is_no_data(kind: Kind) -> None:
    assert judge(kind, None, 8.0, 80) is Verdict.NO_DATA
    assert not Verdict.NO_DATA.crossed


def test_no_limit_is_no_data() -> None:
    assert judge(Kind.SHARE, 3.0, None, 80) is Verdict.NO_DATA


def test_info_is_never_judged() -> None:
    assert judge(Kind.INFO, 1e12, 1.0, 80) is Verdict.INFO


@given(
    value=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    limit=st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    alert=st.integers(min_value=1, max_value=100),
)
def test_verdicts_are_monotonic_in_the_value(value: float, limit: float, alert: int) -> None:
    order = [Verdict.OK, Verdict.WARNING, Verdict.OVER]
    low = judge(Kind.SHARE, value, limit, alert)
    high = judge(Kind.SHARE, value * 1.5 + 0.001, limit, alert)
    assert order.index(high) >= order.index(low)
    assert (low is Verdict.OVER) == (value > limit)


# -- exit codes ------------------------------------------------------------------------------


def reading(value: float | None, limit: float = 8.0) -> Reading:
    return Reading("supabase", "database.size", "database size", value, "GB", Kind.SHARE, limit, 80)


def vercel(bandwidth: float | None = 10.0, p95: float | None = 300.0) -> SourceResult:
    """Vercel measuring bandwidth, p95 and error rate (the other three seed thresholds)."""
    return SourceResult(
        "vercel",
        SourceState.OK,
        (
            Reading("vercel", "vercel.bandwidth", "bandwidth", bandwidth, "GB", Kind.SHARE,
                    1000, 80),
            Reading("vercel", "vercel.p95", "p95", p95, "ms", Kind.ABOVE, 1000),
            Reading("vercel", "vercel.error_rate", "5xx", 0.1, "%", Kind.ABOVE, 1.0),
        ),
    )  # fmt: skip


def up(*values: float | None) -> SourceResult:
    """AWS measuring uptime, one reading per domain (growth's target: 99.9%)."""
    return SourceResult(
        "aws",
        SourceState.OK,
        tuple(
            Reading("aws", "uptime", f"uptime (d{i}.floyo.app)", v, "%", Kind.BELOW, 99.9,
                    note="" if v is not None else f"d{i}.floyo.app: no data points in the window")
            for i, v in enumerate(values or (99.95,))
        ),
    )  # fmt: skip


def report(*sources: SourceResult) -> StatusReport:
    """The sources given, and AWS measuring uptime within its target unless an AWS source
    is among them."""
    if not any(s.name == "aws" for s in sources):
        sources = (*sources, up())
    return StatusReport("production", "growth", "2026-11-20T12:00:00Z", 24, tuple(sources))


def test_exit_codes() -> None:
    fine = SourceResult("supabase", SourceState.OK, (reading(1.0),))
    crossed = SourceResult("supabase", SourceState.OK, (reading(7.0),))
    failed = SourceResult("upstash", SourceState.FAILED, message="upstash answered HTTP 500")
    missing = SourceResult(
        "sentry", SourceState.UNAVAILABLE, message="SENTRY_AUTH_TOKEN is not set"
    )
    assert report(fine, vercel()).exit_code is ExitCode.OK
    # Sentry's p95 and failure rate are not needed while Vercel measures both
    assert report(fine, vercel(), missing).exit_code is ExitCode.OK
    assert report(fine, vercel(), failed).exit_code is ExitCode.ENGINE  # no seed threshold
    assert report(crossed, vercel()).exit_code is ExitCode.THRESHOLD
    assert report(crossed, vercel(), failed).exit_code is ExitCode.THRESHOLD  # act on it first
    assert int(ExitCode.THRESHOLD) == 8 and int(ExitCode.BLIND) == 9


def test_fail_closed_a_seed_threshold_not_measured_is_blind() -> None:
    fine = SourceResult("supabase", SourceState.OK, (reading(1.0),))
    no_data = SourceResult("supabase", SourceState.OK, (reading(None),))
    down = SourceResult("vercel", SourceState.FAILED, message="vercel answered HTTP 500")
    nothing = SourceResult(
        "supabase", SourceState.UNAVAILABLE, message="SUPABASE_ACCESS_TOKEN is not set"
    )
    # measured nothing at all: blind, never green
    assert report().exit_code is ExitCode.BLIND
    assert [b.threshold for b in report().blind] == [
        "database size",
        "bandwidth",
        "p95",
        "error rate",
    ]
    # one source missing: blind to what it measures, and says why
    blind = report(nothing, vercel()).blind
    assert [(b.threshold, b.reason) for b in blind] == [
        ("database size", "supabase unavailable: SUPABASE_ACCESS_TOKEN is not set")
    ]
    assert report(nothing, vercel()).exit_code is ExitCode.BLIND
    # a failing source: blind as well (9 rather than 4: the watch cannot see)
    blind = report(fine, down).blind
    assert [b.threshold for b in blind] == ["bandwidth", "p95", "error rate"]
    assert blind[0].reason == "vercel failed: vercel answered HTTP 500"
    assert report(fine, down).exit_code is ExitCode.BLIND
    # an answer with no data points measures nothing
    assert report(no_data, vercel()).blind[0].reason == "supabase: no data points"
    assert report(no_data, vercel()).exit_code is ExitCode.BLIND
    assert report(fine, vercel(p95=None)).exit_code is ExitCode.BLIND
    # a crossed threshold still wins: someone must act on it
    crossed = SourceResult("supabase", SourceState.OK, (reading(7.0),))
    assert report(crossed, down).exit_code is ExitCode.THRESHOLD
    assert report(crossed, down).blind  # and the report still says what it is blind to


def test_an_estimate_is_shown_never_judged() -> None:
    spend = Reading("spend", "spend.month", "spend", 1000.0, "USD", Kind.SHARE, 300, 80,
                    estimate=True)  # fmt: skip
    assert spend.verdict is Verdict.ESTIMATE and not spend.verdict.crossed
    assert spend.share == pytest.approx(333.3, abs=0.1)  # shown against the budget
    fine = SourceResult("supabase", SourceState.OK, (reading(1.0),))
    r = StatusReport("production", "growth", "2026-11-20T12:00:00Z", 24,
                     (fine, vercel(), up()), spend=spend)  # fmt: skip
    assert r.crossed == () and r.exit_code is ExitCode.OK
    assert r.to_json()["metrics"][-1]["verdict"] == "estimate"


def test_uptime_is_judged_against_its_target_and_blind_when_not_measured() -> None:
    """The phase's reliability.uptime_percent must at least be met: exactly the target is ok,
    anything under it is `below` (crossed, exit 8); a domain whose uptime could not be read
    leaves the seed's uptime unmeasured (exit 9), with the reason the reading gives."""
    fine = SourceResult("supabase", SourceState.OK, (reading(1.0),))
    assert judge(Kind.BELOW, 99.9, 99.9, None) is Verdict.OK
    assert judge(Kind.BELOW, 99.89, 99.9, None) is Verdict.BELOW
    assert Verdict.BELOW.crossed and judge(Kind.BELOW, None, 99.9, None) is Verdict.NO_DATA
    assert report(fine, vercel(), up(99.9, 100.0)).exit_code is ExitCode.OK
    below = report(fine, vercel(), up(99.95, 99.2))
    assert [r.label for r in below.crossed] == ["uptime (d1.floyo.app)"]
    assert below.exit_code is ExitCode.THRESHOLD
    # one domain read, the other not: not measured
    half = report(fine, vercel(), up(100.0, None))
    assert [(b.threshold, b.reason) for b in half.blind] == [
        ("uptime", "aws: d1.floyo.app: no data points in the window")
    ]
    assert half.exit_code is ExitCode.BLIND
    down = SourceResult("aws", SourceState.FAILED, message="aws: EndpointConnectionError")
    assert [(b.threshold, b.reason) for b in report(fine, vercel(), down).blind] == [
        ("uptime", "aws failed: aws: EndpointConnectionError")
    ]
