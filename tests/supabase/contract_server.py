"""A fake Supabase Management API on loopback that holds every request to the contract.

Every request is checked against the published OpenAPI contract, kept in the repository as test
data (`tests/contracts/supabase-management-api.openapi.json`; its source and commit are in
`tests/contracts/README.md`), with openapi-core: method, path, path parameters, query (no
undeclared keys either), JSON body and its content type, and the bearer token's presence. A
request the contract would reject is answered 400 (404 for an unknown path or method) and
recorded in `violations`, which the `server` fixture turns into a test failure. Every 2xx
answer the fake gives is checked against the contract's response schema too, so the fake cannot
drift from the real API's shapes either.

It keeps projects, addons, read replicas, pooler settings and disks in memory, moves projects
COMING_UP -> ACTIVE_HEALTHY (and RESIZING -> ACTIVE_HEALTHY) after a number of polls, and can
inject: 429 with X-RateLimit-Reset, 5xx and dropped connections (before or after the request
was carried out: the answer lost), 401/403/404, redirects, slow answers, slow provisioning,
failed provisioning and a pooler listing that lacks the primary for a while.

Disks: each project starts with an 8 GB gp3 disk at the 3,000 IOPS / 125 MiB/s baseline. The
contract documents no 4xx answer for `POST .../config/disk` (only 201, 401, 403, 429, 500),
so a refusal is answered the way other refusals are: 400 with a `message`. Refused are a
smaller size_gb (a disk cannot shrink), any change on the Free plan, a change while the
project is not ACTIVE_HEALTHY, and (with `disk_cooldown`) a second change within 6 hours.

One change to the contract on loading: `discriminator` objects without a `mapping` are
dropped. The contract puts them on inline `oneOf` members (region_selection), where
openapi-core would look for `#/components/schemas/<value>` and reject every valid body; the
`oneOf` alone still accepts exactly the bodies the contract describes.
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = (
    REPO_ROOT / "tests" / "contracts" / "supabase-management-api.openapi.json"
).resolve()

TOKEN = "sbp_" + "a1b2c3d4e5" * 4  # what a personal access token looks like


class FakeClock:
    """`sleep` advances `monotonic`; nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


TRANSITIONAL = {"COMING_UP", "RESIZING", "RESTARTING", "UPGRADING", "RESTORING", "UNKNOWN"}


# --------------------------------------------------------------------------- the contract


class Contract:
    """The OpenAPI document and an openapi-core validator over it."""

    def __init__(self, path: Path = CONTRACT_PATH) -> None:
        from openapi_core import Config as OpenAPIConfig
        from openapi_core import OpenAPI

        self.path = path
        self.spec: dict[str, Any] = json.loads(path.read_text())
        _drop_unmapped_discriminators(self.spec)
        # The document is not strictly valid OpenAPI 3.0 (e.g. a `hideDefinitions` key in a
        # schema), so openapi-core's check of the document itself is off; requests and
        # responses are still validated against it.
        self.api = OpenAPI.from_dict(self.spec, config=OpenAPIConfig(spec_validator_cls=None))
        self._templates = [
            (template, _template_regex(template), template.count("{"))
            for template in self.spec["paths"]
        ]

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The contract's path template for `path` (literal segments win over parameters)."""
        found = [
            (params, template, m.groupdict())
            for template, regex, params in self._templates
            if (m := regex.fullmatch(path))
        ]
        if not found:
            return None
        _, template, values = min(found, key=lambda item: item[0])
        return template, {k: urllib.parse.unquote(v) for k, v in values.items()}

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        return self.spec["paths"][template].get(method.lower())

    def check_request(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> list[str]:
        """Every way this request breaks the contract (empty when it is valid)."""
        from openapi_core.testing import MockRequest

        matched = self.match(path)
        if matched is None:
            return [f"{method} {path}: no such path in the contract"]
        template, _ = matched
        operation = self.operation(method, template)
        if operation is None:
            return [f"{method} {path}: the contract has no {method} on {template}"]
        problems = []
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for key in sorted(set(query) - declared):
            problems.append(f"{method} {template}: undeclared query parameter {key!r}")
        if operation.get("security") and not headers.get("authorization", "").startswith("Bearer "):
            problems.append(f"{method} {template}: no `Authorization: Bearer` header")
        content_type = headers.get("content-type", "application/json").split(";")[0]
        request = MockRequest(
            "http://127.0.0.1",
            method.lower(),
            path,
            args=query,
            headers=headers,
            data=body,
            content_type=content_type,
        )
        result = self.api.unmarshal_request(request)
        problems.extend(f"{method} {template}: {_explain(e)}" for e in result.errors)
        return problems

    def check_response(
        self, method: str, path: str, status: int, body: bytes, content_type: str
    ) -> list[str]:
        from openapi_core.testing import MockRequest, MockResponse

        request = MockRequest("http://127.0.0.1", method.lower(), path)
        response = MockResponse(body, status_code=status, content_type=content_type)
        result = self.api.unmarshal_response(request, response)
        return [f"answer to {method} {path} ({status}): {_explain(e)}" for e in result.errors]


def _drop_unmapped_discriminators(node: Any) -> None:
    if isinstance(node, dict):
        disc = node.get("discriminator")
        if isinstance(disc, dict) and "mapping" not in disc:
            del node["discriminator"]
        for value in node.values():
            _drop_unmapped_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _drop_unmapped_discriminators(value)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex)


