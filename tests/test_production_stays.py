"""Production stays production (issue 18): what `plan --stack production` builds serves
production only, and nothing it creates can do more than it must.

- Vercel variables target the environments the stack serves (production: `production`
  only); production's previews get staging's variables (`vercel.previews_of`), never
  production's; the app role's OIDC trust admits the same deployments.
- Every IAM role has a permissions boundary; service roles trust their service for this
  account only (`aws:SourceAccount`); every bucket refuses requests without TLS.
- `plan` warns of any security-group ingress open to the whole internet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import copy_workspace

from floyo_scale.errors import SpecError
from floyo_scale.offline.inventory import Inventory
from floyo_scale.offline.synth import synthesize
from floyo_scale.policy import exposure_warnings
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
ROLE = "aws:iam/role:Role"
BOUNDARY = "aws:iam/policy:Policy"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
SUB = "oidc.vercel.com/floyo:sub"


def _plan_json(cli, stack: str) -> dict[str, Any]:
    result = cli("plan", "--stack", stack, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _of(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def test_production_serves_production_only(cli, workspace: Path) -> None:
    """The issue's "done": no production variable or trust for `preview`, a boundary on
    every role, SecureTransport on every bucket (from `plan --format json`)."""
    plan = _plan_json(cli, "production")
    variables = _of(plan, ENV_VAR)
    assert variables and {tuple(v["inputs"]["targets"]) for v in variables} == {("production",)}
    assert {v["inputs"]["projectId"] for v in variables} == {"app-id"}  # its own project only
    roles = _of(plan, ROLE)
    assert roles
    for role in roles:
        trust = json.loads(role["inputs"]["assumeRolePolicy"])
        text = json.dumps(trust)
        assert "preview" not in text and "development" not in text
        assert role["inputs"]["permissionsBoundary"], role["name"]
    app = next(r for r in roles if r["name"] == "app")
    condition = json.loads(app["inputs"]["assumeRolePolicy"])["Statement"][0]["Condition"]
    assert condition["StringEquals"][SUB] == ["owner:floyo:project:floyo:environment:production"]
    buckets = {b["name"] for b in _of(plan, BUCKET)}
    policies = {p["name"]: json.loads(p["inputs"]["policy"]) for p in _of(plan, BUCKET_POLICY)}
    assert buckets and set(policies) == buckets
    # one document per bucket: a second BucketPolicy would overwrite the first in S3
    assert len(_of(plan, BUCKET_POLICY)) == len(buckets)
    for name, policy in policies.items():
        deny = policy["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        physical = f"arn:aws:s3:::floyo-production-{name}"
        assert deny["Resource"] == [physical, f"{physical}/*"]


def test_staging_serves_productions_previews(cli, workspace: Path) -> None:
    plan = _plan_json(cli, "staging")
    by_project: dict[str, set[tuple[str, ...]]] = {}
    keys: dict[str, set[str]] = {}
    for v in _of(plan, ENV_VAR):
        by_project.setdefault(v["inputs"]["projectId"], set()).add(tuple(v["inputs"]["targets"]))
        keys.setdefault(v["inputs"]["projectId"], set()).add(v["inputs"]["key"])
    # its own project in production and preview; production's project (looked up by name)
    # in preview only, with the same variables
    assert by_project == {"app-id": {("production", "preview")}, "prj_mock_floyo": {("preview",)}}
    assert keys["app-id"] == keys["prj_mock_floyo"] and "DATABASE_URL" in keys["app-id"]


def test_the_boundary_the_program_creates_allows_this_stacks_buckets_and_secrets() -> None:
    stack = load_stack(Workspace(REPO), "production")
    inv = synthesize(stack)
    (boundary,) = inv.of_type(BOUNDARY)
    assert boundary.inputs["name"] == "floyo-production-boundary"
    document = json.loads(boundary.inputs["policy"])
    resources = [r for s in document["Statement"] for r in s["Resource"]]
    assert "arn:aws:s3:::floyo-production-*" in resources
    assert "arn:aws:secretsmanager:*:333333333333:secret:floyo-production-*" in resources
    assert not [a for s in document["Statement"] for a in s["Action"] if a.startswith("iam:")]
    assert not [a for s in document["Statement"] for a in s["Action"] if a.endswith("*")]
    for role in inv.of_type(ROLE):
        assert role.inputs["permissionsBoundary"] == "arn:aws:mock:::policy/boundary"


def _stack(tmp: Path, name: str, change: dict[str, Any], overrides: dict | None = None):
    root = copy_workspace(tmp)
    path = root / "stacks" / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    for section, values in change.items():
        doc[section] = {**doc.get(section, {}), **values}
    if overrides:
        doc["overrides"] = {**doc.get("overrides", {}), **overrides}
    path.write_text(yaml.safe_dump(doc))
    return Workspace(root)


def test_a_boundary_named_in_the_stack_is_used_and_none_is_created(tmp_path: Path) -> None:
    arn = "arn:aws:iam::333333333333:policy/org/floyo-boundary"
    ws = _stack(tmp_path, "production", {"aws": {"permissions_boundary": arn}})
    inv = synthesize(load_stack(ws, "production"))
    assert not inv.of_type(BOUNDARY)
    assert {r.inputs["permissionsBoundary"] for r in inv.of_type(ROLE)} == {arn}


@pytest.mark.parametrize(
    ("stack", "change", "message"),
    [
        ("production", {"environments": ["production", "preview"]}, "would reach preview"),
        ("production", {"previews_of": "floyo-dev"}, "another project's previews"),
        ("staging", {"previews_of": "floyo-staging"}, "this stack's own project"),
        ("staging", {"environments": ["preview", "preview"]}, "already listed"),
        ("staging", {"environments": ["development"]}, "expected one of 'production' or"),
        ("staging", {"environments": []}, "at least 1"),
    ],
)
def test_environment_rules(tmp_path: Path, stack: str, change: dict, message: str) -> None:
    ws = _stack(tmp_path, stack, {"vercel": change})
    with pytest.raises(SpecError) as caught:
        load_stack(ws, stack)
    assert any(message in issue.message for issue in caught.value.issues), caught.value.issues


def test_service_roles_trust_their_service_for_this_account_only(tmp_path: Path) -> None:
    """The replication role (scale's replicated bucket) and the RDS Proxy role."""
    database = {
        "provider": "rds",
        "rds": {"access": "secure_compute", "proxy": True, "allowed_cidrs": ["10.200.0.0/16"]},
    }
    overrides = {"database": database, "web": {"vercel_plan": "enterprise"}}
    ws = _stack(tmp_path, "production", {}, overrides)
    path = ws.root / "stacks" / "production.yaml"
    path.write_text(path.read_text().replace("phase: growth", "phase: scale"))
    inv = synthesize(load_stack(ws, "production"))
    services = {}
    for role in inv.of_type(ROLE):
        statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        service = statement["Principal"].get("Service")
        if service:
            services[service] = statement["Condition"]
        assert role.inputs["permissionsBoundary"]
    assert set(services) == {"s3.amazonaws.com", "rds.amazonaws.com"}
    for condition in services.values():
        assert condition == {"StringEquals": {"aws:SourceAccount": "333333333333"}}


def test_plan_warns_of_ingress_open_to_the_internet(cli, workspace: Path) -> None:
    path = workspace / "stacks" / "production.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["overrides"]["database"] = {
        "provider": "rds",
        "rds": {"access": "public_tls", "allowed_cidrs": ["0.0.0.0/0"]},
    }
    path.write_text(yaml.safe_dump(doc))
    plan = _plan_json(cli, "production")
    open_ = [w for w in plan["warnings"] if w.startswith("open to the internet")]
    assert len(open_) == 1 and "db-us-east-1 admits 0.0.0.0/0 on tcp port 5432" in open_[0]
    text = cli("plan", "--stack", "production")
    assert "warning: open to the internet: security group db-us-east-1" in text.out


