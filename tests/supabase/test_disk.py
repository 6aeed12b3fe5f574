"""The database disk: client calls, the DiskConfig provider and resource, the fake's endpoints."""

from __future__ import annotations

import base64
import json

import dill
import pulumi
import pytest
from pulumi.runtime import rpc

from floyo_scale.errors import ProviderError
from floyo_scale.infra.supabase import DiskConfig
from floyo_scale.infra.supabase.provider import DiskConfigProvider
from floyo_scale.infra.supabase.transport import SupabaseApiError

from .contract_server import TOKEN, ContractServer
from .test_contract_server import send
from .test_resources import EchoMocks, RecordingMonitor

DISK = "/v1/projects/{ref}/config/disk"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.fixture
def ref(server: ContractServer) -> str:
    return server.add_project(organization_slug="acme")


@pytest.fixture
def disks(factory) -> DiskConfigProvider:
    return DiskConfigProvider(factory, wait_timeout=900, poll_interval=10)


def props(server: ContractServer, ref: str, size_gb: float = 8.0) -> dict:
    # numbers arrive from the engine as floats
    return {
        "access_token": TOKEN,
        "api_url": server.url,
        "__provider": "serialized",
        "project_ref": ref,
        "size_gb": size_gb,
        "type": None,
    }


def posts(server: ContractServer) -> list[dict]:
    return [r.json for r in server.calls("POST", DISK)]


# --------------------------------------------------------------------------- client


def test_get_disk_answers_the_contract_shape(server, client, ref):
    assert client.get_disk(ref) == {
        "attributes": {"type": "gp3", "size_gb": 8, "iops": 3000, "throughput_mibps": 125}
    }


def test_set_disk_sends_gp3_with_the_baseline_by_default(server, client, ref):
    client.set_disk(ref, size_gb=100)
    assert posts(server) == [
        {"attributes": {"type": "gp3", "size_gb": 100, "iops": 3000, "throughput_mibps": 125}}
    ]
    assert client.get_disk(ref)["attributes"]["size_gb"] == 100


def test_set_disk_io2_sends_no_throughput(server, client, ref):
    client.set_disk(ref, size_gb=200, iops=12000, throughput_mibps=500, type="io2")
    assert posts(server) == [{"attributes": {"type": "io2", "size_gb": 200, "iops": 12000}}]
    assert client.get_disk(ref)["attributes"] == {"type": "io2", "size_gb": 200, "iops": 12000}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size_gb": 0}, "size_gb 0 is not a whole number above 0"),
        ({"size_gb": True}, "size_gb True"),
        ({"size_gb": 8.5}, "size_gb 8.5"),
        ({"size_gb": 8, "iops": -1}, "iops -1"),
        ({"size_gb": 8, "throughput_mibps": 0}, "throughput_mibps 0"),
        ({"size_gb": 8, "type": "st1"}, "unknown Supabase disk type 'st1'"),
    ],
)
def test_set_disk_refuses_what_the_contract_refuses_before_any_request(
    server, client, ref, kwargs, match
):
    with pytest.raises(ProviderError, match=match):
        client.set_disk(ref, **kwargs)
    with pytest.raises(ProviderError, match="invalid Supabase project ref"):
        client.set_disk("NOT-A-REF", size_gb=8)
    assert server.requests == []


def test_a_shrink_is_answered_400_with_the_api_message(server, client, ref):
    client.set_disk(ref, size_gb=50)
    server.projects[ref].status = "ACTIVE_HEALTHY"
    with pytest.raises(SupabaseApiError) as info:
        client.set_disk(ref, size_gb=20)
    err = info.value
    assert err.status == 400
    assert f"resize the database disk to 20 GB (gp3) (project {ref!r})" in err.message
    assert "Disk size cannot be decreased: the disk is 50 GB" in err.message
    assert server.projects[ref].disk["size_gb"] == 50


def test_set_disk_is_retried_after_a_5xx(server, client, ref, clock):
    server.fail(502, path=f"/v1/projects/{ref}/config/disk", method="POST")
    client.set_disk(ref, size_gb=16)
    assert [r.status for r in server.calls("POST", DISK)] == [502, 201]
    assert clock.sleeps == [1.0]


def test_disk_errors_name_operation_and_project_and_hide_the_token(server, client):
    server.fail(403, message=f"token {TOKEN} lacks infra_disk_config_read")
    missing = "z" * 20
    with pytest.raises(SupabaseApiError) as info:
        client.get_disk(missing)
    text = f"{info.value.message} {info.value.hint}"
    assert "read the database disk configuration" in text and missing in text
    assert TOKEN not in text and "token [secret] lacks" in text


# --------------------------------------------------------------------------- provider


def test_create_at_the_current_size_sends_nothing(server, disks, ref):
    result = disks.create(props(server, ref, 8.0))
    assert result.id == f"{ref}/disk"
    assert result.outs["size_gb"] == 8 and result.outs["type"] == "gp3"
    assert result.outs["project_ref"] == ref and "__provider" not in result.outs
    assert posts(server) == []


