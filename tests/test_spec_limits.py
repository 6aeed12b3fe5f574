"""Limits that belong to the phase (issue 19): every phase states each limit `status` judges
(none inherits another phase's), and on the traffic the cost model sizes a phase for, its own
alerts stay quiet while the next phase's traffic trips them, so a warning means the phase is
outgrown, and the recommendation to move up is earned."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from floyo_scale.cost.context import GB_HOURS_PER_INVOCATION, expected_usage
from floyo_scale.observe.recommend import LIMIT_KEYS, ordered_phases
from floyo_scale.spec import Workspace, load_phase
from floyo_scale.spec.models import Limits

WORKSPACE = Workspace(REPO)
ORDER = ordered_phases(WORKSPACE)
LIMITS = tuple(Limits.model_fields)


def alert_percent(phase, field: str) -> float:
    """The percentage `status` warns from, per limit (observe/supabase.py, vercel.py)."""
    return {
        "database_gb": phase.alerts.database_size_percent,
        "bandwidth_gb_month": phase.alerts.bandwidth_percent,
        "function_gb_hours_month": phase.budget.alert_percent,
    }[field]


def phase(name: str):
    return load_phase(WORKSPACE, name)[1]


def test_the_phases_in_order() -> None:
    assert ORDER == ["startup", "growth", "scale", "enterprise"]
    assert set(LIMIT_KEYS.values()) == set(LIMITS)  # status measures every limit


@pytest.mark.parametrize("name", ORDER)
def test_each_phase_states_its_own_limits(name: str) -> None:
    """No phase inherits a limit: each states it from the plans it buys (its file says
    which, with the catalog entry), so `show --provenance` points at the phase itself."""
    raw = yaml.safe_load((REPO / "phases" / f"{name}.yaml").read_text())
    assert set(raw["limits"]) == set(LIMITS)


@pytest.mark.parametrize("name", ORDER)
def test_expected_usage_stays_under_the_phase_alerts_and_the_next_phase_crosses_them(
    name: str,
) -> None:
    this = phase(name)
    i = ORDER.index(name)
    following = phase(ORDER[i + 1]) if i + 1 < len(ORDER) else None
    mine = expected_usage(this.usage, this.users)
    theirs = expected_usage(following.usage, following.users) if following else None
    for field in LIMITS:
        alert_at = getattr(this.limits, field) * alert_percent(this, field) / 100
        low, high = mine[field]
        assert low <= high < alert_at, f"{name}: expected {field} up to {high:g} >= {alert_at:g}"
        if theirs is not None:
            assert theirs[field][1] > alert_at, (
                f"{name}: {ORDER[i + 1]}'s expected {field} (up to {theirs[field][1]:g}) "
                f"never reaches {name}'s alert at {alert_at:g}"
            )


def test_the_function_hours_the_issue_quotes() -> None:
    """growth 8-208 GB-h, scale 83-2,083 (the cost model's figures issue 19 quotes)."""
    growth = expected_usage(phase("growth").usage, phase("growth").users)
    scale = expected_usage(phase("scale").usage, phase("scale").users)
    assert [round(x) for x in growth["function_gb_hours_month"]] == [8, 208]
    assert [round(x) for x in scale["function_gb_hours_month"]] == [83, 2083]
    assert pytest.approx(2 * 0.3 / 3600 / 10) == GB_HOURS_PER_INVOCATION


def test_the_estimate_prices_the_same_function_hours() -> None:
    """expected_usage and the estimate's "function memory" line count the same GB-hours."""
    from floyo_scale.cost import estimate_cost
    from floyo_scale.offline.synth import synthesize
    from floyo_scale.spec import load_stack

    stack = load_stack(WORKSPACE, "production", None)
    inventory = synthesize(stack)
    usage = stack.phase.usage
    estimate = estimate_cost(inventory, usage, stack.phase.budget, users=stack.phase.users)
    memory = next(line for line in estimate.lines if line.item == "function memory")
    expected = expected_usage(usage, stack.phase.users)["function_gb_hours_month"]
    assert memory.quantity == pytest.approx(expected, abs=1e-4)  # the line rounds to 4 places


@pytest.mark.parametrize("name", ORDER)
def test_each_phase_states_its_own_uptime_target(name: str) -> None:
    """The seed's "Reliability: uptime": every phase states its target itself (none
    inherits), so `show --provenance` points at the phase's own line."""
    raw = yaml.safe_load((REPO / "phases" / f"{name}.yaml").read_text())
    assert set(raw["reliability"]) == {"uptime_percent"}


def test_uptime_targets_never_loosen_as_the_phases_grow() -> None:
    targets = [phase(name).reliability.uptime_percent for name in ORDER]
    assert targets == sorted(targets) and targets == [99.5, 99.9, 99.9, 99.95]
