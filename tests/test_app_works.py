"""Every phase builds an app that works (issue 9): a cache the app reaches, buckets it can
use through Vercel's OIDC federation, alerts on the seed's thresholds, an AWS Budget that can
fire; and the reachability guardrail that `plan` lists, `diff` shows and `up` refuses."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from conftest import copy_workspace

from floyo_scale.errors import SpecError
from floyo_scale.infra.upstash_plan import PlanProvider, UpstashApiError
from floyo_scale.infra.web import limits
from floyo_scale.offline.graph import graph_model
from floyo_scale.offline.inventory import SECRET, Inventory, Resource
from floyo_scale.offline.reach import reachable_targets, unreachable
from floyo_scale.offline.synth import synthesize
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
ALERT = "sentry:index/sentryMetricAlert:SentryMetricAlert"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
SECURE_COMPUTE = """
  web:
    secure_compute:
      network_id: scn_floyo
      cidr: 10.200.0.0/16
      peering_connections:
        us-east-1: pcx-0a1b2c3d4e5f60718
        eu-west-1: pcx-0a1b2c3d4e5f60719
        ap-southeast-1: pcx-0a1b2c3d4e5f6071a
"""
ELASTICACHE = """
  cache:
    provider: elasticache
    node_type: cache.r7g.large
    global_datastore: true
