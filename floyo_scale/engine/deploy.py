"""`up` and `destroy`, safely: review (offline plan, cost, real preview), guards, confirmation,
then the change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..cost import CostEstimate, estimate_for_stack, plan_stack
from ..errors import DriftDetected, FloyoError, GuardrailError, StackLockedError
from ..offline.inventory import Inventory
from ..offline.plan import diff_inventories
from ..policy import Loss, downgrade, enforce, losses_from_diff, merge_losses, refusals
from ..policy import check_budget as policy_check
from ..spec import ResolvedStack, Workspace, load_stack
from .locks import LockHolder, check_stale
from .results import DriftReport, PreviewReport, Review, UpReport, losses_from_preview
from .session import Session

# -- up, with its guards -------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineReview:
    """What `up` knows before it needs credentials: the plan, its cost, and what a change
    from the stack file's own phase to another (`up --phase P`) would destroy."""

    inventory: Inventory
    cost: CostEstimate
    losses: tuple[Loss, ...]


def review_offline(stack: ResolvedStack, root: Path) -> OfflineReview:
    """The offline plan and cost of `stack`; with a phase other than the stack file's, the
    stateful resources moving there from the file's phase would delete or replace (the
    deployed phase, read from the state, is compared again after the preview)."""
    inventory, cost = plan_stack(stack)  # with the AWS Budget at the AWS share of the cost
    losses: tuple[Loss, ...] = ()
    if stack.phase_name != stack.stack.phase:
        declared = load_stack(Workspace(root), stack.name, stack.stack.phase)
        losses = losses_from_diff(diff_inventories(plan_stack(declared)[0], inventory))
    return OfflineReview(inventory, cost, losses)


def check_offline(review: OfflineReview, *, allow_destroy: bool, allow_over_budget: bool) -> None:
    """The guards known offline, before any credential is asked for: what `up` refuses
    (policy.refusals: what the app cannot reach, with no override; data the phase change
    destroys, then over budget; exit 6 unless allowed), the same list `diff` reports."""
    enforce(
        refusals(review.losses, review.cost, review.inventory),
        allow_destroy=allow_destroy,
        allow_over_budget=allow_over_budget,
    )


def review_up(
    session: Session,
    *,
    targets: Sequence[str] = (),
    parallel: int | None = None,
    offline: OfflineReview | None = None,
) -> Review:
    """The offline plan (and, on a phase change, its diff from the deployed phase), the cost,
    and a real preview. `offline`: the plan and cost already made (not made again)."""
    target = session.target
    stack = target.stack
    notes: list[str] = []
    deployed = session.deployed_phase()
    if offline is not None:
        new_inventory, new_cost = offline.inventory, offline.cost
    else:
        new_inventory, new_cost = plan_stack(stack)
    old_stack: ResolvedStack | None = None
    diff = None
    if deployed and deployed != stack.phase_name:
        try:
            old_stack = load_stack(Workspace(target.root), target.name, deployed)
        except FloyoError as exc:
            notes.append(f"deployed phase {deployed!r} does not load ({exc}); no offline diff")
        else:
            diff = diff_inventories(plan_stack(old_stack)[0], new_inventory)
    preview = session.preview(targets=targets, parallel=parallel)
    losses = merge_losses(losses_from_preview(preview.steps), losses_from_diff(diff))
    change = None
    if old_stack is not None and diff is not None:
        old_cost = estimate(old_stack, diff.old)
        change = downgrade(
            diff, old_stack.phase.users.min, stack.phase.users.min, old_cost, new_cost
        )
    return Review(
        target.name,
        stack.phase_name,
        deployed,
        preview,
        diff,
        losses,
        change,
        new_cost,
        tuple(notes),
    )


def estimate(stack: ResolvedStack, inventory: Inventory) -> CostEstimate:
    """The monthly cost of `inventory` (cost.estimate_for_stack: the phase's usage, users and
    budget with the stack's overrides)."""
    return estimate_for_stack(stack, inventory)


def check_budget(cost: CostEstimate, allow_over_budget: bool) -> None:
    """policy.check_budget: exit 6 over budget unless allowed."""
    policy_check(cost, allow_over_budget)


