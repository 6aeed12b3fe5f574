"""Every private Pulumi or CPython internal floyo-scale relies on (floyo_scale/_internals.py)
still behaves as assumed. When an upgrade breaks one, the failure names the assumption."""

from __future__ import annotations

import ast
import pickle
import sys
import types
import warnings

import pytest

from floyo_scale import _internals
from floyo_scale._internals import ASSUMPTIONS, InternalsChanged, InternalsWarning


@pytest.mark.parametrize("assumption", ASSUMPTIONS, ids=[a.name for a in ASSUMPTIONS])
def test_assumption_still_holds(assumption: _internals.Assumption) -> None:
    try:
        assumption.check()
    except InternalsChanged as exc:
        pytest.fail(f"{assumption.name} (used by {assumption.used_by}): {exc}")


def test_a_broken_assumption_is_named_with_the_versions() -> None:
    error = InternalsChanged(_internals.SYNC_AWAIT, "cannot import it")
    text = str(error)
    assert error.assumption == _internals.SYNC_AWAIT
    assert "pulumi.runtime.sync_await._sync_await" in text and "pulumi 3." in text
    assert "constraints.txt" in text


def test_a_missing_stack_trace_hook_is_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import resource

    monkeypatch.delattr(resource, "_get_stack_trace")
    with pytest.raises(InternalsChanged, match="_get_stack_trace"), _internals.no_stack_traces():
        pass


def test_synthesis_falls_back_with_a_warning_not_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import resource

    from floyo_scale.offline import synth

    monkeypatch.delattr(resource, "_get_stack_trace")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with synth._no_stack_traces():
            pass
    assert [w.category for w in caught] == [InternalsWarning]
    assert "_get_stack_trace" in str(caught[0].message)


def test_the_sdk_shortcut_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from floyo_scale.infra import _sdk

    def broken(package: str, leaves: tuple[str, ...]) -> None:
        raise InternalsChanged(_internals.LAZY_MODULE, f"{package} is not lazy")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = _sdk._subset("pulumi_random", ("random_password",), broken)
    assert module is sys.modules["pulumi_random"]
    assert [w.category for w in caught] == [InternalsWarning]


def test_a_module_that_is_not_lazy_is_refused_by_name() -> None:
    plain = types.ModuleType("plain")
    assert not _internals.is_placeholder(plain)
    sys.modules["floyo_test_plain"] = plain
    try:
        with pytest.raises(InternalsChanged, match="not a lazy module"):
            _internals.lazy_placeholder("floyo_test_plain")
    finally:
        del sys.modules["floyo_test_plain"]


def test_the_pickle_patch_is_undone_to_pickle_s_own_method() -> None:
    original = _internals.original_batch_setitems()
    assert original.__module__ == "pickle"

    def wrapper(self, items):  # what pulumi.dynamic puts in place, layered
        return unsorted_batch_setitems(self, sorted(items))

    unsorted_batch_setitems = original
    with _internals.undo_pulumi_pickle_patch(original):
        pickle._Pickler._batch_setitems = wrapper  # type: ignore[attr-defined]
        assert _internals.original_batch_setitems() is original  # seen through the wrapper
    assert pickle._Pickler._batch_setitems is original  # type: ignore[attr-defined]


PRIVATE_MODULES = (
    "pulumi._utils",
    "pulumi.runtime.sync_await",
    "pulumi.runtime.mocks",
    "pulumi.runtime.settings",
    "pulumi.runtime.resource",
)
PRIVATE_NAMES = {
    "_sync_await",
    "MockMonitor",
    "_LazyModule",
    "_Pickler",
    "_batch_setitems",
    "_get_stack_trace",
    "set_root_resource",
    "__class__",
}


def _private_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(PRIVATE_MODULES)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith(PRIVATE_MODULES):
                found.append(module)
            if node.level == 0 and not module.startswith("floyo_scale"):
                found += [a.name for a in node.names if a.name in PRIVATE_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_no_module_but_the_adapter_touches_a_private_internal() -> None:
    from conftest import REPO

    found = [
        f"{path.relative_to(REPO)}: {use}"
        for path in sorted((REPO / "floyo_scale").rglob("*.py"))
        if path.name != "_internals.py"
        for use in _private_uses(ast.parse(path.read_text()))
    ]
    assert not found, "use floyo_scale/_internals.py for these:\n" + "\n".join(found)


def test_the_private_use_finder_sees_one() -> None:
    tree = ast.parse("from pulumi.runtime.sync_await import _sync_await\nm.__class__ = x\n")
    assert _private_uses(tree) == ["pulumi.runtime.sync_await", "_sync_await", "line 2: .__class__"]
