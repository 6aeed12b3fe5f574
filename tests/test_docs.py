"""Documentation kept in step with the code: every command has help text, appears in the
README's command table, and docs/cli.md is exactly what `--help` prints."""

from __future__ import annotations

from pathlib import Path

import typer
from golden import assert_golden

from floyo_scale.cli import app

REPO = Path(__file__).resolve().parent.parent


def _walk(group: object, prefix: str = "") -> dict[str, object]:
    """Every command by its full name ("db partition"), groups included."""
    found: dict[str, object] = {}
    for name, command in sorted(group.commands.items()):  # type: ignore[attr-defined]
        full = f"{prefix}{name}"
        found[full] = command
        if hasattr(command, "commands"):
            found.update(_walk(command, full + " "))
    return found


def commands() -> list[str]:
    return list(_walk(typer.main.get_command(app)))


def test_every_command_has_help_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for name, command in _walk(typer.main.get_command(app)).items():
        assert (command.help or "").strip(), f"{name} has no help text"  # type: ignore[attr-defined]
        assert f"`floyo-scale {name}" in readme, f"README's command table lacks {name}"


def test_cli_reference_is_generated_from_help(cli, monkeypatch):
    parts = [
        "# Command reference",
        "",
        "Generated from `floyo-scale --help` (tests/test_docs.py checks it; refresh with",
        "`UPDATE_GOLDEN=1 python3 -m pytest tests/test_docs.py`).",
        "",
    ]
    for name in [None, *commands()]:
        args = ["--help"] if name is None else [*name.split(), "--help"]
        result = cli(*args)
        assert result.code == 0, result.err
        title = "floyo-scale" if name is None else f"floyo-scale {name}"
        text = "\n".join(line.rstrip() for line in result.out.strip("\n").splitlines())
        parts += [f"## `{title}`", "", "```text", text, "```", ""]
    assert_golden(REPO / "docs" / "cli.md", "\n".join(parts))
