"""The spec commands through the CLI: validate, phases, show, exit codes, the error boundary.

Most tests call `floyo_scale.cli.main(argv)` in-process (fast); a few run a real process to
check exit codes as a shell sees them and that the spec commands never import Pulumi.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_cli import run_fresh
from golden import assert_golden

import floyo_scale.spec

# -- validate ---------------------------------------------------------------------------------


def test_validate_everything(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "validate")
    assert result.code == 0, result.err
    assert result.out == (
        "valid: 4 phases (enterprise, growth, scale, startup) "
        "and 3 stacks (dev, production, staging)\n"
    )
    assert result.err == ""


def test_validate_some(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "validate", "-p", "growth", "--stack", "dev")
    assert (result.code, result.out) == (0, "valid: 1 phase (growth) and 1 stack (dev)\n")


def test_validate_json(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "validate", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["valid"] is True
    assert_golden("cli/validate.json", result.out)


def test_validate_json_lists_every_issue(workspace: Path, cli) -> None:
    dev = workspace / "stacks/dev.yaml"
    dev.write_text(dev.read_text().replace("project: floyo\n", "project: Floyo\nprojekt: x\n"))
    result = cli("--root", workspace, "validate", "--format", "json")
    assert result.code == 3
    report = json.loads(result.out)
    assert report["valid"] is False
    assert [(i["file"], i["line"], i["path"]) for i in report["issues"]] == [
        ("stacks/dev.yaml", 5, "project"),
        ("stacks/dev.yaml", 6, "projekt"),
    ]
    assert_golden("cli/validate-invalid.json", result.out)
    assert result.err.endswith("error: 2 problems in the spec\n")  # and on stderr, as text


def test_validate_finds_the_root_upward_from_the_working_directory(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace / "stacks")
    assert cli("validate").code == 0


def test_no_phases_folder_is_a_usage_error(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("validate")
    assert result.code == 2
    assert "no phases/ folder" in result.said and "--root" in result.said
    result = cli("--root", tmp_path / "nowhere", "validate")
    assert result.code == 2 and "has no phases/ folder" in result.said


# -- phases -----------------------------------------------------------------------------------


def test_phases_table(workspace: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # a row per phase
    result = cli("--root", workspace, "phases")
    assert result.code == 0, result.err
    assert_golden("cli/phases.txt", result.out)
    names = {"startup", "growth", "scale", "enterprise"}
    rows = [w[0] for w in map(str.split, result.out.splitlines()) if w and w[0] in names]
    assert rows == ["startup", "growth", "scale", "enterprise"]  # ordered by users
    monkeypatch.setenv("COLUMNS", "80")  # too narrow for that: a column per phase
    narrow = cli("--root", workspace, "phases")
    assert_golden("cli/phases-80.txt", narrow.out)
    assert max(map(len, narrow.out.splitlines())) <= 80
    assert narrow.out.splitlines()[2].split() == ["phase", *rows]


def test_phases_json(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "phases", "--format", "json")
    assert result.code == 0, result.err
    summaries = json.loads(result.out)
    assert [s["name"] for s in summaries] == ["startup", "growth", "scale", "enterprise"]
    assert_golden("cli/phases.json", result.out)


def test_phases_refuses_an_invalid_spec(workspace: Path, cli) -> None:
    growth = workspace / "phases/growth.yaml"
    growth.write_text(growth.read_text().replace("seats: 2", "seats: 0"))
    result = cli("--root", workspace, "phases")
    assert result.code == 3
    assert "phases/growth.yaml:26:3: web.seats:" in result.err


# -- show and provenance ----------------------------------------------------------------------


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of `path` that holds `text`."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_show_provenance_names_file_and_line(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "show", "--stack", "production", "--provenance")
    assert result.code == 0, result.err
    out = result.out.splitlines()

    def at(rel: str, text: str) -> str:
        return f"{rel}:{line_of(workspace / rel, text)}"

    expected = {
        # a stack override wins over its phase
        "    monthly_usd: 340.0": at("stacks/production.yaml", "monthly_usd: 340"),
        "    pitr_days: 7": at("stacks/production.yaml", "pitr_days: 7"),
        # written by growth, over startup
        "    seats: 2": at("phases/growth.yaml", "seats: 2"),
        # inherited untouched from the root phase
        "    vercel_plan: pro": at("phases/startup.yaml", "vercel_plan: pro"),
        # the stack's own settings
        "  project: floyo": at("stacks/production.yaml", "project: floyo"),
        # written nowhere: the model's default
        "    function_failover: false": "default",
    }
    for value, where in expected.items():
        assert f"{value}  # {where}" in out, f"{value!r} should say {where}\n{result.out}"
    assert_golden("cli/show-production-provenance.txt", result.out)


def test_show_without_provenance_has_no_comments(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "show", "--phase", "scale")
    assert result.code == 0
    assert "#" not in result.out
    assert "phase: scale\nextends: [growth, startup]\n" in result.out


def test_show_json_provenance(workspace: Path, cli) -> None:
    result = cli(
        "--root", workspace, "show", "--phase", "enterprise", "--format", "json", "--provenance"
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    prov = data["provenance"]
    enterprise = workspace / "phases/enterprise.yaml"
    assert prov["spec.web.vercel_plan"].startswith(
        f"phases/enterprise.yaml:{line_of(enterprise, 'vercel_plan: enterprise')}:"
    )
    assert prov["spec.cache.ttl_seconds.sessions"].startswith("phases/growth.yaml:")
    assert "spec.budget.monthly_usd" not in prov  # removed by `null`
    assert data["spec"]["budget"]["monthly_usd"] is None
    assert data["extends"] == ["scale", "growth", "startup"]


def test_show_needs_a_phase_or_a_stack(workspace: Path, cli) -> None:
    result = cli("--root", workspace, "show")
    assert result.code == 2 and "name a phase or a stack" in result.err


def test_show_never_prints_a_secret_value(workspace: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("VERCEL_API_TOKEN", "vcp-should-never-be-printed")
    result = cli("--root", workspace, "show", "--stack", "dev", "--format", "json")
    assert result.code == 0
    assert "vcp-should-never-be-printed" not in result.out
    assert json.loads(result.out)["settings"]["vercel"]["api_token"] == "${env:VERCEL_API_TOKEN}"


# -- the error boundary and exit codes --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["validate", "--bogus"],
        ["validate", "--format", "xml"],
        ["validate", "--format"],
        ["schema", "nonsense"],
        [],
    ],
    ids=["unknown-option", "command-option", "bad-choice", "no-value", "bad-arg", "none"],
)
def test_usage_errors_exit_2(workspace: Path, cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 2, result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err


def test_help_and_version_exit_0(cli) -> None:
    result = cli("--help")
    assert result.code == 0 and "validate" in result.out
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("floyo-scale ")


def test_ctrl_c_exits_130(workspace: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(floyo_scale.spec, "validate", interrupted)
    assert cli("--root", workspace, "validate").code == 130


def test_a_bug_exits_1_without_a_traceback_unless_asked(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(floyo_scale.spec, "validate", broken)
    result = cli("--root", workspace, "validate")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert "unexpected ZeroDivisionError: boom" in result.err and "--traceback" in result.err
    result = cli("--root", workspace, "--traceback", "validate")
    assert result.code == 1 and "Traceback (most recent call last)" in result.err


# -- real processes ---------------------------------------------------------------------------


def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI of this checkout in a real process (`python -m floyo_scale`, with
    PYTHONPATH on the checkout: see conftest.py), as the console script would."""
    command = [sys.executable, "-m", "floyo_scale"]
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run(
        [*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_process_exit_codes(workspace: Path) -> None:
    assert run_process("--help", cwd=workspace).returncode == 0
    assert run_process("validate", cwd=workspace).returncode == 0
    assert run_process("validate", "--nope", cwd=workspace).returncode == 2
    dev = workspace / "stacks/dev.yaml"
    dev.write_text(dev.read_text().replace("phase: startup", "phase: [startup]"))
    bad = run_process("validate", cwd=workspace)
    assert bad.returncode == 3
    assert bad.stderr.startswith("stacks/dev.yaml:3:1: phase: got a list of 1 item: expected a")
    assert "Traceback" not in bad.stderr and bad.stdout == ""


SPEC_COMMANDS = [
    ["--help"],
    ["validate"],
    ["validate", "--format", "json"],
    ["phases"],
    ["show", "--stack", "production", "--provenance"],
    ["schema", "stack"],
]


def test_spec_commands_never_import_pulumi(workspace: Path) -> None:
    heavy = ("pulumi", "pulumi_aws", "pulumiverse_vercel", "boto3", "botocore")
    for args in SPEC_COMMANDS:  # one process per command: each starts from a clean slate
        code, loaded, stderr = run_fresh(args, cwd=workspace, tops=heavy)
        assert code == 0, (args, stderr)
        assert loaded == [], f"`floyo-scale {' '.join(args)}` imported {loaded}"
