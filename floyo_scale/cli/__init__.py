"""The floyo-scale command line: Typer commands, one module per command group. Each command
parses, calls one library function, renders the result, exits. No logic lives here.

Owns: the app and its one error boundary (root: FloyoError -> message, hint, exit code), the
shared options (options), the spec commands (spec), the offline commands (offline), the
engine commands (engine), the db group (db), status (status).
May import: everything below it (errors, spec, offline, cost, guards, policy, report,
engine, render). Nothing imports cli. Commands import what they need inside their bodies,
so `floyo-scale --help` and `validate` never import Pulumi.

Entry points: `floyo_scale.cli:run` (the console script) and `floyo_scale.cli.main(argv)`.
"""

from .options import OPTIONS
from .root import app, main, run

__all__ = ["OPTIONS", "app", "main", "run"]
