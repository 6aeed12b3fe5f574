"""ReadReplica, PoolerSettings and Addon providers against the fake API."""

from __future__ import annotations

import pytest

from floyo_scale.errors import ProviderError
from floyo_scale.infra.supabase.provider import (
    AddonProvider,
    PoolerSettingsProvider,
    ReadReplicaProvider,
)

from .contract_server import TOKEN


def common(server) -> dict:
    return {"access_token": TOKEN, "api_url": server.url, "__provider": "serialized"}


# --------------------------------------------------------------------------- read replicas


@pytest.fixture
def replicas(factory) -> ReadReplicaProvider:
    return ReadReplicaProvider(factory, wait_timeout=900, poll_interval=10)


@pytest.fixture
def primary(server) -> str:
    return server.add_project(organization_slug="acme", region="us-east-1")


def test_replica_create_waits_for_it_to_appear(server, replicas, primary, clock):
    server.replica_polls = 3
    props = {**common(server), "project_ref": primary, "region": "us-west-1", "db_pass": "pw"}
    result = replicas.create(props)
    assert result.id.startswith(f"{primary}-rr-us-west-1-")
    outs = result.outs
    assert outs["identifier"] == result.id
    assert outs["db_host"] == "aws-0-us-west-1.pooler.supabase.com"
    assert outs["connection_string"] == (
        f"postgresql://postgres.{primary}:pw@aws-0-us-west-1.pooler.supabase.com:6543/postgres"
    )
    (setup,) = server.calls("POST", "/v1/projects/{ref}/read-replicas/setup")
    assert setup.json == {"read_replica_region": "us-west-1"}
    assert clock.sleeps == [10] * 3


def test_replica_without_password_keeps_the_api_connection_string(server, replicas, primary):
    outs = replicas.create({**common(server), "project_ref": primary, "region": "eu-west-1"}).outs
    assert "[YOUR-PASSWORD]" in outs["connection_string"]


def test_replica_create_picks_the_new_one_when_one_exists(server, replicas, primary):
    props = {**common(server), "project_ref": primary, "region": "us-west-1"}
    first = replicas.create(props).id
    second = replicas.create(props).id
    assert first != second


def test_replica_needs_a_paid_plan(server, replicas):
    ref = server.add_project(organization_slug="hobby")
    with pytest.raises(ProviderError, match="only available on the Pro plan"):
        replicas.create({**common(server), "project_ref": ref, "region": "us-west-1"})


def test_replica_that_never_appears_times_out(server, factory, primary):
    provider = ReadReplicaProvider(factory, wait_timeout=30, poll_interval=10)
    server.replica_polls = 1000
    with pytest.raises(ProviderError, match="timed out after 30 s waiting for the read replica"):
        provider.create({**common(server), "project_ref": primary, "region": "us-west-1"})


def test_replica_diff(replicas, server, primary):
    olds = {**common(server), "project_ref": primary, "region": "us-west-1", "identifier": "x"}
    assert replicas.diff("x", olds, {**olds, "region": "eu-west-1"}).replaces == ["region"]
    assert replicas.diff("x", olds, {**olds, "project_ref": "b" * 20}).replaces == ["project_ref"]
    same = replicas.diff("x", olds, dict(olds))
    assert same.changes is False and same.replaces == []
    token = replicas.diff("x", olds, {**olds, "access_token": "sbp_new"})
    assert token.changes is True and token.replaces == []


def test_replica_delete_waits_until_gone_and_is_idempotent(server, replicas, primary):
    props = {**common(server), "project_ref": primary, "region": "us-west-1"}
    created = replicas.create(props)
    replicas.delete(created.id, created.outs)
    assert server.projects[primary].replicas == []
    (remove,) = server.calls("POST", "/v1/projects/{ref}/read-replicas/remove")
    assert remove.json == {"database_identifier": created.id}
    replicas.delete(created.id, created.outs)  # already gone: no second remove
    assert len(server.calls("POST", "/v1/projects/{ref}/read-replicas/remove")) == 1


def test_replica_read_and_update(server, replicas, primary):
    props = {**common(server), "project_ref": primary, "region": "us-west-1"}
    created = replicas.create(props)
    assert replicas.read(created.id, created.outs).outs["identifier"] == created.id
    updated = replicas.update(created.id, created.outs, {**props, "db_pass": "new"}).outs
    assert ":new@" in updated["connection_string"]
    server.projects[primary].replicas.clear()
    assert replicas.read(created.id, created.outs).id == ""
    del server.projects[primary]
    assert replicas.read(created.id, created.outs).id == ""


