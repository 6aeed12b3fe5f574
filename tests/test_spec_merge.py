"""The merge rules (docs/spec.md), one by one: first on plain data, then through real files.

1. mappings merge deeply; 2. lists and scalars are replaced whole; 3. `null` removes a key;
4. later wins (a phase over what it extends, a stack's overrides over its phase);
5. `extends` chains resolve to the root; a cycle or an unknown phase is an error.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from floyo_scale.errors import Location, SpecError
from floyo_scale.spec import Workspace, load_phase, load_stack, validate
from floyo_scale.spec.merge import merge


def loc(file: str, line: int) -> Location:
    return Location(file, line, 1)


def prov_of(data: dict, file: str, line: int = 1, path: tuple = ()) -> dict:
    """Provenance for `data`: every key path at (file, line), the line growing per key."""
    prov = {path: loc(file, line)} if not path else {}
    for key, value in data.items():
        here = (*path, key)
        prov[here] = loc(file, line)
        if isinstance(value, dict):
            prov.update(prov_of(value, file, line, here))
    return prov


# -- merge() on plain data ------------------------------------------------------------------


def test_mappings_merge_deeply() -> None:
    base = {"web": {"plan": "pro", "seats": 1, "extra": {"a": 1, "b": 2}}}
    over = {"web": {"seats": 2, "extra": {"b": 3}}}
    result, prov = merge(base, prov_of(base, "base"), over, prov_of(over, "over"))
    assert result == {"web": {"plan": "pro", "seats": 2, "extra": {"a": 1, "b": 3}}}
    assert prov[("web", "plan")].file == "base"
    assert prov[("web", "seats")].file == "over"
    assert prov[("web", "extra", "a")].file == "base"
    assert prov[("web", "extra", "b")].file == "over"
    assert prov[("web",)].file == "over"  # the mapping was last written by `over`


def test_lists_are_replaced_whole() -> None:
    base = {"regions": ["iad1", "dub1", "sin1"], "replicas": [{"region": "a"}, {"region": "b"}]}
    over = {"regions": ["fra1"], "replicas": []}
    base_prov = prov_of(base, "base")
    base_prov[("replicas", 0)] = base_prov[("replicas", 1)] = loc("base", 9)
    base_prov[("replicas", 1, "region")] = loc("base", 9)
    result, prov = merge(base, base_prov, over, prov_of(over, "over"))
    assert result == {"regions": ["fra1"], "replicas": []}
    assert prov[("regions",)].file == "over"
    assert not [k for k in prov if k[:1] == ("replicas",) and len(k) > 1], (
        "provenance of the replaced list's items must go with them"
    )


def test_scalars_replace_and_types_may_change() -> None:
    base = {"cache": {"node": "t4g"}, "seats": 1}
    over = {"cache": "none", "seats": {"n": 2}}
    result, prov = merge(base, prov_of(base, "base"), over, prov_of(over, "over"))
    assert result == {"cache": "none", "seats": {"n": 2}}
    assert ("cache", "node") not in prov
    assert prov[("seats", "n")].file == "over"


def test_null_removes_a_key() -> None:
    base = {"cache": {"node": "t4g"}, "budget": {"monthly": 50, "alert": 80}}
    over = {"cache": None, "budget": {"monthly": None}, "absent": None}
    result, prov = merge(base, prov_of(base, "base"), over, prov_of(over, "over"))
    assert result == {"budget": {"alert": 80}}
    assert not [k for k in prov if k[:1] in (("cache",), ("absent",))]
    assert ("budget", "monthly") not in prov
    assert prov[("budget", "alert")].file == "base"


def test_later_wins_and_new_keys_are_added() -> None:
    base = {"a": 1, "m": {"x": 1}}
    over = {"a": 2, "m": {"y": 2}, "b": 3}
    result, _ = merge(base, prov_of(base, "base"), over, prov_of(over, "over"))
    assert result == {"a": 2, "m": {"x": 1, "y": 2}, "b": 3}


def test_merge_leaves_its_inputs_unchanged() -> None:
    base = {"web": {"seats": 1, "regions": ["iad1"]}, "cache": {"node": "t4g"}}
    over = {"web": {"seats": 2}, "cache": None}
    base_prov, over_prov = prov_of(base, "base"), prov_of(over, "over")
    before = copy.deepcopy((base, base_prov, over, over_prov))
    merge(base, base_prov, over, over_prov)
    assert (base, base_prov, over, over_prov) == before


# -- the rules through the real phase and stack files ---------------------------------------


@pytest.fixture(scope="module")
def repo_workspace() -> Workspace:
    return Workspace(Path(__file__).resolve().parent.parent)


def test_every_real_phase_and_stack_validates(repo_workspace: Workspace) -> None:
    report = validate(repo_workspace)
    assert sorted(report.phases) == ["enterprise", "growth", "scale", "startup"]
    assert sorted(report.stacks) == ["dev", "production", "staging"]


def test_extends_chains_resolve_to_the_root(repo_workspace: Workspace) -> None:
    chains = {name: load_phase(repo_workspace, name)[0].chain for name in ("startup", "enterprise")}
    assert chains["startup"] == ("startup",)
    assert chains["enterprise"] == ("enterprise", "scale", "growth", "startup")


def test_real_phases_merge_deeply(repo_workspace: Workspace) -> None:
    # growth writes web.seats only; the rest of web comes from startup
    resolved, growth = load_phase(repo_workspace, "growth")
    assert growth.web.seats == 2
    assert growth.web.vercel_plan == "pro"
    assert growth.web.function_regions == ["iad1"]
    assert resolved.provenance[("web", "seats")].file.endswith("phases/growth.yaml")
    assert resolved.provenance[("web", "vercel_plan")].file.endswith("phases/startup.yaml")


def test_real_phases_replace_lists(repo_workspace: Workspace) -> None:
    _, growth = load_phase(repo_workspace, "growth")
    _, scale = load_phase(repo_workspace, "scale")
    assert [r.region for r in growth.database.read_replicas] == ["us-east-1"]
    assert [r.region for r in scale.database.read_replicas] == ["eu-west-1"]  # not appended
    assert scale.web.function_regions == ["iad1", "dub1"]


def test_real_null_removes_a_value(repo_workspace: Workspace) -> None:
    # enterprise writes `budget.monthly_usd: null`: growth's and scale's ceilings are gone
    resolved, enterprise = load_phase(repo_workspace, "enterprise")
    assert enterprise.budget.monthly_usd is None
    assert enterprise.budget.expected_usd is None
    assert ("budget", "monthly_usd") not in resolved.provenance
    assert enterprise.budget.alert_percent == 80  # the rest of budget stays


def test_stack_overrides_win_over_the_phase(repo_workspace: Workspace) -> None:
    production = load_stack(repo_workspace, "production")
    assert production.phase_name == "growth"
    assert production.phase.budget.monthly_usd == 340  # growth says 205
    assert production.phase.database.pitr_days == 7  # growth says 0
    assert production.phase.database.compute == "small"  # from growth, untouched
    assert production.provenance[("budget", "monthly_usd")].file.endswith("stacks/production.yaml")
    staging = load_stack(repo_workspace, "staging")
    assert staging.phase.database.read_replicas == []  # a list replaced by an empty one


def test_a_stack_at_another_phase(repo_workspace: Workspace) -> None:
    dev = load_stack(repo_workspace, "dev", phase="scale")
    assert dev.phase_name == "scale"
    assert dev.phase.database.sharding is not None


# -- the same rules on a scratch workspace, where each file is written by the test ----------


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).write_text(text)


def test_null_removes_a_section_and_the_default_applies(workspace: Path) -> None:
    text = (workspace / "phases/scale.yaml").read_text()
    start, end = text.index("\ncache:\n"), text.index("\nstorage:")
    write(workspace, "phases/scale.yaml", text[:start] + "\ncache: null\n" + text[end:])
    ws = Workspace(workspace)
    resolved, scale = load_phase(ws, "scale")
    assert scale.cache is None  # the model's default
    assert "cache" not in resolved.data
    assert not [k for k in resolved.provenance if k[:1] == ("cache",)]
    # enterprise writes only part of a cache: what growth wrote is gone for it too
    with pytest.raises(SpecError) as caught:
        load_phase(ws, "enterprise")
    (issue,) = caught.value.issues
    assert issue.path == "cache.ttl_seconds" and issue.message == "required key is missing"
    assert issue.location is not None and issue.location.file == "phases/enterprise.yaml"


def test_a_later_phase_wins_over_the_one_it_extends(workspace: Path) -> None:
    growth = (workspace / "phases/growth.yaml").read_text()
    write(workspace, "phases/growth.yaml", growth.replace("  seats: 2", "  seats: 7"))
    ws = Workspace(workspace)
    assert load_phase(ws, "growth")[1].web.seats == 7
    assert load_phase(ws, "scale")[1].web.seats == 3  # scale writes its own
    assert load_phase(ws, "startup")[1].web.seats == 1


def test_a_cycle_is_an_error_not_a_hang(workspace: Path) -> None:
    startup = (workspace / "phases/startup.yaml").read_text()
    write(workspace, "phases/startup.yaml", "extends: enterprise\n" + startup)
    with pytest.raises(SpecError) as caught:
        load_phase(Workspace(workspace), "growth")
    messages = [i.message for i in caught.value.issues]
    assert any("cycle" in m for m in messages), messages


def test_an_unknown_parent_is_an_error(workspace: Path) -> None:
    growth = (workspace / "phases/growth.yaml").read_text()
    write(workspace, "phases/growth.yaml", growth.replace("extends: startup", "extends: seed"))
    with pytest.raises(SpecError) as caught:
        load_phase(Workspace(workspace), "scale")
    (issue,) = caught.value.issues
    assert issue.path == "extends" and "unknown phase 'seed'" in issue.message
    assert issue.location is not None and issue.location.file.endswith("phases/growth.yaml")


def test_a_required_key_removed_with_null_is_located_at_the_null(workspace, cli):
    """`limits: null` in a later phase removes a required section: the error points at it."""
    scale = workspace / "phases" / "scale.yaml"
    scale.write_text(scale.read_text().replace("limits:\n", "limits: null\nold_limits:\n", 1))
    line = next(
        i for i, text in enumerate(scale.read_text().splitlines(), 1) if text == "limits: null"
    )
    result = cli("validate", "--phase", "scale")
    assert result.code == 3
    assert f"phases/scale.yaml:{line}:1: limits: required key is missing" in result.err


def test_env_refs_walks_every_depth_once_each_in_order() -> None:
    """The one walker over `${env:NAME}` references (engine.secret_refs and diff --base's
    redaction both use it)."""
    from floyo_scale.spec import env_refs

    value = {
        "a": "${env:ONE}",
        "b": ["plain", {"c": "${env:TWO}"}, ("${env:ONE}",)],
        "d": "not ${env:THREE} (embedded is not a reference)",
        "e": 3,
        "f": None,
    }
    assert env_refs(value) == ("ONE", "TWO")
    assert env_refs("${env:X}") == ("X",)
    assert env_refs([]) == ()
