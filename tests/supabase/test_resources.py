"""The dynamic resources register under Pulumi's mock engine as the program will use them."""

from __future__ import annotations

import base64
import pickle

import dill
import pulumi
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, Mocks

from floyo_scale.infra.supabase import Addon, PoolerSettings, Project, ReadReplica, resources
from floyo_scale.infra.supabase.provider import (
    AddonProvider,
    PoolerSettingsProvider,
    ProjectProvider,
    ReadReplicaProvider,
)

from .contract_server import TOKEN

SIG_KEY = rpc._special_sig_key  # how a secret travels: {SIG_KEY: SECRET_SIG, "value": ...}
SECRET_SIG = rpc._special_secret_sig


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping each registration request (it drops the options)."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.requests: dict[str, object] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC name
        if request.type != "pulumi:pulumi:Stack":
            self.requests[request.name] = request
        return super().RegisterResource(request)


class EchoMocks(Mocks):
    def new_resource(self, args):
        state = dict(args.inputs)
        if args.typ.endswith(":Project"):
            state.update(ref="a" * 20, db_pass="generated", db_host="db.x.supabase.co")
        return f"{args.name}-id", state

    def call(self, args):
        return {}


def register_all(monitor: RecordingMonitor) -> None:
    pulumi.runtime.set_mocks(EchoMocks(), preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program():
        token = pulumi.Output.secret(TOKEN)
        project = Project(
            "db",
            project_name="floyo-prod",
            organization_slug="acme",
            region="us-east-1",
            instance_size="small",
            plan="pro",
            access_token=token,
        )
        replica = ReadReplica(
            "db-replica-us-west-1",
            project_ref=project.ref,
            region="us-west-1",
            access_token=token,
            db_pass=project.db_pass,
        )
        pooler = PoolerSettings(
            "db-pooler",
            project_ref=project.ref,
            pool_mode="transaction",
            default_pool_size=30,
            access_token=token,
        )
        pitr = Addon(
            "db-pitr",
            project_ref=project.ref,
            addon_type="pitr",
            addon_variant="pitr_7",
            access_token=TOKEN,  # even a plain string becomes a secret
            opts=pulumi.ResourceOptions(protect=True),
        )
        return pulumi.Output.all(project.ref, replica.id, pooler.id, pitr.id)

    program()


def test_type_tokens_and_secret_outputs():
    monitor = RecordingMonitor(EchoMocks())
    register_all(monitor)
    req = monitor.requests
    assert {name: r.type for name, r in req.items()} == {
        "db": "pulumi-python:dynamic/supabase:Project",
        "db-replica-us-west-1": "pulumi-python:dynamic/supabase:ReadReplica",
        "db-pooler": "pulumi-python:dynamic/supabase:PoolerSettings",
        "db-pitr": "pulumi-python:dynamic/supabase:Addon",
    }
    assert set(req["db"].additionalSecretOutputs) == {
        "access_token",
        "db_pass",
        "connection_string",
        "pooler_connection_string",
    }
    assert {"connection_string", "db_pass", "access_token"} <= set(
        req["db-replica-us-west-1"].additionalSecretOutputs
    )
    assert list(req["db-pooler"].additionalSecretOutputs) == ["access_token"]
    assert list(req["db-pitr"].additionalSecretOutputs) == ["access_token"]
    assert req["db-pitr"].protect is True  # the caller's options survive the merge


def test_token_is_a_secret_input_and_never_in_the_serialized_provider():
    monitor = RecordingMonitor(EchoMocks())
    register_all(monitor)
    providers = {
        "db": ProjectProvider,
        "db-replica-us-west-1": ReadReplicaProvider,
        "db-pooler": PoolerSettingsProvider,
        "db-pitr": AddonProvider,
    }
    for name, request in monitor.requests.items():
        inputs = request.object.fields
        token = inputs["access_token"].struct_value.fields
        assert token[SIG_KEY].string_value == SECRET_SIG, f"{name}: token not sent as a secret"
        assert token["value"].string_value == TOKEN
        serialized = inputs["__provider"].struct_value.fields["value"].string_value
        raw = base64.b64decode(serialized)
        assert TOKEN.encode() not in raw
        # pickled by reference: small, and cheap to make at every registration
        assert b"floyo_scale.infra.supabase.provider" in raw and len(raw) < 1024
        assert isinstance(dill.loads(raw), providers[name])


def test_outputs_are_declared_for_the_program():
    # The program reads these attributes; they must exist before the engine answers.
    names = {
        Project: [
            "ref",
            "db_host",
            "db_pass",
            "connection_string",
            "pooler_connection_string",
            "status",
        ],
        ReadReplica: ["identifier", "db_host", "connection_string"],
    }
    for cls, attrs in names.items():
        for attr in attrs:
            assert attr in cls.__annotations__, f"{cls.__name__}.{attr}"


def test_registering_80_resources_leaves_no_wrapper_behind():
    """`plan` synthesizes the program under mocks; the providers must not slow it down. What
    made them slow was structural (a sorting wrapper added to pickle per resource, each call
    slower than the last), so that is what is asserted; the time itself is a figure for
    `bench/run.py` (plan), not a bound here."""
    pulumi.runtime.set_mocks(EchoMocks(), preview=True)

    @pulumi.runtime.test
    def program():
        token = pulumi.Output.secret(TOKEN)
        ids = []
        for i in range(20):
            p = Project(
                f"db{i}",
                project_name=f"p{i}",
                organization_slug="acme",
                region="us-east-1",
                instance_size="small",
                plan="pro",
                access_token=token,
            )
            ids.append(
                ReadReplica(f"rr{i}", project_ref=p.ref, region="us-west-1", access_token=token).id
            )
            ids.append(
                PoolerSettings(
                    f"pool{i}",
                    project_ref=p.ref,
                    pool_mode="session",
                    default_pool_size=10,
                    access_token=token,
                ).id
            )
            ids.append(
                Addon(
                    f"pitr{i}",
                    project_ref=p.ref,
                    addon_type="pitr",
                    addon_variant="pitr_7",
                    access_token=token,
                ).id
            )
        return pulumi.Output.all(*ids)

    program()
    assert pickle._Pickler._batch_setitems is resources._BATCH_SETITEMS


def test_registration_leaves_pickle_as_it_found_it():
    """pulumi's serialize_provider wraps pickle's _batch_setitems at every call and never
    unwraps it; about 980 dynamic resources in one process then hit RecursionError."""
    assert resources._BATCH_SETITEMS.__module__ == "pickle"
    register_all(RecordingMonitor(EchoMocks()))
    assert pickle._Pickler._batch_setitems is resources._BATCH_SETITEMS
    for _ in range(1500):  # well past the ~980 calls that overflow the stack unguarded
        with resources.undo_pickle_patch():
            serialize_provider(ProjectProvider())
    assert pickle._Pickler._batch_setitems is resources._BATCH_SETITEMS
