"""Find, load, merge and validate phase and stack files.

Every problem in every file is collected before anything is raised, so one `validate`
lists them all; nothing here has side effects beyond reading files.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Location, SpecError, SpecIssue, UsageError
from .merge import merge
from .models import Phase, Stack
from .rules import check_phase, check_stack, check_user_ranges
from .yamlload import (
    Document,
    KeyPath,
    Provenance,
    YamlProblem,
    display_path,
    dotted,
    load_document,
)

DEFAULT_STACK = "dev"
_EXTENDS = "extends"


@dataclass(frozen=True)
class Workspace:
    """The folder that holds phases/ and stacks/."""

    root: Path

    @classmethod
    def find(cls, root: Path | None = None) -> Workspace:
        """`root` if given, else the current directory or the nearest parent with phases/."""
        if root is not None:
            if not (root / "phases").is_dir():
                raise UsageError(
                    f"{root} has no phases/ folder",
                    "point --root at the folder that holds phases/ and stacks/",
                )
            return cls(root)
        here = Path.cwd()
        for folder in (here, *here.parents):
            if (folder / "phases").is_dir():
                return cls(folder)
        raise UsageError(
            "no phases/ folder here or in any parent folder",
            "run floyo-scale inside the repository, or pass --root DIR",
        )

    def phase_names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "phases").glob("*.yaml") if p.is_file())

    def stack_names(self) -> list[str]:
        folder = self.root / "stacks"
        return (
            sorted(p.stem for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []
        )

    def phase_path(self, name: str) -> Path:
        return self.root / "phases" / f"{name}.yaml"

    def stack_path(self, name: str) -> Path:
        return self.root / "stacks" / f"{name}.yaml"


@dataclass(frozen=True)
class ResolvedPhase:
    name: str
    chain: tuple[str, ...]  # the phase first, then what it extends, down to the root phase
    data: dict[str, Any]
    provenance: Provenance
    removed: Provenance = field(default_factory=dict)  # keys a `null` removed: where

    @cached_property
    def model(self) -> Phase:
        return Phase.model_validate(self.data)


@dataclass(frozen=True)
class ResolvedStack:
    """A stack at a phase: the stack file's settings and the phase with its overrides applied."""

    name: str
    phase_name: str
    stack: Stack
    phase: Phase
    data: dict[str, Any]  # the merged phase data, for `show`
    provenance: Provenance
    stack_provenance: Provenance


