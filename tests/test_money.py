"""One money formatter (floyo_scale.cost.currency): every dollar amount rounds the same way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import floyo_scale
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


def test_cents_round_half_up_too_and_unit_prices_keep_their_decimals() -> None:
    from floyo_scale.cost import unit_usd

    assert usd(0.125, cents=True) == "$0.13"  # `{:.2f}` shows $0.12 (binary, half to even)
    assert usd(1234.565, cents=True) == "$1,234.57" and usd(-3.005, cents=True) == "-$3.01"
    assert unit_usd(599) == "$599.00" and unit_usd(0.125) == "$0.125"
    assert unit_usd(0.000002) == "$0.000002" and unit_usd(0.09) == "$0.09"


# -- no `$` amount formatted outside floyo_scale/cost/currency.py -----------------------------

_SPEC = r"(?::[<>=^]?[+\- ]?#?0?\d*[,_]?(?:\.\d+)?[dfFgGn%]?)?"
_FORMAT_FIELD = re.compile(r"\$\{[\w.\[\]]*" + _SPEC + r"\}")  # "${:,.2f}".format(x)
_PERCENT_FIELD = re.compile(r"\$%[-+ #0]*\d*(?:\.\d+)?[dfFgGi]")  # "$%.2f" % x


def money_formatted_here(source: str) -> list[int]:
    """The lines of `source` that put a `$` right before a formatted number: an f-string
    `f"${x:,.0f}"`, `"${:,.2f}".format(x)`, `"$%.2f" % x`, `"$" + str(x)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for before, after in zip(parts, parts[1:], strict=False):
                if (
                    isinstance(before, ast.Constant)
                    and str(before.value).endswith("$")
                    and isinstance(after, ast.FormattedValue)
                ):
                    found.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if (
                node.func.attr == "format"
                and isinstance(target, ast.Constant)
                and _FORMAT_FIELD.search(str(target.value))
            ):
                found.append(node.lineno)
        elif isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant):
            text = str(node.left.value)
            percent = isinstance(node.op, ast.Mod) and _PERCENT_FIELD.search(text)
            if percent or (isinstance(node.op, ast.Add) and text.endswith("$")):
                found.append(node.lineno)
    return found


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ('f"${x:,.0f}"', True),
        ('f"budget ${x}/month"', True),
        ('"${:,.2f}".format(x)', True),
        ('"${0}".format(x)', True),
        ('"$%.2f" % x', True),
        ('"$" + str(x)', True),
        ('f"{usd(x)}/month"', False),
        ('"${env:NAME}"', False),  # a secret reference, not money
        ('f"${{env:{name}}}"', False),
        ('"refer to ${env:NAME}".format()', False),
        ('f"{x:,.0f} GB"', False),
    ],
)
def test_the_scan_catches_every_way_of_formatting_a_dollar_amount(source, caught) -> None:
    assert bool(money_formatted_here(source)) is caught


def test_no_dollar_amount_is_formatted_outside_the_one_formatter() -> None:
    package = Path(floyo_scale.__file__).parent
    one = package / "cost" / "currency.py"
    offenders = [
        f"{path.relative_to(package.parent)}:{line}"
        for path in sorted(package.rglob("*.py"))
        if path != one
        for line in money_formatted_here(path.read_text())
    ]
    assert not offenders, "format money with floyo_scale.cost.currency (usd, ...): " + ", ".join(
        offenders
    )