"""


def one(inv: Inventory, type_: str, name: str) -> Resource:
    (found,) = [r for r in inv.resources if r.type == type_ and r.name == name]
    return found


def synth(stack: str, phase: str | None, root: Path = REPO) -> Inventory:
    return synthesize(load_stack(Workspace(root), stack, phase))


def with_overrides(root: Path, text: str, stack: str = "dev") -> Workspace:
    copy_workspace(root)
    path = root / "stacks" / f"{stack}.yaml"
    body = path.read_text()
    if "\noverrides:\n" in body:
        body = body.replace("\noverrides:\n", "\noverrides:" + text, 1)
    else:
        body += "\noverrides:" + text
    path.write_text(body)
    return Workspace(root)


# -- every phase and stack: nothing unreachable, the OIDC role present ----------------------


def test_every_phase_and_stack_reaches_all_it_is_wired_to_and_has_the_oidc_role():
    for stack in ("dev", "staging", "production"):
        for phase in ("startup", "growth", "scale", "enterprise"):
            try:
                inv = synth(stack, phase)
            except SpecError:  # production's point-in-time recovery needs more than startup
                assert (stack, phase) == ("production", "startup")
                continue
            assert unreachable(inv) == [], (stack, phase)
            wired = {w["variable"] for w in one(inv, "floyo:web:Web", "web").inputs["wiring"]}
            assert {"DATABASE_URL", "S3_BUCKET_UPLOADS"} <= wired
            assert one(inv, ROLE, "app") and one(inv, POLICY, "app-buckets")
            assert one(inv, OIDC, "vercel-oidc")
            assert not inv.of_type(CACHE)  # the default cache is Upstash


# -- Vercel OIDC federation -----------------------------------------------------------------


def test_the_trust_policy_admits_only_this_projects_tokens_for_its_environments():
    inv = synth("production", None)
    oidc = one(inv, OIDC, "vercel-oidc")
    assert oidc.inputs["url"] == "https://oidc.vercel.com/floyo"
    assert oidc.inputs["clientIdLists"] == ["https://vercel.com/floyo"]
    role = one(inv, ROLE, "app")
    assert role.inputs["name"] == "floyo-production-app"
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:mock:::openidconnectprovider/vercel-oidc"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "oidc.vercel.com/floyo:aud": "https://vercel.com/floyo",
                        # production's role: production deployments only (issue 18)
                        "oidc.vercel.com/floyo:sub": [
                            "owner:floyo:project:floyo:environment:production",
                        ],
                    }
                },
            }
        ],
    }
    # the staging stack's role admits the staging project, and production's previews
    staging = json.loads(one(synth("staging", None), ROLE, "app").inputs["assumeRolePolicy"])
    subjects = staging["Statement"][0]["Condition"]["StringEquals"]["oidc.vercel.com/floyo:sub"]
    assert subjects == [
        "owner:floyo:project:floyo-staging:environment:production",
        "owner:floyo:project:floyo-staging:environment:preview",
        "owner:floyo:project:floyo:environment:preview",
    ]


def test_the_role_may_use_this_stacks_buckets_only_with_the_actions_the_app_needs():
    inv = synth("production", None)
    policy = one(inv, POLICY, "app-buckets")
    assert policy.inputs["role"] == "app-id"
    document = json.loads(policy.inputs["policy"])
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadWriteObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": ["arn:aws:s3:::floyo-production-uploads/*"],
            },
            {  # the archive is written by `floyo-scale db archive`, not by the app
                "Sid": "ReadObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::floyo-production-archive/*"],
            },
            {
                "Sid": "ListBuckets",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [
                    "arn:aws:s3:::floyo-production-archive",
                    "arn:aws:s3:::floyo-production-uploads",
                ],
            },
        ],
    }
    for statement in document["Statement"]:
        assert all("*" not in a for a in statement["Action"])
        assert all(r.startswith("arn:aws:s3:::floyo-production-") for r in statement["Resource"])


def test_the_app_gets_the_role_arn_and_the_project_issues_team_oidc_tokens():
    inv = synth("production", None)
    variables = {r.inputs["key"]: r for r in inv.of_type(ENV_VAR)}
    assert variables["AWS_ROLE_ARN"].inputs["sensitive"] is False
    assert variables["AWS_ROLE_ARN"].inputs["targets"] == ["production"]  # production only
    app = one(inv, "vercel:index/project:Project", "app")
    assert app.inputs["oidcTokenConfig"] == {"issuerMode": "team"}
    assert not [k for k in variables if k.startswith("AWS_SECRET") or k == "AWS_ACCESS_KEY_ID"]


# -- the seed's alerts ----------------------------------------------------------------------


def test_sentry_metric_alerts_on_p95_latency_and_error_rate_when_the_stack_configures_sentry():
    inv = synth("production", None)
    alerts = {r.name: r.inputs for r in inv.of_type(ALERT)}
    assert set(alerts) == {"p95-latency", "error-rate"}
    action = {"type": "email", "targetType": "team", "targetIdentifier": "mock-team-oncall"}
    common = {
        "organization": "floyo",
        "project": "floyo-web",
        # span alerts (Sentry refuses new transaction-dataset ones), transactions only, and the
        # environment in the query rather than a field Sentry would look up (issue 24)
        "dataset": "events_analytics_platform",
        "eventTypes": ["trace_item_span"],
        "query": "is_transaction:true environment:production",
        "timeWindow": 10,
        "thresholdType": 0,
    }
    assert alerts["p95-latency"] == common | {
        "name": "floyo-production: p95 latency above 1000 ms",
        "aggregate": "p95(span.duration)",
        "triggers": [
            {"label": "critical", "alertThreshold": 1000, "thresholdType": 0, "actions": [action]}
        ],
    }
    assert alerts["error-rate"] == common | {
        "name": "floyo-production: error rate above 1%",
        "aggregate": "failure_rate()",
        "triggers": [  # failure_rate() is a fraction of 1: 1% is 0.01
            {"label": "critical", "alertThreshold": 0.01, "thresholdType": 0, "actions": [action]}
        ],
    }
    provider = one(inv, "pulumi:providers:sentry", "sentry")
    assert provider.inputs["token"] == SECRET
    assert not synth("dev", "growth").of_type(ALERT)  # dev configures no Sentry


def test_floyo_limits_carry_the_limits_and_the_figure_each_alert_fires_at():
    phase = load_stack(Workspace(REPO), "dev", "growth").phase
    assert limits(phase) == {
        "database_gb": {"limit": 16, "alert_percent": 80, "alert_at": 12.8},
        "bandwidth_gb_month": {"limit": 1000, "alert_percent": 80, "alert_at": 800.0},
        "function_gb_hours_month": {"limit": 1000.0},  # growth's own (issue 19)
    }
    keys = {r.inputs["key"] for r in synth("dev", "growth").of_type(ENV_VAR)}
    assert {"FLOYO_LIMITS", "FLOYO_ALERTS"} <= keys


def test_posthog_settings_reach_the_app_and_the_estimate(tmp_path):
    copy_workspace(tmp_path)
    path = tmp_path / "stacks" / "dev.yaml"
    key = "phc_abcdefghij0123456789"
    path.write_text(path.read_text() + f"\nposthog: {{project_api_key: {key}}}\n")
    inv = synth("dev", "growth", tmp_path)
    keys = {r.inputs["key"] for r in inv.of_type(ENV_VAR)}
    assert {"NEXT_PUBLIC_POSTHOG_KEY", "NEXT_PUBLIC_POSTHOG_HOST"} <= keys
    monitoring = one(inv, "floyo:monitoring:Monitoring", "monitoring")
    assert monitoring.inputs["posthog"] == {"host": "https://us.i.posthog.com"}


# -- reachability: the guardrail ------------------------------------------------------------


def test_elasticache_without_secure_compute_is_an_invalid_spec(tmp_path):
    ws = with_overrides(
        tmp_path, "\n  cache: {provider: elasticache, node_type: cache.t4g.micro}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_stack(ws, "dev", "growth")
    (issue,) = caught.value.issues
    assert issue.path == "cache.provider" and "Secure Compute" in issue.message
    assert "cache.provider: upstash" in issue.hint and "web.secure_compute" in issue.hint


def test_up_refuses_an_unreachable_cache_offline_before_any_credential(cli, tmp_path, monkeypatch):
    """Were the spec rule bypassed, the guardrail still stands: `plan` lists REDIS_URL as
    unreachable and `up` exits 6 with no secret in the environment (it would be exit 2 had
    it got as far as reading them) and no flag to override it."""
    from floyo_scale.spec import rules

    monkeypatch.setattr(rules, "_elasticache_reach", lambda phase: iter(()))
    override = "\n  cache: {provider: elasticache, node_type: cache.t4g.micro}\n"
    with_overrides(tmp_path, override, stack="staging")  # staging runs growth, with a cache
    monkeypatch.chdir(tmp_path)
    for name in (
        "VERCEL_API_TOKEN",
        "SUPABASE_ACCESS_TOKEN",
        "UPSTASH_API_KEY",
        "SENTRY_AUTH_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    plan = json.loads(cli("plan", "--stack", "staging", "--format", "json").out)
    (problem,) = plan["unreachable"]
    assert problem.startswith("REDIS_URL -> aws:elasticache:ReplicationGroup cache-us-east-1")
    assert "Secure Compute" in problem
    assert any(w.startswith("unreachable: REDIS_URL") for w in plan["warnings"])
    up = cli("up", "--stack", "staging", "--yes", "--allow-destroy", "--allow-over-budget")
    assert up.code == 6, up.err
    assert "wires the app to 1 component it cannot reach" in up.err
    assert "REDIS_URL" in up.err and "is not set" not in up.err
    assert not (tmp_path / ".floyo").exists()  # nothing of the engine was set up


def test_secure_compute_peering_route_and_port_make_elasticache_reachable(tmp_path):
    ws = with_overrides(tmp_path, ELASTICACHE + SECURE_COMPUTE)
    inv = synthesize(load_stack(ws, "dev", "enterprise"))
    assert unreachable(inv) == []
    for region, pcx in (
        ("us-east-1", "pcx-0a1b2c3d4e5f60718"),
        ("eu-west-1", "pcx-0a1b2c3d4e5f60719"),
    ):
        name = f"cache-{region}-secure-compute"
        accepter = "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
        assert one(inv, accepter, name).inputs["vpcPeeringConnectionId"] == pcx
        assert one(inv, accepter, name).inputs["autoAccept"] is True
        route = one(inv, "aws:ec2/route:Route", name).inputs
        assert route["destinationCidrBlock"] == "10.200.0.0/16"
        assert route["routeTableId"] == f"rtb-cache-{region}"
        rule = one(inv, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name).inputs
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"], rule["cidrIpv4"]) == (
            "tcp",
            6379,
            6379,
            "10.200.0.0/16",
        )
        group = one(inv, "aws:ec2/securityGroup:SecurityGroup", f"cache-{region}").inputs
        assert "ingress" not in group  # nothing else may reach the cache
    edges = graph_model(inv).edges
    assert ("app", "cache_cache_us_east_1", "cache via Secure Compute") in edges
    # without the route the app cannot reach it, and the graph stops drawing the edge
    route_type = "aws:ec2/route:Route"
    cut = replace(
        inv,
        resources=tuple(
            r for r in inv.resources if not (r.type == route_type and "us-east-1" in r.name)
        ),
    )
    (problem,) = unreachable(cut)
    assert "in us-east-1, no route to 10.200.0.0/16" in problem
    assert f"{CACHE}::cache-us-east-1" not in reachable_targets(cut)
    assert not [e for e in graph_model(cut).edges if e[1] == "cache_cache_us_east_1"]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            ELASTICACHE + SECURE_COMPUTE.replace("10.200.0.0/16", "10.101.128.0/17"),
            "web.secure_compute.cidr",
            "overlaps the cache's VPC in eu-west-1 (10.101.0.0/16)",
        ),
        (
            ELASTICACHE
            + SECURE_COMPUTE.replace("        ap-southeast-1: pcx-0a1b2c3d4e5f6071a\n", ""),
            "web.secure_compute.peering_connections",
            "no peering connection for the cache's VPC in ap-southeast-1",
        ),
    ],
)
def test_secure_compute_must_peer_every_cache_region_without_overlap(tmp_path, text, path, message):
    with pytest.raises(SpecError) as caught:
        load_stack(with_overrides(tmp_path, text), "dev", "enterprise")
    assert [(i.path, message in i.message) for i in caught.value.issues] == [(path, True)]


def test_secure_compute_is_an_enterprise_feature(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_stack(with_overrides(tmp_path, ELASTICACHE + SECURE_COMPUTE), "dev", "growth")
    paths = {i.path for i in caught.value.issues}
    assert "web.secure_compute" in paths


# -- the Upstash plan, through the Developer API ---------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str | None, dict]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append((self.command, self.path, self.headers["Authorization"], body))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"state": "active"}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def upstash_api():
    _Recorder.calls, _Recorder.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_plan_is_set_through_the_developer_api(upstash_api):
    props = {
        "database_id": "db-123",
        "plan_name": "fixed_1gb",
        "email": "ops@floyo.app",
        "api_key": "key-456",
        "api_url": upstash_api,
    }
    result = PlanProvider().create(props)
    assert result.id == "db-123/plan"
    token = base64.b64encode(b"ops@floyo.app:key-456").decode()
    assert _Recorder.calls == [
        (
            "POST",
            "/v2/redis/db-123/change-plan",  # upstash/docs openapi.yml (issue 24)
            f"Basic {token}",
            {"plan_name": "fixed_1gb", "auto_upgrade": False},
        )
    ]
    assert PlanProvider().diff("db-123/plan", props, props | {"plan_name": "fixed_5gb"}).changes
    PlanProvider().update("db-123/plan", props, props | {"plan_name": "fixed_5gb"})
    assert _Recorder.calls[-1][3]["plan_name"] == "fixed_5gb"


def test_a_refused_plan_change_names_the_status_never_the_key(upstash_api):
    _Recorder.status = 401
    props = {
        "database_id": "db-1",
        "plan_name": "fixed_1gb",
        "email": "ops@floyo.app",
        "api_key": "canary-key-99",
        "api_url": upstash_api,
    }
    with pytest.raises(UpstashApiError) as caught:
        PlanProvider().create(props)
    assert "HTTP 401" in str(caught.value) and "canary-key-99" not in str(caught.value)
    with pytest.raises(UpstashApiError, match="unknown Upstash plan"):
        PlanProvider().create(props | {"plan_name": "fixed_2gb"})