def test_exposure_warnings_read_every_kind_of_ingress() -> None:
    from floyo_scale.offline.inventory import Resource

    inv = Inventory(
        "p",
        "s",
        (
            Resource(
                "aws:ec2/securityGroup:SecurityGroup",
                "narrow",
                "x",
                "us-east-1",
                {"ingress": [{"cidrBlocks": ["10.0.0.0/8"], "fromPort": 1, "toPort": 1}]},
            ),
            Resource(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                "v6",
                "x",
                "us-east-1",
                {"cidrIpv6": "::/0", "fromPort": 6379, "toPort": 6379, "ipProtocol": "tcp"},
            ),
            Resource(
                "aws:ec2/securityGroupRule:SecurityGroupRule",
                "rule",
                "x",
                "us-east-1",
                {"type": "ingress", "cidrBlocks": ["0.0.0.0/0"], "fromPort": 0, "toPort": 65535},
            ),
        ),
        "k",
    )
    found = exposure_warnings(inv)
    assert len(found) == 2
    assert "v6 admits ::/0" in found[0] and "rule admits 0.0.0.0/0" in found[1]


# -- the app's database role ------------------------------------------------------------------


def test_the_app_connects_as_its_own_login_role() -> None:
    """DATABASE_URL names floyo_app_a with the generated password, never `postgres`: its
    secret digest is that of the pooler URL with the app's user (the mock engine's values)."""
    from floyo_scale.infra.common import as_app
    from floyo_scale.offline.digest import digest

    inv = synthesize(load_stack(Workspace(REPO), "production"))
    variables = {r.inputs["key"]: r for r in inv.of_type(ENV_VAR)}
    pooler = "postgresql://postgres.ref-primary:mock-password@pooler:6543/postgres"
    app_url = as_app(pooler, "floyo_app_a", "mock-password")
    assert app_url == "postgresql://floyo_app_a.ref-primary:mock-password@pooler:6543/postgres"
    assert variables["DATABASE_URL"].secrets["value"] == digest(app_url)
    assert variables["DATABASE_URL"].secrets["value"] != digest(pooler)
    (password,) = [
        r
        for r in inv.of_type("random:index/randomPassword:RandomPassword")
        if r.name == "app-database-password"
    ]
    assert password.inputs["keepers"] == {"generation": "1"}


