"""ProjectProvider's create/diff/update/delete/read, called the way the engine calls them."""

from __future__ import annotations

import pytest

from floyo_scale.errors import ProviderError
from floyo_scale.infra.supabase.provider import ProjectProvider

from .contract_server import TOKEN

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # Pulumi's "not known yet" during preview


@pytest.fixture
def provider(factory) -> ProjectProvider:
    return ProjectProvider(factory, wait_timeout=900, poll_interval=10)


@pytest.fixture
def props(server) -> dict:
    return {
        "project_name": "floyo-prod",
        "organization_slug": "acme",
        "region": "eu-central-1",
        "instance_size": "small",
        "plan": "pro",
        "access_token": TOKEN,
        "api_url": server.url,
        "__provider": "serialized-provider",
    }


def test_create_checks_plan_creates_waits_and_returns_outputs(server, provider, props, clock):
    server.provisioning_polls = 3
    result = provider.create(props)
    ref = result.id
    outs = result.outs
    assert ref in server.projects and server.projects[ref].status == "ACTIVE_HEALTHY"
    assert outs["ref"] == ref and outs["status"] == "ACTIVE_HEALTHY"
    assert outs["db_host"] == f"db.{ref}.supabase.co"
    # the password is made by the provider, sent once, and only ever in secret outputs
    db_pass = outs["db_pass"]
    assert len(db_pass) >= 40 and server.projects[ref].db_pass == db_pass
    assert outs["connection_string"] == (
        f"postgresql://postgres:{db_pass}@db.{ref}.supabase.co:5432/postgres"
    )
    assert outs["pooler_connection_string"] == (
        f"postgresql://postgres.{ref}:{db_pass}@aws-0-eu-central-1.pooler.supabase.com"
        ":6543/postgres"
    )
    assert "__provider" not in outs
    assert {k: outs[k] for k in ("project_name", "region", "instance_size", "plan")} == {
        "project_name": "floyo-prod",
        "region": "eu-central-1",
        "instance_size": "small",
        "plan": "pro",
    }
    assert [(r.method, r.template) for r in server.requests[:3]] == [
        ("GET", "/v1/organizations/{slug}"),
        ("GET", "/v1/projects"),  # an earlier attempt's project is adopted, not doubled
        ("POST", "/v1/projects"),
    ]
    assert clock.sleeps == [10, 10, 10]


def test_each_create_gets_a_new_password(server, provider, props):
    first = provider.create(props).outs["db_pass"]
    second = provider.create(props).outs["db_pass"]
    assert first != second


def test_create_refuses_an_organization_on_another_plan(server, provider, props):
    with pytest.raises(ProviderError) as info:
        provider.create({**props, "organization_slug": "hobby"})
    assert "'hobby' is on the free plan" in info.value.message
    assert "pro" in info.value.message and "Billing" in info.value.hint
    assert server.calls("POST") == []


def test_create_goes_on_when_the_api_does_not_report_the_plan(server, provider, props):
    server.add_organization("quiet", plan=None)  # `plan` is optional in the contract
    assert provider.create({**props, "organization_slug": "quiet"}).outs["status"]


def test_create_that_fails_to_provision_deletes_the_project(server, provider, props):
    server.fail_next_project("INIT_FAILED")
    with pytest.raises(ProviderError) as info:
        provider.create(props)
    assert "INIT_FAILED" in info.value.message and "'floyo-prod'" in info.value.message
    assert "was removed" in info.value.message
    assert server.projects == {}
    assert len(server.calls("DELETE", "/v1/projects/{ref}")) == 1


def test_create_that_times_out_deletes_the_project_and_says_so(server, factory, props):
    provider = ProjectProvider(factory, wait_timeout=60, poll_interval=10)
    server.provisioning_polls = 1000
    with pytest.raises(ProviderError, match="timed out after 60 s.*was removed"):
        provider.create(props)
    assert server.projects == {}


def test_create_reports_a_failed_cleanup(server, provider, props):
    server.fail_next_project("INIT_FAILED")
    server.fail(403, method="DELETE")
    with pytest.raises(ProviderError) as info:
        provider.create(props)
    assert "removing the half-created Supabase project" in info.value.message
    assert "delete" in info.value.hint and "dashboard" in info.value.hint
    assert len(server.projects) == 1


