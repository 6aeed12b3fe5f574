"""The import rules of docs/architecture.md, enforced by reading every module's imports (ast):
no import cycle between modules, and no layer importing a layer it may not (an upper one).

Every import counts: at the top, inside a function (deferred) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "floyo_scale"

# The layer table of docs/architecture.md: a layer and the layers of ours it may import.
# Lower layers first. A module belongs to the layer of its top-level package or module.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "progress": set(),  # progress.py: the one progress model (Step, Count, ResourceEvent)
    "catalog": set(),
    "sharding": set(),
    "transport": {"errors"},  # the one HTTP client, retry policy and redactor
    "gitrepo": {"errors"},  # every read of git: commit, dirty, a revision's tree
    "spec": {"errors", "catalog", "sharding", "transport"},
    "infra": {"errors", "catalog", "sharding", "spec", "_internals", "transport"},
    "offline": {"errors", "sharding", "spec", "infra", "_internals", "transport"},
    "cost": {"errors", "catalog", "sharding", "spec", "offline"},
    # guards.py, policy.py and provider_rules.py: pure rules (catalog: the providers' facts)
    "guards": {"errors", "catalog", "offline", "cost"},
    "report": {"errors", "spec", "offline", "cost", "guards"},
    "review": {"errors", "spec", "offline", "cost", "guards", "report", "transport", "gitrepo"},
    # engine: "root" for the version an update records (engine/release.py)
    "engine": {
        "root",
        "errors",
        "catalog",
        "sharding",
        "spec",
        "infra",
        "offline",
        "cost",
        "guards",
        "transport",
        "gitrepo",
        "progress",
    },
    "db": {"errors", "catalog", "spec", "sharding", "transport", "progress"},
    # infra: the Supabase Management API client, which status reads usage through
    "observe": {"errors", "catalog", "sharding", "spec", "infra", "offline", "cost", "transport"},
    "render": {
        "errors",
        "catalog",
        "spec",
        "offline",
        "cost",
        "guards",
        "report",
        "review",
        "engine",
        "db",
        "observe",
        "sharding",
        "transport",
        "gitrepo",
        "progress",
    },
    "cli": {
        "root",
        "errors",
        "catalog",
        "sharding",
        "spec",
        "infra",
        "offline",
        "cost",
        "guards",
        "report",
        "review",
        "engine",
        "db",
        "observe",
        "render",
        "transport",
        "gitrepo",
        "progress",
    },
    "root": set(),  # floyo_scale/__init__.py: the version only
    "_internals": set(),  # the one adapter over private Pulumi and CPython internals
}
LAYER_OF_MODULE = {"policy": "guards", "provider_rules": "guards"}

# Third-party packages only some layers may use.
ONLY_IN: dict[str, set[str]] = {
    "pulumi.automation": {"engine"},
    "typer": {"cli"},
    "click": set(),  # Typer's public API only (cli/root.py catches typer.TyperException)
    "rich": {"render", "cli"},
    # one HTTP client: nothing else sends a request by hand (urllib.request, http.client)
    "urllib3": {"transport"},
    "urllib.request": set(),
    "http.client": set(),
    "requests": set(),
    "httpx": set(),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[-1] == "__main__":  # an entry point (python -m, Pulumi's): the top, like cli
        return "cli"
    return LAYER_OF_MODULE.get(parts[1], parts[1])


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), node.lineno


GRAPH = {
    module: {(t, line) for t, line in imports(module, path) if t.split(".")[0] == "floyo_scale"}
    for module, path in MODULES.items()
}


def test_every_module_is_in_a_known_layer() -> None:
    unknown = sorted({layer(m) for m in MODULES} - MAY_IMPORT.keys())
    assert not unknown, f"modules in no layer of docs/architecture.md: {unknown}"


def test_no_layer_imports_one_it_may_not() -> None:
    bad = []
    for module, targets in GRAPH.items():
        own = layer(module)
        for target, line in sorted(targets):
            other = layer(target)
            if other != own and other not in MAY_IMPORT[own]:
                bad.append(f"{MODULES[module].relative_to(REPO)}:{line}: {own} imports {target}")
    assert not bad, "imports against docs/architecture.md:\n" + "\n".join(bad)


def test_third_party_packages_stay_in_their_layer() -> None:
    bad = []
    for module, path in MODULES.items():
        for target, line in imports(module, path):
            for package, layers in ONLY_IN.items():
                if (target == package or target.startswith(package + ".")) and layer(
                    module
                ) not in layers:
                    bad.append(f"{path.relative_to(REPO)}:{line}: {target} outside {layers}")
    assert not bad, "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    edges = {m: {t for t, _ in targets if t in MODULES and t != m} for m, targets in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_modules() -> None:
    assert _cycles() == []


def test_a_module_over_600_lines_is_a_warning() -> None:
    """Modules are split by concern (issue 21), not by size: a long module is a warning that
    it may hold two concerns (shown in pytest's summary), never a failure. The rules that fail
    are the layers above and the import rules below."""
    long = {
        str(p.relative_to(REPO)): n
        for p in MODULES.values()
        if (n := len(p.read_text().splitlines())) > 600
    }
    if long:
        warnings.warn(
            f"modules over 600 lines: does each hold one concern? {long}", UserWarning, stacklevel=1
        )


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("floyo_scale.guards", "guards"),
        ("floyo_scale.policy", "guards"),
        ("floyo_scale.cost.rules.aws", "cost"),
        ("floyo_scale.__main__", "cli"),
        ("floyo_scale.infra.__main__", "cli"),
        ("floyo_scale", "root"),
    ],
)
def test_layers_are_read_from_module_names(module: str, expected: str) -> None:
    assert layer(module) == expected


def test_the_checker_sees_a_planted_upward_import(tmp_path: Path) -> None:
    # a guard that imports render (an upper layer) through a deferred, relative import
    source = tmp_path / "guards.py"
    source.write_text("def f():\n    from .render import money\n")
    found = list(imports("floyo_scale.guards", source))
    assert ("floyo_scale.render", 2) in found
    assert "render" not in MAY_IMPORT[layer("floyo_scale.guards")]


@pytest.mark.parametrize("package", ["floyo_scale.render", "floyo_scale.cost"])
def test_lazy_exports_are_the_names_not_submodules(package: str) -> None:
    # cost/ and render/ export their names on first use (PEP 562); importing every submodule
    # first must not leave a module where a name was exported (`render.comment`)
    import importlib
    import pkgutil
    import types

    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        importlib.import_module(info.name)
    shadowed = [n for n in pkg.__all__ if isinstance(getattr(pkg, n), types.ModuleType)]
    assert not shadowed, f"{package} exports modules, not names: {shadowed}"


def test_every_layer_has_a_row_in_docs_architecture() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text()
    rows = {layer for layer in MAY_IMPORT if f"`{layer}/`" in doc or f"`{layer}.py`" in doc}
    missing = sorted(set(MAY_IMPORT) - rows - {"root", "guards"})  # guards: guards.py, policy.py
    assert "`guards.py`, `policy.py`" in doc
    assert not missing, f"layers with no row in docs/architecture.md: {missing}"


def test_every_sub_package_says_what_it_owns_and_may_import() -> None:
    silent = []
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if "import" not in doc or len(doc) < 100:
            silent.append(str(init.relative_to(REPO)))
    assert not silent, f"say what the package owns and what it may import: {silent}"


# -- modules by concern: a helper another module needs is public where it is defined ------------

# (importing module, imported module) pairs that may import private (`_x`) names, with why.
# Everything else imports public names, from the module that defines them.
PRIVATE_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {}

# Modules whose `import X as X` is the point: a typed facade over a third-party SDK.
REEXPORTS_ALLOWED: dict[str, str] = {
    "floyo_scale.infra._sdk": "the one place the pulumi_aws submodules are imported (typed)",
}


def _private_name(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_names(path: Path) -> set[str]:
    """Names a module defines at its top level (def, class, assignment), not ones it imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.If | ast.Try):  # `if TYPE_CHECKING:` / try-except blocks
            for sub in ast.walk(node):
                if isinstance(sub, ast.FunctionDef | ast.ClassDef):
                    names.add(sub.name)
                elif isinstance(sub, ast.Assign):
                    names |= {
                        n.id for t in sub.targets for n in ast.walk(t) if isinstance(n, ast.Name)
                    }
    return names


