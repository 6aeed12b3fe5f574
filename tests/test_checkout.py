"""Subprocess tests run the code of the checkout under test, not an installed floyo-scale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_a_subprocess_imports_this_checkout(tmp_path: Path) -> None:
    # a marker only this checkout has: the file the subprocess's floyo_scale comes from
    probe = "import floyo_scale, floyo_scale.cli; print(floyo_scale.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert Path(done.stdout.strip()) == REPO / "floyo_scale" / "__init__.py"
    assert str(REPO) in os.environ["PYTHONPATH"].split(os.pathsep)


def test_python_m_floyo_scale_runs_this_checkouts_cli(tmp_path: Path) -> None:
    # `python -m floyo_scale` loads floyo_scale/__main__.py of this checkout
    probe = "import floyo_scale.__main__ as m; print(m.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert Path(done.stdout.strip()) == REPO / "floyo_scale" / "__main__.py"
    version = subprocess.run(
        [sys.executable, "-m", "floyo_scale", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("floyo-scale ")
