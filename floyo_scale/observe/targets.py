"""Which live things `status` reads: project refs, project ids, bucket names, cache ids.

Where they come from, in order (the first that knows wins, per identifier):
1. explicit overrides (`--supabase-ref`, tests);
2. the stack's outputs, when a state exists: what the last `up` exported
   (`supabase_project_refs`, `vercel_project_id`, `buckets`; see infra/main.py);
3. the names the program gives deterministically (infra/): buckets `<project>-<stack>-<name>`,
   ElastiCache replication groups `<project>-<stack>-<region>` (cut to 40 characters; their
   first node `...-001`), the Upstash database `<project>-<stack>-cache`, the Vercel project
   by its name. Supabase project refs are assigned by Supabase, so without a state they are
   unknown and the Supabase source says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import FloyoError, provider_errors
from ..spec import ResolvedStack

# engine.STATE_DIR, the default local backend (kept here so that a stack without a state
# never imports the engine; tests/observe checks they agree)
STATE_DIR = Path(".floyo") / "state"


@dataclass(frozen=True)
class Targets:
    supabase_refs: tuple[str, ...] = ()
    vercel_project: str | None = None  # an id (prj_...) from the state, else the name
    vercel_team: str | None = None
    buckets: Mapping[str, str] = field(default_factory=dict)  # spec name -> bucket name
    cache_clusters: Mapping[str, str] = field(default_factory=dict)  # region -> node id
    upstash_database: str | None = None  # the database's name
    # region -> ARN of the alert topic (the `alert_topics` output: auto-named, so only the
    # state knows it); their e-mail subscriptions wait for confirmation
    alert_topics: Mapping[str, str] = field(default_factory=dict)
    # the files CDN's distribution id (the `files_cdn` output: only the state knows it)
    cdn_distribution: str | None = None
    # domain -> Route 53 health check id (the `uptime_checks` output); a domain missing here
    # is looked up by its name (Route 53 ListHealthChecks) when the AWS source reads uptime
    uptime_checks: Mapping[str, str] = field(default_factory=dict)
    origin: str = "spec"  # "state" when the outputs supplied them
    notes: tuple[str, ...] = ()


def from_spec(stack: ResolvedStack) -> Targets:
    """The identifiers the program derives from the spec alone (infra/storage.py,
    infra/cache.py, infra/upstash.py, infra/web.py)."""
    prefix = f"{stack.stack.project}-{stack.name}"
    phase = stack.phase
    buckets = {name: f"{prefix}-{name}" for name in sorted(phase.storage.buckets)}
    clusters: dict[str, str] = {}
    upstash = None
    if phase.cache is not None and phase.cache.provider == "upstash":
        upstash = f"{prefix}-cache"
    elif phase.cache is not None:
        regions = [phase.regions.primary]
        if phase.cache.global_datastore:
            regions += list(phase.regions.secondaries)
        for region in regions:
            clusters[region] = f"{prefix}-{region}"[:40] + "-001"
    return Targets(
        supabase_refs=(),
        vercel_project=stack.stack.vercel.project_name,
        vercel_team=stack.stack.vercel.team,
        buckets=buckets,
        cache_clusters=clusters,
        upstash_database=upstash,
        origin="spec",
        notes=(
            "no state for this stack: identifiers from the spec; Supabase project refs are "
            "unknown until `up` has run (or pass --supabase-ref)",
        ),
    )


def merge_outputs(base: Targets, outputs: Mapping[str, Any]) -> Targets:
    """Apply the stack's outputs (plain values, as `Session.outputs()` gives them)."""
    refs = outputs.get("supabase_project_refs")
    project = outputs.get("vercel_project_id")
    buckets = outputs.get("buckets")
    topics = outputs.get("alert_topics")
    cdn = outputs.get("files_cdn")
    checks = outputs.get("uptime_checks")
    distribution = cdn.get("distribution_id") if isinstance(cdn, dict) else None
    return replace(
        base,
        supabase_refs=tuple(str(r) for r in refs) if isinstance(refs, list) else base.supabase_refs,
        vercel_project=str(project)
        if isinstance(project, str) and project
        else base.vercel_project,
        buckets={str(k): str(v) for k, v in buckets.items()}
        if isinstance(buckets, dict)
        else base.buckets,
        alert_topics={str(k): str(v) for k, v in topics.items()}
        if isinstance(topics, dict)
        else base.alert_topics,
        cdn_distribution=str(distribution) if distribution else base.cdn_distribution,
        uptime_checks={str(k): str(v) for k, v in checks.items()}
        if isinstance(checks, dict)
        else base.uptime_checks,
        origin="state",
        notes=(),
    )


def with_overrides(base: Targets, *, supabase_refs: tuple[str, ...] = ()) -> Targets:
    if supabase_refs:
        notes = tuple(n for n in base.notes if "Supabase" not in n)
        return replace(base, supabase_refs=supabase_refs, notes=notes)
    return base


OutputsReader = Callable[[ResolvedStack], Mapping[str, Any] | None]


def resolve(
    stack: ResolvedStack,
    root: Path,
    env: Mapping[str, str],
    *,
    supabase_refs: tuple[str, ...] = (),
    read_outputs: OutputsReader | None = None,
) -> Targets:
    """The identifiers for `stack`: overrides, then outputs (when a state exists), then the
    spec. `read_outputs` reads the stack's outputs (the CLI passes one over the engine,
    which this layer does not import; tests pass their own); None: the spec alone."""
    targets = from_spec(stack)
    try:
        outputs = read_outputs(stack) if read_outputs is not None else None
    except provider_errors(FloyoError) as exc:  # the state could not be read: go on
        why = exc.message if isinstance(exc, FloyoError) else type(exc).__name__
        targets = replace(
            targets, notes=(*targets.notes, f"the stack's outputs could not be read: {why}")
        )
        outputs = None
    if outputs:
        targets = merge_outputs(targets, outputs)
    return with_overrides(targets, supabase_refs=supabase_refs)


def has_local_state(stack: ResolvedStack, root: Path, env: Mapping[str, str]) -> bool | None:
    """Whether a local (file://) backend holds the stack's checkpoint; None for any other
    backend (only asking it tells). Lets the CLI skip starting the engine for nothing."""
    backend = env.get("PULUMI_BACKEND_URL") or f"file://{(root / STATE_DIR).resolve()}"
    if not backend.startswith("file://"):
        return None
    state = Path(backend[len("file://") :]) / ".pulumi" / "stacks" / stack.stack.project
    return (state / f"{stack.name}.json").is_file()