def _from_imports(module: str, path: Path) -> Iterator[tuple[str, str, str | None, int]]:
    """(imported module, name, as-name, line) for every `from floyo_scale… import name`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            if target.split(".")[0] != "floyo_scale":
                continue
            for alias in node.names:
                if f"{target}.{alias.name}" not in MODULES:
                    yield target, alias.name, alias.asname, node.lineno


def private_imports() -> list[str]:
    bad = []
    for module, path in MODULES.items():
        for target, name, _, line in _from_imports(module, path):
            if _private_name(name) and (module, target) not in PRIVATE_IMPORTS_ALLOWED:
                bad.append(f"{path.relative_to(REPO)}:{line}: {name} from {target}")
    return bad


def reexports() -> list[str]:
    bad = []
    for module, path in MODULES.items():
        if module in REEXPORTS_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    if alias.asname == alias.name:
                        where = f"{path.relative_to(REPO)}:{node.lineno}"
                        bad.append(f"{where}: {alias.name} as {alias.asname}")
    return bad


def passed_through() -> list[str]:
    """Names imported from a module that does not define them (it imported them itself).
    A package's __init__ is its facade: importing its exported names is the point."""
    bad = []
    defined = {m: _defined_names(p) for m, p in MODULES.items()}
    for module, path in MODULES.items():
        for target, name, _, line in _from_imports(module, path):
            source = MODULES.get(target)
            if source is None or source.name == "__init__.py" or target in REEXPORTS_ALLOWED:
                continue
            if name not in defined[target]:
                bad.append(
                    f"{path.relative_to(REPO)}:{line}: {name} from {target}, not defined there"
                )
    return bad