def _explain(error: Exception) -> str:
    text = repr(error)
    cause = error.__cause__
    if cause is not None:
        details = getattr(cause, "schema_errors", None)
        if details:
            text += ": " + "; ".join(getattr(d, "message", str(d)) for d in details)
        else:
            text += f": {cause!r}"
    return text


# --------------------------------------------------------------------------- records, faults


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # None: the connection was dropped
    template: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """An injected misbehaviour, used for the next `times` matching requests."""

    kind: str  # "status" | "status_after" | "drop" | "drop_after" | "delay" | "redirect"
    times: int = 1
    method: str | None = None
    path: str | None = None  # regular expression, full match against the path
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected failure"
    seconds: float = 0.0
    location: str = ""  # "redirect": where to

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0:
            return False
        if self.method and self.method != method:
            return False
        return not (self.path and not re.fullmatch(self.path, path))


@dataclass
class FakeProject:
    ref: str
    name: str
    organization_slug: str
    region: str
    instance_size: str
    db_pass: str
    status: str = "COMING_UP"
    polls_left: int = 0
    settles_to: str = "ACTIVE_HEALTHY"
    previous_size: str = "micro"
    addons: dict[str, str] = field(default_factory=dict)  # type -> variant (not compute)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    pool_mode: str = "transaction"
    default_pool_size: int | None = 15
    disk: dict[str, Any] = field(
        default_factory=lambda: {"type": "gp3", "size_gb": 8, "iops": 3000, "throughput_mibps": 125}
    )
    disk_modified_at: str | None = None
    disk_used_bytes: int = 1_500_000_000
    created_at: str = "2026-06-01T12:00:00.000Z"
    pooler_hidden: int = 0  # pooler listings still without the PRIMARY entry
    # `database/query/read-only` runs its SQL on this real PostgreSQL database, read-only
    # (None: the fake answers 500, as the API does when a query fails)
    database_url: str | None = None
    api_requests: int = 0
    # the advisors' lints, by kind ("performance", "security"): what the test puts there
    advisors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


PRICES = {
    "micro": 0.01344,
    "small": 0.0206,
    "medium": 0.0822,
    "large": 0.1517,
    "xlarge": 0.2877,
    "2xlarge": 0.562,
    "4xlarge": 1.32,
    "8xlarge": 2.562,
    "12xlarge": 3.836,
    "16xlarge": 5.12,
}
OTHER_ADDONS = {
    "pitr": ("Point in time recovery", ["pitr_7", "pitr_14", "pitr_28"]),
    "custom_domain": ("Custom domain", ["cd_default"]),
    "ipv4": ("Dedicated IPv4 address", ["ipv4_default"]),
}


