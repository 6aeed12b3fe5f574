"""`promote --from staging --to production`: apply to production exactly what staging ran.

Refused (exit 6, saying why), in this order, before production is touched:
1. staging's last update did not succeed, or recorded no release, or ran another commit or
   another spec (its `floyo_release` output against this checkout's engine.release.current),
   or either side had uncommitted changes;
2. staging has drifted (engine.DriftReport.has_drift: what was tested is not what runs);
3. production's `up` refuses: its preview deletes or replaces a stateful resource (without
   allow_destroy), or it is over budget (without allow_over_budget): engine.deploy's guards.
Otherwise production is updated by engine.deploy, and records the same release.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import GuardrailError
from .deploy import deploy
from .release import OUTPUT, Release
from .results import Review, UpReport
from .session import Session

UP_HINT = (
    "let `floyo-scale up --stack {stack}` run at this commit (the promote workflow does, on "
    "every push to main), then promote"
)


@dataclass(frozen=True)
class PromoteReport:
    source: str
    ran: Release  # what the source stack last ran (what production now runs)
    up: UpReport


def last_release(session: Session) -> Release:
    """What the stack's last successful update ran; GuardrailError when that cannot be shown."""
    name = session.target.name
    hint = UP_HINT.format(stack=name)
    last = next((u for u in session.history() if u.kind in ("update", "destroy")), None)
    if last is None:
        raise GuardrailError(f"refusing to promote: stack {name} has never been updated", hint)
    if last.kind == "destroy":
        raise GuardrailError(
            f"refusing to promote: stack {name} was destroyed after its last update", hint
        )
    if last.result != "succeeded":
        when = f" (started {last.start_time:%Y-%m-%d %H:%M} UTC)" if last.start_time else ""
        raise GuardrailError(
            f"refusing to promote: the last update of stack {name}{when} did not succeed "
            f"({last.result})",
            hint,
        )
    output = session.outputs().get(OUTPUT)
    ran = Release.from_output(output.value if output is not None else None)
    if ran is None:
        raise GuardrailError(
            f"refusing to promote: stack {name}'s last update recorded no {OUTPUT} output "
            "(it was made by hand, or by a floyo-scale that did not record it)",
            hint,
        )
    return ran


def check_same(ran: Release, now: Release, stack: str) -> None:
    """Refuse unless `stack` last ran this very commit and spec, both without local edits."""
    problems = []
    if now.commit is None:
        problems.append("this folder is not a git checkout, so its commit cannot be compared")
    elif ran.commit != now.commit:
        ran_commit = ran.commit[:12] if ran.commit else "no commit"
        problems.append(f"stack {stack} last ran commit {ran_commit}, this is {now.commit[:12]}")
    if ran.spec_digest != now.spec_digest:
        problems.append(
            f"stack {stack} last ran spec {ran.spec_digest[:19]}, this checkout's is "
            f"{now.spec_digest[:19]}"
        )
    if ran.dirty:
        problems.append(f"stack {stack} last ran uncommitted changes")
    if now.dirty:
        problems.append("this checkout has uncommitted changes")
    if problems:
        raise GuardrailError(
            "refusing to promote: " + "; ".join(problems), UP_HINT.format(stack=stack)
        )


def check_source(source: Session, now: Release, *, drift: bool = True) -> Release:
    """Refusals 1 and 2: the source's last successful update ran `now`, and (unless `drift`
    is False) it has not drifted. Returns what it ran.

    The release and the history are read from the state; the drift needs the source's own
    cloud credentials (its AWS account), which a job holding the destination's may lack:
    `promote --check-only` runs this part alone, with the source's credentials."""
    name = source.target.name
    ran = last_release(source)
    check_same(ran, now, name)
    if not drift:
        return ran
    report = source.drift()
    if report.has_drift:
        listed = ", ".join(f"{d.type} {d.name}" for d in report.drifted[:10])
        more = f" (and {len(report.drifted) - 10} more)" if len(report.drifted) > 10 else ""
        raise GuardrailError(
            f"refusing to promote: stack {name} has drifted from what was deployed"
            + (f": {listed}{more}" if listed else ""),
            f"see `floyo-scale drift --stack {name}`; `floyo-scale up --stack {name}` puts the "
            "spec back, then promote",
        )
    return ran


def promote(
    source: Session,
    dest: Session,
    now: Release,
    *,
    approve: Callable[[Review], bool],
    allow_destroy: bool = False,
    allow_over_budget: bool = False,
    source_drift_checked: bool = False,
    targets: Sequence[str] = (),
    parallel: int | None = None,
) -> PromoteReport:
    """Check the source stack against `now` (this checkout), then `up` the destination.
    `source_drift_checked`: the source's drift was checked just before, with its own
    credentials (`check_source`); its release is checked again here all the same."""
    name = source.target.name
    ran = check_source(source, now, drift=not source_drift_checked)
    try:
        report = deploy(
            dest,
            approve=approve,
            allow_destroy=allow_destroy,
            allow_over_budget=allow_over_budget,
            targets=targets,
            parallel=parallel,
        )
    except GuardrailError as exc:
        raise GuardrailError(
            f"refusing to promote to {dest.target.name}: {exc.message}", exc.hint
        ) from None
    return PromoteReport(name, ran, report)
