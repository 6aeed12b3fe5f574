"""Every use of a private Pulumi or CPython internal, in one place.

floyo-scale relies on a few things neither Pulumi nor CPython promises: the offline plan runs
the program under Pulumi's mock engine (synth), is fast because it imports only the SDK leaf
modules it needs (infra/_sdk), and survives many dynamic resources in one process
(infra/supabase/resources). Each reliance is an ASSUMPTION below, with a name, what it is,
and a `check()` that says whether the installed packages still satisfy it.
tests/test_internals.py runs every check, so an upgrade that breaks one fails the suite with
the assumption's name (the weekly `newest` workflow tries the newest versions;
constraints.txt pins what CI installs).

When an assumption breaks at run time, the function here raises InternalsChanged naming
it. Where a slower path does the same work (the SDK import shortcut, the stack-trace
shortcut), the caller takes it and says so with an InternalsWarning on stderr (the test suite
turns that warning into an error); there is no silent fallback. Where there is none (running
the program under mocks), the error stands.

Layer "_internals" (docs/architecture.md): imports nothing of ours; pulumi and the standard
library only, each inside the function that needs it, so importing this module is free.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import pickle
import re
import sys
import types
import warnings
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: pulumi is imported on first use
    from pulumi.runtime.mocks import MockMonitor

    MockMonitorBase = MockMonitor  # for modules that subclass it (offline/synth.py)


class InternalsChanged(RuntimeError):
    """An assumption about a private Pulumi or CPython internal no longer holds."""

    def __init__(self, assumption: str, detail: str) -> None:
        self.assumption = assumption
        super().__init__(
            f"assumption {assumption!r} no longer holds ({_versions()}): {detail}; "
            "see floyo_scale/_internals.py, and install with `-c constraints.txt` meanwhile"
        )


class InternalsWarning(UserWarning):
    """A shortcut was skipped because an assumption broke: slower, same result."""


def fall_back(exc: InternalsChanged, what: str) -> None:
    """Say (on stderr, once per place) that a shortcut was skipped, and why."""
    warnings.warn(f"{what}: {exc}", InternalsWarning, stacklevel=3)


def _versions() -> str:
    found = []
    for dist in ("pulumi", "pulumi-aws", "pulumiverse-vercel"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} absent")
    return f"Python {sys.version_info.major}.{sys.version_info.minor}, " + ", ".join(found)


# -- the mock engine (offline/synth.py) -------------------------------------------------------

SYNC_AWAIT = "pulumi.runtime.sync_await._sync_await"
MOCK_MONITOR = "pulumi.runtime.mocks.MockMonitor"
ROOT_RESOURCE = "pulumi.runtime.settings.set_root_resource(None)"
STACK_TRACE = "pulumi.runtime.resource._get_stack_trace"


def sync_await(awaitable: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on the Pulumi runtime's event loop, as `pulumi up`'s
    language host does (pulumi.runtime.mocks' own test helpers do the same)."""
    return _sync_await()(awaitable)


def _sync_await() -> Callable[[Any], Any]:
    try:
        from pulumi.runtime.sync_await import _sync_await as run
    except ImportError as exc:
        raise InternalsChanged(SYNC_AWAIT, f"cannot import it ({exc})") from exc
    if not callable(run):
        raise InternalsChanged(SYNC_AWAIT, "it is not a function any more")
    return run


def mock_monitor_base() -> type[MockMonitor]:
    """Pulumi's in-process mock monitor, to subclass: `RegisterResource(request)` sees every
    registration exactly as the engine would (type, name, parent, options, wire inputs)."""
    try:
        from pulumi.runtime.mocks import MockMonitor
    except ImportError as exc:
        raise InternalsChanged(MOCK_MONITOR, f"cannot import it ({exc})") from exc
    if not callable(getattr(MockMonitor, "RegisterResource", None)):
        raise InternalsChanged(MOCK_MONITOR, "it has no RegisterResource method")
    if "monitor" not in inspect.signature(_set_mocks()).parameters:
        raise InternalsChanged(MOCK_MONITOR, "pulumi.runtime.set_mocks takes no monitor=")
    return MockMonitor