# --------------------------------------------------------------------------- the server


class ContractServer:
    """The fake API. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        contract: Contract,
        *,
        tokens: set[str] | None = None,
        port: int = 0,
        seed: int = 7,
    ) -> None:
        self.contract = contract
        self.tokens = set(tokens or ())
        self.organizations: dict[str, str] = {}  # slug -> plan (None: plan not reported)
        self.projects: dict[str, FakeProject] = {}
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        # How many GETs of a project it stays COMING_UP (or RESIZING), and how many pooler
        # listings a replica takes to appear or to go.
        self.provisioning_polls = 2
        self.resize_polls = 2
        self.replica_polls = 2
        # How many GETs of a project it stays RESIZING after a disk change (0: it stays
        # ACTIVE_HEALTHY), and whether a second disk change within 6 hours is refused.
        self.disk_resize_polls = 2
        self.disk_cooldown = False
        # How many pooler listings of a new project lack its PRIMARY entry once it is healthy.
        self.pooler_lag = 0
        self._fail_next_project: str | None = None
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ContractServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ContractServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- set-up and injection

    def add_organization(self, slug: str, plan: str | None = "pro") -> None:
        self.organizations[slug] = plan

    def add_project(self, *, organization_slug: str, region: str = "us-east-1", **kw: Any) -> str:
        """A project that already exists and is healthy; returns its ref."""
        ref = self._new_ref()
        self.projects[ref] = FakeProject(
            ref=ref,
            name=kw.pop("name", "existing"),
            organization_slug=organization_slug,
            region=region,
            instance_size=kw.pop("instance_size", "small"),
            db_pass=kw.pop("db_pass", "x" * 16),
            status="ACTIVE_HEALTHY",
            **kw,
        )
        return ref

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def rate_limit(self, times: int = 1, reset: int = 3, **match: Any) -> Fault:
        headers = {"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "0"}
        headers["X-RateLimit-Reset"] = str(reset)
        return self.inject(
            Fault(
                "status", times, status=429, headers=headers, message="Too many requests", **match
            )
        )

    def fail(
        self,
        status: int = 500,
        times: int = 1,
        message: str = "boom",
        *,
        after_processing: bool = False,
        **match: Any,
    ) -> Fault:
        """Answer `status`; with `after_processing`, only after carrying the request out."""
        kind = "status_after" if after_processing else "status"
        return self.inject(Fault(kind, times, status=status, message=message, **match))

    def redirect(self, location: str, status: int = 307, times: int = 1, **match: Any) -> Fault:
        """Answer with a redirect to `location` (another host, in the tests)."""
        return self.inject(Fault("redirect", times, status=status, location=location, **match))

    def drop(self, times: int = 1, *, after_processing: bool = False, **match: Any) -> Fault:
        return self.inject(Fault("drop_after" if after_processing else "drop", times, **match))

    def delay(self, seconds: float, times: int = 1, **match: Any) -> Fault:
        return self.inject(Fault("delay", times, seconds=seconds, **match))

    def fail_next_project(self, status: str = "INIT_FAILED") -> None:
        """The next project created ends in `status` instead of ACTIVE_HEALTHY."""
        self._fail_next_project = status

    def calls(
        self, method: str | None = None, template: str | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (template is None or r.template == template)
        ]

    # ----------------------------------------------------------------- request handling

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
        """Returns (status, headers, body) or the string "drop"."""
        split = urllib.parse.urlsplit(raw_path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        record = RecordedRequest(method, path, query, headers, body)
        with self._lock:
            self.requests.append(record)
        matched = self.contract.match(path)
        record.template = matched[0] if matched else None

        problems = self.contract.check_request(method, path, query, headers, body)
        if problems:
            with self._lock:
                self.violations.extend(problems)
            unknown = matched is None or self.contract.operation(method, matched[0]) is None
            return self._answer(record, 404 if unknown else 400, {"message": "; ".join(problems)})

        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "drop":
            return "drop"
        if fault is not None and fault.kind == "status":
            return self._answer(record, fault.status, {"message": fault.message}, fault.headers)
        if fault is not None and fault.kind == "redirect":
            return self._answer(record, fault.status, None, {"Location": fault.location})

        token = headers.get("authorization", "").removeprefix("Bearer ")
        if self.tokens and token not in self.tokens:
            return self._answer(record, 401, {"message": "Unauthorized"})

        template, params = matched  # type: ignore[misc]
        handler = _ROUTES.get((method, template))
        if handler is None:
            with self._lock:
                self.violations.append(f"{method} {template}: in the contract, not in the fake")
            return self._answer(record, 501, {"message": "not implemented by the fake"})
        with self._lock:
            status, payload = handler(self, params, record.json)
        if fault is not None and fault.kind == "drop_after":
            record.status = None
            return "drop"
        if fault is not None and fault.kind == "status_after":
            return self._answer(record, fault.status, {"message": fault.message}, fault.headers)
        return self._answer(record, status, payload)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _answer(
        self,
        record: RecordedRequest,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        body = b"" if payload is None else json.dumps(payload).encode()
        if 200 <= status < 300 and record.template is not None:
            problems = self.contract.check_response(
                record.method, record.path, status, body, "application/json"
            )
            with self._lock:
                self.violations.extend(f"fake answered off-contract: {p}" for p in problems)
        record.status = status
        return status, dict(headers or {}), body

    # ----------------------------------------------------------------- state helpers

    def _new_ref(self) -> str:
        return "".join(self._rng.choice(string.ascii_lowercase) for _ in range(20))

    def _tick(self, project: FakeProject) -> None:
        """One poll of a project's status moves provisioning and resizing along."""
        if project.status in TRANSITIONAL:
            if project.polls_left > 0:
                project.polls_left -= 1
            else:
                project.status = project.settles_to
                project.settles_to = "ACTIVE_HEALTHY"

    def _tick_replicas(self, project: FakeProject) -> None:
        for replica in list(project.replicas):
            if replica["polls_left"] > 0:
                replica["polls_left"] -= 1
            elif replica["state"] == "coming":
                replica["state"] = "ready"
            elif replica["state"] == "going":
                project.replicas.remove(replica)


