"""The one HTTP transport (floyo_scale/transport): every provider client refuses to carry its
credential to another host, hosts are allow-listed, the retry policy honours Retry-After,
and one redactor with one placeholder is what every path uses."""

from __future__ import annotations

import base64
import importlib
import threading
import traceback
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from observe.standins import Recorded, StandIn
from supabase.contract_server import CONTRACT_PATH, Contract, ContractServer
from supabase.contract_server import TOKEN as SUPABASE_TOKEN

from floyo_scale.errors import FloyoError, ProviderError
from floyo_scale.infra.supabase.client import ManagementClient
from floyo_scale.infra.upstash_plan import UpstashApiError, change_plan
from floyo_scale.observe.http import SourceError
from floyo_scale.observe.sentry import SentryEvents
from floyo_scale.observe.upstash import UpstashApi
from floyo_scale.observe.vercel import VercelMetrics
from floyo_scale.transport import (
    PLACEHOLDER,
    HttpClient,
    OtherHostRedirect,
    Redactor,
    RetryPolicy,
    check_url,
    mask,
)
from floyo_scale.transport.hosts import LOOPBACK_ENV, UrlNotAllowed
from floyo_scale.transport.http import retry_after

REPO = Path(__file__).resolve().parent.parent
TOKEN = "tok_" + "k" * 32
PASSWORD = "Hunter2-" + "p" * 12


class _Server(ThreadingHTTPServer):
    seen: list[tuple[str, str, dict[str, str]]]
    answer: tuple[int, dict[str, str], bytes]


