"""The one money formatter. Every dollar amount a user reads goes through `usd`: whole
dollars rounded half up ($1,610.50 -> $1,611; Python's own `{:,.0f}` rounds half to even and
would show $1,610), cents on request (also half up: $0.125 -> $0.13); ranges, signed deltas
and unit prices are built from it. tests/test_money.py rejects a `$` amount formatted
anywhere else in floyo_scale.

Pure: imports nothing of ours, so guards and policy (which must not import render) use it too.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def usd(value: float, cents: bool = False) -> str:
    """`$1,234` (or `$1,234.56` with cents); negative as `-$10`."""
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if cents:
        return f"{sign}${_places(amount, 2)}"
    return f"{sign}${_whole(amount):,}"


def unit_usd(price: float, places: int = 6) -> str:
    """A unit price, with as many decimals as it has (up to `places`), at least cents:
    `$599.00`, `$0.125`, `$0.000002`."""
    sign = "-" if price < 0 else ""
    text = _places(abs(price), places)
    whole, _, decimals = text.partition(".")
    decimals = decimals.rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{decimals}"


def money(value: float | None) -> str:
    """A price or budget: `custom` when there is none; cents below $100 when it has them
    (`$0.02`, `$12.50`), whole dollars otherwise (`$25`, `$1,611`)."""
    if value is None:
        return "custom"
    return usd(value, cents=abs(value) < 100 and value != int(value))


def usd_range(low: float, high: float) -> str:
    """`$112–$160`, or `$112` when both ends round to the same dollar."""
    if _whole(abs(low)) == _whole(abs(high)) and (low < 0) == (high < 0):
        return usd(high)
    return f"{usd(low)}–{usd(high)}"


def signed_usd(value: float) -> str:
    """`+$612`, `-$40`, `$0`."""
    if _whole(abs(value)) == 0:
        return "$0"
    return ("+" if value > 0 else "") + usd(value)


def _places(amount: float, places: int) -> str:
    """`amount` (not negative) with `places` decimals and thousands commas, half up; from
    its shortest repr, so 0.125 is the 0.125 a user wrote (not the binary 0.12499...)."""
    exact = Decimal(repr(amount)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{exact:,.{places}f}"


def _whole(amount: float) -> int:
    return int(math.floor(amount + 0.5))  # half up, not banker's rounding