def _project_route(handler: Any) -> Any:
    """A route on /v1/projects/{ref}/...: 404 for an unknown ref, else handler(s, project, ...)."""

    def route(s: ContractServer, params: dict[str, str], body: Any) -> Any:
        project = s.projects.get(params["ref"])
        if project is None:
            return _not_found(f"project {params['ref']}")
        return handler(s, project, params, body)

    return route


def _not_found(what: str) -> tuple[int, dict[str, str]]:
    return 404, {"message": f"{what} not found"}


def _project_body(p: FakeProject, *, with_database: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": p.ref,
        "ref": p.ref,
        "organization_id": p.organization_slug,
        "organization_slug": p.organization_slug,
        "name": p.name,
        "region": p.region,
        "created_at": p.created_at,
        "status": p.status,
    }
    if with_database:
        body["database"] = {
            "host": f"db.{p.ref}.supabase.co",
            "version": "17.4.1.054",
            "postgres_engine": "17",
            "release_channel": "ga",
        }
    return body


def _pooler_entry(p: FakeProject, identifier: str, kind: str, region: str) -> dict[str, Any]:
    user = f"postgres.{p.ref}"
    host = f"aws-0-{region}.pooler.supabase.com"
    conn = f"postgresql://{user}:[YOUR-PASSWORD]@{host}:6543/postgres"
    return {
        "identifier": identifier,
        "database_type": kind,
        "is_using_scram_auth": True,
        "db_user": user,
        "db_host": host,
        "db_port": 6543,
        "db_name": "postgres",
        "connection_string": conn,
        "connectionString": conn,
        "default_pool_size": p.default_pool_size,
        "max_client_conn": 200,
        "pool_mode": p.pool_mode,
    }


def _price(amount: float, interval: str = "hourly") -> dict[str, Any]:
    return {
        "description": f"${amount}/{interval}",
        "type": "fixed",
        "interval": interval,
        "amount": amount,
    }


