"""Loopback stand-ins for the usage APIs `status` reads, in the shapes their public docs and
official clients give (each shape is cited where it is answered).

- Vercel `POST /v2/observability/query`: the request as the Vercel CLI builds it
  (vercel/vercel packages/cli/src/commands/metrics/types.ts `MetricsQueryRequest`: scope
  {type: project, ownerId, projectIds}, metric, aggregation, startTime, endTime,
  granularity, groupBy?, limit?), the team as `?teamId=`/`?slug=`; the answer
  `{data, summary, statistics}` with the column `<metric, dots as underscores>_<aggregation>`
  (`getRollupColumnName`, packages/cli/src/commands/metrics/output.ts). A request without a
  required key is answered 400 and recorded in `violations`.
- Sentry `GET /api/0/organizations/{org}/events/` (Sentry API reference, "Query Discover
  Events in Table Format"): `{"data": [{field: value}], "meta": {"fields": {...}}}`.
- Upstash `GET /v2/redis/databases` and `GET /v2/redis/stats/{id}` (Upstash Developer API
  reference, "List Databases" and "Get Database Stats"), HTTP Basic.
- Cost Explorer (AWS JSON 1.1, `X-Amz-Target: AWSInsightsIndexService.<Operation>`):
  `GetCostAndUsage` -> `{"ResultsByTime": [{"TimePeriod", "Total": {"UnblendedCost":
  {"Amount": "12.34", "Unit": "USD"}}, "Groups": [], "Estimated": true}]}` and
  `GetCostForecast` -> `{"Total": {"Amount": "...", "Unit": "USD"}, "ForecastResultsByTime":
  [...]}` (AWS Cost Explorer API Reference). moto answers GetCostAndUsage (from a queue of
  canned results) but has no GetCostForecast, so both are answered here; tests/observe/
  test_aws.py also reads GetCostAndUsage from moto itself.

Every stand-in can be told to hang, to answer 401, or to answer 429 a number of times.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    """A loopback HTTP server; `route(method, path, query, headers, body) -> Answer`."""

    name: str
    route: Callable[[StandIn, Recorded], Answer]
    token: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    hang_seconds: float = 0.0
    status_fault: int | None = None
    rate_limits: int = 0  # answer 429 (Retry-After: 0) this many times first
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._lock = threading.Lock()
        self._release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandIn:
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    @property
    def holding(self) -> bool:
        """A hung request is still being held (the stand-in has not let it go)."""
        return bool(self.hang_seconds) and bool(self.requests) and not self._release.is_set()

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle(self, record: Recorded) -> Answer:
        with self._lock:
            self.requests.append(record)
        if self.hang_seconds:
            self._release.wait(self.hang_seconds)
        if self.status_fault is not None:
            return self.status_fault, {}, {"error": {"message": f"injected {self.status_fault}"}}
        if self.rate_limits > 0:
            with self._lock:
                self.rate_limits -= 1
            return 429, {"Retry-After": "0"}, {"error": {"message": "rate limited"}}
        if self.token is not None:
            auth = record.headers.get("authorization", "")
            if auth not in (f"Bearer {self.token}", f"Basic {self.token}"):
                return 401, {}, {"error": {"message": "invalid token"}}
        return self.route(self, record)


def _handler(server: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urllib.parse.urlsplit(self.path)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            record = Recorded(
                self.command,
                split.path,
                urllib.parse.parse_qs(split.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            status, headers, payload = server.handle(record)
            data = b"" if payload is None else json.dumps(payload).encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


# --------------------------------------------------------------------------- Vercel

VERCEL_REQUIRED = ("scope", "metric", "aggregation", "startTime", "endTime", "granularity")
AGGREGATIONS = {"sum", "persecond", "percent", "unique", "avg", "min", "max", "p50", "p75",
                "p90", "p95", "p99", "stddev"}  # fmt: skip
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def vercel_route(s: StandIn, r: Recorded) -> Answer:
    """`s.state["summary"][(metric, aggregation)]` -> the summary rows (a list of dicts of
    groupBy dimensions and `value`)."""
    if r.method != "POST" or r.path != "/v2/observability/query":
        return 404, {}, {"error": {"message": "not found"}}
    body = r.body if isinstance(r.body, dict) else {}
    problems = [f"missing {key}" for key in VERCEL_REQUIRED if key not in body]
    scope = body.get("scope") or {}
    if scope.get("type") != "project" or not scope.get("ownerId") or not scope.get("projectIds"):
        problems.append(f"bad scope {scope!r}")
    if body.get("aggregation") not in AGGREGATIONS:
        problems.append(f"bad aggregation {body.get('aggregation')!r}")
    for key in ("startTime", "endTime"):
        if key in body and not ISO.match(str(body[key])):
            problems.append(f"{key} is not ISO 8601 UTC: {body[key]!r}")
    if not (set(r.query) & {"teamId", "slug"}):
        problems.append("no teamId or slug query parameter")
    if problems:
        s.violations.extend(problems)
        return 400, {}, {"error": {"code": "bad_request", "message": "; ".join(problems)}}
    metric, aggregation = body["metric"], body["aggregation"]
    col = f"{metric.replace('.', '_')}_{aggregation}"
    rows = s.state.get("summary", {}).get((metric, aggregation), [])
    group_by = body.get("groupBy") or []
    summary = []
    for row in rows:
        if not group_by and len(rows) > 1:
            continue
        summary.append({**{k: row[k] for k in group_by if k in row}, col: row["value"]})
    if not group_by and len(rows) > 1:  # ungrouped: one row, the total
        summary = [{col: sum(row["value"] for row in rows)}]
    data = [{"timestamp": body["startTime"], col: row[col]} for row in summary]
    return 200, {}, {"data": data, "summary": summary, "statistics": {"rowsRead": 100}}


# --------------------------------------------------------------------------- Sentry


def sentry_route(s: StandIn, r: Recorded) -> Answer:
    m = re.fullmatch(r"/api/0/organizations/([\w-]+)/events/", r.path)
    if r.method != "GET" or not m:
        return 404, {}, {"detail": "not found"}
    fields = r.query.get("field", [])
    if not fields or "statsPeriod" not in r.query:
        s.violations.append(f"events query without field or statsPeriod: {r.query}")
        return 400, {}, {"detail": "field and statsPeriod are required"}
    values = s.state.get("values", {})
    row = {f: values.get(f) for f in fields}
    meta = {"fields": {f: "duration" if f.startswith("p95") else "percentage" for f in fields}}
    return 200, {}, {"data": [row] if values else [], "meta": meta}


# --------------------------------------------------------------------------- Upstash


def upstash_route(s: StandIn, r: Recorded) -> Answer:
    databases = s.state.get("databases", [])
    if r.path == "/v2/redis/databases":
        return 200, {}, databases
    m = re.fullmatch(r"/v2/redis/stats/([\w-]+)", r.path)
    if m:
        return 200, {}, s.state.get("stats", {}).get(m.group(1), {})
    return 404, {}, "not found"


def basic(email: str, key: str) -> str:
    return base64.b64encode(f"{email}:{key}".encode()).decode()


# --------------------------------------------------------------------------- Cost Explorer


def ce_route(s: StandIn, r: Recorded) -> Answer:
    target = r.headers.get("x-amz-target", "")
    body = r.body if isinstance(r.body, dict) else {}
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target == "AWSInsightsIndexService.GetCostAndUsage":
        period = body["TimePeriod"]
        amount = s.state.get("actual", "0")
        return (
            200,
            headers,
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": period,
                        "Total": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
                        "Groups": [],
                        "Estimated": True,
                    }
                ],
                "DimensionValueAttributes": [],
            },
        )
    if target == "AWSInsightsIndexService.GetCostForecast":
        if "forecast" not in s.state:
            return (
                400,
                headers,
                {
                    "__type": "DataUnavailableException",
                    "Message": "Insufficient amount of historical data to generate forecast.",
                },
            )
        amount = s.state["forecast"]
        return (
            200,
            headers,
            {
                "Total": {"Amount": amount, "Unit": "USD"},
                "ForecastResultsByTime": [{"TimePeriod": body["TimePeriod"], "MeanValue": amount}],
            },
        )
    s.violations.append(f"unexpected Cost Explorer operation {target!r}")
    return 400, headers, {"__type": "UnknownOperationException"}


def wait_for(predicate: Callable[[], bool], seconds: float = 2.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not predicate():
        time.sleep(0.01)