class Resolver:
    """Loads each file once and resolves phases and stacks, collecting every issue."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._docs: dict[Path, Document | None] = {}
        self.issues: list[SpecIssue] = []
        self._validated: dict[str, tuple[ResolvedPhase, Phase] | None] = {}
        self._cycles: set[frozenset[str]] = set()

    # -- files ------------------------------------------------------------------------
    def _document(self, path: Path) -> Document | None:
        if path not in self._docs:
            try:
                self._docs[path] = load_document(path)
            except YamlProblem as problem:
                self._docs[path] = None
                self.issues.append(problem.issue)
        return self._docs[path]

    # -- phases -----------------------------------------------------------------------
    def phase(self, name: str, _seen: tuple[str, ...] = ()) -> ResolvedPhase | None:
        path = self.ws.phase_path(name)
        if not path.is_file():
            raise UsageError(
                f"unknown phase {name!r}",
                "available phases: " + (", ".join(self.ws.phase_names()) or "(none)"),
            )
        doc = self._document(path)
        if doc is None:
            return None
        data = dict(doc.data)
        parent = data.pop(_EXTENDS, None)
        if parent is None:
            return ResolvedPhase(name, (name,), data, doc.provenance)
        where = doc.provenance.get((_EXTENDS,))
        if not isinstance(parent, str):
            self._fail(where, _EXTENDS, "extends names one phase, as a string", None)
            return None
        if parent in _seen + (name,):
            trail = _seen + (name,)
            members = frozenset(trail[trail.index(parent) :])
            if members not in self._cycles:  # one report per cycle, whichever phase found it
                self._cycles.add(members)
                cycle = " -> ".join(trail + (parent,))
                self._fail(where, _EXTENDS, f"extends forms a cycle: {cycle}", None)
            return None
        if not self.ws.phase_path(parent).is_file():
            close = difflib.get_close_matches(parent, self.ws.phase_names(), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            hint += "available phases: " + ", ".join(self.ws.phase_names())
            self._fail(where, _EXTENDS, f"extends unknown phase {parent!r}", hint)
            return None
        base = self.phase(parent, _seen + (name,))
        if base is None:
            return None
        own = {k: v for k, v in doc.provenance.items() if k[:1] != (_EXTENDS,)}
        merged, prov = merge(base.data, base.provenance, data, own)
        removed = base.removed | _nulls(data, own)
        return ResolvedPhase(name, (name, *base.chain), merged, prov, removed)

    def validated_phase(self, name: str) -> tuple[ResolvedPhase, Phase] | None:
        if name in self._validated:
            return self._validated[name]
        self._validated[name] = None  # until proven valid (and a guard against cycles)
        resolved = self.phase(name)
        if resolved is None or not self._ancestors_valid(resolved):
            return None
        model = self._validate(
            Phase, resolved.data, resolved.provenance, self.ws.phase_path(name), resolved.removed
        )
        if model is None:
            return None
        self._rules(model, resolved.provenance, self.ws.phase_path(name))
        self._validated[name] = (resolved, model)
        return self._validated[name]

    def _ancestors_valid(self, resolved: ResolvedPhase) -> bool:
        """A phase built on an invalid one is not validated on top of it: its problems are
        reported once, in the file they are in, not again as "missing" in every phase and
        stack that extends it."""
        return all(self.validated_phase(parent) is not None for parent in resolved.chain[1:])

    # -- stacks -----------------------------------------------------------------------
    def stack(self, name: str, phase: str | None = None) -> ResolvedStack | None:
        path = self.ws.stack_path(name)
        if not path.is_file():
            raise UsageError(
                f"unknown stack {name!r}",
                "available stacks: " + (", ".join(self.ws.stack_names()) or "(none)"),
            )
        doc = self._document(path)
        if doc is None:
            return None
        stack = self._validate(Stack, doc.data, doc.provenance, path)
        if stack is None:
            return None
        phase_name = phase or stack.phase
        if phase is None and not self.ws.phase_path(phase_name).is_file():
            close = difflib.get_close_matches(phase_name, self.ws.phase_names(), n=1)
            self._fail(
                doc.provenance.get(("phase",)),
                "phase",
                f"unknown phase {phase_name!r}",
                (f"did you mean {close[0]!r}? " if close else "")
                + "available phases: "
                + ", ".join(self.ws.phase_names()),
            )
            return None
        base = self.phase(phase_name)
        if base is None or self.validated_phase(phase_name) is None:
            return None  # the phase's own problems are reported, in its files
        over_prov = {
            k[1:]: v for k, v in doc.provenance.items() if k[:1] == ("overrides",) and len(k) > 1
        }
        data, prov = merge(base.data, base.provenance, stack.overrides, over_prov)
        removed = base.removed | _nulls(stack.overrides, over_prov)
        model = self._validate(Phase, data, prov, path, removed)
        if model is None:
            return None
        self._rules(model, prov, path)
        fallback = Location(display_path(path), 1, 1)
        for key, message, hint in check_stack(stack, model):
            where = _locate(key, doc.provenance, fallback)
            self.issues.append(SpecIssue(where, dotted(key), message, hint))
        return ResolvedStack(name, phase_name, stack, model, data, prov, doc.provenance)

    # -- validation -------------------------------------------------------------------
    def _validate(
        self,
        cls: type[BaseModel],
        data: Any,
        prov: Provenance,
        file: Path,
        removed: Provenance | None = None,
    ) -> Any:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            fallback = Location(display_path(file), 1, 1)
            for error in exc.errors():
                issue = _issue_from_error(cls, error, data, prov, fallback)
                where = (removed or {}).get(_data_path(error["loc"], data))
                if error["type"] == "missing" and where is not None:
                    # a `null` removed what is required: point at the `null`
                    issue = SpecIssue(where, issue.path, issue.message, issue.hint)
                self.issues.append(issue)
            return None

    def _rules(self, phase: Phase, prov: Provenance, file: Path) -> None:
        fallback = Location(display_path(file), 1, 1)
        for path, message, hint in check_phase(phase):
            self.issues.append(
                SpecIssue(_locate(path, prov, fallback), dotted(path), message, hint)
            )

    def _fail(self, where: Location | None, path: str, message: str, hint: str | None) -> None:
        self.issues.append(SpecIssue(where, path, message, hint))

    def raise_issues(self) -> None:
        if self.issues:
            unique = list(dict.fromkeys(self.issues))
            raise SpecError(unique)


def _locate(path: KeyPath, prov: Provenance, fallback: Location) -> Location:
    for n in range(len(path), -1, -1):
        if path[:n] in prov:
            return prov[path[:n]]
    return fallback


def _nulls(data: dict[str, Any], prov: Provenance, path: KeyPath = ()) -> Provenance:
    """Where each `key: null` in `data` is (merge rule 3: it removes the key)."""
    found: Provenance = {}
    for key, value in data.items():
        here = path + (key,)
        if value is None and here in prov:
            found[here] = prov[here]
        elif isinstance(value, dict):
            found |= _nulls(value, prov, here)
    return found


def _issue_from_error(
    cls: type[BaseModel], error: Any, data: Any, prov: Provenance, fallback: Location
) -> SpecIssue:
    path = _data_path(error["loc"], data)
    kind = error["type"]
    message = error["msg"]
    hint = None
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "extra_forbidden":
        known = _fields_at(cls, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        message = "unknown key"
        hint = f"did you mean {close[0]}?" if close else None
        if known and not close:
            hint = "valid keys here: " + ", ".join(sorted(known))
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("literal_error", "enum"):
        message = f"{message} (got {error.get('input')!r})"
    return SpecIssue(_locate(path, prov, fallback), dotted(path), message, hint)


def _data_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """Pydantic's loc with its type tags (`function-after[...]`, `[key]`) removed."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or unknown key
            node = None
    return tuple(path)


