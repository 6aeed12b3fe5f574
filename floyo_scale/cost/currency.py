"""The one money formatter. Every dollar amount a user reads goes through `usd`: whole
dollars rounded half up ($1,610.50 -> $1,611; Python's own `{:,.0f}` rounds half to even and
would show $1,610), cents on request; ranges and signed deltas are built from it.

Pure: imports nothing of ours, so guards and policy (which must not import render) use it too.
"""

from __future__ import annotations

import math


def usd(value: float, cents: bool = False) -> str:
    """`$1,234` (or `$1,234.56` with cents); negative as `-$10`."""
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if cents:
        return f"{sign}${amount:,.2f}"
    return f"{sign}${_whole(amount):,}"


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


def _whole(amount: float) -> int:
    return int(math.floor(amount + 0.5))  # half up, not banker's rounding
