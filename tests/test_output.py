"""Output that fits (issue 8): tables follow the screen's width (COLUMNS, the terminal), never
split a resource name or a type, are plain when piped; colour and symbols on a terminal,
NO_COLOR respected; shell completion."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floyo_scale.offline.inventory import short_type
from floyo_scale.offline.plan import summarize
from floyo_scale.offline.synth import synthesize
from floyo_scale.render import text
from floyo_scale.render.plan import diff_text, plan_table
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def floyo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`floyo-scale ARGS` as a user runs it, its stdout a pipe."""
    import os

    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    done = subprocess.run(
        [sys.executable, "-m", "floyo_scale", *args],
        cwd=REPO,
        env=environ | (env or {}),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def production_names() -> list[tuple[str, str]]:
    data = json.loads(floyo("plan", "--stack", "production", "--format", "json").stdout)
    return [(short_type(r["type"]), r["name"]) for r in data["resources"]]


def test_plan_at_80_columns_fits_and_keeps_every_name_whole(
    production_names, cli, workspace, monkeypatch
):
    """The issue's own check: `COLUMNS=80 floyo-scale plan --stack production` (a terminal)."""
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("plan", "--stack", "production").out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    words = {word for line in lines for word in line.split()}
    for type_, name in production_names:
        assert name in words, f"{name} is not whole on any line"
        assert type_ in words, f"{type_} is not whole on any line"
    assert "…" not in out and not ANSI.search(out)


@pytest.mark.parametrize("columns", [None, "80"])
def test_plan_piped_is_plain_and_grep_finds_the_name_with_its_type(production_names, columns):
    """`floyo-scale plan --stack production | grep vercel-oidc`, also where the shell
    exports COLUMNS=80: a pipe is as wide as the content (issue 21)."""
    out = floyo("plan", "--stack", "production", env={"COLUMNS": columns} if columns else {})
    assert not ANSI.search(out.stdout)
    found = [line for line in out.stdout.splitlines() if "vercel-oidc" in line]
    assert len(found) == 1
    assert found[0].split()[-2:] == ["aws:iam:OpenIdConnectProvider", "vercel-oidc"]
    assert found[0].split()[:2] == ["access", "global"]  # the row whole on one line


@pytest.fixture(scope="module")
def inventories():
    workspace = Workspace(REPO)
    return {
        "production": synthesize(load_stack(workspace, "production")),
        "enterprise": synthesize(load_stack(workspace, "dev", "enterprise")),
    }


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(min_value=80, max_value=220),
    which=st.sampled_from(["production", "enterprise"]),
)
def test_every_width_from_80_fits_and_splits_no_name(inventories, width, which):
    inventory = inventories[which]
    saved = text.screen()
    text.use(text.Screen(width, False))
    try:
        out = plan_table(inventory, summarize(inventory))
    finally:
        text.use(saved)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    words = {word for line in lines for word in line.split()}
    for r in inventory.custom_resources():
        assert r.name in words and short_type(r.type) in words


def test_a_screen_too_narrow_for_a_type_still_splits_no_name(inventories):
    """Below what a name and a type need, lines grow longer than the screen, not cut."""
    inventory = inventories["enterprise"]
    saved = text.screen()
    text.use(text.Screen(40, False))
    try:
        out = plan_table(inventory, summarize(inventory))
    finally:
        text.use(saved)
    assert "…" not in out
    words = {word for line in out.splitlines() for word in line.split()}
    assert all(r.name in words for r in inventory.custom_resources())


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {"COLUMNS": "80"}, text.Screen(80, True)),
        (True, {"COLUMNS": "80", "NO_COLOR": "1"}, text.Screen(80, False)),
        (True, {"COLUMNS": "80", "TERM": "dumb"}, text.Screen(80, False)),
        (False, {}, text.Screen(None, False)),  # a pipe: as wide as the content, plain
        (False, {"COLUMNS": "100"}, text.Screen(None, False)),  # piped: COLUMNS ignored
        (False, {"FORCE_COLOR": "1"}, text.Screen(None, True)),
        (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, text.Screen(None, False)),
    ],
)
def test_the_screen_follows_the_terminal_columns_and_no_color(tty, env, expected):
    assert text.Screen.detect(_Stream(tty), env) == expected  # type: ignore[arg-type]


def test_a_terminal_without_columns_takes_its_own_width(monkeypatch):
    monkeypatch.setattr(
        text.shutil, "get_terminal_size", lambda fallback: __import__("os").terminal_size((93, 40))
    )
    assert text.Screen.detect(_Stream(True), {}).width == 93  # type: ignore[arg-type]


def test_diff_in_colour_on_a_terminal_and_plain_with_no_color(cli, workspace, monkeypatch):
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")  # stands for a terminal: capsys is not one
    coloured = cli("diff", "growth", "scale").out
    assert "\x1b[32m + create \x1b[0m" in coloured  # green +
    assert "\x1b[31m - delete \x1b[0m" in coloured  # red -
    assert "\x1b[33m ~ update \x1b[0m" in coloured  # yellow ~
    assert "\x1b[1;31m!! destroys data\x1b[0m" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    plain = cli("diff", "growth", "scale").out
    assert not ANSI.search(plain)
    assert ANSI.sub("", coloured) == plain  # colour adds nothing but colour


def test_the_library_default_is_plain_and_the_cli_leaves_no_trace(cli, workspace, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR")
    cli("phases")
    assert text.screen() == text.Screen()  # put back after the run


def test_diff_lines_wrap_between_words_on_a_narrow_screen(inventories):
    from floyo_scale.offline.plan import diff_inventories

    workspace = Workspace(REPO)
    diff = diff_inventories(
        synthesize(load_stack(workspace, "dev", "startup")), inventories["enterprise"]
    )
    saved = text.screen()
    text.use(text.Screen(80, False))
    try:
        out = diff_text(diff)
    finally:
        text.use(saved)
    lines = out.splitlines()
    words = {word for line in lines for word in line.split()}
    for change in diff.changes:
        assert change.resource.name in words and short_type(change.resource.type) in words
    long = [line for line in lines if len(line) > 80]
    assert all(len(line.split()) == 1 or "->" not in line for line in long), long


def test_shell_completion_is_offered():
    # Typer detects the shell it runs under (none under pytest in CI); this variable, Typer's
    # own for tests, makes --show-completion take the shell's name instead
    done = floyo(
        "--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    assert "_FLOYO_SCALE_COMPLETE=complete_bash" in done.stdout
    help_text = floyo("--help", env={"COLUMNS": "100"}).stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text


def test_completion_completes_commands():
    import os

    done = subprocess.run(
        [sys.executable, "-m", "floyo_scale"],
        cwd=REPO,
        env=os.environ
        | {
            "_FLOYO_SCALE_COMPLETE": "complete_bash",
            "COMP_WORDS": "floyo-scale pl",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout.split() == ["plan"]


@pytest.mark.parametrize(
    ("args", "columns", "name"),
    [
        (("plan", "--phase", "growth"), "160", "plan/growth-wide.txt"),
        (("plan", "--stack", "production"), "80", "plan/production-80.txt"),
        (("cost", "--phase", "enterprise"), "80", "cost/enterprise-80.txt"),
    ],
)
def test_golden_layouts_by_width(cli, workspace, monkeypatch, args, columns, name):
    from golden import assert_golden

    monkeypatch.setenv("COLUMNS", columns)
    result = cli(*args)
    assert result.code == 0, result.err
    assert_golden(name, result.out)