def _serve(status: int, headers: dict[str, str], body: bytes = b"{}") -> _Server:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server: _Server = self.server  # type: ignore[assignment]
            server.seen.append(
                (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            code, extra, data = server.answer
            self.send_response(code)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.seen = []
    server.answer = (status, headers, body)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    return server


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    """Another host (another port is another origin): records whatever reaches it."""
    server = _serve(200, {"Content-Type": "application/json"}, b"{}")
    yield server
    server.shutdown()
    server.server_close()


def _no_sleep(_: float) -> None:
    return None


# -- no credential across a redirect, for every provider client ----------------------------
# Each client against the suite's own stand-in for its API (the Supabase contract server,
# the status stand-ins of tests/observe/standins.py), told to answer with a redirect to
# another loopback server (another port: another origin) that records what reaches it.


def _redirect_to(target: str):
    def route(_: StandIn, record: Recorded) -> tuple[int, dict[str, str], object]:
        return 302, {"Location": f"{target}/steal{record.path}"}, None

    return route


def _supabase(target: str, contract: Contract) -> tuple[object, object]:
    server = ContractServer(contract, tokens={SUPABASE_TOKEN}).start()
    server.add_organization("acme", "pro")
    ref = server.add_project(organization_slug="acme")
    server.redirect(target, status=302, times=10)
    client = ManagementClient(SUPABASE_TOKEN, server.url, max_retries=0)
    return server, lambda: client.get_project(ref)


def _standin(name: str, target: str, call) -> tuple[object, object]:
    server = StandIn(name, _redirect_to(target)).start()
    return server, lambda: call(server.url)


CLIENTS = {
    "supabase": lambda target, contract: _supabase(target, contract),
    "vercel": lambda target, _: _standin(
        "vercel", target, lambda url: VercelMetrics(TOKEN, "team", base_url=url).api.get("/v1/x")
    ),
    "sentry": lambda target, _: _standin(
        "sentry",
        target,
        lambda url: SentryEvents(TOKEN, "org", base_url=url).performance("p", 24),
    ),
    "upstash (status)": lambda target, _: _standin(
        "upstash", target, lambda url: UpstashApi("a@b.co", TOKEN, base_url=url).stats("db")
    ),
    "upstash (plan, up)": lambda target, _: _standin(
        "upstash", target, lambda url: change_plan(url, "a@b.co", TOKEN, "db-1", "fixed_1gb")
    ),
}


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(CONTRACT_PATH)


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_no_provider_client_sends_its_token_across_a_redirect(client, elsewhere, contract):
    server, call = CLIENTS[client](_url(elsewhere), contract)
    try:
        with pytest.raises((ProviderError, UpstashApiError)) as info:
            call()
    finally:
        server.stop()
    assert elsewhere.seen == []  # nothing reached the other host, least of all the token
    text = "".join(traceback.format_exception(info.value)) + str(getattr(info.value, "hint", ""))
    for secret in (TOKEN, SUPABASE_TOKEN, base64.b64encode(f"a@b.co:{TOKEN}".encode()).decode()):
        assert secret not in text
    assert "another host" in text


def test_another_port_of_the_same_host_is_another_host(elsewhere):
    server = _serve(307, {"Location": f"{_url(elsewhere)}/v1/here"}, b"")
    try:
        http = HttpClient("vercel", _url(server), headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(OtherHostRedirect):
            http.request("GET", "/v1/x")
        assert elsewhere.seen == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_download_without_credentials_may_follow_a_redirect(elsewhere):
    with StandIn("releases", _redirect_to(_url(elsewhere))) as releases:
        answer = HttpClient("pulumi-releases", releases.url).request("GET", "/x")
    assert answer is not None and answer.status == 200 and len(elsewhere.seen) == 1


# -- hosts: fixed per provider, https only, loopback only through the test hook ------------


def test_provider_hosts_are_fixed_and_https_only(monkeypatch):
    assert check_url("supabase", "https://api.supabase.com/") == "https://api.supabase.com"
    assert check_url("sentry", "https://de.sentry.io") == "https://de.sentry.io"
    for provider, url in [
        ("supabase", "http://collector.example"),
        ("supabase", "https://collector.example"),
        ("supabase", "http://api.supabase.com"),
        ("vercel", "https://api.vercel.com.evil.example"),
        ("upstash", "https://user:pw@api.upstash.com"),
    ]:
        with pytest.raises(UrlNotAllowed) as info:
            check_url(provider, url)
        assert info.value.hint and "https://" in info.value.hint and "pw" not in info.value.message
    # loopback: only with the test hook
    assert check_url("vercel", "http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    monkeypatch.delenv(LOOPBACK_ENV)
    with pytest.raises(UrlNotAllowed, match="not https"):
        check_url("vercel", "http://127.0.0.1:8080")
    with pytest.raises(UrlNotAllowed, match="not one of vercel's hosts"):
        check_url("vercel", "https://127.0.0.1:8080")


def test_status_cannot_be_pointed_elsewhere_by_the_environment(monkeypatch):
    with pytest.raises(SourceError, match="not one of vercel's hosts"):
        VercelMetrics(TOKEN, "team", base_url="https://collector.example")


def test_an_api_url_elsewhere_is_an_invalid_spec(workspace, cli):
    stack = workspace / "stacks" / "production.yaml"
    text = stack.read_text()
    assert "  access_token: ${env:SUPABASE_ACCESS_TOKEN}\n" in text
    stack.write_text(
        text.replace(
            "  access_token: ${env:SUPABASE_ACCESS_TOKEN}\n",
            "  access_token: ${env:SUPABASE_ACCESS_TOKEN}\n  api_url: http://collector.example\n",
        )
    )
    result = cli("validate")
    assert result.code == 3
    assert "supabase.api_url: got 'http://collector.example'" in result.err
    assert "not an address of the supabase API (it is not https)" in result.err
    assert "hint: leave it out (the default is https://api.supabase.com)" in result.err


# -- the retry policy ----------------------------------------------------------------------


def test_retry_after_in_seconds_or_as_a_date_is_honoured():
    assert retry_after({"Retry-After": "7"}) == 7.0
    later = retry_after({"Retry-After": formatdate(usegmt=True)})
    assert later is not None and later <= 1.0
    assert retry_after({"X-RateLimit-Reset": "3"}) == 3.0
    assert retry_after({}) is None


def test_a_429_waits_as_asked_then_retries_even_a_post():
    server = _serve(429, {"Retry-After": "5"}, b"{}")
    slept: list[float] = []
    try:
        http = HttpClient(
            "vercel", _url(server), policy=RetryPolicy(max_retries=2), sleep=slept.append
        )
        answer = http.request("POST", "/q", body={}, idempotent=False)
        assert answer is not None and answer.status == 429 and answer.attempts == 2
        assert slept == [5.0, 5.0] and len(server.seen) == 3
    finally:
        server.shutdown()
        server.server_close()


def test_a_5xx_on_a_post_that_creates_is_not_sent_again():
    server = _serve(502, {}, b"{}")
    try:
        http = HttpClient("supabase", _url(server), sleep=_no_sleep)
        answer = http.request("POST", "/v1/projects", body={}, idempotent=False)
        assert answer is not None and answer.status == 502 and len(server.seen) == 1
        assert http.request("GET", "/v1/projects") is not None
        assert len(server.seen) == 1 + 6  # a GET: 1 + 5 retries
    finally:
        server.shutdown()
        server.server_close()


# -- one redactor, one placeholder, every path ---------------------------------------------


def test_the_redactor_masks_known_values_and_every_shape():
    redact = Redactor(TOKEN)
    text = redact(
        f"token {TOKEN}; postgresql://app:{PASSWORD}@db:5432/x; host=h password={PASSWORD}; "
        f"https://ops:{PASSWORD}@state.example.com/x; sbp_{'a' * 40}; "
        f'missing "=" after "postgresql://u:{PASSWORD}@[::1/db" in connection info string'
    )
    assert TOKEN not in text and PASSWORD not in text and "sbp_aaaa" not in text
    assert text.count(PLACEHOLDER) == 6
    assert mask("postgresql://app@db/x") == "postgresql://app@db/x"  # no password: unchanged


def _engine_message(backend: str) -> str:
    import pulumi.automation as auto
    from pulumi.automation.errors import create_command_error

    from floyo_scale.engine.failures import translate_error

    result = auto.CommandResult(stdout="", stderr=f"error: could not reach {backend}", code=1)
    error = translate_error(create_command_error(result), "staging")
    assert error is not None
    return error.message


def test_every_path_uses_the_one_placeholder(tmp_path):
    from floyo_scale.db.connect import Shard, redact_url
    from floyo_scale.offline.inventory import SECRET
    from floyo_scale.review.affected import redactor

    url = f"postgresql://postgres:{PASSWORD}@db.x.supabase.co:5432/postgres"
    backend = f"https://ops:{PASSWORD}@state.example.com"
    texts = {
        "db url": redact_url(url),
        "db message": Shard(0, url, "test").scrub(f"failed: {url} {PASSWORD}"),
        "pr comment": redactor([TOKEN])(f"value {TOKEN}"),
        "engine": _engine_message(backend),
        "client": HttpClient("vercel", "https://api.vercel.com", secrets=(TOKEN,)).redact(TOKEN),
    }
    assert SECRET == PLACEHOLDER
    for where, text in texts.items():
        assert PASSWORD not in text and TOKEN not in text, where
        assert PLACEHOLDER in text, where


def test_no_other_placeholder_or_hand_written_client_is_left():
    sources = {p: p.read_text() for p in (REPO / "floyo_scale").rglob("*.py")}
    for path, text in sources.items():
        for old in ('"[redacted]"', "[redacted]", '"***"', "urlopen("):
            assert old not in text, f"{path.relative_to(REPO)} still has {old}"


def test_the_engine_target_redacts_with_the_one_redactor():
    from floyo_scale.engine.target import Target

    target = Target(stack=None, root=Path("."), backend="file:///x", secrets_provider=None,  # type: ignore[arg-type]
                    secrets={"VERCEL_API_TOKEN": TOKEN})  # fmt: skip
    text = target.redact(f"401 {TOKEN} at https://u:{PASSWORD}@api.pulumi.com")
    assert text == f"401 {PLACEHOLDER} at https://u:{PLACEHOLDER}@api.pulumi.com"


# -- --traceback masks too -----------------------------------------------------------------


def test_a_malformed_database_url_shows_no_password(workspace, cli):
    url = f"postgresql://u:{PASSWORD}@[::1/db"
    result = cli("--traceback", "db", "partition", "--stack", "production", "--database-url", url)
    assert result.code == 2
    assert PASSWORD not in result.out + result.err and PLACEHOLDER in result.err


def test_the_traceback_of_an_unexpected_error_shows_no_password(workspace, cli, monkeypatch):
    import psycopg

    connect = importlib.import_module("floyo_scale.db.connect")

    def broken(*_: object, **__: object) -> None:
        try:
            raise psycopg.ProgrammingError(f'missing "=" after "postgresql://u:{PASSWORD}@h"')
        except psycopg.ProgrammingError as exc:
            raise RuntimeError(f"while reading postgresql://u:{PASSWORD}@h") from exc

    monkeypatch.setattr(connect, "resolve_shards", broken)
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", TOKEN)
    result = cli("--traceback", "db", "partition", "--stack", "production", "--database-url", "x")
    assert result.code == 1
    assert "Traceback" in result.err and "ProgrammingError" in result.err
    assert PASSWORD not in result.err and PLACEHOLDER in result.err


def test_floyo_errors_are_masked_at_the_boundary(workspace, cli, monkeypatch):
    connect = importlib.import_module("floyo_scale.db.connect")

    def leaky(*_: object, **__: object) -> None:
        raise FloyoError(f"cannot read https://ops:{PASSWORD}@state.example.com", "hint")

    monkeypatch.setattr(connect, "resolve_shards", leaky)
    result = cli("db", "partition", "--stack", "production", "--database-url", "x")
    assert result.code == FloyoError.exit_code
    assert PASSWORD not in result.err and f"https://ops:{PLACEHOLDER}@state" in result.err


def test_a_redirect_to_a_malformed_location_is_refused_not_a_crash(elsewhere):
    server = _serve(302, {"Location": "http://127.0.0.1:notaport/x"}, b"")
    try:
        http = HttpClient("vercel", _url(server), headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(OtherHostRedirect):
            http.request("GET", "/x")
        with pytest.raises(UrlNotAllowed, match="not a URL"):
            HttpClient("pulumi-releases", _url(server)).request("GET", "/x")
    finally:
        server.shutdown()
        server.server_close()