def _is_tag(part: str) -> bool:
    return part == "[key]" or "[" in part or part[:1].isupper()


def _fields_at(cls: type[BaseModel], path: KeyPath) -> list[str]:
    """The field names of the model found by following `path` from `cls`."""
    annotation: Any = cls
    for part in path:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin in (list, dict) and args:
            annotation = args[-1]
        elif isinstance(annotation, types.UnionType) or origin is typing.Union:
            annotation = next((a for a in args if _model_in(a)), annotation)
            model = _model_in(annotation)
            if model and isinstance(part, str) and part in model.model_fields:
                annotation = model.model_fields[part].annotation
    model = _model_in(annotation)
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


# -- the library's entry points ------------------------------------------------------------


def load_stack(workspace: Workspace, stack: str | None, phase: str | None = None) -> ResolvedStack:
    """A stack at its own phase, or at `phase`; `stack=None` means the dev stack."""
    resolver = Resolver(workspace)
    name = stack or DEFAULT_STACK
    resolved = resolver.stack(name, phase)
    resolver.raise_issues()
    assert resolved is not None
    return resolved


def load_phase(workspace: Workspace, name: str) -> tuple[ResolvedPhase, Phase]:
    resolver = Resolver(workspace)
    result = resolver.validated_phase(name)
    resolver.raise_issues()
    assert result is not None
    return result


@dataclass(frozen=True)
class ValidationReport:
    phases: dict[str, Phase]
    stacks: dict[str, ResolvedStack]


def validate(
    workspace: Workspace, phases: list[str] | None = None, stacks: list[str] | None = None
) -> ValidationReport:
    """Validate the named phases and stacks (all of them when neither is named).

    Raises SpecError listing every problem in every file.
    """
    everything = phases is None and stacks is None
    phase_names = workspace.phase_names() if everything else list(phases or [])
    stack_names = workspace.stack_names() if everything else list(stacks or [])
    resolver = Resolver(workspace)
    valid_phases: dict[str, Phase] = {}
    for name in phase_names:
        result = resolver.validated_phase(name)
        if result is not None:
            valid_phases[name] = result[1]
    valid_stacks: dict[str, ResolvedStack] = {}
    for name in stack_names:
        resolved = resolver.stack(name)
        if resolved is not None:
            valid_stacks[name] = resolved
    if everything and len(valid_phases) == len(phase_names):
        for name, message in check_user_ranges(valid_phases):
            path = workspace.phase_path(name)
            doc = resolver._document(path)
            where = (doc.provenance.get(("users",)) if doc else None) or Location(
                display_path(path), 1, 1
            )
            resolver.issues.append(SpecIssue(where, "users", message, None))
    resolver.raise_issues()
    return ValidationReport(valid_phases, valid_stacks)


@dataclass(frozen=True)
class Description:
    """The fully resolved spec of a phase (or a stack at a phase), with where each value
    came from: key paths start with "stack" (the stack file) or "spec" (the phase)."""

    data: dict[str, Any]
    provenance: Provenance


def describe(workspace: Workspace, phase: str | None, stack: str | None) -> Description:
    if stack is None:
        if phase is None:
            raise UsageError("name a phase or a stack", "e.g. floyo-scale show --phase growth")
        resolved, model = load_phase(workspace, phase)
        data = {"phase": phase, "extends": list(resolved.chain[1:]), "spec": _dump(model)}
        prov = {("spec", *k): v for k, v in resolved.provenance.items() if k}
        return Description(data, prov)
    rs = load_stack(workspace, stack, phase)
    settings = _dump(rs.stack)
    settings.pop("overrides", None)
    settings.pop("phase", None)
    data = {"phase": rs.phase_name, "stack": rs.name, "settings": settings, "spec": _dump(rs.phase)}
    prov = {
        ("settings", *k): v for k, v in rs.stack_provenance.items() if k and k[0] != "overrides"
    }
    prov.update({("spec", *k): v for k, v in rs.provenance.items() if k})
    if ("phase",) in rs.stack_provenance and phase is None:
        prov[("phase",)] = rs.stack_provenance[("phase",)]
    return Description(data, prov)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