# --------------------------------------------------------------------------- diff


@pytest.mark.parametrize(
    ("change", "replaces", "changes"),
    [
        ({}, [], False),
        ({"region": "us-east-1"}, ["region"], True),
        ({"organization_slug": "other"}, ["organization_slug"], True),
        ({"instance_size": "large"}, [], True),
        ({"project_name": "renamed"}, [], True),
        ({"plan": "team"}, [], True),
        ({"access_token": "sbp_rotated"}, [], True),
        ({"region": UNKNOWN}, ["region"], True),
    ],
)
def test_diff(provider, props, change, replaces, changes):
    olds = {**props, "ref": "a" * 20, "db_pass": "pw"}
    result = provider.diff("a" * 20, olds, {**props, **change})
    assert result.replaces == replaces
    assert result.changes is changes
    assert result.delete_before_replace is False


def test_check_reports_every_bad_input_and_skips_unknowns(provider, props):
    bad = {**props, "region": "mars-1", "instance_size": "huge", "plan": "gold", "project_name": ""}
    failures = {f.property for f in provider.check({}, bad).failures}
    assert failures == {"region", "instance_size", "plan", "project_name"}
    assert provider.check({}, {**props, "region": UNKNOWN}).failures == []
    assert provider.check({}, props).inputs == props


# --------------------------------------------------------------------------- update


def test_update_resizes_through_billing_addons_and_waits(server, provider, props, clock):
    created = provider.create(props)
    ref, olds = created.id, {**created.outs, "__provider": "x"}
    server.resize_polls = 4
    clock.sleeps.clear()
    outs = provider.update(ref, olds, {**props, "instance_size": "large"}).outs
    (patch,) = server.calls("PATCH", "/v1/projects/{ref}/billing/addons")
    assert patch.json == {"addon_type": "compute_instance", "addon_variant": "ci_large"}
    assert clock.sleeps == [10] * 4  # waited through RESIZING
    assert outs["instance_size"] == "large" and outs["status"] == "ACTIVE_HEALTHY"
    assert outs["db_pass"] == olds["db_pass"]
    assert outs["connection_string"] == olds["connection_string"]
    assert server.projects[ref].instance_size == "large"


def test_update_renames(server, provider, props):
    created = provider.create(props)
    outs = provider.update(created.id, created.outs, {**props, "project_name": "floyo-main"}).outs
    (patch,) = server.calls("PATCH", "/v1/projects/{ref}")
    assert patch.json == {"name": "floyo-main"}
    assert outs["project_name"] == "floyo-main"
    assert server.calls("PATCH", "/v1/projects/{ref}/billing/addons") == []


def test_update_with_a_new_token_stores_it_and_changes_nothing(server, provider, props):
    created = provider.create(props)
    server.tokens.add("sbp_rotated")
    before = len(server.requests)
    outs = provider.update(created.id, created.outs, {**props, "access_token": "sbp_rotated"}).outs
    assert outs["access_token"] == "sbp_rotated"
    assert {r.method for r in server.requests[before:]} == {"GET"}


def test_update_rechecks_the_plan(server, provider, props):
    created = provider.create(props)
    with pytest.raises(ProviderError, match="on the pro plan, but the stack requires the team"):
        provider.update(created.id, created.outs, {**props, "plan": "team"})


# --------------------------------------------------------------------------- delete, read


def test_delete_and_delete_again(server, provider, props):
    created = provider.create(props)
    provider.delete(created.id, created.outs)
    assert server.projects == {}
    provider.delete(created.id, created.outs)  # 404: already gone, not an error


def test_read_reflects_changes_made_outside_and_notices_deletion(server, provider, props):
    created = provider.create(props)
    server.projects[created.id].name = "renamed-in-dashboard"
    server.projects[created.id].instance_size = "medium"
    read = provider.read(created.id, created.outs)
    assert read.id == created.id
    assert read.outs["project_name"] == "renamed-in-dashboard"
    assert read.outs["instance_size"] == "medium"
    assert read.outs["db_pass"] == created.outs["db_pass"]
    del server.projects[created.id]
    assert provider.read(created.id, created.outs).id == ""
