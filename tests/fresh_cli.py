"""`floyo-scale ARGS` in a fresh interpreter, and which modules it loaded: for the tests that
hold a command to its imports (the spec commands load no Pulumi, `db archive` no engine).

    from fresh_cli import run_fresh      # tests/ is on sys.path (pytest's rootdir conftest)

    code, loaded, stderr = run_fresh(["validate"], cwd=workspace, tops=("pulumi",))
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PROBE = (
    "import json, sys\n"
    "from floyo_scale.cli import main\n"
    "code = main(json.loads(sys.argv[1]))\n"
    "tops, prefixes = json.loads(sys.argv[2]), tuple(json.loads(sys.argv[3]))\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in tops\n"
    "                or (prefixes and m.startswith(prefixes)))\n"
    "sys.stderr.write(json.dumps({'code': code, 'loaded': loaded}))\n"
)


def run_fresh(
    args: list[str],
    *,
    cwd: Path,
    tops: tuple[str, ...],
    prefixes: tuple[str, ...] = (),
    timeout: float = 60,
) -> tuple[int, list[str], str]:
    """Run `floyo-scale ARGS` in a new Python process in `cwd`: its exit code, the modules it
    loaded whose top-level package is one of `tops` or whose name starts with one of
    `prefixes`, and its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(tops), json.dumps(prefixes)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    report = json.loads(done.stderr.splitlines()[-1])
    return report["code"], report["loaded"], done.stderr
