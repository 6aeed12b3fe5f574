"""Golden snapshots: compare text with a file kept in the repository.

    from golden import assert_golden    # tests/ is on sys.path (pytest's rootdir conftest)

    assert_golden("cli/phases.txt", text)           # tests/golden/cli/phases.txt
    assert_golden(case_dir / "stderr.txt", text)    # a path of your own

A name is a path under tests/golden/; a Path (or an absolute string) is used as it is. With
UPDATE_GOLDEN=1 in the environment the file is (re)written and the test passes; otherwise a
difference fails the test with a unified diff. Review the diff before committing new goldens.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def golden_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    return path if isinstance(name_or_path, Path) or path.is_absolute() else GOLDEN_DIR / path


def updating() -> bool:
    return os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


def assert_golden(name_or_path: str | Path, text: str) -> None:
    """Fail unless `text` equals the golden file (rewrite it under UPDATE_GOLDEN=1)."""
    path = golden_path(name_or_path)
    shown = _shown(path)
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(
            f"golden file {shown} does not exist; create it with UPDATE_GOLDEN=1 "
            "and review it before committing",
            pytrace=False,
        )
    expected = path.read_text(encoding="utf-8")
    if expected == text:
        return
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{shown} (golden)",
            tofile=f"{shown} (actual)",
        )
    )
    pytest.fail(
        f"output differs from golden file {shown}:\n{diff}\n"
        "If the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff.",
        pytrace=False,
    )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return str(path)
