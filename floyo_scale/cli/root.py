"""The floyo-scale command line: parse, call one library function, render, exit.

No logic lives here. `main()` is the one error boundary: library errors (FloyoError) become
a message, a hint and an exit code (errors.ExitCode); anything else is exit 1 with a
traceback only under --traceback. Commands import what they need inside their bodies, so
`floyo-scale --help` and `validate` never import Pulumi.
"""

from __future__ import annotations

import io
import os
import re
import sys
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import ExitCode, FloyoError, OutputError, SpecError
from . import db, db_advise, db_move, engine, offline, spec, status
from .options import OPTIONS, Group, RootOpt, StdoutClosed, err, flush_stdout

app = typer.Typer(
    name="floyo-scale",
    help="Floyo's scaling strategy as code: validate phases and stacks, plan offline, "
    "and drive Pulumi to build them.",
    no_args_is_help=True,
    cls=Group,  # real metavars in every --help (each command: options.command)
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"floyo-scale {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    root: RootOpt = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the traceback of an unexpected error.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    OPTIONS.root = root
    OPTIONS.traceback = traceback


# -- the commands, one module per group, in the order --help lists them ------------------

spec.register(app)  # validate, phases, show, schema
offline.register(app)  # plan, diff, graph, cost
engine.register(app)  # setup, preview, up, destroy, refresh, drift, outputs, cancel
db.register(app)  # db partition, db archive, db restore
db_move.register()  # db shards, db migrate (on the same group)
db_advise.register()  # db advise (on the same group)
status.register(app)  # status


# -- the error boundary --------------------------------------------------------------------


def usage_text(text: str) -> str:
    """A usage error as Click words it, said plainly: no `Value error, ` (the prefix of the
    validation behind Typer's parsing), and choices as `a, b, c` rather than one per
    tab-indented line."""
    text = text.replace("Value error, ", "")
    return re.sub(
        r"Choose from:\n((?:\t[^\n]*(?:\n|$))+)",
        lambda m: (
            "Choose from: "
            + ", ".join(
                item.strip().rstrip(",.") for item in m.group(1).split("\n") if item.strip()
            )
            + ".\n"
        ),
        text,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to its exit code. Returns the code (used by tests)."""
    command = typer.main.get_command(app)
    # the screen tables and colour are made for: stdout's width (COLUMNS) and colour (a
    # terminal, NO_COLOR); put back afterwards, so a run in-process leaves no trace
    from ..render import text as render_text

    screen = render_text.screen()
    render_text.use(render_text.Screen.detect(sys.stdout, os.environ))
    try:
        return _main(command, argv)
    finally:
        render_text.use(screen)


def _main(command: Any, argv: list[str] | None) -> int:
    try:
        # without standalone mode, an Exit (--help, --version, Ctrl-C as 130) is returned
        result = command.main(args=argv, prog_name="floyo-scale", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
        flush_stdout()
    except (StdoutClosed, BrokenPipeError):
        # the reader went away (`floyo-scale diff growth scale | head -1`): end quietly, as
        # a tool killed by SIGPIPE would (128 + 13)
        _discard_stdout()
        code = ExitCode.PIPE_CLOSED
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        err("aborted\n")
        code = ExitCode.INTERRUPTED
    except typer.TyperException as exc:  # a usage error, as Click words it (Typer's base class)
        shown = io.StringIO()
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=shown)
        else:
            shown.write(f"Error: {exc.format_message()}\n")
        err(usage_text(shown.getvalue()))
        code = exc.exit_code
    except SpecError as exc:
        from ..render import spec_error_text

        err(_scrub(spec_error_text(exc)))
        code = exc.exit_code
    except FloyoError as exc:
        if isinstance(exc, OutputError):
            _discard_stdout()  # what could not be written is dropped, not retried at exit
        err(_wrapped(f"error: {exc.message}\n" + (f"  hint: {exc.hint}\n" if exc.hint else "")))
        code = exc.exit_code
    except KeyboardInterrupt:
        err("interrupted\n")
        code = ExitCode.INTERRUPTED
    except Exception as exc:  # the boundary: anything else is a bug
        if OPTIONS.traceback or "--traceback" in (argv or sys.argv):
            import traceback

            # the chain may quote a password (psycopg's message on a malformed URL does)
            err(_scrub(traceback.format_exc()))
        err(
            _scrub(f"error: unexpected {type(exc).__name__}: {exc}\n")
            + "  hint: this is a bug in floyo-scale; rerun with --traceback and report it\n"
        )
        code = ExitCode.UNEXPECTED
    return int(code)


def _wrapped(text: str) -> str:
    """An error and its hints, scrubbed, each line wrapped between words to the screen's
    width (as `doctor` wraps the same text), its continuation lines indented."""
    from ..render.text import lines_text

    return lines_text(_scrub(text).splitlines())


def _scrub(text: str) -> str:
    """What the boundary prints, through the one redactor once more: passwords in URLs and
    `password=` settings, Supabase tokens, and the values of the well-known credential
    variables, whatever the library forgot."""
    from ..transport.redact import from_environment

    return from_environment(os.environ)(text)


def _discard_stdout() -> None:
    """Point stdout's file descriptor at the null device, so that run()'s flush before it ends
    does not fail a second time on what is still buffered (the Python documentation's "Note
    on SIGPIPE"). Nothing to do when stdout is not a real file (tests capture it)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def run() -> None:  # console-script entry point
    """Run the command, then end without the interpreter's teardown.

    Once main() has returned, every file the command wrote is closed (all through `with`),
    every thread it must wait for joined (the others are daemons, abandoned at exit anyway),
    and nothing of ours registers atexit handlers: the teardown would only free memory, and
    it takes 0.1-0.3 s with pyarrow, psycopg and boto3 loaded (measured: `db archive` of a
    1,000-row partition 0.82-0.87 s, of which 0.16-0.2 s after its last step). Under Pulumi's
    mocks the runtime also leaves event loops in worker threads whose teardown sometimes
    prints "Invalid file descriptor: -1" (PROVIDERS.md, "Measured here")."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
