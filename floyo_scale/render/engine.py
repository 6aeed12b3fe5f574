"""What the engine commands print on stdout when they are done: the preview, the review `up`
shows before it asks, drift, outputs, the subscriptions still waiting for confirmation.

They take floyo_scale.engine's result types (typed Any here: this module does not import
Pulumi) and show type tokens, names and changed keys only: never a value, so never a secret.
(What is shown while the engine works is render.progress.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..offline.inventory import short_type
from ..progress import QUIET_OPS
from .plan import change_mark
from .text import paint

if TYPE_CHECKING:  # only for annotations (nothing more imported at run time)
    from ..engine.results import DriftReport, PreviewReport, Review, Step


def _change_mark(step: Step) -> str:
    return "  " + paint("!! destroys data", "bold red") if step.destroys_data else ""


def preview_table(report: PreviewReport) -> str:
    """A line per change: `+ create`, `~ update`, `+- replace`, `- delete` (in colour on a
    terminal), the type, the name, the changed keys."""
    changes = report.changes
    lines = [f"Preview: {report.op} of stack {report.stack}", ""]
    for step in sorted(changes, key=lambda s: (s.op, s.type, s.name)):
        keys = f" ({', '.join(step.keys)})" if step.keys else ""
        lines.append(
            f"{change_mark(step.op)} {short_type(step.type)} {step.name}{keys}{_change_mark(step)}"
        )
    lines += ["", counts_line(report.counts) if changes else "no changes"]
    if report.unreadable:
        lines.append(_unreadable(report.unreadable))
    return "\n".join(lines) + "\n"


def _unreadable(count: int) -> str:
    return (
        f"warning: {count} engine event(s) could not be read: the list may be incomplete, "
        "and `up` does not go on without --allow-destroy"
    )


def preview_json(report: PreviewReport) -> dict[str, Any]:
    return {
        "op": report.op,
        "stack": report.stack,
        "changes": [
            {
                "op": s.op,
                "type": s.type,
                "name": s.name,
                "urn": s.urn,
                "keys": list(s.keys),
                "stateful": s.stateful,
                "destroys_data": s.destroys_data,
            }
            for s in sorted(report.changes, key=lambda s: (s.op, s.type, s.name))
        ],
        "summary": dict(sorted(report.counts.items())),
        # events that could not be read (or that the summary counts and none announced)
        "unreadable": report.unreadable,
    }


def preview_markdown(report: PreviewReport) -> str:
    from .text import limit_markdown, md_code, md_escape

    lines = [f"### floyo-scale preview: {md_code(report.stack)}", ""]
    if report.unreadable:
        lines += [f"> {_unreadable(report.unreadable)}", ""]
    if not report.changes:
        return "\n".join(lines + ["No changes.", ""])
    lines += [counts_line(report.counts), "", "| op | type | name | changed |", "|---|---|---|---|"]
    for s in sorted(report.changes, key=lambda s: (s.op, s.type, s.name)):
        mark = " **destroys data**" if s.destroys_data else ""
        lines.append(
            f"| {s.op}{mark} | {md_code(short_type(s.type))} | {md_escape(s.name)} "
            f"| {md_escape(', '.join(s.keys))} |"
        )
    return limit_markdown("\n".join(lines) + "\n")


def counts_line(counts: Mapping[str, int], to: str = "to ") -> str:
    """`1 to create, 2 to update (40 unchanged)`; `to=""` once they are done."""
    changed = {k: v for k, v in counts.items() if k not in QUIET_OPS and v}
    text = ", ".join(f"{v} {to}{k}" for k, v in sorted(changed.items())) or "no changes"
    same = counts.get("same", 0)
    return text + (f" ({same} unchanged)" if same else "")


def review_text(review: Review) -> str:
    """What `up` found before changing anything: phase change, data loss (allowed), cost."""
    from ..cost.currency import money

    lines = [f"up: stack {review.stack} at phase {review.phase}"]
    if review.deployed_phase and review.deployed_phase != review.phase:
        lines.append(f"  deployed at phase {review.deployed_phase}")
    lines.append("  " + counts_line(review.preview.counts))
    if review.downgrade is not None:
        lines.append(review.downgrade.describe())
    for loss in review.losses:
        lines.append(f"  allowed by --allow-destroy: {loss.describe()}")
    cost = review.cost
    if cost is not None:
        lines.append(
            f"  monthly cost: {money(cost.total_low)} to {money(cost.total_high)}"
            + (f" (budget {money(cost.budget_monthly)})" if cost.budget_monthly else "")
        )
    lines += [f"  note: {note}" for note in review.notes]
    return "\n".join(lines) + "\n"


def drift_table(report: DriftReport) -> str:
    if not report.has_drift:
        return f"no drift: stack {report.stack} matches its state\n"
    differ = len(report.drifted) or "some"
    lines = [f"Drift on stack {report.stack}: {differ} resources differ", ""]
    for d in report.drifted:
        what = "gone from the cloud" if d.op == "delete" else "changed: " + ", ".join(d.keys)
        lines.append(f"  {short_type(d.type)} {d.name}: {what.rstrip(': ')}")
    return "\n".join(lines) + "\n"


def drift_json(report: DriftReport) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "drift": report.has_drift,
        "resources": [
            {"type": d.type, "name": d.name, "op": d.op, "keys": list(d.keys)}
            for d in report.drifted
        ],
        "summary": dict(sorted(report.counts.items())),
    }


def outputs_values(outputs: Mapping[str, Any], show_secrets: bool) -> dict[str, Any]:
    from ..offline.inventory import SECRET

    return {k: (o.value if show_secrets or not o.secret else SECRET) for k, o in outputs.items()}


def outputs_table(values: Mapping[str, Any]) -> str:
    import json

    if not values:
        return "no outputs\n"
    width = max(len(k) for k in values)
    lines = [
        f"{k:<{width}}  {v if isinstance(v, str) else json.dumps(v, sort_keys=True)}"
        for k, v in values.items()
    ]
    return "\n".join(lines) + "\n"


def pending_text(pending: Sequence[Any], problem: str | None) -> str:
    """After `up`: the alert e-mails that receive nothing until their address confirms the
    subscription (observe.aws.Pending), or why that could not be read."""
    if problem:
        return f"note: {problem}; `floyo-scale status` lists them later\n"
    if not pending:
        return ""
    lines = [
        f"waiting for confirmation: {len(pending)} alert subscription"
        f"{'s' if len(pending) != 1 else ''} receive nothing until each address clicks the "
        "link AWS sent it (once per region); `destroy` cannot delete an unconfirmed one:"
    ]
    lines += [f"  - {p.endpoint} ({p.protocol}, {p.region})" for p in pending]
    return "\n".join(lines) + "\n"
