"""The token and the database password never show: not in errors, reprs, logs or pickles."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.dynamic.dynamic import serialize_provider

from floyo_scale.errors import FloyoError
from floyo_scale.infra.supabase.client import ManagementClient
from floyo_scale.infra.supabase.provider import ProjectProvider
from floyo_scale.transport import Redactor

from .contract_server import TOKEN

PASSWORD = "Zm9vYmFyLXNlY3JldC1wYXNzd29yZA"
CREATE = dict(
    name="floyo-prod",
    organization_slug="acme",
    db_pass=PASSWORD,
    region="us-east-1",
    instance_size="small",
)


def every_text(exc: BaseException) -> str:
    """Everything a user or the Pulumi engine could see of an exception."""
    parts = [str(exc), repr(exc), getattr(exc, "hint", "") or ""]
    parts += [str(a) for a in exc.args]
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.fixture
def failures(server, make_client, clock):
    """Runs a scenario, returns the exception it raised."""

    def run(scenario) -> FloyoError:
        with pytest.raises(FloyoError) as info:
            scenario(make_client(max_retries=1))
        server.faults.clear()
        return info.value

    return run


def test_no_secret_in_any_client_error(server, failures, caplog, make_client):
    caplog.set_level(logging.DEBUG)
    ref = server.add_project(organization_slug="acme")
    texts = []

    server.fail(400, method="POST", message=f"db_pass {PASSWORD} is too weak for {TOKEN}")
    texts.append(every_text(failures(lambda c: c.create_project(**CREATE))))
    server.fail(400, message=f"postgresql://postgres:{PASSWORD}@db.x.supabase.co:5432/postgres")
    texts.append(every_text(failures(lambda c: c.create_project(**CREATE))))
    server.fail(422, message="token sbp_0123456789abcdef0123456789abcdef01234567 is odd")
    texts.append(every_text(failures(lambda c: c.get_project(ref))))
    for status in (401, 403, 404, 500, 502):
        server.fail(status, times=5, message=f"echo {TOKEN}")
        texts.append(every_text(failures(lambda c: c.get_project(ref))))
        assert str(status) in texts[-1] and "echo [secret]" in texts[-1]
    server.rate_limit(times=5)
    texts.append(every_text(failures(lambda c: c.get_organization("acme"))))
    server.drop(after_processing=True, method="POST")
    texts.append(every_text(failures(lambda c: c.create_project(**CREATE))))
    texts.append(every_text(failures(lambda c: c.get_project("not-a-ref"))))
    texts.append(
        every_text(
            failures(
                lambda c: make_client(base_url="http://127.0.0.1:9", max_retries=0).get_project(ref)
            )
        )
    )
    server.tokens.clear()
    server.tokens.add("sbp_other")
    texts.append(every_text(failures(lambda c: c.get_organization("acme"))))

    for text in texts:
        assert_clean(text, TOKEN, PASSWORD, "sbp_0123456789abcdef0123456789abcdef01234567")
    assert "[secret]" in texts[0]
    assert_clean(caplog.text, TOKEN, PASSWORD)
    assert "retrying" in caplog.text  # the retries were logged, without secrets


def test_no_generated_password_in_a_failed_create(server, factory, caplog):
    caplog.set_level(logging.DEBUG)
    provider = ProjectProvider(factory)
    server.fail_next_project("INIT_FAILED")
    server.fail(500, times=10, method="DELETE", message="cannot delete")
    props = {
        "project_name": "floyo-prod",
        "organization_slug": "acme",
        "region": "us-east-1",
        "instance_size": "small",
        "plan": "pro",
        "access_token": TOKEN,
        "api_url": server.url,
    }
    with pytest.raises(FloyoError) as info:
        provider.create(props)
    (project,) = server.projects.values()  # left behind, as the message says
    assert project.ref in info.value.message
    assert_clean(every_text(info.value), TOKEN, project.db_pass)
    assert_clean(caplog.text, TOKEN, project.db_pass)


def test_repr_and_pickle_hide_the_token(server, client):
    assert TOKEN not in repr(client) and TOKEN not in str(client)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)
    provider = ProjectProvider()
    assert TOKEN not in serialize_provider(provider)


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    secret=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
        min_size=8,
        max_size=60,
    ),
)
def test_redactor_removes_a_known_secret_from_any_text(before, after, secret):
    redact = Redactor()
    redact.add(secret)
    assert secret not in redact(f"{before}{secret}{after}{secret}")


def test_client_refuses_to_start_without_a_token():
    with pytest.raises(FloyoError, match="no Supabase access token"):
        ManagementClient("")
