"""`doctor`: every prerequisite of a stack, found or missing, each problem with its hint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from .text import paint, screen, wrap_words

if TYPE_CHECKING:  # only for annotations (nothing more imported at run time)
    from ..engine.prerequisites import Report

_MARK = {
    "ok": ("ok", "green"),
    "missing": ("MISSING", "bold red"),
    "warning": ("warning", "yellow"),
    "skipped": ("skipped", "dim"),
}


def doctor_text(report: Report) -> str:
    """A line per check: its status (in colour on a terminal), its name, what was found or
    what is wrong, and the hint under it; then what to do."""
    width = screen().columns
    name_width = max(len(c.name) for c in report.checks)
    indent = 2 + 8 + 1 + name_width + 2
    lines = [
        *wrap_words(
            f"doctor: stack {report.stack}, state in {report.backend}".split(" "), width, 2
        ),
        "",
    ]
    for check in report.checks:
        word, color = _MARK[check.status]
        detail = check.error.message if check.error else check.detail
        text = wrap_words(detail.split(" "), width - indent, 0)
        lines.append(f"  {paint(f'{word:<8}', color)} {check.name:<{name_width}}  {text[0]}")
        lines += [" " * indent + line for line in text[1:]]
        if check.hint:
            hint = wrap_words(f"hint: {check.hint}".split(" "), width - indent, 2)
            lines += [" " * indent + line for line in hint]
    missing = len(report.missing)
    lines.append("")
    if missing:
        lines.append(
            f"{missing} missing: fix {'it' if missing == 1 else 'them'}, then run "
            f"`floyo-scale doctor --stack {report.stack}` again"
        )
    else:
        lines.append("all prerequisites are there")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def doctor_error(report: Report) -> UsageError:
    """Exit 2: something is missing (each listed above, on stdout, with its hint)."""
    missing = report.missing
    names = ", ".join(c.name for c in missing)
    return UsageError(
        f"{len(missing)} prerequisite{'s' if len(missing) != 1 else ''} missing for stack "
        f"{report.stack}: {names}",
        "each one's hint is in the list above",
    )
