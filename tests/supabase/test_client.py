"""ManagementClient against the contract-enforcing fake API."""

from __future__ import annotations

import socket
import threading

import pytest

from floyo_scale.errors import ProviderError
from floyo_scale.infra.supabase.client import COMPUTE_SIZES, ManagementClient
from floyo_scale.infra.supabase.transport import NotFoundError, SupabaseApiError

from .contract_server import TOKEN, ContractServer

CREATE = dict(
    name="floyo-prod",
    organization_slug="acme",
    db_pass="a-long-db-password-1234",
    region="eu-central-1",
    instance_size="small",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- happy paths


def test_create_project_sends_the_contract_body(server, client):
    project = client.create_project(**CREATE)
    (post,) = server.calls("POST", "/v1/projects")
    assert post.json == {
        "name": "floyo-prod",
        "organization_slug": "acme",
        "db_pass": "a-long-db-password-1234",
        "region_selection": {"type": "specific", "code": "eu-central-1"},
        "desired_instance_size": "small",
    }
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["content-type"] == "application/json"
    assert project["status"] == "COMING_UP"
    assert server.projects[project["ref"]].region == "eu-central-1"


def test_wait_until_healthy_polls_at_the_interval(server, client, clock):
    server.provisioning_polls = 5
    ref = client.create_project(**CREATE)["ref"]
    project = client.wait_until_healthy(ref, timeout=900, interval=10)
    assert project["status"] == "ACTIVE_HEALTHY"
    assert project["database"]["host"] == f"db.{ref}.supabase.co"
    assert len(server.calls("GET", "/v1/projects/{ref}")) == 6
    assert clock.sleeps == [10] * 5


def test_wait_until_healthy_fails_fast_on_init_failed(server, client, clock):
    server.fail_next_project("INIT_FAILED")
    ref = client.create_project(**CREATE)["ref"]
    with pytest.raises(ProviderError) as info:
        client.wait_until_healthy(ref, timeout=900, interval=10)
    assert "'floyo-prod'" in info.value.message and ref in info.value.message
    assert "INIT_FAILED" in info.value.message
    assert info.value.hint
    assert len(clock.sleeps) == server.provisioning_polls  # stopped at the first INIT_FAILED


@pytest.mark.parametrize("status", ["REMOVED", "GOING_DOWN", "PAUSE_FAILED", "RESTORE_FAILED"])
def test_wait_until_healthy_fails_fast_on_every_terminal_status(server, client, status):
    server.provisioning_polls = 0
    server.fail_next_project(status)
    ref = client.create_project(**CREATE)["ref"]
    with pytest.raises(ProviderError, match=status):
        client.wait_until_healthy(ref)
    assert len(server.calls("GET", "/v1/projects/{ref}")) == 1


def test_wait_until_healthy_times_out_with_a_hint(server, client, clock):
    server.provisioning_polls = 10_000
    ref = client.create_project(**CREATE)["ref"]
    with pytest.raises(ProviderError) as info:
        client.wait_until_healthy(ref, timeout=60, interval=10)
    assert "timed out after 60 s" in info.value.message
    assert "COMING_UP" in info.value.message and ref in info.value.message
    assert "dashboard" in info.value.hint
    assert sum(clock.sleeps) == pytest.approx(60)


def test_organization_project_rename_delete(server, client):
    assert client.get_organization("acme")["plan"] == "pro"
    ref = server.add_project(organization_slug="acme")
    assert client.update_project_name(ref, "renamed")["name"] == "renamed"
    assert server.projects[ref].name == "renamed"
    assert client.delete_project(ref)["ref"] == ref
    assert ref not in server.projects


def test_addons_map_size_names_to_compute_variants(server, client):
    ref = server.add_project(organization_slug="acme", instance_size="small")
    client.set_addon(ref, "compute_instance", "xlarge")
    client.set_addon(ref, "pitr", "pitr_7")
    bodies = [r.json for r in server.calls("PATCH", "/v1/projects/{ref}/billing/addons")]
    assert bodies == [
        {"addon_type": "compute_instance", "addon_variant": "ci_xlarge"},
        {"addon_type": "pitr", "addon_variant": "pitr_7"},
    ]
    selected = {a["type"]: a["variant"]["id"] for a in client.list_addons(ref)["selected_addons"]}
    assert selected == {"compute_instance": "ci_xlarge", "pitr": "pitr_7"}
    client.remove_addon(ref, "pitr_7")
    assert server.projects[ref].addons == {}


def test_every_size_name_is_a_contract_enum(contract):
    schemas = contract.spec["components"]["schemas"]
    sizes = schemas["V1CreateProjectBody"]["properties"]["desired_instance_size"]["enum"]
    variants = schemas["ApplyProjectAddonBody"]["properties"]["addon_variant"]["oneOf"][0]["enum"]
    assert set(COMPUTE_SIZES) <= set(sizes)
    assert set(COMPUTE_SIZES.values()) <= set(variants)


def test_invalid_arguments_fail_before_any_request(server, client):
    with pytest.raises(ProviderError, match="compute size"):
        client.set_addon("a" * 20, "compute_instance", "gigantic")
    with pytest.raises(ProviderError, match="not a variant"):
        client.set_addon("a" * 20, "pitr", "ci_small")
    with pytest.raises(ProviderError, match="project ref"):
        client.get_project("../organizations")
    with pytest.raises(ProviderError, match="region"):
        client.setup_read_replica("a" * 20, "mars-1")
    with pytest.raises(ProviderError, match="0 to 3000"):
        client.update_pooler("a" * 20, default_pool_size=5000)
    assert server.requests == []


def test_read_replicas_and_pooler(server, client):
    ref = server.add_project(organization_slug="acme")
    server.replica_polls = 0
    client.setup_read_replica(ref, "us-west-1")
    (setup,) = server.calls("POST", "/v1/projects/{ref}/read-replicas/setup")
    assert setup.json == {"read_replica_region": "us-west-1"}
    databases = client.list_databases(ref)
    kinds = sorted(db["database_type"] for db in databases)
    assert kinds == ["PRIMARY", "READ_REPLICA"]
    replica = next(db for db in databases if db["database_type"] == "READ_REPLICA")
    client.remove_read_replica(ref, replica["identifier"])
    (remove,) = server.calls("POST", "/v1/projects/{ref}/read-replicas/remove")
    assert remove.json == {"database_identifier": replica["identifier"]}

    assert client.get_pooler(ref)["database_type"] == "PRIMARY"
    answer = client.update_pooler(ref, pool_mode="session", default_pool_size=40)
    assert answer == {"pool_mode": "session", "default_pool_size": 40}
    assert client.update_pooler(ref, default_pool_size=0)["default_pool_size"] == 0
    patches = [r.json for r in server.calls("PATCH", "/v1/projects/{ref}/config/database/pooler")]
    assert patches == [{"pool_mode": "session", "default_pool_size": 40}, {"default_pool_size": 0}]


# --------------------------------------------------------------------------- errors


def test_401_says_to_check_the_token(server, make_client):
    client = make_client(token="sbp_revoked0000000000")
    with pytest.raises(SupabaseApiError) as info:
        client.get_organization("acme")
    assert info.value.status == 401
    assert "read the organization" in info.value.message
    assert "SUPABASE_ACCESS_TOKEN" in info.value.hint


def test_403_names_operation_and_subject(server, client):
    ref = server.add_project(organization_slug="acme")
    server.fail(403, message="Forbidden resource")
    with pytest.raises(SupabaseApiError) as info:
        client.delete_project(ref)
    assert info.value.status == 403
    assert "delete the project" in info.value.message and ref in info.value.message


def test_404_names_operation_and_project(server, client):
    with pytest.raises(NotFoundError) as info:
        client.get_project("z" * 20)
    assert "z" * 20 in info.value.message and "read the project" in info.value.message
    with pytest.raises(NotFoundError, match="organization 'nobody'"):
        client.get_organization("nobody")


def test_other_4xx_shows_the_api_message(server, client):
    ref = server.add_project(organization_slug="hobby")
    with pytest.raises(SupabaseApiError) as info:
        client.setup_read_replica(ref, "us-west-1")
    assert info.value.status == 400
    assert "only available on the Pro plan" in info.value.message
    assert len(server.calls("POST")) == 1  # a 4xx is never retried


@pytest.mark.parametrize("answer", [None, [], "ok"], ids=["no body", "a list", "a string"])
def test_an_answer_that_is_not_an_object_is_an_error(client, monkeypatch, answer):
    """Endpoints whose contract answers with an object never hand a caller anything else
    (an empty body decodes to None, which the caller would index)."""
    monkeypatch.setattr(client, "_request", lambda *args, **kwargs: answer)
    with pytest.raises(SupabaseApiError, match="not a JSON object") as info:
        client.get_project("a" * 20)
    assert "read the project" in info.value.message and "api_url" in (info.value.hint or "")


# --------------------------------------------------------------------------- retries


def test_429_waits_for_the_reset_then_retries(server, client, clock):
    server.rate_limit(times=2, reset=7)
    assert client.get_organization("acme")["name"] == "Acme"
    assert clock.sleeps == [7, 7]
    assert [r.status for r in server.requests] == [429, 429, 200]


def test_429_retries_a_post_too(server, client, clock):
    server.rate_limit(times=1, reset=3, method="POST")
    client.create_project(**CREATE)
    assert clock.sleeps == [3]
    assert len(server.projects) == 1


def test_429_forever_gives_up_with_a_hint(server, make_client, clock):
    client = make_client(max_retries=3)
    server.rate_limit(times=100, reset=60)
    with pytest.raises(SupabaseApiError) as info:
        client.get_organization("acme")
    assert info.value.status == 429
    assert "120 requests per minute" in info.value.hint
    assert len(server.requests) == 4


def test_5xx_on_get_and_patch_backs_off_exponentially(server, make_client, clock):
    client = make_client(backoff_cap=3)
    ref = server.add_project(organization_slug="acme")
    server.fail(502, times=3, method="GET")
    client.get_project(ref)
    server.fail(500, times=1, method="PATCH")
    client.update_project_name(ref, "again")
    assert clock.sleeps == [1, 2, 3, 1]  # 1, 2, 4 capped at 3; then 1 for the PATCH


def test_5xx_on_post_is_not_retried(server, client, clock):
    server.fail(502, method="POST")
    with pytest.raises(SupabaseApiError) as info:
        client.create_project(**CREATE)
    assert "may or may not" in info.value.message
    assert "dashboard" in info.value.hint
    assert len(server.calls("POST")) == 1 and clock.sleeps == []


def test_5xx_that_persists_gives_up(server, make_client):
    client = make_client(max_retries=2)
    server.fail(503, times=10)
    with pytest.raises(SupabaseApiError, match="HTTP 503 after 3 attempts"):
        client.get_organization("acme")


def test_dropped_connection_on_get_is_retried(server, client, clock):
    ref = server.add_project(organization_slug="acme")
    server.drop(times=2, method="GET")
    assert client.get_project(ref)["ref"] == ref
    assert clock.sleeps == [1, 2]


def test_dropped_connection_after_a_post_is_not_retried(server, client):
    server.drop(after_processing=True, method="POST")
    with pytest.raises(SupabaseApiError) as info:
        client.create_project(**CREATE)
    assert "may or may not" in info.value.message
    assert len(server.calls("POST")) == 1
    assert len(server.projects) == 1  # it was created: a retry would have made a second


def test_read_timeout_is_retried(server, make_client):
    client = make_client(timeout=0.2)
    server.delay(0.6, method="GET")
    assert client.get_organization("acme")["plan"] == "pro"
    assert len(server.requests) == 2


def test_connection_refused_everywhere_gives_up(make_client, clock):
    client = make_client(base_url=f"http://127.0.0.1:{free_port()}", max_retries=2)
    with pytest.raises(SupabaseApiError) as info:
        client.get_organization("acme")
    assert "connection refused" in info.value.message and "3 attempts" in info.value.message
    assert clock.sleeps == [1, 2]


def test_connection_refused_then_up_retries_even_a_post(contract, clock):
    """A refused connection means the request never left: safe to retry a create."""
    port = free_port()
    started: list[ContractServer] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if not started:  # the API comes up during the first back-off
            srv = ContractServer(contract, tokens={TOKEN}, port=port).start()
            srv.add_organization("acme", "pro")
            started.append(srv)

    client = ManagementClient(
        TOKEN, f"http://127.0.0.1:{port}", sleep=sleep, monotonic=clock.monotonic, timeout=5
    )
    try:
        project = client.create_project(**CREATE)
        assert started[0].projects.keys() == {project["ref"]}
        assert started[0].violations == []
    finally:
        for srv in started:
            srv.stop()
    assert clock.sleeps == [1]


def test_concurrent_use_from_threads(server, client):
    ref = server.add_project(organization_slug="acme")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.get_project(ref)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(server.requests) == 20