def test_create_grows_the_disk_and_waits_until_healthy(server, disks, ref, clock):
    server.disk_resize_polls = 3
    result = disks.create(props(server, ref, 100.0))
    assert posts(server) == [
        {"attributes": {"type": "gp3", "size_gb": 100, "iops": 3000, "throughput_mibps": 125}}
    ]
    assert server.projects[ref].status == "ACTIVE_HEALTHY"
    assert clock.sleeps == [10] * 3
    assert result.outs["size_gb"] == 100


def test_a_resize_that_leaves_the_project_healthy_needs_no_wait(server, disks, ref, clock):
    server.disk_resize_polls = 0
    disks.create(props(server, ref, 20.0))
    assert clock.sleeps == []
    assert len(server.calls("GET", "/v1/projects/{ref}")) == 1


def test_resize_keeps_the_disk_type_iops_and_throughput(server, disks, ref):
    server.projects[ref].disk = {
        "type": "gp3",
        "size_gb": 64,
        "iops": 6000,
        "throughput_mibps": 250,
    }
    disks.create(props(server, ref, 80.0))
    other = server.add_project(organization_slug="acme")
    server.projects[other].disk = {"type": "io2", "size_gb": 100, "iops": 20000}
    outs = disks.create(props(server, other, 120.0)).outs
    assert posts(server) == [
        {"attributes": {"type": "gp3", "size_gb": 80, "iops": 6000, "throughput_mibps": 250}},
        {"attributes": {"type": "io2", "size_gb": 120, "iops": 20000}},
    ]
    assert outs["type"] == "io2"


def test_create_refuses_to_shrink_the_live_disk(server, disks, ref):
    with pytest.raises(ProviderError) as info:
        disks.create(props(server, ref, 4.0))  # every project starts with 8 GB
    assert info.value.message == (
        f"the database disk of Supabase project {ref} is 8 GB and cannot shrink to 4 GB: "
        "a disk (an EBS volume) can only grow"
    )
    assert "keep disk_gb at 8 or more" in info.value.hint
    assert "restore a backup into a new project" in info.value.hint
    assert posts(server) == []


def test_update_grows_the_disk(server, disks, ref):
    created = disks.create(props(server, ref, 8.0))
    news = props(server, ref, 32.0)
    diff = disks.diff(created.id, created.outs, news)
    assert diff.changes is True and diff.replaces == []
    updated = disks.update(created.id, created.outs, news)
    assert updated.outs["size_gb"] == 32
    assert [p["attributes"]["size_gb"] for p in posts(server)] == [32]


def test_update_with_nothing_to_resize_sends_no_post(server, disks, ref):
    created = disks.create(props(server, ref, 8.0))
    same = disks.diff(created.id, created.outs, props(server, ref, 8.0))
    assert same.changes is False
    news = {**props(server, ref, 8.0), "access_token": TOKEN}
    token = disks.diff(created.id, created.outs, {**news, "api_url": server.url + "/"})
    assert token.changes is True and token.replaces == []  # the new URL must reach the state
    updated = disks.update(created.id, created.outs, news)
    assert updated.outs["size_gb"] == 8
    assert posts(server) == []


def test_diff_refuses_a_shrink_so_preview_fails(server, disks, ref):
    olds = {**props(server, ref, 8.0), "size_gb": 50, "type": "gp3"}  # the recorded state
    with pytest.raises(ProviderError, match="is 50 GB and cannot shrink to 20 GB"):
        disks.diff(f"{ref}/disk", olds, props(server, ref, 20.0))
    assert server.requests == []  # decided from the state alone


def test_diff_lets_unknowns_and_other_projects_through(server, disks, ref):
    olds = {**props(server, ref, 8.0), "size_gb": 50, "type": "gp3"}
    unknown = disks.diff(f"{ref}/disk", olds, {**props(server, ref), "size_gb": UNKNOWN})
    assert unknown.changes is True and unknown.replaces == []
    moved = disks.diff(f"{ref}/disk", olds, props(server, "b" * 20, 8.0))
    assert moved.replaces == ["project_ref"]


def test_update_refuses_a_disk_that_grew_since_the_last_refresh(server, disks, ref):
    created = disks.create(props(server, ref, 16.0))
    server.projects[ref].disk["size_gb"] = 24  # disk autoscaling
    news = props(server, ref, 20.0)
    assert disks.diff(created.id, created.outs, news).changes is True  # the state says 16
    with pytest.raises(ProviderError, match="is 24 GB and cannot shrink to 20 GB"):
        disks.update(created.id, created.outs, news)
    assert len(posts(server)) == 1


def test_read_reports_the_current_size_as_drift(server, disks, ref):
    created = disks.create(props(server, ref, 16.0))
    server.projects[ref].disk = {"type": "io2", "size_gb": 24, "iops": 3000}
    read = disks.read(created.id, created.outs)
    assert read.id == created.id
    assert read.outs["size_gb"] == 24 and read.outs["type"] == "io2"
    assert read.outs["project_ref"] == ref
    with pytest.raises(ProviderError, match="is 24 GB and cannot shrink to 16 GB"):
        disks.diff(created.id, read.outs, props(server, ref, 16.0))
    del server.projects[ref]
    assert disks.read(created.id, created.outs).id == ""


