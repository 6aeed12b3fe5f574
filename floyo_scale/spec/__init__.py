"""Phase and stack specs: load, merge, validate (see docs/spec.md).

Owns: the Pydantic models, YAML with line numbers, `extends:` merge, overrides, secret
references, capability rules, the JSON Schema. May import (docs/architecture.md): errors,
catalog, sharding, pydantic, yaml. Nothing above it.
"""

from .loader import (
    DEFAULT_STACK,
    Description,
    ResolvedPhase,
    ResolvedStack,
    ValidationReport,
    Workspace,
    describe,
    load_phase,
    load_stack,
    validate,
)
from .models import Phase, Stack
from .refs import env_refs, secret_env_name

__all__ = [
    "DEFAULT_STACK",
    "Description",
    "describe",
    "env_refs",
    "Phase",
    "ResolvedPhase",
    "ResolvedStack",
    "Stack",
    "ValidationReport",
    "Workspace",
    "load_phase",
    "load_stack",
    "secret_env_name",
    "validate",
]
