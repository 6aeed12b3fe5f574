"""Settings that are not secret show in a diff, old -> new; secrets show as changed or
unchanged through a keyed digest, and their values never appear."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import copy_workspace

from floyo_scale.engine import secret_refs
from floyo_scale.offline import digest
from floyo_scale.offline.inventory import SECRET
from floyo_scale.offline.plan import diff_inventories, diff_json, inventory_from_json, plan_json
from floyo_scale.offline.synth import synthesize
from floyo_scale.render import diff_markdown, diff_text
from floyo_scale.spec import Workspace, load_stack

ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"


def test_digest_is_keyed() -> None:
    a, b = b"key-a", b"key-b"
    assert digest.digest("s3cr3t", a) == digest.digest("s3cr3t", a)
    assert digest.digest("s3cr3t", a) != digest.digest("s3cr3t", b)
    assert digest.digest("s3cr3t", a) != digest.digest("s3cr3u", a)
    assert "s3cr3t" not in digest.digest("s3cr3t", a)
    assert digest.key_id(a) != digest.key_id(b)
    assert len(digest.digest("x", a)) == digest.DIGEST_CHARS


def test_key_from_the_environment_else_one_per_process() -> None:
    assert digest.key({digest.KEY_ENV: "team-key"}) == b"team-key"
    assert digest.key({}) == digest.key({})  # the process key is stable
    child = digest.child_env({"PATH": "/bin"})
    assert child[digest.KEY_ENV].encode() == digest.key({})
    assert digest.key(child) == digest.key({})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(copy_workspace(tmp_path_factory.mktemp("ws")))


def _set(ws: Workspace, stack: str, path: list[str], value: object) -> None:
    file = ws.stack_path(stack)
    data = yaml.safe_load(file.read_text())
    here = data
    for key in path[:-1]:
        if here.get(key) is None:
            here[key] = {}
        here = here[key]
    here[path[-1]] = value
    file.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_plain_setting_shows_old_and_new(workspace: Workspace) -> None:
    before = synthesize(load_stack(workspace, "staging"))
    _set(workspace, "staging", ["overrides", "cache", "ttl_seconds", "queries"], 123)
    try:
        after = synthesize(load_stack(workspace, "staging"))
    finally:
        _set(workspace, "staging", ["overrides", "cache", "ttl_seconds"], None)
    diff = diff_inventories(before, after)
    # staging's own project, and production's previews it serves (vercel.previews_of)
    change, previews = diff.changes
    assert change.resource.name == "cache-ttl-queries"
    assert previews.resource.name == "floyo-preview-cache-ttl-queries"
    assert change.inputs["value"][1] == "123"
    assert change.inputs["value"][0] != SECRET
    assert '-> "123"' in diff_text(diff)


def test_a_rotated_secret_is_changed_never_shown(workspace: Workspace) -> None:
    stack = load_stack(workspace, "dev")
    names = secret_refs(stack)
    old_values = {n: f"CANARY-OLD-{n}" for n in names}
    new_values = {**old_values, "VERCEL_API_TOKEN": "CANARY-NEW-token"}
    before, after = synthesize(stack, old_values), synthesize(stack, new_values)
    diff = diff_inventories(before, after)
    [change] = diff.changes
    assert (change.kind, change.resource.type) == ("update", "pulumi:providers:vercel")
    assert change.secrets == ("apiToken",) and change.inputs == {}
    texts = [
        diff_text(diff),
        diff_markdown(diff),
        json.dumps(diff_json(diff)),
        json.dumps(plan_json(before)),
        json.dumps(plan_json(after)),
    ]
    assert "apiToken: [secret] changed" in texts[0]
    for text in texts:
        assert "CANARY" not in text
    assert diff_inventories(before, synthesize(stack, old_values)).changes == ()


def test_a_changed_reference_is_a_changed_secret(workspace: Workspace) -> None:
    before = synthesize(load_stack(workspace, "dev"))
    _set(workspace, "dev", ["supabase", "access_token"], "${env:SUPABASE_TOKEN_2}")
    try:
        after = synthesize(load_stack(workspace, "dev"))
    finally:
        _set(workspace, "dev", ["supabase", "access_token"], "${env:SUPABASE_ACCESS_TOKEN}")
    diff = diff_inventories(before, after)
    assert diff.changes
    assert all(c.secrets == ("access_token",) and not c.inputs for c in diff.changes)


def test_digests_of_different_keys_are_not_compared(workspace: Workspace) -> None:
    """Two plans saved by separate processes without FLOYO_DIGEST_KEY: secrets are "not
    compared", never reported as changed."""
    plan = plan_json(synthesize(load_stack(workspace, "dev")))
    other = json.loads(json.dumps(plan))
    other["digest_key"] = "another-key"
    for resource in other["resources"]:
        resource["secret_digests"] = {k: "0" * 16 for k in resource["secret_digests"]}
    diff = diff_inventories(inventory_from_json(plan), inventory_from_json(other))
    assert diff.changes == () and not diff.secrets_compared
    assert "not compared" in diff_text(diff)
    same = diff_inventories(inventory_from_json(plan), inventory_from_json(plan))
    assert same.secrets_compared and same.notes == []
