"""The library reports progress as data (floyo_scale.progress), never as text: no module of
floyo_scale/db or floyo_scale/engine takes a `Callable[[str], ...]` progress callback or
passes a string to one. (mypy checks the calls too: a Reporter is
`Callable[[ProgressEvent], None]`; this test reads the source, so it also catches an
unannotated callback.)"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from floyo_scale import progress

PACKAGE = Path(__file__).resolve().parent.parent / "floyo_scale"
LIBRARY = sorted([*(PACKAGE / "db").rglob("*.py"), *(PACKAGE / "engine").rglob("*.py")])
# what a progress callback is called where it is taken or called
CALLBACKS = {"report", "progress", "say", "sink", "on_step", "_emit", "emit"}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return False


def test_the_reporter_takes_a_progress_event() -> None:
    hints = typing.get_type_hints(progress.ignore)
    assert hints["_"] == progress.ProgressEvent
    assert typing.get_args(progress.ProgressEvent) == (
        progress.Step,
        progress.Count,
        progress.ResourceEvent,
    )


def test_no_library_module_passes_text_to_a_progress_callback() -> None:
    bad = []
    for path in LIBRARY:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and _name(node.func) in CALLBACKS
            if called and any(_is_text(arg) for arg in node.args):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: text passed")
            if isinstance(node, ast.arg) and node.arg in CALLBACKS and node.annotation:
                annotation = ast.unparse(node.annotation)
                if "Callable[[str]" in annotation.replace(" ", ""):
                    bad.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.arg}: "
                        f"{annotation} (use progress.Reporter)"
                    )
            if isinstance(node, ast.Assign | ast.AnnAssign):
                value = node.value
                if value is not None and "Callable[[str]" in ast.unparse(value).replace(" ", ""):
                    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                    if "progress" in ast.unparse(target).lower():
                        bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: text type")
    assert not bad, "progress must be a progress.ProgressEvent, not text:\n" + "\n".join(bad)


def test_the_check_sees_text_passed_to_a_callback() -> None:
    """The scan above would catch the old forms (`say(f"...")`, `on_step: Callable[[str], Any]`)."""
    old = ast.parse(
        'def setup(on_step: Callable[[str], Any]) -> None:\n    on_step(f"installing {x}")\n'
    )
    calls = [n for n in ast.walk(old) if isinstance(n, ast.Call) and _name(n.func) in CALLBACKS]
    assert calls and _is_text(calls[0].args[0])
