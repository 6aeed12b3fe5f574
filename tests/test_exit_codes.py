"""Exit codes that tell the truth (README, "Exit codes"): a closed pipe ends quietly (141), a
full disk is an I/O failure with a hint (4), a malformed or foreign plan given to `diff` is a
usage error naming the key (2), and FROM is a file only when it is written as one."""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from floyo_scale.cli import main

REPO = Path(__file__).resolve().parent.parent


class _Failing(io.StringIO):
    """A stdout whose writes fail as a closed pipe or a full disk make them fail."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error

    def flush(self) -> None:
        raise self.error


def test_a_closed_pipe_ends_quietly_with_141(tmp_path):
    """`floyo-scale diff growth scale | head -1`: the reader is gone before the write."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "floyo_scale", "diff", "growth", "scale"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away at once: every write gets EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""  # no traceback, no "Exception ignored", no error message


def test_a_closed_pipe_in_process_is_141_and_says_nothing(workspace, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    assert main(["phases"]) == 141
    assert capsys.readouterr().err == ""


def test_a_full_disk_is_exit_4_with_a_hint_not_a_bug(workspace, monkeypatch, capsys):
    """`floyo-scale validate >/dev/full`."""
    monkeypatch.setattr(sys, "stdout", _Failing(OSError(errno.ENOSPC, "No space left on device")))
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert "error: could not write the output: No space left on device" in err
    assert "hint: free some space" in err
    assert "bug" not in err and "Traceback" not in err


def test_validate_into_dev_full_is_exit_4(tmp_path):
    """Linux's /dev/full (every write fails with ENOSPC), as the issue tried it."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "floyo_scale", "validate"],
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 4
    assert done.stderr.startswith("error: could not write the output: No space left on device")
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def saved_plan() -> str:
    """`plan --stack production --format json`, made once for the module."""
    done = subprocess.run(
        [sys.executable, "-m", "floyo_scale", "plan", "--stack", "production", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["resources"][3].pop("name"), "resources[3].name: missing"),
        (lambda d: d["resources"].__setitem__(0, "bucket"), "resources[0]: expected an object"),
        (lambda d: d.__setitem__("resources", {}), "resources: expected a list, got an object"),
        (lambda d: d["resources"][1].__setitem__("protect", "yes"), "resources[1].protect"),
        (lambda d: d["cost"]["lines"][2].__setitem__("low", "12"), "cost.lines[2].low"),
        (lambda d: d["cost"]["total"].pop("high"), "cost.total.high: missing"),
        (lambda d: d["cost"].__setitem__("unpriced", [3]), "cost.unpriced[0]"),
    ],
)
def test_a_malformed_plan_is_exit_2_naming_the_key(cli, workspace, saved_plan, edit, key):
    data = json.loads(saved_plan)
    edit(data)
    (workspace / "base.json").write_text(json.dumps(data))
    result = cli("diff", "base.json", "--stack", "production")
    assert result.code == 2, result.err
    assert key in result.said
    assert "unexpected" not in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[1, 2]", "(top level): expected an object, got a list"),
        ('{"changes": [], "summary": {}}', "this is the output of `diff`, not `plan`"),
        ('{"steps": [], "changeSummary": {}}', "this looks like a Pulumi preview"),
        ("{not json", "base.json is not JSON"),
    ],
)
def test_foreign_json_is_exit_2_saying_what_it_is(cli, workspace, text, said):
    (workspace / "base.json").write_text(text)
    result = cli("diff", "base.json", "--stack", "production")
    assert result.code == 2 and said in result.said


def test_a_file_named_like_a_phase_does_not_replace_the_phase(cli, workspace):
    (workspace / "growth").write_text(cli("plan", "--phase", "scale", "--format", "json").out)
    by_phase = cli("diff", "growth", "scale", "--format", "json")
    assert by_phase.code == 0
    assert json.loads(by_phase.out)["from"]["phase"] == "growth"  # the phase, not the file
    by_path = cli("diff", "./growth", "scale", "--format", "json")
    assert by_path.code == 0
    assert json.loads(by_path.out)["changes"] == []  # the file: a plan of scale itself


def test_a_file_that_is_not_a_phase_is_named_in_the_hint(cli, workspace):
    (workspace / "base").write_text("{}")
    result = cli("diff", "base", "scale")
    assert result.code == 2
    assert "unknown phase 'base'" in result.err
    assert "write it as a path: ./base" in result.err
