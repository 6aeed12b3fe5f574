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


def test_every_command_has_examples_and_real_metavars(cli):
    """Each --help ends with examples of that very command; no option shows a Typer type
    (`<bool>`, `<str>`, `<int range>`) instead of a metavar."""
    group = typer.main.get_command(app)
    paths = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        paths += [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
    for path in paths:
        result = cli(*path.split(), "--help")
        assert result.code == 0, result.err
        examples = result.out.split("Examples:", 1)
        assert len(examples) == 2, f"`floyo-scale {path} --help` shows no examples"
        shown = [line.strip() for line in examples[1].splitlines() if line.strip()]
        command = f"floyo-scale {path}"
        assert shown and all(
            line.split("  #")[0].strip() == command or line.startswith(command + " ")
            for line in shown
        ), shown
        for token in ("<bool>", "<str>", "<int", "<path>", "<float"):
            assert token not in result.out, f"`floyo-scale {path} --help` shows {token}"


def _spec_fields() -> list[str]:
    """Every field of the phase and stack models, walked recursively ("cache.memory_gb")."""
    import typing

    from pydantic import BaseModel

    from floyo_scale.spec.models import Phase, Stack

    def models(annotation: object) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in typing.get_args(annotation) for m in models(arg)]

    fields: list[str] = []
    walked: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], path: str) -> None:
        if model in walked:  # Range, used by several sections, is listed once
            return
        walked.add(model)
        for name, field in model.model_fields.items():
            key = field.alias or name
            fields.append(path + key)
            for sub in models(field.annotation):
                walk(sub, f"{path}{key}.")

    walk(Phase, "")
    walk(Stack, "")
    return fields


def test_spec_reference_mentions_every_field():
    """docs/spec.md names every field of the phase and stack files (in `code`), as docs/cli.md
    is every command's --help: a field added to spec/models.py without a word in the
    reference fails here."""
    import re

    spans = " ".join(re.findall(r"`([^`]+)`", (REPO / "docs" / "spec.md").read_text()))
    fields = _spec_fields()
    assert {"cache.memory_gb", "web.secure_compute", "sentry.auth_token"} <= set(fields)
    missing = [
        path
        for path in fields
        if not re.search(rf"(?<![\w-]){re.escape(path.split('.')[-1])}(?![\w-])", spans)
    ]
    assert not missing, f"docs/spec.md does not mention: {', '.join(missing)}"


def test_spec_reference_says_each_secret_field_and_the_cache_default():
    from floyo_scale.spec.models import Cache

    text = (REPO / "docs" / "spec.md").read_text()
    secrets = text.split("## Secrets", 1)[1].split("##", 1)[0]
    for field in ("vercel.api_token", "supabase.access_token", "upstash.api_key"):
        assert f"`{field}`" in secrets, field
    assert "`sentry.auth_token`" in secrets
    default = Cache.model_fields["provider"].default
    assert f"`{default}`, the default" in text
