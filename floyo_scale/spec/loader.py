"""Find, load, merge and validate phase and stack files.

Every problem in every file is collected before anything is raised, so one `validate`
lists them all; nothing here has side effects beyond reading files.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Location, SpecError, SpecIssue, UsageError
from .merge import merge
from .messages import data_path, issue_from_error, locate, shown
from .models import NAME_HINT, Phase, Stack, is_name
from .rules import (
    check_phase,
    check_stack,
    check_stack_settings,
    check_user_ranges,
    vercel_environments,
)
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
ErrorKey = tuple[KeyPath, str]  # where a validation error is (data path) and its type
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
        return self.root / "phases" / f"{_named('phase', name)}.yaml"

    def stack_path(self, name: str) -> Path:
        return self.root / "stacks" / f"{_named('stack', name)}.yaml"


def name_problem(kind: str, name: object) -> tuple[str, str] | None:
    """Why `name` cannot name a phase or a stack (message, hint), or None: one pattern for
    file names, `phase:` and `extends:` references and command-line arguments alike."""
    if is_name(name):
        return None
    return f"{shown(name)} is not a {kind} name", NAME_HINT + f" (e.g. {_EXAMPLE[kind]})"


_EXAMPLE = {"phase": "growth", "stack": "staging"}


def _named(kind: str, name: str) -> str:
    """`name`, checked before it becomes a path (a command-line argument: a usage error)."""
    problem = name_problem(kind, name)
    if problem is not None:
        raise UsageError(*problem)
    return name


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

    @property
    def environments(self) -> tuple[str, ...]:
        """The Vercel environments its variables and AWS role serve (spec/rules.py)."""
        return vercel_environments(self.stack, self.name)


class Resolver:
    """Loads each file once and resolves phases and stacks, collecting every issue."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._docs: dict[Path, Document | None] = {}
        self.issues: list[SpecIssue] = []
        self._validated: dict[str, tuple[ResolvedPhase, Phase] | None] = {}
        self._errors: dict[str, frozenset[ErrorKey]] = {}
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
            self._fail(
                where,
                _EXTENDS,
                f"got {shown(parent)}: extends names one phase, as a string",
                "e.g. extends: " + self._example_parent(name, parent),
            )
            return None
        problem = name_problem("phase", parent)
        if problem is not None:
            self._fail(where, _EXTENDS, *problem)
            return None
        if parent in _seen + (name,):
            trail = _seen + (name,)
            members = frozenset(trail[trail.index(parent) :])
            if members not in self._cycles:  # one report per cycle, whichever phase found it
                self._cycles.add(members)
                cycle = " -> ".join(trail + (parent,))
                self._fail(
                    where,
                    _EXTENDS,
                    f"extends forms a cycle: {cycle}",
                    "the first phase extends none; each later one extends the one before it",
                )
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

    def _example_parent(self, name: str, written: Any) -> str:
        """A phase `name` could extend: one it wrote in a list, else any other phase."""
        listed = written if isinstance(written, list) else []
        others = [p for p in self.ws.phase_names() if p != name]
        return next((p for p in listed if p in others), others[0] if others else "startup")

    def validated_phase(self, name: str) -> tuple[ResolvedPhase, Phase] | None:
        if name in self._validated:
            return self._validated[name]
        self._validated[name] = None  # until proven valid (and a guard against cycles)
        self._errors[name] = frozenset()
        path = self.ws.phase_path(name)
        resolved = self.phase(name)
        if resolved is None:
            # this file, or one it extends, cannot be read or chained: check what this
            # file writes on its own, so its own problems are reported in this run too
            doc = self._docs.get(path)
            if doc is not None and isinstance(doc.data, dict):
                data = {k: v for k, v in doc.data.items() if k != _EXTENDS}
                self._check_alone(data, doc.provenance, path)
            return None
        inherited = frozenset().union(*(self._errors_of(p) for p in resolved.chain[1:]))
        model, errors = self._validate(
            Phase, resolved.data, resolved.provenance, path, resolved.removed, inherited
        )
        self._errors[name] = inherited | errors
        if model is None:
            return None
        self._rules(model, resolved.provenance, path)
        self._validated[name] = (resolved, model)
        return self._validated[name]

    def _errors_of(self, name: str) -> frozenset[ErrorKey]:
        """The validation errors of a phase (its ancestors' included), validating it first."""
        self.validated_phase(name)
        return self._errors.get(name, frozenset())

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
        fallback = Location(display_path(path), 1, 1)
        stack, _ = self._validate(Stack, doc.data, doc.provenance, path)
        if stack is not None:
            for key, message, hint in check_stack_settings(stack, name):
                where = locate(key, doc.provenance, fallback)
                self.issues.append(SpecIssue(where, dotted(key), message, hint))
        # the overrides are checked even when other settings are wrong (every problem, one run)
        overrides = doc.data.get("overrides", {})
        if not isinstance(overrides, dict):
            return None  # the Stack model reported it
        over_prov = {
            k[1:]: v for k, v in doc.provenance.items() if k[:1] == ("overrides",) and len(k) > 1
        }
        phase_name = phase or doc.data.get("phase")
        if not isinstance(phase_name, str):
            self._check_alone(overrides, over_prov, path)
            return None
        problem = name_problem("phase", phase_name)
        if problem is not None:
            if phase is not None:  # a command-line argument
                raise UsageError(*problem)
            self._fail(doc.provenance.get(("phase",)) or fallback, "phase", *problem)
            self._check_alone(overrides, over_prov, path)
            return None
        if phase is None and not self.ws.phase_path(phase_name).is_file():
            if stack is not None:
                close = difflib.get_close_matches(phase_name, self.ws.phase_names(), n=1)
                self._fail(
                    doc.provenance.get(("phase",)),
                    "phase",
                    f"unknown phase {phase_name!r}",
                    (f"did you mean {close[0]!r}? " if close else "")
                    + "available phases: "
                    + ", ".join(self.ws.phase_names()),
                )
            self._check_alone(overrides, over_prov, path)
            return None
        base = self.phase(phase_name)
        if base is None:  # the phase's own problems are reported, in its files
            self._check_alone(overrides, over_prov, path)
            return None
        inherited = self._errors_of(phase_name)
        data, prov = merge(base.data, base.provenance, overrides, over_prov)
        removed = base.removed | _nulls(overrides, over_prov)
        model, _ = self._validate(Phase, data, prov, path, removed, inherited)
        if model is None or stack is None:
            return None
        self._rules(model, prov, path)
        for key, message, hint in check_stack(stack, model):
            where = locate(key, doc.provenance, fallback)
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
        inherited: frozenset[ErrorKey] = frozenset(),
    ) -> tuple[Any, frozenset[ErrorKey]]:
        """The model, or None and the errors' keys; every error is an issue except those
        `inherited` from a phase this data builds on (reported in that phase's file)."""
        try:
            return cls.model_validate(data), frozenset()
        except ValidationError as exc:
            fallback = Location(display_path(file), 1, 1)
            keys: set[ErrorKey] = set()
            for error in exc.errors():
                path = data_path(error["loc"], data)
                keys.add((path, error["type"]))
                if (path, error["type"]) in inherited and not (
                    error["type"] != "missing" and _written_in(path, prov, fallback.file)
                ):
                    continue  # the phase built on has this problem: reported once, there
                issue = issue_from_error(cls, error, data, prov, fallback)
                where = (removed or {}).get(path)
                if error["type"] == "missing" and where is not None:
                    # a `null` removed what is required: point at the `null`
                    issue = SpecIssue(where, issue.path, issue.message, issue.hint)
                self.issues.append(issue)
            return None, frozenset(keys)

    def _check_alone(self, data: dict[str, Any], prov: Provenance, file: Path) -> None:
        """Check the values one file writes as a part of a phase, without what it builds on
        (which cannot be read): what is missing is not this file's problem, a wrong value is."""
        try:
            Phase.model_validate(data)
        except ValidationError as exc:
            fallback = Location(display_path(file), 1, 1)
            for error in exc.errors():
                path = data_path(error["loc"], data)
                if error["type"] != "missing" and path in prov:
                    self.issues.append(issue_from_error(Phase, error, data, prov, fallback))

    def _rules(self, phase: Phase, prov: Provenance, file: Path) -> None:
        fallback = Location(display_path(file), 1, 1)
        for path, message, hint in check_phase(phase):
            self.issues.append(SpecIssue(locate(path, prov, fallback), dotted(path), message, hint))

    def _fail(self, where: Location | None, path: str, message: str, hint: str | None) -> None:
        self.issues.append(SpecIssue(where, path, message, hint))

    def raise_issues(self) -> None:
        if self.issues:
            unique = list(dict.fromkeys(self.issues))
            raise SpecError(unique)


def _written_in(path: KeyPath, prov: Provenance, file: str) -> bool:
    """Whether the value at `path` itself was written in `file`."""
    where = prov.get(path)
    return where is not None and where.file == file


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
    if everything:  # the files' names: a file whose name is not a name is an invalid spec
        for kind, names in (("phase", phase_names), ("stack", stack_names)):
            for name in [n for n in names if name_problem(kind, n)]:
                message, hint = name_problem(kind, name) or ("", "")
                where = Location(display_path(workspace.root / f"{kind}s" / f"{name}.yaml"), 1, 1)
                resolver.issues.append(SpecIssue(where, "", f"{message} (the file's name)", hint))
                names.remove(name)
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
            hint = "each phase's users.max is the next phase's users.min"
            resolver.issues.append(SpecIssue(where, "users", message, hint))
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
