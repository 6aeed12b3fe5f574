"""The provider SDK modules the program uses, without importing whole SDK packages.

A pure optimisation: `from ._sdk import ec2, vercel` gives the same classes as
`from pulumi_aws import ec2` and `import pulumiverse_vercel as vercel`, ~0.35 s sooner
for the whole program (a `plan` took ~1.5 s, most of it imports).

Why. Pulumi SDK packages import every module they have. `pulumi_aws` loads its service
packages lazily: after `import pulumi_aws`, `pulumi_aws.ec2` is a placeholder, and the first
read of any attribute on it (`ec2.Vpc`) runs `pulumi_aws/ec2/__init__.py`, which imports all
of ec2: instances, launch templates, VPN... (~0.26 s; s3 ~0.1 s). `pulumiverse_vercel` is
flat: its `__init__` imports all ~150 resource modules (~0.1 s). Yet each class lives in its
own leaf module (`pulumi_aws/ec2/vpc.py`), which needs only the package's `_utilities`,
`_enums`, `_inputs` and `outputs`; the program uses a few per package (the tables below).

How. The leaf modules are imported while their package stays a placeholder (Pulumi's lazy
module, as `pulumi_aws` makes for its services; made with `pulumi._utils.lazy_import` for
pulumiverse_vercel, before anything imports it). Importing `pulumi_aws.ec2.vpc` reads the
parent's `__path__` (the placeholder answers that without loading), and a leaf's
`from . import outputs` looks the sibling up on the parent (which would load it); so for the
duration of those imports the placeholder's class is set to a plain module, exactly what a
package is while its `__init__` runs, then put back. A lock keeps threads from doing this
at once.

What stays as it was:
- The package stays as lazy as any Pulumi placeholder: the first read of any other attribute
  (`pulumi_aws.ec2.Instance`; anyone's `import pulumiverse_vercel; pulumiverse_vercel.Team`)
  runs its `__init__` as usual, which finds the leaf modules already in `sys.modules` and
  binds the very same objects: `pulumi_aws.ec2.Vpc is _sdk.ec2.Vpc`.
- What the Pulumi runtime knows. An SDK's `__init__` ends by registering its resource modules
  (`_utilities.register(...)`), through which a resource reference the engine sends back is
  deserialized to its class. `pulumi_aws/__init__.py` is imported normally (it is cheap) and
  registers every aws service, pointing at the placeholders. For pulumiverse_vercel, whose
  `__init__` does not run, its own `_utilities.register` is called with the arguments its
  `__init__` passes (read from its source, literally), once; when the `__init__` runs later
  and makes that same call, the call is skipped (`_internals.register_once`) instead of failing as a
  second registration.
- A name missing from the tables still works: each namespace here falls back to the full
  package for a name its leaf modules do not define (slower, never wrong). Add the leaf
  module to the table when the program starts using a new resource.
- The private Pulumi and CPython internals this relies on (lazy modules, their class swap,
  the literal `_utilities.register` call) are used through floyo_scale/_internals.py, which
  names each assumption. When one breaks, that package is imported in full (slower, same
  objects) and an InternalsWarning on stderr names the assumption; the test suite makes that
  warning an error. A package already loaded in full, or made lazy by someone else, is simply
  used as it is. `FLOYO_NO_SHORTCUTS=1` turns this off, with synth.py's shortcuts
  (tests/test_synth_speed_equivalence.py compares both ways; tests/test_sdk_imports.py checks
  the above).

pulumi_random is imported normally: all of it costs ~6 ms.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._internals import (
    LAZY_MODULE,
    InternalsChanged,
    fall_back,
    import_leaf,
    is_placeholder,
    lazy_import,
    loading_as_package,
    register_once,
    sdk_registration,
)

if TYPE_CHECKING:  # type checkers and editors see the real packages
    import pulumiverse_vercel as vercel
    from pulumi_aws import budgets as budgets
    from pulumi_aws import cloudfront as cloudfront
    from pulumi_aws import cloudwatch as cloudwatch
    from pulumi_aws import ec2 as ec2
    from pulumi_aws import elasticache as elasticache
    from pulumi_aws import iam as iam
    from pulumi_aws import route53 as route53
    from pulumi_aws import s3 as s3
    from pulumi_aws import sns as sns
    from pulumi_aws import vpc as vpc

__all__ = [
    "AWS_LEAVES",
    "VERCEL_LEAVES",
    "aws_service",
    "budgets",
    "cloudfront",
    "cloudwatch",
    "ec2",
    "elasticache",
    "flat_package",
    "iam",
    "route53",
    "s3",
    "sns",
    "vercel",
    "vpc",
]

#: aws service -> the leaf modules (file names in pulumi_aws/<service>/) whose classes the
#: program uses. Their `_inputs` (the ...Args types) and `_enums` come along.
AWS_LEAVES: dict[str, tuple[str, ...]] = {
    "budgets": ("budget",),  # Budget
    # the files CDN: CachePolicy, Distribution, OriginAccessControl
    "cloudfront": ("cache_policy", "distribution", "origin_access_control"),
    "cloudwatch": ("metric_alarm",),  # MetricAlarm
    # Vpc, Subnet, SecurityGroup; with Vercel Secure Compute: the peering accepter, a route
    "ec2": ("vpc", "subnet", "security_group", "vpc_peering_connection_accepter", "route"),
    "elasticache": (
        "global_replication_group",
        "parameter_group",
        "replication_group",
        "subnet_group",
    ),
    # Role, RolePolicy, OIDC provider, Policy (the roles' permissions boundary)
    "iam": ("role", "role_policy", "open_id_connect_provider", "policy"),
    "route53": ("health_check",),  # HealthCheck: the domains' uptime (monitoring)
    "s3": (
        "bucket",
        "bucket_lifecycle_configuration",
        "bucket_policy",
        "bucket_public_access_block",
        "bucket_replication_config",
        "bucket_server_side_encryption_configuration",
        "bucket_versioning",
    ),
    "sns": ("topic", "topic_policy", "topic_subscription"),  # Topic, TopicPolicy, TopicSubscription
    "vpc": ("security_group_ingress_rule",),  # SecurityGroupIngressRule
}

#: pulumiverse_vercel's leaf modules the program uses (Provider, Project, ProjectDomain,
#: ProjectEnvironmentVariable; the ...Args types come with `_inputs`).
VERCEL_LEAVES: tuple[str, ...] = (
    "get_project",  # another project's id (vercel.previews_of)
    "provider",
    "project",
    "project_domain",
    "project_environment_variable",
)

# imports some leaf modules of a package: them, or None when the package is loaded in full
Importer = Callable[[str, tuple[str, ...]], "list[types.ModuleType] | None"]

NO_SHORTCUTS_ENV = "FLOYO_NO_SHORTCUTS"  # the same switch as synth.NO_SHORTCUTS_ENV
_LOCK = threading.RLock()
_BUILT: dict[tuple[str, tuple[str, ...]], types.ModuleType | Subset] = {}
_REGISTERED: set[str] = set()  # flat packages whose placeholder and registration are ours


def __getattr__(name: str) -> Any:  # PEP 562: `from ._sdk import ec2` builds ec2 on first use
    if name in AWS_LEAVES:
        return aws_service(name)
    if name == "vercel":
        return flat_package("pulumiverse_vercel", VERCEL_LEAVES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def aws_service(service: str, leaves: tuple[str, ...] | None = None) -> types.ModuleType | Subset:
    """`pulumi_aws.<service>`, loading only `leaves` (default: AWS_LEAVES[service]).

    A namespace with the names those modules define, falling back to the full package for
    any other name; or the full package itself when the shortcut does not apply."""
    chosen = AWS_LEAVES[service] if leaves is None else tuple(leaves)
    return _cached(f"pulumi_aws.{service}", chosen, _import_service_leaves)


def flat_package(package: str, leaves: tuple[str, ...]) -> types.ModuleType | Subset:
    """A flat Pulumi SDK package (`pulumiverse_vercel`), loading only `leaves`; as above."""
    return _cached(package, tuple(leaves), _import_flat_leaves)


def _cached(package: str, leaves: tuple[str, ...], importer: Importer) -> types.ModuleType | Subset:
    with _LOCK:
        key = (package, leaves)
        if key not in _BUILT:
            _BUILT[key] = _subset(package, leaves, importer)
        return _BUILT[key]


def _subset(package: str, leaves: tuple[str, ...], importer: Importer) -> types.ModuleType | Subset:
    if os.environ.get(NO_SHORTCUTS_ENV, "") not in ("", "0"):
        return importlib.import_module(package)
    try:
        modules = importer(package, leaves)
    except InternalsChanged as exc:  # said on stderr; the whole package, as without shortcuts
        fall_back(exc, f"importing all of {package} (slower, same result)")
        return importlib.import_module(package)
    if modules is None:  # already loaded in full: nothing to save
        return importlib.import_module(package)
    return Subset(package, modules)


def _import_service_leaves(package: str, leaves: tuple[str, ...]) -> list[types.ModuleType] | None:
    """Leaves of `pulumi_aws.<service>`, whose placeholder `pulumi_aws/__init__` made."""
    parent, _, _ = package.rpartition(".")
    importlib.import_module(parent)  # pulumi_aws: cheap; registers the resource modules
    placeholder = sys.modules.get(package)
    if placeholder is None:
        raise InternalsChanged(LAZY_MODULE, f"{parent} did not set up {package} lazily")
    if type(placeholder) is types.ModuleType:
        return None
    return _import_leaves(placeholder, package, leaves)


def _import_flat_leaves(package: str, leaves: tuple[str, ...]) -> list[types.ModuleType] | None:
    """Leaves of a top-level SDK package, whose `__init__` then does not run: make its
    placeholder, import the leaves, register its resource modules as its `__init__` would."""
    existing = sys.modules.get(package)
    if existing is not None:
        if type(existing) is types.ModuleType:
            return None
        if package not in _REGISTERED:  # someone else's placeholder: leave it to them
            return None
        return _import_leaves(existing, package, leaves)
    registration = sdk_registration(package)
    placeholder = lazy_import(package)
    modules = _import_leaves(placeholder, package, leaves)
    register_once(sys.modules[f"{package}._utilities"], *registration)
    _REGISTERED.add(package)
    return modules


def _import_leaves(
    placeholder: types.ModuleType, package: str, leaves: tuple[str, ...]
) -> list[types.ModuleType]:
    """Import `package.<leaf>` for each leaf without loading the placeholder `package`.

    Returns the leaf modules plus the package's `_inputs` and `_enums` if they came along.
    Raises InternalsChanged when the layout is not the one this was written for."""
    if not is_placeholder(placeholder):
        kind = type(placeholder).__name__
        raise InternalsChanged(LAZY_MODULE, f"{package} is a {kind}, not a lazy module")
    with loading_as_package(placeholder):
        modules = [import_leaf(f"{package}.{leaf}") for leaf in leaves]
        for leaf, module in zip(leaves, modules, strict=True):
            if leaf in getattr(module, "__all__", ()):
                # a function module (get_x defines get_x): in the loaded package the name is
                # the function, which the star import in __init__ binds; leave it unbound
                placeholder.__dict__.pop(leaf, None)
    extra = [sys.modules.get(f"{package}.{name}") for name in ("_enums", "_inputs")]
    return modules + [m for m in extra if m is not None]


class Subset:
    """Some names of a provider package, read from the modules that define them; any other
    name is read from the full package (loading it)."""

    def __init__(self, package: str, modules: list[types.ModuleType]) -> None:
        names: dict[str, Any] = {}
        for module in modules:
            for name in getattr(module, "__all__", ()):
                names[name] = getattr(module, name)
        self.__dict__.update(names)
        self.__dict__["_floyo_package"] = package
        self.__dict__["_floyo_modules"] = tuple(m.__name__ for m in modules)

    def __getattr__(self, name: str) -> Any:  # only called for names not set above
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module(self.__dict__["_floyo_package"]), name)

    def __repr__(self) -> str:
        return f"<subset of {self._floyo_package}: {', '.join(self._floyo_modules)}>"