def test_a_rotation_is_a_new_password_for_the_other_login_role(tmp_path: Path) -> None:
    from floyo_scale.offline.plan import diff_inventories

    before = synthesize(load_stack(Workspace(REPO), "production"))
    ws = _stack(tmp_path, "production", {})
    path = ws.root / "stacks" / "production.yaml"
    path.write_text(path.read_text() + "app_password_generation: 2\n")
    after = synthesize(load_stack(ws, "production"))
    changed = {(c.resource.name, c.kind) for c in diff_inventories(before, after).changes}
    assert ("app-database-password", "replace") in changed or (
        "app-database-password",
        "update",
    ) in changed
    variables = {r.inputs["key"]: r for r in after.of_type(ENV_VAR)}
    old = {r.inputs["key"]: r for r in before.of_type(ENV_VAR)}
    assert variables["DATABASE_URL"].secrets != old["DATABASE_URL"].secrets  # floyo_app_b now


def test_as_app_keeps_everything_but_the_user_and_password() -> None:
    from floyo_scale.infra.common import as_app

    urls = "postgresql://floyo:x@a:5432/postgres?sslmode=require,postgresql://floyo:x@b/postgres"
    assert as_app(urls, "floyo_app_b", "p/w@") == (
        "postgresql://floyo_app_b:p%2Fw%40@a:5432/postgres?sslmode=require,"
        "postgresql://floyo_app_b:p%2Fw%40@b/postgres"
    )
    assert as_app("", "floyo_app_a", "x") == ""