# --------------------------------------------------------------------------- pooler


@pytest.fixture
def pooler(factory) -> PoolerSettingsProvider:
    return PoolerSettingsProvider(factory)


def test_pooler_create_update_read_delete(server, pooler, primary):
    props = {
        **common(server),
        "project_ref": primary,
        "pool_mode": "transaction",
        "default_pool_size": 30.0,  # numbers arrive from the engine as floats
    }
    created = pooler.create(props)
    assert created.id == f"{primary}/pooler"
    assert created.outs["default_pool_size"] == 30
    assert server.projects[primary].default_pool_size == 30

    diff = pooler.diff(created.id, created.outs, {**props, "pool_mode": "session"})
    assert diff.changes is True and diff.replaces == []
    assert pooler.diff(created.id, created.outs, {**props, "project_ref": "b" * 20}).replaces == [
        "project_ref"
    ]
    updated = pooler.update(created.id, created.outs, {**props, "pool_mode": "session"})
    assert updated.outs["pool_mode"] == "session"
    patches = [r.json for r in server.calls("PATCH", "/v1/projects/{ref}/config/database/pooler")]
    assert patches == [
        {"pool_mode": "transaction", "default_pool_size": 30},
        {"pool_mode": "session", "default_pool_size": 30},
    ]

    server.projects[primary].default_pool_size = 99  # changed in the dashboard
    assert pooler.read(created.id, updated.outs).outs["default_pool_size"] == 99

    before = len(server.requests)
    pooler.delete(created.id, updated.outs)  # leaves the settings; no API call
    assert len(server.requests) == before


def test_pooler_check(pooler, server, primary):
    props = {**common(server), "project_ref": primary, "pool_mode": "statement"}
    failures = {f.property for f in pooler.check({}, {**props, "default_pool_size": 5000}).failures}
    assert failures == {"pool_mode", "default_pool_size"}


# --------------------------------------------------------------------------- addons


@pytest.fixture
def addons(factory) -> AddonProvider:
    return AddonProvider(factory)


def test_addon_create_update_read_delete(server, addons, primary):
    props = {
        **common(server),
        "project_ref": primary,
        "addon_type": "pitr",
        "addon_variant": "pitr_7",
    }
    created = addons.create(props)
    assert created.id == f"{primary}/pitr"
    assert server.projects[primary].addons == {"pitr": "pitr_7"}

    diff = addons.diff(created.id, created.outs, {**props, "addon_variant": "pitr_14"})
    assert diff.changes is True and diff.replaces == []
    assert addons.diff(created.id, created.outs, {**props, "addon_type": "ipv4"}).replaces == [
        "addon_type"
    ]
    updated = addons.update(created.id, created.outs, {**props, "addon_variant": "pitr_14"})
    assert server.projects[primary].addons == {"pitr": "pitr_14"}

    assert addons.read(created.id, updated.outs).outs["addon_variant"] == "pitr_14"
    addons.delete(created.id, updated.outs)
    assert server.projects[primary].addons == {}
    (delete,) = server.calls("DELETE", "/v1/projects/{ref}/billing/addons/{addon_variant}")
    assert delete.path.endswith("/billing/addons/pitr_14")
    assert addons.read(created.id, updated.outs).id == ""
    addons.delete(created.id, updated.outs)  # nothing selected: nothing sent
    assert len(server.calls("DELETE")) == 1


def test_addon_check_keeps_compute_with_the_project(addons, server, primary):
    base = {**common(server), "project_ref": primary}
    compute = {**base, "addon_type": "compute_instance", "addon_variant": "ci_small"}
    assert [f.property for f in addons.check({}, compute).failures] == ["addon_type"]
    wrong = {**base, "addon_type": "pitr", "addon_variant": "ipv4_default"}
    assert [f.property for f in addons.check({}, wrong).failures] == ["addon_variant"]
    assert (
        addons.check({}, {**base, "addon_type": "pitr", "addon_variant": "pitr_28"}).failures == []
    )


def test_addon_refused_on_free_plan_shows_the_api_message(server, addons):
    ref = server.add_project(organization_slug="hobby")
    props = {**common(server), "project_ref": ref, "addon_type": "pitr", "addon_variant": "pitr_7"}
    with pytest.raises(ProviderError, match="PITR is not available on the free plan"):
        addons.create(props)