def reached_through() -> list[str]:
    """`mod.name` where `mod` is one of our modules (imported as a name) that does not define
    `name` but imported it itself: the same pass-through as `from mod import name`."""
    bad = []
    defined = {m: _defined_names(p) for m, p in MODULES.items()}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, path, node)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in MODULES and MODULES[sub].name != "__init__.py":
                        aliases[alias.asname or alias.name] = sub
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (source := aliases.get(node.value.id))
                and source not in REEXPORTS_ALLOWED
                and node.attr not in defined[source]
                and f"{source}.{node.attr}" not in MODULES
            ):
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                bad.append(f"{where}: {node.value.id}.{node.attr}, not defined in {source}")
    return bad


def test_no_module_imports_a_private_name_of_another() -> None:
    bad = private_imports()
    assert not bad, (
        "make these public where they are defined (or allow with a reason):\n" + "\n".join(bad)
    )


def test_no_import_x_as_x_reexports() -> None:
    bad = reexports()
    assert not bad, (
        "import a name from where it is defined, not through a re-export:\n" + "\n".join(bad)
    )


def test_every_name_is_imported_from_where_it_is_defined() -> None:
    bad = passed_through()
    assert not bad, "import these from the module that defines them:\n" + "\n".join(bad)


def test_no_name_is_reached_through_a_module_that_imported_it() -> None:
    bad = reached_through()
    assert not bad, "import these from the module that defines them:\n" + "\n".join(bad)


def test_every_allowed_private_import_still_happens() -> None:
    seen = {
        (module, target)
        for module, path in MODULES.items()
        for target, name, _, _ in _from_imports(module, path)
        if _private_name(name)
    }
    stale = sorted(set(PRIVATE_IMPORTS_ALLOWED) - seen)
    assert not stale, f"allowed private imports no longer made, drop them: {stale}"


def test_the_checkers_see_a_private_import_and_a_reexport(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("from .periods import _short\nfrom .export import psql_env as psql_env\n")
    found = list(_from_imports("floyo_scale.db.mod", source))
    assert ("floyo_scale.db.periods", "_short", None, 1) in found
    assert _private_name("_short") and not _private_name("__all__")
    assert ("floyo_scale.db.export", "psql_env", "psql_env", 2) in found
