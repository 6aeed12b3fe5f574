"""Offline synthesis: run the one Pulumi program under Pulumi's own mock engine and record
every resource it registers. No CLI, no plugins, no credentials, no network.

The recording sits in the mock *monitor* (the process's view of the engine), so it sees
exactly what `pulumi up` would send: type tokens, names, parents, providers, resource
options, and which inputs are secret (read from the wire format, before the mocks unwrap
them).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import _internals
from ..errors import EngineError
from ..spec import ResolvedStack, Workspace
from . import digest
from .inventory import SECRET, Inventory, Resource

if TYPE_CHECKING:  # pulumi is imported on first synthesis only (`validate` never imports it)
    from pulumi.runtime import MockCallArgs, MockResourceArgs
    from pulumi.runtime.proto.resource_pb2 import (
        RegisterResourceRequest,
        RegisterResourceResponse,
    )

    from .._internals import MockMonitorBase

    class _RecordingMonitorType(MockMonitorBase):
        records: list[dict[str, Any]]

        def __init__(self, mocks: _Mocks) -> None: ...  # duck-typed pulumi Mocks


_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_GLOBAL_TYPES = ("aws:iam/", "aws:budgets/")
_LOCK = threading.Lock()  # the Pulumi runtime is process-global: one synthesis at a time


def synthesize(
    stack: ResolvedStack,
    secrets: Mapping[str, str] | None = None,
    aws_budget_usd: float | None = None,
) -> Inventory:
    """Run the program for `stack` under mocks; return what it registered.

    `secrets` are the values of the stack's `${env:...}` references; offline they are not
    needed (every secret input is recorded as "[secret]", with its keyed digest: see
    digest.py), so the default is none.
    `aws_budget_usd`: the AWS Budget's limit (cost.plan_stack computes it from a first
    synthesis; without it no AWS Budget is registered).
    """
    from ..infra import program

    with _LOCK, _shortcuts():
        run = program(stack, secrets or {}, aws_budget_usd=aws_budget_usd)
        records = _run(run, project=stack.stack.project, stack=stack.name)
        resources = _to_resources(records)
        return Inventory(stack.phase_name, stack.name, resources, digest.key_id())


# -- speed: shortcuts that change how fast a synthesis runs, never what it records ----------
#
# `plan` is a whole process: most of its time is importing the provider SDKs (see
# infra/_sdk.py) and the Pulumi runtime's own work per resource. These two shortcuts cut
# what the collector and the runtime do for nothing under mocks. FLOYO_NO_SHORTCUTS=1 turns
# them off, and infra/_sdk.py's too (tests/test_synth_speed_equivalence.py compares).

NO_SHORTCUTS_ENV = "FLOYO_NO_SHORTCUTS"


def shortcuts_enabled() -> bool:
    return os.environ.get(NO_SHORTCUTS_ENV, "") in ("", "0")


@contextlib.contextmanager
def _shortcuts() -> Iterator[None]:
    if not shortcuts_enabled():
        yield
        return
    with _no_cyclic_gc(), _no_stack_traces():
        yield


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while synthesizing.

    The provider SDK modules the program imports on first use hold a few hundred thousand
    objects, and each full collection walks all of them: with the collector on, a first
    synthesis spent ~0.3 s in four full collections that freed almost nothing. Reference
    counting frees everything acyclic meanwhile; the cycles a synthesis leaves (asyncio
    tasks and futures, ~5 MB) are collected once the collector is back on.

    When the synthesis imported modules, what it allocated is mostly those modules, which
    live as long as the process: it is moved to the oldest generation on the way out
    (`freeze` then `unfreeze`, which scans nothing), or the first young collection after
    re-enabling would walk it all (~0.07 s). That synthesis's own cycles then wait for the
    next full collection. A synthesis that imported nothing leaves its objects young, for the
    next young collection. Skipped when a caller froze objects itself (unfreezing would thaw
    theirs). The collector is left as the caller had it.
    """
    was_enabled = gc.isenabled()
    modules = len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > modules and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def _no_stack_traces() -> Iterator[None]:
    """Send the mock engine empty stack traces (_internals.no_stack_traces), for this
    synthesis only (`_LOCK` keeps it to one). If Pulumi changed what that relies on, the
    synthesis runs with stack traces, and an InternalsWarning says so."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_internals.no_stack_traces())
        except _internals.InternalsChanged as exc:
            _internals.fall_back(exc, "synthesizing with stack traces (slower, same result)")
        yield


def synthesize_apart(stack: ResolvedStack, secrets: Mapping[str, str] | None = None) -> Inventory:
    """`synthesize(stack, secrets)` in a context of its own (Pulumi's runtime settings and
    root resource are context variables), so a Pulumi runtime this process already runs
    (the language host of `pulumi preview`, running infra/__main__.py) is left as it was.
    On this thread: the synthesis awaits on the event loop already running here, which
    Pulumi's sync_await pumps (a loop of another thread would wait for ever on what the
    runtime keeps of this one)."""
    import contextvars

    return contextvars.Context().run(lambda: synthesize(stack, secrets=secrets))


def synthesize_target(workspace: Workspace, phase: str | None, stack: str | None) -> Inventory:
    """`--stack S` alone: S at its phase; `--phase P` alone: P on the dev stack; both: S at P."""
    from ..spec import load_stack

    return synthesize(load_stack(workspace, stack, phase))


def _run(
    func: Callable[[], None], project: str, stack: str, *, preview: bool = False
) -> list[dict[str, Any]]:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func

    recorder = _Mocks()  # duck-typed: pulumi.runtime.Mocks is only an interface
    monitor = _RecordingMonitor(recorder)
    _internals.reset_root_resource()  # between syntheses
    pulumi.runtime.set_mocks(
        recorder,  # type: ignore[arg-type]  # _Mocks answers as pulumi.runtime.Mocks would
        project=project,
        stack=stack,
        preview=preview,
        monitor=monitor,
    )
    try:
        _internals.sync_await(run_pulumi_func(func))
    except pulumi.RunError as exc:  # the program refused to build (anything else is a bug)
        raise EngineError(
            f"the Pulumi program stopped under the mock engine: {exc}",
            "read the message above; rerun with --traceback if it does not say what to fix",
        ) from exc
    finally:
        _internals.reset_root_resource()
    return monitor.records


class _Mocks:
    """Answers for the mock engine: outputs a real provider would compute, deterministic."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        outputs.pop("__provider", None)
        token, name = args.typ, args.name
        rid = f"{name}-id"
        arn = f"arn:aws:mock:::{token.split(':')[-1].lower()}/{name}"
        outputs.setdefault("arn", arn)
        outputs.setdefault("id", rid)
        if token == "aws:s3/bucket:Bucket":
            outputs.setdefault("bucket", name)
            outputs["arn"] = f"arn:aws:s3:::{outputs['bucket']}"
            outputs["bucketRegionalDomainName"] = f"{outputs['bucket']}.s3.amazonaws.com"
        elif token == "aws:cloudfront/distribution:Distribution":
            outputs["arn"] = f"arn:aws:cloudfront::000000000000:distribution/E{name.upper()}"
            outputs["domainName"] = f"d-{name}.cloudfront.net"
        elif token == "aws:elasticache/replicationGroup:ReplicationGroup":
            rgid = outputs.get("replicationGroupId", name)
            outputs["primaryEndpointAddress"] = f"master.{rgid}.cache.amazonaws.com"
            outputs.setdefault("replicationGroupId", rgid)
        elif token == "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup":
            suffix = outputs.get("globalReplicationGroupIdSuffix", name)
            outputs["globalReplicationGroupId"] = f"ldgnf-{suffix}"
        elif token == "upstash:index/redisDatabase:RedisDatabase":
            db = outputs.get("databaseName", name)
            outputs["databaseId"] = f"mock-{db}"
            outputs["endpoint"] = f"{db}.upstash.io"
            outputs["port"] = 6379
            outputs["password"] = "mock-password"
            outputs["restToken"] = "mock-password"
            outputs["readOnlyRestToken"] = "mock-password"
            outputs["state"] = "active"
        elif token == "aws:ec2/vpc:Vpc":
            outputs["mainRouteTableId"] = f"rtb-{name}"
        elif token == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "mock-password"
        elif token.startswith("pulumi-python:dynamic/supabase:"):
            outputs |= _supabase_outputs(token, name)
        return rid, outputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["zone-a", "zone-b", "zone-c"], "zoneIds": ["z1", "z2", "z3"]}
        if args.token == "aws:kms/getAlias:getAlias":  # RDS's key, for encrypted replicas
            name = args.args.get("name", "alias/mock")
            arn = "arn:aws:kms:mock:000000000000:key/mock"
            return {
                "arn": arn,
                "id": name,
                "name": name,
                "targetKeyArn": arn,
                "targetKeyId": "mock",
            }
        if args.token == "vercel:index/getProject:getProject":  # vercel.previews_of
            name = args.args.get("name", "project")
            return {**args.args, "id": f"prj_mock_{name}", "name": name}
        if args.token == "sentry:index/getSentryTeam:getSentryTeam":
            slug = args.args.get("slug", "team")
            return {**args.args, "id": slug, "internalId": f"mock-team-{slug}", "name": slug}
        raise EngineError(
            f"the program made an invoke the mock engine cannot answer: {args.token}",
            "teach floyo_scale/offline/synth.py's _Mocks.call to answer it",
        )


