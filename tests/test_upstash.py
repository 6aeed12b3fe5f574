"""cache.provider: upstash — the opt-in serverless Redis that Vercel functions can reach.

The program under the mock engine for a workspace whose dev stack picks Upstash at growth
(and scale, for read regions); the spec rules; the plan warning; secrets; the plugin."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import copy_workspace

from floyo_scale import engine
from floyo_scale.errors import SpecError
from floyo_scale.offline.inventory import SECRET, Inventory
from floyo_scale.offline.synth import synthesize
from floyo_scale.spec import Workspace, load_stack

DATABASE = "upstash:index/redisDatabase:RedisDatabase"
PROVIDER = "pulumi:providers:upstash"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"

UPSTASH_SETTINGS = """
upstash:
  email: ops@floyo.app
  api_key: ${env:UPSTASH_API_KEY}
"""
OVERRIDE = "  cache: {provider: upstash}\n"  # lines under the stack's `overrides:`


def upstash_workspace(
    root: Path, settings: str = UPSTASH_SETTINGS, override: str = OVERRIDE, stack: str = "dev"
) -> Workspace:
    copy_workspace(root)
    path = root / "stacks" / f"{stack}.yaml"
    # the repository's stacks carry Upstash settings already: take them out, the test's go in
    text = re.sub(r"\nupstash:[^\n]*\n(?:  [^\n]*\n)*", "\n", path.read_text())
    if "\noverrides:\n" in text:
        text = text.replace("\noverrides:\n", "\noverrides:\n" + override)
    elif override:
        text += "\noverrides:\n" + override
    path.write_text(text + settings)
    return Workspace(root)


def synth(ws: Workspace, phase: str, stack: str = "dev", secrets=None) -> Inventory:
    return synthesize(load_stack(ws, stack, phase), secrets)


def env_vars(inv: Inventory) -> dict[str, bool]:
    return {r.inputs["key"]: r.inputs["sensitive"] for r in inv.of_type(ENV_VAR)}


def test_growth_on_upstash_builds_one_database_and_no_vpc(tmp_path):
    inv = synth(upstash_workspace(tmp_path), "growth")
    types = Counter(r.type for r in inv.custom_resources())
    assert types[DATABASE] == 1 and types[PROVIDER] == 1
    assert not [t for t in types if t.startswith(("aws:elasticache", "aws:ec2"))]
    alarms = inv.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and not [a for a in alarms if a.name.startswith("cache-")]
    (db,) = inv.of_type(DATABASE)
    assert db.component == "cache" and db.region == "us-east-1" and db.stateful
    assert db.inputs == {
        "databaseName": "floyo-dev-cache",
        "region": "global",
        "primaryRegion": "us-east-1",
        "tls": True,
        "eviction": True,  # growth's allkeys-lru
    }
    assert not db.protect and not db.retain_on_delete  # dev protects nothing
    (provider,) = inv.of_type(PROVIDER)
    assert provider.inputs == {"email": "ops@floyo.app", "apiKey": SECRET}
    assert db.parent == "floyo:cache:Cache::cache"
    env = env_vars(inv)
    assert env["REDIS_URL"] is True
    assert not [k for k in env if k.startswith("REDIS_URL_")]


def test_secondary_regions_become_read_regions_and_production_protects_it(tmp_path):
    override = "  cache: {provider: upstash, eviction_policy: noeviction}\n"
    ws = upstash_workspace(tmp_path, override=override, stack="production")
    inv = synth(ws, "scale", "production")
    (db,) = inv.of_type(DATABASE)
    assert db.inputs["primaryRegion"] == "us-east-1"
    assert db.inputs["readRegions"] == ["eu-west-1"]
    assert db.inputs["eviction"] is False
    assert db.protect and db.retain_on_delete
    assert set(env_vars(inv)) >= {"REDIS_URL"}
    assert not [k for k in env_vars(inv) if k.startswith("REDIS_URL_")]


def test_redis_url_is_rediss_with_the_databases_password(tmp_path, monkeypatch):
    from floyo_scale.infra import upstash

    urls: list[str] = []
    real = upstash.UpstashCache.__init__

    def recording(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.url.apply(urls.append)

    monkeypatch.setattr(upstash.UpstashCache, "__init__", recording)
    synth(upstash_workspace(tmp_path), "growth")
    assert urls == ["rediss://default:mock-password@floyo-dev-cache.upstash.io:6379"]


def test_the_api_key_never_reaches_the_inventory(tmp_path):
    marker = "CANARY-upstash-5d1e"
    inv = synth(upstash_workspace(tmp_path), "growth", secrets={"UPSTASH_API_KEY": marker})
    assert marker not in repr(inv)
    assert "mock-password" not in repr(inv)


def test_no_plan_output_contains_the_api_key(cli, tmp_path, monkeypatch):
    upstash_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    marker = "canary-upstash-b7e1d2"
    monkeypatch.setenv("UPSTASH_API_KEY", marker)
    for fmt in ("table", "json", "markdown"):
        result = cli("plan", "--phase", "growth", "--format", fmt)
        assert result.code == 0, result.err
        assert marker not in result.out and marker not in result.err
        assert "mock-password" not in result.out


def test_plan_does_not_warn_that_vercel_cannot_reach_an_upstash_cache(cli, tmp_path, monkeypatch):
    upstash_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    data = json.loads(cli("plan", "--phase", "growth", "--format", "json").out)
    assert not any("REDIS_URL" in w for w in data["warnings"]) and data["unreachable"] == []
    lines = [x for x in data["cost"]["lines"] if x["type"] == DATABASE]
    # growth: 0.5 GB, 2M-50M commands, 2-50 GB: Fixed 1GB ($20) beats pay as you go ($4-$100)
    assert [(x["item"], x["low"], x["high"]) for x in lines] == [("fixed_1gb plan", 20.0, 20.0)]


def test_the_api_key_is_needed_only_when_the_phase_uses_upstash(tmp_path):
    ws = upstash_workspace(tmp_path, override="")  # Upstash is the phases' default cache
    assert "UPSTASH_API_KEY" in engine.secret_refs(load_stack(ws, "dev", "growth"))
    # at a phase without a cache the settings stay, and the key is not asked for
    assert "UPSTASH_API_KEY" not in engine.secret_refs(load_stack(ws, "dev", "startup"))


# -- spec rules --------------------------------------------------------------------------------


def issues(ws: Workspace, phase: str, stack: str = "dev") -> list[tuple[str, str, str | None]]:
    with pytest.raises(SpecError) as caught:
        load_stack(ws, stack, phase)
    return [(i.path, i.message, i.hint) for i in caught.value.issues]


def test_upstash_needs_the_stacks_upstash_settings(tmp_path):
    ((path, message, hint),) = issues(upstash_workspace(tmp_path, settings=""), "growth")
    assert path == "upstash"
    assert "cache.provider: upstash" in message and "no upstash settings" in message
    assert hint and "${env:UPSTASH_API_KEY}" in hint


def test_upstash_needs_a_region_upstash_has(tmp_path):
    override = OVERRIDE + "  regions: {primary: eu-west-2}\n"
    ((path, message, hint),) = issues(upstash_workspace(tmp_path, override=override), "growth")
    assert path == "regions.primary"
    assert "Upstash Redis has no region 'eu-west-2'" in message
    assert hint and "eu-west-1" in hint and "cache.provider: elasticache" in hint


def test_upstash_read_regions_must_be_upstash_regions(tmp_path):
    override = OVERRIDE + "  regions: {secondaries: [ap-northeast-1]}\n"
    ((path, message, _),) = issues(upstash_workspace(tmp_path, override=override), "scale")
    assert path == "regions.secondaries.0"
    assert "read region" in message and "'ap-northeast-1'" in message


def test_the_api_key_is_a_reference_never_a_literal(tmp_path):
    settings = UPSTASH_SETTINGS.replace("${env:UPSTASH_API_KEY}", "abcd-1234-literal")
    found = issues(upstash_workspace(tmp_path, settings=settings), "growth")
    assert [(p, h) for p, _, h in found] == [("upstash.api_key", found[0][2])]
    assert "secrets are never written in a spec" in found[0][1]
    assert found[0][1].startswith("got a literal value: ")  # the value is never shown
    assert "${env:UPSTASH_API_KEY}" in found[0][2]
    assert "abcd-1234-literal" not in repr(found)


def test_elasticache_without_secure_compute_is_an_invalid_spec(tmp_path):
    override = "  cache: {provider: elasticache, node_type: cache.t4g.micro}\n"
    ((path, message, hint),) = issues(upstash_workspace(tmp_path, override=override), "growth")
    assert path == "cache.provider" and "Secure Compute" in message
    assert hint and "cache.provider: upstash" in hint and "web.secure_compute" in hint


# -- the plugin ----------------------------------------------------------------------------------


def test_setup_installs_the_upstash_plugin_at_the_sdks_version():
    from importlib import metadata

    plugins = {p.name: p for p in engine.required_plugins()}
    upstash = plugins["upstash"]
    assert upstash.package == "upstash_pulumi"
    assert upstash.version == metadata.version("upstash_pulumi")  # the file has no version
    assert upstash.server == "github://api.github.com/upstash/pulumi-upstash"


def test_phases_shows_an_upstash_cache(cli, tmp_path, monkeypatch):
    copy_workspace(tmp_path)
    growth = tmp_path / "phases" / "growth.yaml"
    growth.write_text(growth.read_text().replace("  engine: redis\n", "  provider: upstash\n"))
    monkeypatch.chdir(tmp_path)
    data = json.loads(cli("phases", "--format", "json").out)
    caches = {p["name"]: p["cache"] for p in data}
    assert caches["growth"] == {"provider": "upstash", "node_type": None, "replicas": 0}
    assert caches["scale"]["provider"] == "upstash"  # inherited: scale extends growth
    assert caches["startup"] is None
    table = cli("phases")
    assert table.code == 0 and "upstash" in table.out


# -- the plan change: the request shape against a server built from Upstash's OpenAPI --------

CONTRACT = Path(__file__).parent / "contracts" / "upstash-developer-api.change-plan.openapi.json"


class _ContractServer:
    """A loopback server that answers only what the contract describes: each path template
    under the `servers` base path, its method, basic auth when the operation asks for it, and
    a JSON body valid against the operation's request schema. Anything else: 404, 405, 401 or
    400. Every request is kept (method, path, body, authorization)."""

    def __init__(self, contract: dict) -> None:
        import http.server
        import threading
        from urllib.parse import urlsplit

        import jsonschema

        base = urlsplit(contract["servers"][0]["url"]).path.rstrip("/")  # /v2
        schemas = contract["components"]["schemas"]
        routes = []
        for template, operations in contract["paths"].items():
            pattern = re.escape(base + template).replace(r"\{id\}", "(?P<id>[^/]+)")
            routes.append((re.compile(pattern + "$"), operations))
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                server.requests.append(
                    {
                        "path": self.path,
                        "body": raw.decode(),
                        "authorization": self.headers.get("Authorization"),
                    }
                )
                found = next((ops for pattern, ops in routes if pattern.match(self.path)), None)
                if found is None:
                    return self._answer(404, {"error": "no such path in the contract"})
                operation = found.get("post")
                if operation is None:
                    return self._answer(405, {"error": "method not in the contract"})
                if operation.get("security") and not str(
                    self.headers.get("Authorization")
                ).startswith("Basic "):
                    return self._answer(401, {"error": "basic auth required"})
                content = operation["requestBody"]["content"]["application/json"]["schema"]
                schema = schemas[content["$ref"].rsplit("/", 1)[-1]]
                try:
                    jsonschema.validate(json.loads(raw), schema)
                except (ValueError, jsonschema.ValidationError) as exc:
                    return self._answer(400, {"error": str(exc).splitlines()[0]})
                return self._answer(200, "OK")

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def upstash_api():
    server = _ContractServer(json.loads(CONTRACT.read_text()))
    yield server
    server.close()


def test_the_plan_change_is_the_request_upstashs_openapi_describes(upstash_api):
    """POST /v2/redis/{id}/change-plan with a ChangePlanRequest body and basic auth: the
    current published reference (upstash/docs openapi.yml; see tests/contracts/README.md)."""
    import base64

    from floyo_scale.infra import upstash_plan

    answer = upstash_plan.change_plan(
        upstash_api.url, "ops@floyo.app", "key-7f3a", "db-123", "fixed_1gb"
    )
    assert answer == {"response": "OK"}
    (request,) = upstash_api.requests
    assert request["path"] == "/v2/redis/db-123/change-plan"
    assert json.loads(request["body"]) == {"plan_name": "fixed_1gb", "auto_upgrade": False}
    token = base64.b64encode(b"ops@floyo.app:key-7f3a").decode()
    assert request["authorization"] == f"Basic {token}"


def test_the_plan_names_are_the_contracts_and_the_old_path_is_not_in_it(upstash_api):
    import urllib.request

    from floyo_scale.catalog import facts
    from floyo_scale.infra import upstash_plan

    contract = json.loads(CONTRACT.read_text())
    enum = contract["components"]["schemas"]["ChangePlanRequest"]["properties"]["plan_name"]
    assert tuple(enum["enum"]) == facts.UPSTASH_PLAN_NAMES
    with pytest.raises(upstash_plan.UpstashApiError, match="unknown Upstash plan"):
        upstash_plan.change_plan(upstash_api.url, "ops@floyo.app", "k", "db-1", "fixed-1gb")
    # what the program sent before (the path of older pages): not what the spec describes
    old = urllib.request.Request(
        f"{upstash_api.url}/v2/redis/change-plan/db-1",
        data=json.dumps({"plan_name": "fixed_1gb", "auto_upgrade": False}).encode(),
        method="POST",
        headers={"Authorization": "Basic eDp5", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(old, timeout=5)
    assert refused.value.code == 404
    # and the Upstash CLI's body ({"plan": ...}) lacks the required plan_name
    ours = upstash_plan.change_plan_request("a@b.c", "k", "db-1", "payg")
    assert (ours.method, ours.path, ours.body) == (
        "POST",
        "/v2/redis/db-1/change-plan",
        {"plan_name": "payg", "auto_upgrade": False},
    )
    cli_body = urllib.request.Request(
        f"{upstash_api.url}{ours.path}",
        data=json.dumps({"plan": "payg"}).encode(),
        method=ours.method,
        headers={**ours.headers, "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(cli_body, timeout=5)
    assert bad.value.code == 400
