"""One way to say each thing on the command line: every option (its flags and type) and every
choice enum is declared once across floyo_scale/cli; usage errors read plainly."""

from __future__ import annotations

import ast
from pathlib import Path

from floyo_scale.cli.root import usage_text

CLI = Path(__file__).resolve().parent.parent / "floyo_scale" / "cli"


def _declarations() -> list[tuple[tuple[str, ...], str, str]]:
    """(what it declares, its type, where) for every typer.Option(...) / typer.Argument(...):
    an option by its flags, an argument by its metavar or parameter name."""
    found = []
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        annotated: dict[int, str] = {}  # id(call) -> the type it annotates
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Annotated"
                and isinstance(node.slice, ast.Tuple)
            ):
                kind, *extra = node.slice.elts
                for item in extra:
                    annotated[id(item)] = ast.unparse(kind)
        params = {  # an argument has no flags: it is known by its parameter's name
            id(arg.annotation.slice.elts[1]): arg.arg  # type: ignore[union-attr]
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            for arg in node.args.args + node.args.kwonlyargs
            if isinstance(arg.annotation, ast.Subscript)
            and isinstance(arg.annotation.slice, ast.Tuple)
            and len(arg.annotation.slice.elts) > 1
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "typer"
                and node.func.attr in ("Option", "Argument")
            ):
                continue
            flags = tuple(a.value for a in node.args if isinstance(a, ast.Constant))
            if node.func.attr == "Argument":
                metavar = [k.value for k in node.keywords if k.arg == "metavar"]
                name = ast.unparse(metavar[0]) if metavar else params.get(id(node), "?")
                flags = (f"argument {name}",)
            where = f"{path.name}:{node.lineno}"
            found.append((flags, annotated.get(id(node), "<not in Annotated>"), where))
    return found


def test_every_option_is_declared_once():
    """An option shared by several commands (--stack, --phase, --yes, --format: its enum) is
    one Annotated alias in cli/options.py; a second declaration of the same flags and type
    anywhere in cli/ is a copy that drifts."""
    declarations = _declarations()
    assert len(declarations) > 40  # the walk finds them
    seen: dict[tuple[tuple[str, ...], str], str] = {}
    copies = []
    for flags, kind, where in declarations:
        assert kind != "<not in Annotated>", f"{where}: declare options as Annotated[T, ...]"
        key = (flags, kind)
        if key in seen:
            copies.append(f"{' '.join(flags)} ({kind}) at {seen[key]} and {where}")
        seen.setdefault(key, where)
    assert not copies, "declared twice:\n" + "\n".join(copies)


def test_every_choice_enum_is_declared_once():
    """table/json, table/json/markdown: one enum each (cli/options.py)."""
    seen: dict[frozenset[str], str] = {}
    copies = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.ClassDef)
                and any(ast.unparse(b) in ("StrEnum", "Enum") for b in node.bases)
            ):
                continue
            members = frozenset(
                t.id
                for item in node.body
                if isinstance(item, ast.Assign)
                for t in item.targets
                if isinstance(t, ast.Name)
            )
            where = f"{path.name}:{node.name}"
            if members in seen:
                copies.append(f"{sorted(members)}: {seen[members]} and {where}")
            seen.setdefault(members, where)
    assert not copies, copies


def test_no_private_typer_or_click_module_is_imported():
    """Typer's vendored Click (typer._click) and Click's internals change without notice:
    the CLI uses Typer's public API only (typer.TyperException, cls=, epilog=)."""
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top, *rest = name.split(".")
                assert top != "click", f"{path.name} imports {name}"
                assert top != "typer" or not any(p.startswith("_") for p in rest), (
                    f"{path.name} imports {name}"
                )
        assert ".registered_commands" not in path.read_text(encoding="utf-8"), path.name


def test_usage_errors_read_plainly(cli):
    """No `Value error, ` from the validation behind Typer's parsing; choices as `a, b`."""
    result = cli("plan", "--format", "xml")
    assert result.code == 2
    assert "Value error" not in result.err
    assert "'xml' is not one of 'table', 'json', 'markdown'." in result.err
    result = cli("schema", "bogus")
    assert result.code == 2 and "\t" not in result.err and "Value error" not in result.err


def test_usage_text_lists_choices_on_one_line():
    raw = "Usage: x\n\nError: Missing argument 'action'. Choose from:\n\tplan,\n\tapply\n"
    assert usage_text(raw) == (
        "Usage: x\n\nError: Missing argument 'action'. Choose from: plan, apply.\n"
    )
    assert usage_text("Error: Value error, 'x' is bad.\n") == "Error: 'x' is bad.\n"


def test_db_shards_plans_by_default(cli, workspace):
    """The example of `db shards --help` (`db shards --stack production`) is no usage error
    about a missing ACTION: plan is the default; production's phase (growth) has no shards."""
    result = cli("db", "shards", "--stack", "production")
    assert result.code == 2
    assert "Missing argument" not in result.err
    assert "does not shard its database" in result.err


def test_db_migrate_to_rds_is_still_accepted_with_a_warning(cli, workspace):
    """`--to` of `db migrate` meant nothing (rds was its only value): older scripts that pass
    `--to rds` still run, told to drop it; any other value is a usage error."""
    result = cli("db", "migrate", "--stack", "production", "--to", "rds")
    assert "--to rds is no longer needed" in result.err
    assert "not set up for a migration to RDS" in result.err  # it went on to the stack
    result = cli("db", "migrate", "--stack", "production", "--to", "aurora")
    assert result.code == 2 and "--to aurora" in result.err
    assert "--to" not in cli("db", "migrate", "--help").out