def _supabase_outputs(token: str, name: str) -> dict[str, Any]:
    kind = token.rsplit(":", 1)[-1]
    if kind == "Project":
        ref = f"ref-{name}"
        host = f"db.{ref}.supabase.co"
        return {
            "ref": ref,
            "db_host": host,
            "db_pass": "mock-password",
            "status": "ACTIVE_HEALTHY",
            "connection_string": f"postgresql://postgres:mock-password@{host}:5432/postgres",
            "pooler_connection_string": f"postgresql://postgres.{ref}:mock-password@pooler:6543/postgres",
        }
    if kind == "ReadReplica":
        return {
            "identifier": f"replica-{name}",
            "db_host": f"{name}.supabase.co",
            "connection_string": f"postgresql://postgres:mock-password@{name}:5432/postgres",
        }
    return {}


def _make_monitor_class() -> type[_RecordingMonitorType]:
    MockMonitor = _internals.mock_monitor_base()  # noqa: N806 (a class)

    class RecordingMonitor(MockMonitor):  # type: ignore[misc,valid-type]  # a base found at run time
        def __init__(self, mocks: _Mocks) -> None:
            super().__init__(mocks)
            self.records: list[dict[str, Any]] = []

        def RegisterResource(  # noqa: N802 (gRPC method name)
            self, request: RegisterResourceRequest
        ) -> RegisterResourceResponse:
            from google.protobuf import json_format

            response: RegisterResourceResponse = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                self.records.append(
                    {
                        "urn": response.urn,
                        "type": request.type,
                        "name": request.name,
                        "parent": request.parent or None,
                        "provider": request.provider or None,
                        "custom": bool(request.custom),
                        "protect": bool(request.protect),
                        "retain_on_delete": bool(request.retainOnDelete),
                        "inputs": json_format.MessageToDict(request.object),
                        # the resource option `depends_on`: every dependency the request
                        # names that no input carries (Pulumi sends both in one list)
                        "depends_on": sorted(
                            set(request.dependencies)
                            - {
                                urn
                                for deps in request.propertyDependencies.values()
                                for urn in deps.urns
                            }
                            - {request.parent}
                        ),
                    }
                )
            return response

    return RecordingMonitor