def _set_mocks() -> Callable[..., Any]:
    import pulumi.runtime

    return pulumi.runtime.set_mocks


def reset_root_resource() -> None:
    """Forget the previous synthesis's root (stack) resource, so the next one starts clean."""
    from pulumi.runtime import settings

    setter = getattr(settings, "set_root_resource", None)
    if setter is None:
        raise InternalsChanged(ROOT_RESOURCE, "pulumi.runtime.settings has no set_root_resource")
    setter(None)


@contextlib.contextmanager
def no_stack_traces() -> Iterator[None]:
    """Send the mock engine empty stack traces: for each resource the runtime reads the
    Python stack (stat-ing every source file on it) for the engine's diagnostics, which the
    mock monitor ignores (~0.3 ms a resource). Put back on the way out."""
    from pulumi.runtime import resource as runtime

    original = getattr(runtime, "_get_stack_trace", None)
    if original is None:
        raise InternalsChanged(STACK_TRACE, "pulumi.runtime.resource has no _get_stack_trace")
    from pulumi.runtime.proto import source_pb2

    runtime._get_stack_trace = lambda *args, **kwargs: source_pb2.StackTrace()
    try:
        yield
    finally:
        runtime._get_stack_trace = original


# -- pickling dynamic providers (infra/supabase/resources.py) ---------------------------------

PICKLE_BATCH = "pickle._Pickler._batch_setitems (wrapped by pulumi.dynamic)"
_WRAPPED = "unsorted_batch_setitems"  # the closure variable of Pulumi's sorting wrapper


def original_batch_setitems() -> Callable[..., Any]:
    """pickle's own `_Pickler._batch_setitems`, under any sorting wrappers Pulumi left on it."""
    fn: object = getattr(pickle._Pickler, "_batch_setitems", None)
    if fn is None:
        raise InternalsChanged(PICKLE_BATCH, "pickle._Pickler has no _batch_setitems")
    for _ in range(100_000):
        if not isinstance(fn, types.FunctionType):
            raise InternalsChanged(PICKLE_BATCH, f"it is a {type(fn).__name__}, not a function")
        free = fn.__code__.co_freevars
        if _WRAPPED not in free or fn.__closure__ is None:
            return fn
        fn = fn.__closure__[free.index(_WRAPPED)].cell_contents
    raise InternalsChanged(PICKLE_BATCH, "more than 100,000 wrappers")


@contextlib.contextmanager
def undo_pulumi_pickle_patch(original: Callable[..., Any]) -> Iterator[None]:
    """pulumi.dynamic.serialize_provider wraps `pickle._Pickler._batch_setitems` in a sorting
    wrapper at every call and never unwraps it (seen in 3.229-3.272): each dynamic resource
    adds a layer, and about the 980th registration in one process fails with RecursionError.
    Putting `original` back after each registration keeps it to the one layer Pulumi needs."""
    try:
        yield
    finally:
        # typeshed does not declare the pure-Python pickler's private method
        pickle._Pickler._batch_setitems = original  # type: ignore[attr-defined]


# -- lazy SDK modules (infra/_sdk.py) ----------------------------------------------------------

LAZY_MODULE = "a Pulumi SDK's lazy module is an importlib _LazyModule until first read"
CLASS_SWAP = "a _LazyModule's __class__ can be set to types.ModuleType and back"
LAZY_IMPORT = "pulumi._utils.lazy_import(name) makes a lazy module"
REGISTER_CALL = "a generated SDK __init__.py ends with one literal _utilities.register(...)"
SDK_LEAF = "each SDK resource class lives in its own leaf module"


