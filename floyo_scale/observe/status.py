"""`floyo-scale status`: live usage against the stack's phase, verdicts, and when to move.

`status_report()` is the one function the CLI calls. It resolves what to read (targets.py),
builds one reader per source (each with its credential, or "unavailable" with a hint when
the credential is missing), reads them all concurrently within `timeout` (collect.py),
prices the whole stack's month (spend.py, with the cost library) and, when thresholds are
crossed or usage sits far below the phase before, recommends a phase (recommend.py, with
the diff and cost libraries).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import ExitCode, FloyoError, provider_errors
from ..spec import ResolvedStack, Workspace, load_stack, secret_env_name
from . import targets as targets_mod
from .collect import Source, SourceUnavailable, collect, gather
from .thresholds import Blind, Reading, SourceResult, SourceState, Verdict, blind
from .window import Window

DEFAULT_TIMEOUT = 10.0
DEFAULT_HOURS = 24

# Where each API lives; an environment variable of this name overrides it (tests, proxies).
API_URL_VARS = {
    "vercel": "FLOYO_VERCEL_API_URL",
    "sentry": "FLOYO_SENTRY_API_URL",
    "upstash": "FLOYO_UPSTASH_API_URL",
    "supabase": "FLOYO_SUPABASE_API_URL",
}


@dataclass(frozen=True)
class StatusReport:
    stack: str
    phase: str
    generated_at: str
    window_hours: int
    sources: tuple[SourceResult, ...]
    spend: Reading | None = None
    spend_notes: tuple[str, ...] = ()
    recommendation: Any = None  # recommend.Recommendation
    identifiers: str = "spec"
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    forecasts: tuple[Any, ...] = ()  # history.Forecast, when a history was read
    outlook: tuple[str, ...] = ()  # what the forecasts mean ("... in about 12 days: plan ...")
    history: tuple[dict[str, Any], ...] = ()  # the records of the last FORECAST_DAYS days
    recorded: str = ""  # where this reading was kept (--record)

    @property
    def readings(self) -> tuple[Reading, ...]:
        found = tuple(r for s in self.sources for r in s.readings)
        return found + ((self.spend,) if self.spend is not None else ())

    @property
    def crossed(self) -> tuple[Reading, ...]:
        return tuple(r for r in self.readings if r.verdict.crossed)

    @property
    def failed(self) -> tuple[SourceResult, ...]:
        return tuple(s for s in self.sources if s.state is SourceState.FAILED)

    @property
    def blind(self) -> tuple[Blind, ...]:
        """The seed thresholds that were not measured, each with why (fail closed)."""
        return blind(self.sources)

    @property
    def exit_code(self) -> ExitCode:
        """8 when any threshold is crossed (what someone must act on, even if a source
        failed or a threshold is blind too); else 9 when a seed threshold was not measured
        (fail closed: green only when every one was measured and within bounds); else 4
        when a source could not be read; else 0."""
        if self.crossed:
            return ExitCode.THRESHOLD
        if self.blind:
            return ExitCode.BLIND
        if self.failed:
            return ExitCode.ENGINE
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "phase": self.phase,
            "generated_at": self.generated_at,
            "window_hours": self.window_hours,
            "exit_code": int(self.exit_code),
            "blind": [b.to_json() for b in self.blind],
            "seconds": round(self.seconds, 2),
            "identifiers": self.identifiers,
            "sources": [s.to_json() for s in self.sources],
            "metrics": [r.to_json() for r in self.readings],
            "spend_notes": list(self.spend_notes),
            "recommendation": self.recommendation.to_json() if self.recommendation else None,
            "forecasts": [f.to_json() for f in self.forecasts],
            "outlook": list(self.outlook),
            "recorded": self.recorded or None,
            "notes": list(self.notes),
        }


@dataclass
class StatusOptions:
    timeout: float = DEFAULT_TIMEOUT
    hours: int = DEFAULT_HOURS
    now: datetime | None = None
    supabase_refs: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    read_outputs: targets_mod.OutputsReader | None = None
    spend: bool = True  # price the whole stack (synthesizes the program: ~1.5 s)
    recommend: bool = True
    cache_root: Path | None = None  # where .floyo/cache is (the CLI: the workspace root)
    history: Any = None  # history.HistoryStore: read it for forecasts (and --record into it)
    record: bool = False  # keep this reading in `history`


def status_report(
    workspace: Workspace, stack_name: str, options: StatusOptions | None = None
) -> StatusReport:
    import time

    began = time.monotonic()
    options = options or StatusOptions()
    env = os.environ if options.env is None else options.env
    stack = load_stack(workspace, stack_name, None)
    window = Window.at(options.now, options.hours)
    targets = targets_mod.resolve(
        stack,
        workspace.root,
        env,
        supabase_refs=options.supabase_refs,
        read_outputs=options.read_outputs,
    )
    sources = build_sources(stack, targets, env, window, options.timeout)

    # The cost estimate's inventory (a synthesis, CPU-bound) while the sources wait on I/O.
    inventory: dict[str, Any] = {}
    synth_thread = None
    if options.spend or options.recommend:
        synth_thread = threading.Thread(
            target=_synthesize_into,
            args=(stack, options.cache_root, inventory),
            name="status-synth",
            daemon=True,
        )
        synth_thread.start()
    results = collect(sources, options.timeout)
    if synth_thread is not None:
        synth_thread.join()
        if "bug" in inventory:
            raise inventory["bug"]

    from . import recommend, spend

    spend_reading: Reading | None = None
    spend_notes: list[str] = []
    if options.spend:
        spend_reading, spend_notes = spend.whole_stack(stack, results, inventory, window)
    report = StatusReport(
        stack=stack.name,
        phase=stack.phase_name,
        generated_at=window.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        window_hours=window.hours,
        sources=tuple(results),
        spend=spend_reading,
        spend_notes=tuple(spend_notes),
        identifiers=targets.origin,
        notes=targets.notes,
    )
    if options.history is not None:
        report = _with_history(workspace, report, options.history, options.record, window)
    if options.recommend:
        advice = recommend.recommend(workspace, stack, report.readings, inventory)
        report = _with(report, recommendation=advice)
    return _with(report, seconds=time.monotonic() - began)


OUTLOOK_DAYS = 60  # a forecast crossing within this many days is worth planning for


def _with_history(
    workspace: Workspace, report: StatusReport, store: Any, record: bool, window: Window
) -> StatusReport:
    """Read the stack's history (and keep this reading in it), forecast each figure, and say
    which crossings are near enough to plan the next phase for."""
    from . import history
    from .recommend import neighbours, ordered_phases

    records = store.read(report.stack)
    recorded = ""
    if record:
        new = history.record_of(
            report.stack, report.phase, window.now, report.readings, window.month_fraction
        )
        store.append(report.stack, new)
        records.append(new)
        recorded = store.where.replace("<stack>", report.stack)
        if recorded.startswith(str(workspace.root.resolve())):  # the default: say it short
            recorded = str(Path(recorded).relative_to(workspace.root.resolve()))
    found = history.forecasts(report.readings, records, window.now)
    _, following = neighbours(ordered_phases(workspace), report.phase)
    outlook = []
    for f in found:
        if f.days is not None and f.days <= OUTLOOK_DAYS:
            plan = f"plan the move to {following}" if following else "raise the limits"
            outlook.append(f"{f.text}: {plan}")
    recent = history.within(records, window.now, history.FORECAST_DAYS)
    return _with(
        report,
        forecasts=found,
        outlook=tuple(outlook),
        history=tuple(recent),
        recorded=recorded,
    )


def _with(report: StatusReport, **changes: Any) -> StatusReport:
    from dataclasses import replace

    return replace(report, **changes)


def _synthesize_into(stack: ResolvedStack, root: Path | None, out: dict[str, Any]) -> None:
    import asyncio

    try:
        from .inventories import inventory_for

        # the Pulumi runtime asks for the thread's event loop; a worker thread has none
        asyncio.set_event_loop(asyncio.new_event_loop())
        out["inventory"] = inventory_for(stack, root)
        out["cache_root"] = root
    except provider_errors(FloyoError) as exc:  # the estimate is optional: say why not
        out["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug: raised on the caller's thread (status)
        out["bug"] = exc


# -- one reader per source -------------------------------------------------------------------


def _secret(env: Mapping[str, str], ref: str) -> tuple[str, str]:
    """(variable name, value or '')."""
    name = secret_env_name(ref)
    return name, env.get(name, "")


def _missing(name: str, variable: str, why: str) -> Source:
    return Source.unavailable(
        name,
        f"{variable} is not set",
        f"export {variable}=... to read {why} (the stack file refers to it)",
    )


def build_sources(
    stack: ResolvedStack,
    targets: targets_mod.Targets,
    env: Mapping[str, str],
    window: Window,
    timeout: float,
) -> list[Source]:
    return [
        _supabase_source(stack, targets, env, timeout),
        _vercel_source(stack, targets, env, window, timeout),
        _sentry_source(stack, env, window, timeout),
        _aws_source(stack, targets, env, window, timeout),
        _upstash_source(stack, targets, env, timeout),
    ]


def _supabase_source(
    stack: ResolvedStack, targets: targets_mod.Targets, env: Mapping[str, str], timeout: float
) -> Source:
    variable, token = _secret(env, stack.stack.supabase.access_token)
    if not token:
        return _missing("supabase", variable, "the database size")
    if not targets.supabase_refs:
        return Source.unavailable(
            "supabase",
            "the Supabase project refs are unknown (no state for this stack)",
            "run `floyo-scale up` for the stack first, or pass --supabase-ref REF",
        )
    api_url = env.get(API_URL_VARS["supabase"]) or stack.stack.supabase.api_url
    refs = targets.supabase_refs

    def read(deadline: float) -> list[Reading]:
        from ..infra.supabase.client import ManagementClient
        from .supabase import read as read_supabase

        client = ManagementClient(token, api_url, timeout=timeout, max_retries=2, backoff_cap=1.0)
        return read_supabase(stack, client, refs, deadline)

    return Source("supabase", read)


def _vercel_source(
    stack: ResolvedStack,
    targets: targets_mod.Targets,
    env: Mapping[str, str],
    window: Window,
    timeout: float,
) -> Source:
    variable, token = _secret(env, stack.stack.vercel.api_token)
    if not token:
        return _missing("vercel", variable, "bandwidth, functions, p95 and errors")
    project = targets.vercel_project or stack.stack.vercel.project_name
    team = targets.vercel_team or stack.stack.vercel.team
    api_url = env.get(API_URL_VARS["vercel"]) or "https://api.vercel.com"

    def read(deadline: float) -> list[Reading]:
        from .vercel import VercelMetrics
        from .vercel import read as read_vercel

        client = VercelMetrics(token, team, base_url=api_url, timeout=timeout, deadline=deadline)
        return read_vercel(stack, client, project, window)

    return Source("vercel", read)


def _sentry_source(
    stack: ResolvedStack, env: Mapping[str, str], window: Window, timeout: float
) -> Source:
    from .sentry import target

    settings = target(stack)
    if settings is None:
        return Source.not_applicable("sentry", "the stack configures no Sentry")
    variable, token = _secret(env, settings.token_ref)
    if not token:
        return _missing("sentry", variable, "p95 and failure rate from Sentry")
    api_url = env.get(API_URL_VARS["sentry"]) or settings.api_url

    def read(deadline: float) -> list[Reading]:
        from .sentry import SentryEvents
        from .sentry import read as read_sentry

        client = SentryEvents(
            token, settings.organization, base_url=api_url, timeout=timeout, deadline=deadline
        )
        return read_sentry(stack, client, settings.project, window, settings.environment)

    return Source("sentry", read)


def _aws_source(
    stack: ResolvedStack,
    targets: targets_mod.Targets,
    env: Mapping[str, str],
    window: Window,
    timeout: float,
) -> Source:
    profile = stack.stack.aws.profile
    region = stack.phase.regions.primary
    buckets = dict(targets.buckets)
    clusters = dict(targets.cache_clusters)
    topics = dict(targets.alert_topics)
    checks = dict(targets.uptime_checks)

    def read(deadline: float) -> list[Reading]:
        # boto3 is imported here, in the source's thread, while the others wait on I/O
        import boto3

        from . import aws

        try:
            base = boto3.Session(profile_name=profile) if profile else boto3.Session()
            credentials = base.get_credentials()
        except provider_errors():  # a named profile that does not exist (ProfileNotFound)
            credentials = None
        if credentials is None:
            raise SourceUnavailable(
                "no AWS credentials",
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (in CI: the OIDC "
                "role) to read S3, the cache and spend",
            )
        config = aws.client_config(timeout)
        clients: dict[str, Any] = {}  # one CloudWatch client per region (they are thread-safe)

        def cloudwatch(where: str) -> Any:
            if where not in clients:
                clients[where] = base.client("cloudwatch", region_name=where, config=config)
            return clients[where]

        calls: dict[str, Any] = {}
        if buckets:
            calls["s3"] = partial(aws.read_storage, stack, cloudwatch(region), buckets, window)
        for cache_region, node in clusters.items():
            calls[f"cache-{cache_region}"] = partial(
                aws.read_cache, stack, cloudwatch(cache_region), cache_region, node, window
            )
        if targets.cdn_distribution:  # CloudFront's metrics live in us-east-1
            calls["cdn"] = partial(
                aws.read_cdn, stack, cloudwatch("us-east-1"), targets.cdn_distribution, window
            )
        # Route 53's metrics live in us-east-1; the clients are made here, not in the threads
        # (a boto3 session is not thread-safe)
        east = cloudwatch("us-east-1")
        missing = [d for d in stack.stack.vercel.uptime_domains if d not in checks]
        route53 = (
            base.client("route53", region_name="us-east-1", config=config) if missing else None
        )

        def uptime() -> list[Reading]:
            found = dict(checks)
            if route53 is not None:
                found |= aws.find_health_checks(route53, missing)
            return aws.read_uptime(stack, east, found, window)

        calls["uptime"] = uptime
        ce = base.client("ce", region_name="us-east-1", config=config)
        calls["spend"] = partial(aws.read_spend, ce, window)
        if topics:
            sns_clients = {r: base.client("sns", region_name=r, config=config) for r in topics}

            def pending() -> list[Reading]:
                return [aws.pending_reading(aws.pending_subscriptions(sns_clients.get, topics))]

            calls["pending"] = pending
        answers = gather(calls, deadline, what="aws")
        readings: list[Reading] = [
            r for key, found in answers.items() if key != "spend" for r in found
        ]
        actual, forecast, note = answers["spend"]
        endpoint = "Cost Explorer {}"
        readings.append(
            Reading(
                "aws",
                "aws.spend_mtd",
                "AWS spend",
                actual,
                "USD",
                window="month to date",
                endpoint=endpoint.format("GetCostAndUsage (UnblendedCost)"),
            )
        )
        readings.append(
            Reading(
                "aws",
                "aws.spend_forecast",
                "AWS forecast, rest of the month",
                forecast,
                "USD",
                window="to the month's end",
                endpoint=endpoint.format("GetCostForecast (UNBLENDED_COST)"),
                note=note,
            )
        )
        return readings

    return Source("aws", read)


def _upstash_source(
    stack: ResolvedStack, targets: targets_mod.Targets, env: Mapping[str, str], timeout: float
) -> Source:
    if targets.upstash_database is None:
        return Source.not_applicable("upstash", "the phase has no Upstash cache")
    settings = stack.stack.upstash
    if settings is None:
        return Source.unavailable(
            "upstash", "the stack file has no upstash section", "add upstash.email and api_key"
        )
    variable, key = _secret(env, settings.api_key)
    if not key:
        return _missing("upstash", variable, "the cache's size")
    api_url = env.get(API_URL_VARS["upstash"]) or "https://api.upstash.com"
    name = targets.upstash_database

    def read(deadline: float) -> list[Reading]:
        from .upstash import UpstashApi
        from .upstash import read as read_upstash

        client = UpstashApi(
            settings.email, key, base_url=api_url, timeout=timeout, deadline=deadline
        )
        return read_upstash(stack, client, name)

    return Source("upstash", read)


__all__ = [
    "DEFAULT_HOURS",
    "DEFAULT_TIMEOUT",
    "StatusOptions",
    "StatusReport",
    "Verdict",
    "build_sources",
    "status_report",
]