_monitor_class: type[_RecordingMonitorType] | None = None


def _RecordingMonitor(mocks: _Mocks) -> _RecordingMonitorType:  # noqa: N802 (a class, built on first use)
    global _monitor_class
    if _monitor_class is None:
        _monitor_class = _make_monitor_class()
    return _monitor_class(mocks)


def _redact(value: Any, digests: dict[str, str], path: str = "") -> Any:
    """The value with each secret replaced by SECRET (its keyed digest kept in `digests`,
    by input path, so a diff can tell a changed secret from an unchanged one) and each
    unknown by None."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET_SIG:
            digests[path] = digest.digest(_plain(value.get("value")))
            return SECRET
        return {
            k: _redact(v, digests, f"{path}.{k}" if path else k)
            for k, v in sorted(value.items())
            if not k.startswith("__")
        }
    if isinstance(value, list):
        return [_redact(v, digests, f"{path}[{i}]") for i, v in enumerate(value)]
    if value == _UNKNOWN:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """A value from the wire with any secret wrapper taken off (for its digest)."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_VERCEL_VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"


def _shown_inputs(record: dict[str, Any]) -> dict[str, Any]:
    """The inputs as the inventory may show them.

    The Vercel SDK marks the value of every environment variable secret, whatever it holds.
    The program sets `sensitive: false` only on plain settings (web.app_settings, bucket
    names, the region: values Vercel shows to anyone on the team), and `sensitive: true` on
    every connection string and token; so the value of a variable that is not sensitive is
    shown, and a change to a cache TTL or an alert threshold is visible in a diff. A secret
    nested in it (which the program never passes there) would still be hidden.
    """
    inputs: dict[str, Any] = record["inputs"]
    value = inputs.get("value")
    if (
        record["type"] == _VERCEL_VARIABLE
        and inputs.get("sensitive") is False
        and isinstance(value, dict)
        and value.get(_SIG) == _SECRET_SIG
        and not _has_secret(value.get("value"))
    ):
        return {**inputs, "value": value.get("value")}
    return inputs


