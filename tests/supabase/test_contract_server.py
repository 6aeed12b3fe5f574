"""The fake API itself: it must refuse whatever the contract refuses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .contract_server import TOKEN, ContractServer

GOOD_BODY = {
    "name": "floyo-prod",
    "organization_slug": "acme",
    "db_pass": "pw-pw-pw-pw",
    "region_selection": {"type": "specific", "code": "us-east-1"},
    "desired_instance_size": "small",
}


def send(server: ContractServer, method: str, path: str, body: object = None, token=TOKEN):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_accepts_a_valid_create_and_answers_on_contract(server):
    status, body = send(server, "POST", "/v1/projects", GOOD_BODY)
    assert status == 201
    assert json.loads(body)["status"] == "COMING_UP"
    assert server.violations == []


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},  # additionalProperties: false
        {"region_selection": {"type": "specific", "code": "mars-1"}},
        {"region_selection": {"type": "specific"}},
        {"desired_instance_size": "huge"},
        {"organization_slug": "acme corp"},  # pattern ^[\w-]+$
        {"name": "x" * 257},
    ],
    ids=["extra-key", "bad-region", "no-code", "bad-size", "bad-slug", "long-name"],
)
def test_rejects_bodies_the_contract_rejects(server, change):
    status, _ = send(server, "POST", "/v1/projects", {**GOOD_BODY, **change})
    assert status == 400
    assert server.violations, "the fake let an invalid body through"
    assert server.projects == {}
    server.violations.clear()


def test_rejects_a_missing_required_field(server):
    body = {k: v for k, v in GOOD_BODY.items() if k != "db_pass"}
    assert send(server, "POST", "/v1/projects", body)[0] == 400
    assert any("V1CreateProjectBody" in v or "db_pass" in v for v in server.violations)
    server.violations.clear()


def test_rejects_bad_path_parameters_and_unknown_paths(server):
    assert send(server, "GET", "/v1/projects/ABC")[0] == 400  # ref: 20 lower-case letters
    assert send(server, "GET", "/v1/nowhere")[0] == 404
    assert send(server, "PUT", "/v1/projects")[0] == 404  # no PUT on /v1/projects
    assert len(server.violations) == 3
    assert "no such path" in server.violations[1]
    assert "has no PUT" in server.violations[2]
    server.violations.clear()


def test_rejects_undeclared_query_and_missing_token(server):
    ref = server.add_project(organization_slug="acme")
    assert send(server, "GET", f"/v1/projects/{ref}?verbose=1")[0] == 400
    send(server, "GET", f"/v1/projects/{ref}", token=None)
    assert any("undeclared query parameter 'verbose'" in v for v in server.violations)
    assert any("Authorization" in v for v in server.violations)
    server.violations.clear()


def test_rejects_bodies_of_other_operations(server):
    ref = server.add_project(organization_slug="acme")
    path = f"/v1/projects/{ref}/config/database/pooler"
    assert send(server, "PATCH", path, {"default_pool_size": 5000})[0] == 400  # maximum 3000
    assert send(server, "PATCH", path, {"pool_mode": "statement"})[0] == 400
    addons = f"/v1/projects/{ref}/billing/addons"
    assert (
        send(server, "PATCH", addons, {"addon_type": "pitr", "addon_variant": "pitr_3"})[0] == 400
    )
    replicas = f"/v1/projects/{ref}/read-replicas/setup"
    assert send(server, "POST", replicas, {"read_replica_region": "mars-1"})[0] == 400
    assert len(server.violations) == 4
    server.violations.clear()


def test_records_every_request(server):
    ref = server.add_project(organization_slug="acme")
    send(server, "GET", f"/v1/projects/{ref}")
    send(server, "GET", "/v1/organizations/acme")
    assert [(r.method, r.template, r.status) for r in server.requests] == [
        ("GET", "/v1/projects/{ref}", 200),
        ("GET", "/v1/organizations/{slug}", 200),
    ]
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_wrong_token_is_401_and_not_a_violation(server):
    assert send(server, "GET", "/v1/organizations/acme", token="sbp_wrong")[0] == 401
    assert server.violations == []