def test_delete_leaves_the_disk_and_calls_nothing(server, disks, ref):
    created = disks.create(props(server, ref, 16.0))
    before = len(server.requests)
    disks.delete(created.id, created.outs)
    assert len(server.requests) == before
    assert server.projects[ref].disk["size_gb"] == 16


def test_a_refused_resize_gets_a_hint(server, disks, ref):
    server.disk_cooldown = True
    created = disks.create(props(server, ref, 16.0))
    with pytest.raises(ProviderError) as info:
        disks.update(created.id, created.outs, props(server, ref, 32.0))
    assert "once every 6 hours" in info.value.message  # the API's words
    assert "(it was last changed at 2026-06-01T12:30:00.000Z)" in info.value.hint
    hobby = server.add_project(organization_slug="hobby")
    with pytest.raises(ProviderError, match="cannot be changed on the Free plan"):
        disks.create(props(server, hobby, 16.0))


def test_a_resize_that_ends_in_a_terminal_status_fails(server, disks, ref):
    server.disk_resize_polls = 1
    server.projects[ref].settles_to = "RESTORE_FAILED"
    with pytest.raises(ProviderError, match="RESTORE_FAILED"):
        disks.create(props(server, ref, 16.0))


def test_check(disks, server, ref):
    def failures(**change) -> set[str]:
        return {f.property for f in disks.check({}, {**props(server, ref), **change}).failures}

    assert failures() == set()
    assert failures(size_gb=60_000) == set()
    assert failures(size_gb=0) == {"size_gb"}
    assert failures(size_gb=8.5) == {"size_gb"}
    assert failures(size_gb=60_001) == {"size_gb"}
    assert failures(size_gb="8") == {"size_gb"}
    assert failures(size_gb=UNKNOWN) == set()
    assert failures(project_ref="nope", size_gb=None) == {"project_ref", "size_gb"}


# --------------------------------------------------------------------------- resource


def test_disk_config_registers_under_its_type_token_with_a_secret_token():
    monitor = RecordingMonitor(EchoMocks())
    pulumi.runtime.set_mocks(EchoMocks(), preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program():
        disk = DiskConfig(
            "db-disk",
            project_ref="a" * 20,
            size_gb=100,
            access_token=TOKEN,
            opts=pulumi.ResourceOptions(protect=True),
        )
        return pulumi.Output.all(disk.id, disk.size_gb, disk.type)

    program()
    request = monitor.requests["db-disk"]
    assert request.type == "pulumi-python:dynamic/supabase:DiskConfig"
    assert list(request.additionalSecretOutputs) == ["access_token"]
    assert request.protect is True
    inputs = request.object.fields
    assert inputs["size_gb"].number_value == 100
    assert inputs["api_url"].string_value == "https://api.supabase.com"
    token = inputs["access_token"].struct_value.fields
    assert token[rpc._special_sig_key].string_value == rpc._special_secret_sig
    raw = base64.b64decode(inputs["__provider"].struct_value.fields["value"].string_value)
    assert TOKEN.encode() not in raw and len(raw) < 1024
    assert isinstance(dill.loads(raw), DiskConfigProvider)
    for attr in ("size_gb", "type"):
        assert attr in DiskConfig.__annotations__


# --------------------------------------------------------------------------- the fake


def test_fake_disk_endpoints_answer_on_contract(server, ref):
    status, body = send(server, "GET", f"/v1/projects/{ref}/config/disk/util")
    assert status == 200
    metrics = json.loads(body)["metrics"]
    assert metrics["fs_size_bytes"] == 8_000_000_000
    assert metrics["fs_used_bytes"] + metrics["fs_avail_bytes"] == metrics["fs_size_bytes"]
    status, body = send(server, "GET", f"/v1/projects/{ref}/config/disk/autoscale")
    assert status == 200 and json.loads(body)["max_size_gb"] == 60_000
    status, _ = send(server, "GET", f"/v1/projects/{'q' * 20}/config/disk")
    assert status == 404
    assert server.violations == []


@pytest.mark.parametrize(
    "attributes",
    [
        {"type": "st1", "size_gb": 100, "iops": 3000},
        {"type": "gp3", "size_gb": 0, "iops": 3000},
        {"type": "gp3", "size_gb": 100},
        {"type": "io2", "iops": 3000},
        {"type": "gp3", "size_gb": 10.5, "iops": 3000},
    ],
    ids=["bad-type", "zero-size", "no-iops", "no-size", "fractional"],
)
def test_fake_refuses_disk_bodies_the_contract_refuses(server, ref, attributes):
    status, _ = send(server, "POST", f"/v1/projects/{ref}/config/disk", {"attributes": attributes})
    assert status == 400
    assert server.violations, "the fake let an invalid disk body through"
    assert server.projects[ref].disk["size_gb"] == 8
    server.violations.clear()