def _has_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get(_SIG) == _SECRET_SIG or any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _input_text(record: dict[str, Any], name: str) -> str | None:
    """A text input of a record (None when absent, or unknown until the engine computes it)."""
    value = record["inputs"].get(name)
    return value if isinstance(value, str) else None


def _to_resources(records: list[dict[str, Any]]) -> tuple[Resource, ...]:
    by_urn = {r["urn"]: r for r in records}
    regions: dict[str, str | None] = {}
    for r in records:
        if r["type"].startswith("pulumi:providers:aws"):
            regions[r["urn"]] = _input_text(r, "region")

    def component(r: dict[str, Any]) -> str:
        while r["parent"] in by_urn:
            r = by_urn[r["parent"]]
        return r["type"].split(":")[1] if r["type"].startswith("floyo:") else "stack"

    def region(r: dict[str, Any]) -> str | None:
        if r["type"].startswith(_GLOBAL_TYPES):
            return "global"
        if r["type"].startswith("pulumi:providers:aws"):
            return _input_text(r, "region")
        if r["type"] == "upstash:index/redisDatabase:RedisDatabase":
            return _input_text(r, "primaryRegion") or _input_text(r, "region")
        if r["provider"]:
            return regions.get(r["provider"].split("::" + r["provider"].rsplit("::", 1)[-1])[0])
        if r["type"].startswith(
            ("pulumi-python:dynamic/supabase:", "pulumi-python:dynamic/upstash:")
        ):
            # a Supabase resource lives where its project does
            parent = by_urn.get(r["parent"])
            return r["inputs"].get("region") or (region(parent) if parent else None)
        return None

    resources = []
    for r in records:
        digests: dict[str, str] = {}
        inputs = _redact(_shown_inputs(r), digests)
        resources.append(
            Resource(
                type=r["type"],
                name=r["name"],
                component=component(r),
                region=region(r),
                inputs=inputs,
                parent=_key(by_urn.get(r["parent"])),
                protect=r["protect"],
                retain_on_delete=r["retain_on_delete"],
                custom=r["custom"],
                secrets=digests,
                depends_on=tuple(
                    sorted(k for k in (_key(by_urn.get(u)) for u in r["depends_on"]) if k)
                ),
            )
        )
    return tuple(sorted(resources, key=lambda r: (r.component, r.type, r.name)))


def _key(record: dict[str, Any] | None) -> str | None:
    return f"{record['type']}::{record['name']}" if record else None