# --------------------------------------------------------------------------- routes


def _get_organization(s: ContractServer, params: dict[str, str], _body: Any) -> Any:
    slug = params["slug"]
    if slug not in s.organizations:
        return _not_found(f"organization {slug}")
    answer: dict[str, Any] = {
        "id": slug,
        "name": slug.title(),
        "opt_in_tags": [],
        "allowed_release_channels": ["ga"],
    }
    if s.organizations[slug] is not None:
        answer["plan"] = s.organizations[slug]
    return 200, answer


def _list_projects(s: ContractServer, _params: dict[str, str], _body: Any) -> Any:
    return 200, [_project_body(p, with_database=True) for p in s.projects.values()]


def _create_project(s: ContractServer, _params: dict[str, str], body: Any) -> Any:
    slug = body["organization_slug"]
    if slug not in s.organizations:
        return 404, {"message": f"organization {slug} not found"}
    selection = body.get("region_selection") or {}
    if selection.get("type") != "specific":
        return 400, {"message": "the fake supports region_selection.type=specific only"}
    ref = s._new_ref()
    project = FakeProject(
        ref=ref,
        name=body["name"],
        organization_slug=slug,
        region=selection["code"],
        instance_size=body.get("desired_instance_size", "micro"),
        db_pass=body["db_pass"],
        polls_left=s.provisioning_polls,
        settles_to=s._fail_next_project or "ACTIVE_HEALTHY",
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        pooler_hidden=s.pooler_lag,
    )
    s._fail_next_project = None
    s.projects[ref] = project
    return 201, _project_body(project, with_database=False)


