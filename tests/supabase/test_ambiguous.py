"""Requests that were carried out but whose answer was lost, and a few sharp edges (issue 14).

Each case injects, in the loopback contract server, a fault where the request is carried out
and the answer is a 500 or a dropped connection; then it runs the provider again as `up` would
(a failed create records nothing, so the rerun calls create again) and checks what exists:
exactly one project, the expected replicas, nothing healthy deleted, and messages that say what
happened. Last, a redirect to another host never carries the bearer token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from floyo_scale.errors import ProviderError
from floyo_scale.infra.supabase.provider import (
    DiskConfigProvider,
    ProjectProvider,
    ReadReplicaProvider,
)
from floyo_scale.infra.supabase.transport import SupabaseApiError

from .contract_server import TOKEN, ContractServer

SETUP = "/v1/projects/{ref}/read-replicas/setup"
REMOVE = "/v1/projects/{ref}/read-replicas/remove"
DISK = "/v1/projects/{ref}/config/disk"
PASSWORD = "/v1/projects/{ref}/database/password"
LOST = [
    pytest.param({"after_processing": True}, id="500-after-acting"),
    pytest.param({"drop": True}, id="dropped-after-acting"),
]


def lose_answer(server: ContractServer, how: dict, **match) -> None:
    """The request is carried out, and its answer is a 500 or a dropped connection."""
    if how.get("drop"):
        server.drop(after_processing=True, **match)
    else:
        server.fail(500, after_processing=True, message="upstream timeout", **match)


def common(server: ContractServer) -> dict:
    return {"access_token": TOKEN, "api_url": server.url, "__provider": "serialized"}


@pytest.fixture
def projects(factory) -> ProjectProvider:
    return ProjectProvider(factory, wait_timeout=900, poll_interval=10)


@pytest.fixture
def props(server: ContractServer) -> dict:
    return {
        **common(server),
        "project_name": "floyo-production",
        "organization_slug": "acme",
        "region": "us-east-1",
        "instance_size": "small",
        "plan": "pro",
    }


def healthy(server: ContractServer) -> list[str]:
    return [p.ref for p in server.projects.values() if p.status == "ACTIVE_HEALTHY"]


# --------------------------------------------------------------------------- 1. pooler read


def test_a_pooler_listing_without_the_primary_is_polled_for(server, projects, props, clock):
    server.provisioning_polls = 1
    server.pooler_lag = 3  # right after provisioning, the listing lacks the PRIMARY entry
    result = projects.create(props)
    assert healthy(server) == [result.id]
    assert server.calls("DELETE") == []
    assert f"postgres.{result.id}:" in result.outs["pooler_connection_string"]
    assert clock.sleeps == [10] * (1 + 3)  # one status poll, three pooler polls


def test_a_healthy_project_is_kept_when_a_later_read_fails_and_adopted_on_rerun(
    server, factory, props
):
    provider = ProjectProvider(factory, wait_timeout=60, poll_interval=10)
    server.pooler_lag = 1000
    with pytest.raises(ProviderError) as info:
        provider.create(props)
    (ref,) = healthy(server)
    assert server.calls("DELETE") == []  # never deleted because of a later read
    message, hint = info.value.message, info.value.hint or ""
    assert "to list its primary database" in message
    assert f"Supabase project 'floyo-production' ({ref}) is healthy and was kept" in message
    assert "removed" not in message and "still be provisioning" not in hint
    assert "run the command again" in hint and "adopted" in hint

    server.projects[ref].pooler_hidden = 0  # the listing catches up
    again = provider.create(props)
    assert again.id == ref and healthy(server) == [ref]  # exactly one project
    assert len(server.calls("POST", "/v1/projects")) == 1
    # the first password went with the failed create: a new one is set and recorded
    (reset,) = server.calls("PATCH", PASSWORD)
    assert server.projects[ref].db_pass == again.outs["db_pass"] == reset.json["password"]
    assert "adopted Supabase project 'floyo-production'" in again.outs["adopted"]


@pytest.mark.parametrize("how", LOST)
def test_a_pooler_read_that_keeps_failing_never_deletes_the_healthy_project(
    server, projects, props, how
):
    lose_answer(server, how, method="GET", path=r"/v1/projects/\w+/config/database/pooler")
    server.faults[-1].times = 1000  # every read of it, retries included
    with pytest.raises(ProviderError) as info:
        projects.create(props)
    (ref,) = healthy(server)
    assert server.calls("DELETE") == []
    assert "read the database pooler configuration" in info.value.message
    assert "is healthy and was kept" in info.value.message
    server.faults.clear()
    again = projects.create(props)
    assert again.id == ref and list(server.projects) == [ref]
    assert server.projects[ref].db_pass == again.outs["db_pass"]


def test_a_status_that_cannot_be_read_keeps_the_project_it_may_be_healthy(server, projects, props):
    server.provisioning_polls = 0
    server.fail(500, times=1000, method="GET", path=r"/v1/projects/[a-z]{20}")
    with pytest.raises(ProviderError) as info:
        projects.create(props)
    (ref,) = server.projects  # not deleted: it came up, the answers saying so were lost
    assert server.calls("DELETE") == []
    assert "was kept, since whether it came up is not known" in info.value.message
    assert "removed" not in info.value.message
    server.faults.clear()
    again = projects.create(props)
    assert again.id == ref and healthy(server) == [ref]


# --------------------------------------------------------------------------- 3. create project


@pytest.mark.parametrize("how", LOST)
def test_a_create_whose_answer_was_lost_adopts_the_project(server, projects, props, how):
    lose_answer(server, how, method="POST", path="/v1/projects")
    result = projects.create(props)
    (ref,) = server.projects
    assert result.id == ref and healthy(server) == [ref]
    assert len(server.calls("POST", "/v1/projects")) == 1  # not created twice
    assert server.projects[ref].db_pass == result.outs["db_pass"]  # the password is known
    assert result.outs["adopted"] == (
        f"adopted Supabase project 'floyo-production' ({ref}): an earlier attempt created it "
        "and its answer was lost; its database password was set anew"
    )
    # and a rerun after that (the engine recorded it) changes nothing
    assert projects.read(ref, result.outs).id == ref and len(server.projects) == 1


def test_a_create_that_failed_before_acting_says_so_and_the_rerun_creates_one(
    server, projects, props
):
    server.fail(500, method="POST", path="/v1/projects")  # Supabase did nothing
    with pytest.raises(ProviderError) as info:
        projects.create(props)
    assert server.projects == {}
    assert "may or may not have done it" in info.value.message
    assert "no project named 'floyo-production' is listed in the organization yet" in (
        info.value.message
    )
    assert "found by its name and adopted, not created twice" in (info.value.hint or "")
    result = projects.create(props)
    assert list(server.projects) == [result.id] and "adopted" not in result.outs


def test_an_older_namesake_is_not_taken_over(server, projects, props):
    old = server.add_project(organization_slug="acme", name="floyo-production", db_pass="old-pw")
    with pytest.raises(ProviderError) as info:
        projects.create(props)
    assert f"already has a Supabase project named 'floyo-production' in us-east-1: {old}" in (
        info.value.message
    )
    assert "pulumi import" in (info.value.hint or "")
    assert list(server.projects) == [old] and server.projects[old].db_pass == "old-pw"
    assert server.calls("POST") == [] and server.calls("PATCH") == []


def test_two_recent_namesakes_are_not_guessed_between(server, projects, props):
    for _ in range(2):
        server.add_project(organization_slug="acme", name="floyo-production", created_at=_now())
    with pytest.raises(ProviderError, match="2 recent Supabase projects named"):
        projects.create(props)
    assert len(server.projects) == 2 and server.calls("POST") == [] and not server.calls("DELETE")


def test_a_namesake_in_another_region_is_another_project(server, projects, props):
    old = server.add_project(organization_slug="acme", name="floyo-production", region="eu-west-1")
    result = projects.create(props)  # a replacement in a new region is made beside the old one
    assert sorted(server.projects) == sorted([old, result.id])
    assert "adopted" not in result.outs


# --------------------------------------------------------------------------- 6. rollback hint


def test_after_a_rollback_the_hint_does_not_send_the_user_to_a_deleted_project(
    server, projects, props
):
    server.fail_next_project("INIT_FAILED")
    with pytest.raises(ProviderError) as info:
        projects.create(props)
    assert server.projects == {}
    assert "was removed, so nothing was left behind" in info.value.message
    hint = info.value.hint or ""
    assert "run the command again" in hint
    assert "delete it" not in hint and "open the project" not in hint


def test_after_a_timed_out_rollback_the_hint_says_to_run_again(server, factory, props):
    provider = ProjectProvider(factory, wait_timeout=60, poll_interval=10)
    server.provisioning_polls = 1000
    with pytest.raises(ProviderError) as info:
        provider.create(props)
    assert server.projects == {}
    assert info.value.hint == "run the command again to create it anew"


# --------------------------------------------------------------------------- 2. replica setup


@pytest.fixture
def replicas(factory) -> ReadReplicaProvider:
    return ReadReplicaProvider(factory, wait_timeout=900, poll_interval=10)


@pytest.fixture
def primary(server: ContractServer) -> str:
    return server.add_project(organization_slug="acme", region="us-east-1")


@pytest.mark.parametrize("how", LOST)
def test_a_replica_setup_whose_answer_was_lost_adopts_the_replica(server, replicas, primary, how):
    lose_answer(server, how, method="POST", path=r"/v1/projects/\w+/read-replicas/setup")
    result = replicas.create({**common(server), "project_ref": primary, "region": "us-west-1"})
    (replica,) = server.projects[primary].replicas  # one, billed once, and managed
    assert result.id == replica["identifier"]
    assert len(server.calls("POST", SETUP)) == 1
    assert result.outs["adopted"] == (
        f"adopted read replica {result.id}: the request to set it up lost its answer, and the "
        "replica appeared"
    )
    assert healthy(server) == [primary]


def test_a_replica_setup_that_did_nothing_says_so_and_the_rerun_makes_one(server, factory, primary):
    provider = ReadReplicaProvider(factory, wait_timeout=60, poll_interval=10)
    props = {**common(server), "project_ref": primary, "region": "us-west-1"}
    server.fail(500, method="POST", path=r"/v1/projects/\w+/read-replicas/setup")
    with pytest.raises(ProviderError) as info:
        provider.create(props)
    assert server.projects[primary].replicas == []
    assert "no new read replica" in info.value.message
    assert "within 60 s, so Supabase most likely did not set it up" in info.value.message
    assert "remove it there first" in (info.value.hint or "")
    result = provider.create(props)
    assert [r["identifier"] for r in server.projects[primary].replicas] == [result.id]


# --------------------------------------------------------------------------- 4. replica removal


@pytest.mark.parametrize("how", [*LOST, pytest.param({}, id="500-before-acting")])
def test_a_replica_removal_is_retried_like_a_delete(server, replicas, primary, how):
    props = {**common(server), "project_ref": primary, "region": "us-west-1"}
    identifier = replicas.create(props).id
    match = {"method": "POST", "path": r"/v1/projects/\w+/read-replicas/remove"}
    if how:
        lose_answer(server, how, **match)
    else:
        server.fail(500, **match)
    replicas.delete(identifier, {**props, "identifier": identifier})
    assert server.projects[primary].replicas == []  # gone, and the destroy went on
    assert healthy(server) == [primary]  # the project itself untouched
    assert len(server.calls("POST", REMOVE)) == 2


def test_a_refused_removal_of_a_replica_that_stays_still_fails(server, factory, primary):
    provider = ReadReplicaProvider(factory, wait_timeout=900, poll_interval=10)
    props = {**common(server), "project_ref": primary, "region": "us-west-1"}
    identifier = provider.create(props).id
    server.fail(403, message="not allowed", method="POST", path=r"/v1/projects/\w+/.*remove")
    with pytest.raises(ProviderError, match="refused to remove the read replica"):
        provider.delete(identifier, props)
    assert len(server.projects[primary].replicas) == 1


# --------------------------------------------------------------------------- 5. disk resize


@pytest.fixture
def disks(factory) -> DiskConfigProvider:
    return DiskConfigProvider(factory, wait_timeout=900, poll_interval=10)


@pytest.mark.parametrize("how", LOST)
def test_a_disk_resize_whose_answer_was_lost_is_read_back_not_repeated(server, disks, primary, how):
    server.disk_cooldown = True  # a second change within six hours would be refused
    lose_answer(server, how, method="POST", path=r"/v1/projects/\w+/config/disk")
    props = {**common(server), "project_ref": primary, "size_gb": 8.0}
    outs = disks.update(f"{primary}/disk", props, {**props, "size_gb": 16.0}).outs
    assert outs["size_gb"] == 16 and server.projects[primary].disk["size_gb"] == 16
    assert len(server.calls("POST", DISK)) == 1  # read back, and found done


def test_a_disk_resize_that_did_nothing_is_sent_again(server, disks, primary):
    server.disk_cooldown = True
    server.fail(500, method="POST", path=r"/v1/projects/\w+/config/disk")  # before acting
    props = {**common(server), "project_ref": primary, "size_gb": 8.0}
    outs = disks.update(f"{primary}/disk", props, {**props, "size_gb": 12.0}).outs
    assert outs["size_gb"] == 12 and len(server.calls("POST", DISK)) == 2


# --------------------------------------------------------------------------- 7. redirects


class _Catcher(ThreadingHTTPServer):
    """Another host: records every request that reaches it (and its headers)."""

    seen: list[tuple[str, str, dict[str, str]]]


@pytest.fixture
def elsewhere() -> Iterator[_Catcher]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.server.seen.append((self.command, self.path, headers))  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PATCH = do_DELETE = _record

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    catcher = _Catcher(("127.0.0.1", 0), Handler)
    catcher.seen = []
    thread = threading.Thread(target=catcher.serve_forever, kwargs={"poll_interval": 0.01})
    thread.daemon = True
    thread.start()
    yield catcher
    catcher.shutdown()
    catcher.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_redirect_to_another_host_never_carries_the_token(
    server, client, primary, elsewhere, status, method
):
    host, port = elsewhere.server_address[:2]
    server.redirect(f"http://{host}:{port}/steal", status=status, method=method)
    with pytest.raises(SupabaseApiError) as info:
        if method == "GET":
            client.get_project(primary)
        else:
            client.setup_read_replica(primary, "us-west-1")
    assert elsewhere.seen == []  # nothing reached the other host, least of all the token
    message = info.value.message
    assert f"redirect ({status}) to another host, http://{host}:{port}" in message
    assert "not followed, and the access token was not sent there" in message
    assert TOKEN not in message + (info.value.hint or "")
    assert "api_url" in (info.value.hint or "")


def test_a_redirect_to_another_port_of_the_same_host_is_another_host(
    server, client, primary, elsewhere
):
    server.redirect(f"http://127.0.0.1:{elsewhere.server_address[1]}/", method="GET")
    with pytest.raises(SupabaseApiError, match="to another host"):
        client.get_project(primary)
    assert elsewhere.seen == []


def test_a_redirect_within_the_api_is_followed(server, client, primary):
    server.redirect(f"{server.url}/v1/projects/{primary}", method="GET")
    assert client.get_project(primary)["ref"] == primary
    first, second = server.calls("GET", "/v1/projects/{ref}")
    assert second.headers["authorization"] == f"Bearer {TOKEN}"


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
