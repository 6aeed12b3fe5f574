"""The pull-request comment: summary first, a section per affected stack, under GitHub's
65,536 characters at any size (saying what was cut), and never a secret."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floyo_scale.cost import CostEstimate
from floyo_scale.engine import secret_refs
from floyo_scale.offline.inventory import Inventory, Resource
from floyo_scale.offline.synth import synthesize
from floyo_scale.render import mermaid
from floyo_scale.render.review import GITHUB_LIMIT, MARKER, comment
from floyo_scale.review.affected import Head, RevisionDiff, Side, compare_stack
from floyo_scale.spec import Workspace, load_stack

BUCKET = "aws:s3/bucket:Bucket"
BASE = "4f1c2a9e0b7d33e1c0ffee0000000000deadbeef"
HEAD = Head("9a8b7c6d5e4f30211000000000000000cafef00d", dirty=False)


def bucket(name: str, region: str = "us-east-1", **inputs: object) -> Resource:
    return Resource(BUCKET, name, "storage", region, {"bucket": name, **inputs})


def estimate(stack: str, phase: str, low: float, high: float, budget: float = 200.0):
    return CostEstimate(phase, stack, (), low, high, budget, round(100 * high / budget, 1))


def side(stack: str, phase: str, resources, low=10.0, high=20.0, budget=200.0) -> Side:
    inventory = Inventory(phase, stack, tuple(resources), "key")
    return Side(phase, inventory, estimate(stack, phase, low, high, budget))


def result(*changes) -> RevisionDiff:
    return RevisionDiff("main", BASE, HEAD, tuple(changes))


def big_change(stack: str, n: int) -> object:
    """n buckets deleted (each destroys data) and n created: 2n changes."""
    old = side(stack, "growth", [bucket(f"old-{i:05d}") for i in range(n)])
    new = side(stack, "scale", [bucket(f"new-{i:05d}") for i in range(n)], 900, 1500)
    return compare_stack(stack, old, new)


def test_a_change_of_thousands_of_resources_fits_and_says_what_was_cut() -> None:
    text = comment(result(big_change("production", 1500), big_change("staging", 600)))
    assert len(text) < GITHUB_LIMIT
    assert text.startswith(MARKER)
    assert "| `production` | growth → scale | 1500 | 0 | 0 | 1500 |" in text
    assert "more changes not shown" in text
    assert "floyo-scale diff --base main --stack production" in text
    assert text.count("<details>") == text.count("</details>") == 2
    assert r"⛔ destroys data \(1500\); over budget \(750%\)" in text


def test_the_graph_is_left_out_when_it_does_not_fit() -> None:
    text = comment(
        result(big_change("production", 1500)), graph=lambda inv: "flowchart LR\n" + "x\n" * 9000
    )
    assert len(text) < GITHUB_LIMIT and "The graph was left out to fit." in text
    small = comment(result(big_change("dev", 3)), graph=lambda inv: "flowchart LR\n  a --> b\n")
    assert "```mermaid\nflowchart LR\n  a --> b\n```" in small


def test_many_stacks_keep_the_summary_under_the_limit() -> None:
    changes = [big_change(f"stack-{i:03d}-" + "x" * 60, 5) for i in range(700)]
    text = comment(result(*changes))
    assert len(text) < GITHUB_LIMIT
    assert "cut to fit a GitHub comment" in text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(0, 400), min_size=0, max_size=6),
    limit=st.integers(2_000, 70_000),
)
def test_any_size_fits_the_limit(sizes: list[int], limit: int) -> None:
    changes = [big_change(f"s{i}", n) for i, n in enumerate(sizes)]
    text = comment(result(*changes), limit=limit)
    assert len(text) <= min(limit, GITHUB_LIMIT - 1)
    assert text.startswith(MARKER)
    assert text.count("<details>") == text.count("</details>")


def test_unaffected_stacks_are_one_line() -> None:
    same = side("dev", "startup", [bucket("uploads")])
    unchanged = compare_stack("dev", same, same)
    changed = compare_stack(
        "staging",
        side("staging", "growth", [bucket("uploads", versioning=False)]),
        side("staging", "growth", [bucket("uploads", versioning=True)]),
    )
    text = comment(result(unchanged, changed))
    assert "Unaffected: `dev` (startup, $10–$20/month)." in text
    assert "`versioning`: `false` → `true`" in text
    assert "### floyo-scale: 1 of 2 stacks affected" in text
    assert "<b>dev</b>" not in text


def test_failed_and_new_stacks_are_said_so() -> None:
    head = side("production", "growth", [bucket("uploads")])
    failed = compare_stack("production", Side(error="exit 1: SystemError"), head)
    new = compare_stack("qa", Side(absent=True), side("qa", "startup", [bucket("b")]))
    text = comment(result(failed, new))
    assert "base failed to plan (growth)" in text
    assert "The base revision could not be planned**: exit 1: SystemError" in text
    assert "new stack (startup)" in text


CANARY = "CANARY-7f3e"


def test_secret_canaries_never_appear(tmp_path) -> None:
    """Every secret the stacks refer to set to a canary, on both sides, a different one on
    each; the comment (with its graph) holds none of them, and says which secret changed."""
    from conftest import copy_workspace

    ws = Workspace(copy_workspace(tmp_path))
    changes = []
    canaries = []
    for name in ("dev", "production"):
        stack = load_stack(ws, name)
        old = {n: f"{CANARY}-old-{n}" for n in secret_refs(stack)}
        new = {n: f"{CANARY}-new-{n}" for n in secret_refs(stack)}
        canaries += [*old.values(), *new.values()]
        base = synthesize(stack, old)
        head = synthesize(stack, new)
        changes.append(compare_stack(name, Side(base.phase, base), Side(head.phase, head)))

    def redact(text: str) -> str:
        for value in canaries:
            text = text.replace(value, "[secret]")
        return text

    text = comment(result(*changes), graph=mermaid)
    assert CANARY not in text
    assert "`apiToken`: [secret] changed" in text
    assert comment(result(*changes), graph=mermaid, redact=redact) == text


def test_a_stack_that_fails_to_plan_now_or_is_removed() -> None:
    from floyo_scale.errors import UsageError

    failure = UsageError("stacks/qa.yaml: phase 'huge' does not exist")
    failed = compare_stack("qa", side("qa", "growth", [bucket("b")]), Side(error=str(failure)))
    gone = compare_stack("old", side("old", "startup", [bucket("b")]), Side(absent=True))
    assert (failed.status, gone.status) == ("head-failed", "removed")
    assert failed.affected and gone.affected and not failed.findings
    text = comment(result(failed, gone))
    assert "| `qa` | fails to plan (growth) |" in text
    assert "**The head revision could not be planned**: stacks/qa.yaml" in text
    assert "| `old` | stack removed (startup) |" in text
    assert "`floyo-scale destroy --stack old` runs" in text
    with_failure = RevisionDiff(
        "main", BASE, HEAD, (compare_stack("qa", Side(), Side(error="x", failure=failure)),)
    )
    assert with_failure.head_failure() is failure


def test_render_comment_is_the_function_once_its_module_is_imported() -> None:
    """render exports its names lazily; a submodule named like one of them would replace it
    on the package once imported (the cause of a bug seen only in the whole suite)."""
    import floyo_scale.render as render
    import floyo_scale.render.review  # noqa: F401

    assert callable(render.comment) and callable(render.revision_text)


def test_an_unreachable_component_is_a_refusal_without_a_flag() -> None:
    """The same list `up` enforces: a variable wired to a cache the plan does not build."""
    web = Resource(
        "floyo:web:Web",
        "web",
        "web",
        None,
        {"wiring": [{"variable": "REDIS_URL", "target": "aws:x/y:Z::gone"}]},
        custom=False,
    )
    head = side("dev", "growth", [bucket("uploads", versioning=True), web])
    change = compare_stack("dev", side("dev", "growth", [bucket("uploads")]), head)
    [finding] = change.findings
    assert (finding.kind, finding.override) == ("unreachable", None)
    text = comment(result(change))
    assert "⛔ 1 unreachable" in text and "(no flag overrides it)" in text
    # unchanged, yet `up` refuses it already: said on its one line
    same = compare_stack("dev", head, head)
    assert "already refused by `up`: 1 unreachable" in comment(result(same))
