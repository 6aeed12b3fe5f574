"""One money formatter (floyo_scale.cost.currency): every dollar amount rounds the same way."""

from __future__ import annotations

from floyo_scale import render
from floyo_scale.cost import money, usd


def test_half_a_dollar_rounds_up_everywhere() -> None:
    # render.money showed $1,610 (round half to even) where cost.usd showed $1,611
    assert usd(1610.5) == money(1610.5) == render.money(1610.5) == "$1,611"
    assert usd(2.5) == "$3" and usd(-2.5) == "-$3"


def test_money_shows_cents_below_100_and_custom_for_none() -> None:
    assert money(None) == "custom"
    assert money(12.5) == "$12.50" and money(0.02) == "$0.02"
    assert money(25) == "$25" and money(100.4) == "$100"