def is_placeholder(module: types.ModuleType) -> bool:
    """A lazily loaded module not loaded yet (Pulumi's or importlib's `_LazyModule`); reads
    through `types.ModuleType`, since any other attribute read would load it."""
    if type(module) is types.ModuleType or type(module).__name__ != "_LazyModule":
        return False
    spec = types.ModuleType.__getattribute__(module, "__spec__")
    state = getattr(spec, "loader_state", None)
    return isinstance(state, dict) and "__dict__" in state


def lazy_placeholder(package: str) -> types.ModuleType:
    """`sys.modules[package]` as a placeholder not loaded yet, or InternalsChanged."""
    module = sys.modules.get(package)
    if module is None or not is_placeholder(module):
        kind = "absent" if module is None else type(module).__name__
        raise InternalsChanged(LAZY_MODULE, f"{package} is {kind}, not a lazy module")
    return module


@contextlib.contextmanager
def loading_as_package(placeholder: types.ModuleType) -> Iterator[None]:
    """While the block runs, the placeholder is a plain module (what a package is while its
    `__init__` runs): importing its leaf modules reads its `__path__` and binds siblings
    without loading it. Lazy again afterwards."""
    lazy_class = type(placeholder)
    try:
        placeholder.__class__ = types.ModuleType
    except TypeError as exc:
        raise InternalsChanged(CLASS_SWAP, str(exc)) from exc
    try:
        yield
    finally:
        if type(placeholder) is types.ModuleType:  # as set above: make it lazy again
            placeholder.__class__ = lazy_class


def lazy_import(package: str) -> types.ModuleType:
    """A Pulumi lazy module for `package`, put in sys.modules, not loaded."""
    try:
        from pulumi._utils import lazy_import as make
    except ImportError as exc:
        raise InternalsChanged(LAZY_IMPORT, f"cannot import it ({exc})") from exc
    module: object = make(package)  # type: ignore[no-untyped-call]  # pulumi leaves it unannotated
    if not isinstance(module, types.ModuleType) or not is_placeholder(module):
        raise InternalsChanged(LAZY_IMPORT, f"it returned a {type(module).__name__}")
    return module


def import_leaf(name: str) -> types.ModuleType:
    """`pulumi_aws.ec2.vpc`: a leaf module the program's tables name."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InternalsChanged(SDK_LEAF, f"no module {name}") from exc


_REGISTER = re.compile(
    r'^_utilities\.register\(\s*resource_modules=("""[\s\S]*?"""),'
    r'\s*resource_packages=("""[\s\S]*?""")\s*\)\s*$',
    re.MULTILINE,
)


def sdk_registration(package: str) -> tuple[str, str]:
    """The two arguments `package/__init__.py` passes to `_utilities.register`, evaluated as
    Python evaluates them there (string literals), read from its source without running it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise InternalsChanged(REGISTER_CALL, f"no source for {package}")
    calls = _REGISTER.findall(Path(spec.origin).read_text(encoding="utf-8"))
    if len(calls) != 1:
        raise InternalsChanged(REGISTER_CALL, f"{package}/__init__.py has {len(calls)} such calls")
    modules, packages = (ast.literal_eval(literal) for literal in calls[0])
    if not isinstance(modules, str) or not isinstance(packages, str):
        raise InternalsChanged(REGISTER_CALL, "its arguments are not strings")
    return modules, packages


def register_once(utilities: types.ModuleType, modules: str, packages: str) -> None:
    """Register now, through the package's own `_utilities.register`; skip the same call from
    its `__init__` later (a second registration of a module raises in the Pulumi runtime)."""
    original = getattr(utilities, "register", None)
    if original is None:
        raise InternalsChanged(REGISTER_CALL, f"{utilities.__name__} has no register")
    original(resource_modules=modules, resource_packages=packages)

    def register(resource_modules: str, resource_packages: str) -> None:
        if (resource_modules, resource_packages) == (modules, packages):
            return  # registered by floyo_scale already
        original(resource_modules, resource_packages)

    # a function object takes any attribute, a module any name; mypy knows neither
    register.__wrapped__ = original  # type: ignore[attr-defined]
    utilities.register = register  # type: ignore[attr-defined]