@_project_route
def _get_project(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    s._tick(project)
    return 200, _project_body(project, with_database=True)


@_project_route
def _update_project(
    s: ContractServer, project: FakeProject, params: dict[str, str], body: Any
) -> Any:
    project.name = body["name"]
    return 200, {"id": 1, "ref": project.ref, "name": project.name}


def _delete_project(s: ContractServer, params: dict[str, str], _body: Any) -> Any:
    project = s.projects.pop(params["ref"], None)
    if project is None:
        return _not_found(f"project {params['ref']}")
    return 200, {"id": 1, "ref": project.ref, "name": project.name}


@_project_route
def _update_password(
    s: ContractServer, project: FakeProject, params: dict[str, str], body: Any
) -> Any:
    project.db_pass = body["password"]
    return 200, {"message": "ok"}


@_project_route
def _list_addons(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    selected = [
        {
            "type": "compute_instance",
            "variant": {
                "id": f"ci_{project.instance_size}",
                "name": project.instance_size.title(),
                "price": _price(PRICES.get(project.instance_size, 0.0)),
            },
        }
    ]
    for addon_type, variant in sorted(project.addons.items()):
        selected.append(
            {
                "type": addon_type,
                "variant": {"id": variant, "name": variant, "price": _price(100.0, "monthly")},
            }
        )
    available = [
        {
            "type": "compute_instance",
            "name": "Compute size",
            "variants": [
                {"id": f"ci_{size}", "name": size.title(), "price": _price(price)}
                for size, price in PRICES.items()
            ],
        }
    ]
    for addon_type, (name, variants) in OTHER_ADDONS.items():
        available.append(
            {
                "type": addon_type,
                "name": name,
                "variants": [
                    {"id": v, "name": v, "price": _price(100.0, "monthly")} for v in variants
                ],
            }
        )
    return 200, {"selected_addons": selected, "available_addons": available}


@_project_route
def _apply_addon(s: ContractServer, project: FakeProject, params: dict[str, str], body: Any) -> Any:
    addon_type, variant = body["addon_type"], body["addon_variant"]
    if addon_type == "compute_instance":
        if not variant.startswith("ci_"):
            return 400, {"message": f"{variant} is not a compute_instance variant"}
        project.previous_size = project.instance_size
        project.instance_size = variant.removeprefix("ci_")
        project.status = "RESIZING"
        project.polls_left = s.resize_polls
        return 200, None
    allowed = OTHER_ADDONS.get(addon_type, ("", []))[1]
    if variant not in allowed:
        return 400, {"message": f"{variant} is not a {addon_type} variant"}
    if addon_type == "pitr" and s.organizations.get(project.organization_slug) == "free":
        return 400, {"message": "PITR is not available on the free plan"}
    project.addons[addon_type] = variant
    return 200, None


@_project_route
def _remove_addon(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    variant = params["addon_variant"]
    if variant == f"ci_{project.instance_size}":
        project.instance_size = project.previous_size
        return 200, None
    for addon_type, selected in list(project.addons.items()):
        if selected == variant:
            del project.addons[addon_type]
            return 200, None
    return 400, {"message": f"addon {variant} is not applied to this project"}


@_project_route
def _setup_replica(
    s: ContractServer, project: FakeProject, params: dict[str, str], body: Any
) -> Any:
    if s.organizations.get(project.organization_slug) == "free":
        return 400, {"message": "Read replicas are only available on the Pro plan and above"}
    if project.status != "ACTIVE_HEALTHY":
        return 400, {"message": f"project is {project.status}"}
    region = body["read_replica_region"]
    suffix = "".join(s._rng.choice(string.ascii_lowercase) for _ in range(5))
    project.replicas.append(
        {
            "identifier": f"{project.ref}-rr-{region}-{suffix}",
            "region": region,
            "state": "coming",
            "polls_left": s.replica_polls,
        }
    )
    return 201, None


@_project_route
def _remove_replica(
    s: ContractServer, project: FakeProject, params: dict[str, str], body: Any
) -> Any:
    for replica in project.replicas:
        if replica["identifier"] == body["database_identifier"] and replica["state"] == "ready":
            replica["state"] = "going"
            replica["polls_left"] = s.replica_polls
            return 201, None
    return 400, {"message": f"no read replica {body['database_identifier']}"}


@_project_route
def _get_pooler(s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any) -> Any:
    s._tick_replicas(project)
    entries = [_pooler_entry(project, project.ref, "PRIMARY", project.region)]
    if project.status == "ACTIVE_HEALTHY" and project.pooler_hidden > 0:
        project.pooler_hidden -= 1
        entries = []
    entries += [
        _pooler_entry(project, r["identifier"], "READ_REPLICA", r["region"])
        for r in project.replicas
        if r["state"] in ("ready", "going")
    ]
    return 200, entries


@_project_route
def _update_pooler(
    s: ContractServer, project: FakeProject, params: dict[str, str], body: Any
) -> Any:
    if "pool_mode" in body:
        project.pool_mode = body["pool_mode"]
    if "default_pool_size" in body:
        project.default_pool_size = body["default_pool_size"]
    return 200, {"default_pool_size": project.default_pool_size, "pool_mode": project.pool_mode}


@_project_route
def _get_disk(s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any) -> Any:
    answer: dict[str, Any] = {"attributes": dict(project.disk)}
    if project.disk_modified_at is not None:
        answer["last_modified_at"] = project.disk_modified_at
    return 200, answer


@_project_route
def _modify_disk(s: ContractServer, project: FakeProject, params: dict[str, str], body: Any) -> Any:
    attributes = dict(body["attributes"])
    current = project.disk["size_gb"]
    if s.organizations.get(project.organization_slug) == "free":
        return 400, {"message": "Disk size cannot be changed on the Free plan"}
    if project.status != "ACTIVE_HEALTHY":
        return 400, {"message": f"Cannot modify the disk while the project is {project.status}"}
    if attributes["size_gb"] < current:
        return 400, {
            "message": f"Disk size cannot be decreased: the disk is {current} GB, "
            f"{attributes['size_gb']} GB was requested"
        }
    if s.disk_cooldown and project.disk_modified_at is not None:
        return 400, {"message": "The disk can be modified only once every 6 hours"}
    if attributes["type"] == "io2":
        attributes.pop("throughput_mibps", None)
    project.disk = attributes
    project.disk_modified_at = "2026-06-01T12:30:00.000Z"
    if s.disk_resize_polls > 0:
        project.status = "RESIZING"
        project.polls_left = s.disk_resize_polls
    return 201, None


@_project_route
def _disk_util(s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any) -> Any:
    size = project.disk["size_gb"] * 1_000_000_000
    used = min(project.disk_used_bytes, size)
    return 200, {
        "timestamp": "2026-06-01T12:00:00.000Z",
        "metrics": {"fs_size_bytes": size, "fs_avail_bytes": size - used, "fs_used_bytes": used},
    }


@_project_route
def _disk_autoscale(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    return 200, {"growth_percent": 50, "min_increment_gb": 4, "max_size_gb": 60_000}


@_project_route
def _read_only_query(
    s: ContractServer, project: FakeProject, params: dict[str, str], body: Any
) -> Any:
    """Runs the query in a READ ONLY transaction on the project's real database, as
    `supabase_read_only_user` would; the rows as a JSON array of objects."""
    import psycopg
    from psycopg.rows import dict_row

    if project.database_url is None:
        return 500, {"message": "Failed to run read-only sql query: no database"}
    try:
        with psycopg.connect(project.database_url, row_factory=dict_row) as conn:
            conn.read_only = True
            rows = conn.execute(body["query"], body.get("parameters") or None).fetchall()
    except psycopg.Error as exc:
        return 400, {"message": str(exc).strip()}
    return 201, json.loads(json.dumps(rows, default=str))


@_project_route
def _api_requests_count(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    return 200, {"result": [{"count": project.api_requests}]}


@_project_route
def _performance_advisors(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    return 200, {"lints": project.advisors.get("performance", [])}


@_project_route
def _security_advisors(
    s: ContractServer, project: FakeProject, params: dict[str, str], _body: Any
) -> Any:
    return 200, {"lints": project.advisors.get("security", [])}


_ROUTES = {
    ("GET", "/v1/projects/{ref}/advisors/performance"): _performance_advisors,
    ("GET", "/v1/projects/{ref}/advisors/security"): _security_advisors,
    ("POST", "/v1/projects/{ref}/database/query/read-only"): _read_only_query,
    ("GET", "/v1/projects/{ref}/analytics/endpoints/usage.api-requests-count"): (
        _api_requests_count
    ),
    ("GET", "/v1/organizations/{slug}"): _get_organization,
    ("GET", "/v1/projects"): _list_projects,
    ("POST", "/v1/projects"): _create_project,
    ("GET", "/v1/projects/{ref}"): _get_project,
    ("PATCH", "/v1/projects/{ref}"): _update_project,
    ("DELETE", "/v1/projects/{ref}"): _delete_project,
    ("PATCH", "/v1/projects/{ref}/database/password"): _update_password,
    ("GET", "/v1/projects/{ref}/billing/addons"): _list_addons,
    ("PATCH", "/v1/projects/{ref}/billing/addons"): _apply_addon,
    ("DELETE", "/v1/projects/{ref}/billing/addons/{addon_variant}"): _remove_addon,
    ("POST", "/v1/projects/{ref}/read-replicas/setup"): _setup_replica,
    ("POST", "/v1/projects/{ref}/read-replicas/remove"): _remove_replica,
    ("GET", "/v1/projects/{ref}/config/database/pooler"): _get_pooler,
    ("PATCH", "/v1/projects/{ref}/config/database/pooler"): _update_pooler,
    ("GET", "/v1/projects/{ref}/config/disk"): _get_disk,
    ("POST", "/v1/projects/{ref}/config/disk"): _modify_disk,
    ("GET", "/v1/projects/{ref}/config/disk/util"): _disk_util,
    ("GET", "/v1/projects/{ref}/config/disk/autoscale"): _disk_autoscale,
}


def _handler_for(server: ContractServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            result = server.handle(self.command, self.path, headers, body)
            if result == "drop":
                # Close without a status line: the client sees the connection go.
                self.close_connection = True
                return
            status, extra, payload = result
            try:
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (an injected delay): that is its business

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

    return Handler