def deploy(
    session: Session,
    *,
    approve: Callable[[Review], bool],
    allow_destroy: bool = False,
    allow_over_budget: bool = False,
    targets: Sequence[str] = (),
    parallel: int | None = None,
    offline: OfflineReview | None = None,
) -> UpReport:
    """`up`, safely: review (offline plan + real preview), refuse data loss (exit 6) and an
    over-budget phase (exit 6) unless allowed, ask `approve` (engine.approval's approver:
    the confirmation rule, asked through the caller's prompt), then update. `offline`: the
    review made before the credentials were asked for (review_offline), reused.

    A self-managed backend's preview takes no lock and its update does: when the update
    finds the stack locked, another update is changing the state the review was made
    against. Within `--lock-timeout` the whole review (preview, guards, confirmation) runs
    again after each wait, never the update alone; `approve` is asked again."""
    waiting = session.lock_wait("; the review (preview, guards, confirmation) runs again")
    while True:
        review = review_up(session, targets=targets, parallel=parallel, offline=offline)
        check_review(review, allow_destroy=allow_destroy, allow_over_budget=allow_over_budget)
        if not approve(review):
            raise GuardrailError("not confirmed: nothing was changed")
        try:
            report = session.up(
                targets=targets,
                parallel=parallel,
                expected=len(review.preview.changes),
                retry_locked=False,
            )
        except StackLockedError as exc:
            if waiting.wait(exc):
                continue
            raise
        return replace(report, review=review)


def check_review(review: Review, *, allow_destroy: bool, allow_over_budget: bool) -> None:
    """What `up` refuses after its review: a preview it could not read whole (it cannot
    vouch that nothing stateful goes), then the same list `diff` reports (policy.refusals),
    with the preview's losses merged into the offline plan's; exit 6 unless allowed."""
    if review.preview.unreadable and not allow_destroy:
        raise GuardrailError(
            f"{review.preview.unreadable} event(s) of the preview could not be read, so it "
            "cannot be shown that no database, bucket or cache is deleted or replaced",
            "run `floyo-scale preview` to look at it, then rerun with --allow-destroy",
        )
    enforce(
        refusals(review.losses, review.cost),
        allow_destroy=allow_destroy,
        allow_over_budget=allow_over_budget,
    )


@dataclass(frozen=True)
class DestroyReport:
    """What `destroy` found (`plan`, a destroy preview) and, unless there was nothing to
    destroy, what it did (`counts`)."""

    plan: PreviewReport
    counts: dict[str, int] | None


def destroy(
    session: Session,
    *,
    confirm: Callable[[PreviewReport], bool],
    targets: Sequence[str] = (),
    parallel: int | None = None,
) -> DestroyReport:
    """`destroy`, safely: a destroy preview first; nothing to destroy ends there; otherwise
    `confirm` sees the preview (engine.approval's approver: the confirmation rule, asked
    through the caller's prompt) and only then is anything deleted (exit 6 when not confirmed)."""
    plan = session.preview_destroy(targets=targets)
    if not plan.changes:
        return DestroyReport(plan, None)
    if not confirm(plan):
        raise GuardrailError("not confirmed: nothing was destroyed")
    counts = session.destroy(targets=targets, parallel=parallel, expected=len(plan.changes))
    return DestroyReport(plan, counts)


def drift(session: Session) -> DriftReport:
    """Refresh in preview mode (nothing is written): what differs from the state."""
    return session.drift()


def drift_error(report: DriftReport) -> DriftDetected | None:
    """Exit 7 when the stack has drifted (DriftReport.has_drift), with how to resolve it."""
    if not report.has_drift:
        return None
    stack = report.stack
    return DriftDetected(
        f"stack {stack} has drifted: {len(report.drifted) or 'some'} resources differ "
        "from the state",
        f"`floyo-scale up --stack {stack}` puts the spec back; `floyo-scale refresh "
        f"--stack {stack}` accepts what is in the cloud",
    )


def release_lock(session: Session, *, force: bool = False) -> tuple[LockHolder, ...]:
    """`cancel`: release a stale lock; returns who held it (when the backend says). Refuses
    (exit 6) when the holder still runs on this machine, unless `force`."""
    holders = session.lock_holders()
    check_stale(holders, session.target.name, force)
    session.cancel()
    return holders