# -- the checks tests/test_internals.py runs ----------------------------------------------------


@dataclass(frozen=True)
class Assumption:
    name: str
    used_by: str
    check: Callable[[], object]  # raises InternalsChanged when the assumption broke


def _check_sync_await() -> None:
    import asyncio

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    if sync_await(answer()) != 42:
        raise InternalsChanged(SYNC_AWAIT, "it did not return the coroutine's result")


def _check_root_resource() -> None:
    reset_root_resource()


def _check_stack_trace() -> None:
    from pulumi.runtime import resource as runtime

    with no_stack_traces():
        trace = runtime._get_stack_trace()
    if type(trace).__name__ != "StackTrace":
        raise InternalsChanged(STACK_TRACE, f"the replacement returned {type(trace).__name__}")


def _check_pickle() -> None:
    import pulumi.dynamic.dynamic as dynamic

    before = original_batch_setitems()
    source = inspect.getsource(dynamic)
    if _WRAPPED not in source:
        raise InternalsChanged(PICKLE_BATCH, f"pulumi.dynamic no longer names {_WRAPPED}")
    if not callable(before):
        raise InternalsChanged(PICKLE_BATCH, "it is not callable")


def _check_lazy_swap() -> None:
    # a stdlib module nobody has imported: made lazy, swapped, swapped back, never loaded
    name = next(
        n for n in ("wave", "sndhdr", "chunk", "xdrlib", "colorsys") if n not in sys.modules
    )
    module = lazy_import(name)
    try:
        with loading_as_package(module):
            if type(module) is not types.ModuleType:
                raise InternalsChanged(CLASS_SWAP, "the class did not change")
        if not is_placeholder(module):
            raise InternalsChanged(CLASS_SWAP, "the module did not become lazy again")
    finally:
        sys.modules.pop(name, None)


def _check_register_call() -> None:
    import json

    modules, packages = sdk_registration("pulumiverse_vercel")
    mods = {entry.get("mod") for entry in json.loads(modules)}
    if "index/project" not in mods or not json.loads(packages):
        raise InternalsChanged(REGISTER_CALL, "pulumiverse_vercel does not register index/project")


def _check_sdk_shortcut() -> None:
    """In a fresh interpreter (this one may have loaded the SDKs in full): every table of
    infra/_sdk.py builds its subset of leaf modules, with no InternalsWarning."""
    import os
    import subprocess

    probe = (
        "import sys\n"
        "from floyo_scale.infra import _sdk\n"
        "subsets = [_sdk.aws_service(s) for s in _sdk.AWS_LEAVES] + [_sdk.vercel]\n"
        "bad = [repr(s) for s in subsets if not isinstance(s, _sdk.Subset)]\n"
        "sys.exit('not a subset: ' + ', '.join(bad) if bad else 0)\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    env.pop("FLOYO_NO_SHORTCUTS", None)
    flags = ["-W", "error::floyo_scale._internals.InternalsWarning"]
    done = subprocess.run(
        [sys.executable, *flags, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise InternalsChanged(LAZY_MODULE, lines[-1] if lines else "the probe failed")


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(SYNC_AWAIT, "offline/synth.py", _check_sync_await),
    Assumption(MOCK_MONITOR, "offline/synth.py", mock_monitor_base),
    Assumption(ROOT_RESOURCE, "offline/synth.py", _check_root_resource),
    Assumption(STACK_TRACE, "offline/synth.py (a shortcut)", _check_stack_trace),
    Assumption(PICKLE_BATCH, "infra/supabase/resources.py", _check_pickle),
    Assumption(CLASS_SWAP, "infra/_sdk.py (a shortcut; with LAZY_IMPORT)", _check_lazy_swap),
    Assumption(REGISTER_CALL, "infra/_sdk.py (a shortcut)", _check_register_call),
    Assumption(LAZY_MODULE, "infra/_sdk.py (a shortcut; with SDK_LEAF)", _check_sdk_shortcut),
)
