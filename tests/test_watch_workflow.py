"""The daily watch (.github/workflows/watch.yml, issue 19) as it runs: `status --record`, then
`drift`, and one script that builds the issue body from both and opens, comments on or
closes the issues. The script is taken from the workflow itself and run with bash against a
fake `gh` that records each call (and the body it was given), for each outcome of status and
drift."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WATCH = REPO / ".github" / "workflows" / "watch.yml"

FAKE_GH = """#!/bin/sh
# records every call; `issue list` answers with $FAKE_OPEN (an open issue's number, or none)
echo "gh $*" >> "$GH_LOG"
prev=""
for arg in "$@"; do
  if [ "$prev" = "--body-file" ]; then sed 's/^/  | /' "$arg" >> "$GH_LOG"; fi
  prev="$arg"
done
if [ "$1 $2" = "issue list" ]; then printf '%s\\n' "$FAKE_OPEN"; fi
exit 0
"""


def steps() -> dict[str, dict]:
    job = yaml.safe_load(WATCH.read_text())["jobs"]["status"]
    return {s.get("id") or s.get("name") or s.get("run", ""): s for s in job["steps"]}


def test_status_records_and_drift_runs_read_only() -> None:
    found = steps()
    assert (
        "floyo-scale status --stack production --record --format markdown"
        in (found["status"]["run"])
    )
    assert "floyo-scale drift --stack production" in found["drift"]["run"]
    # drift runs after status, and the issue step reads both exit codes
    names = list(found)
    assert names.index("status") < names.index("drift")
    issue = found["Open, update or close the status issue"]
    assert issue["env"]["CODE"] == "${{ steps.status.outputs.code }}"
    assert issue["env"]["DRIFT"] == "${{ steps.drift.outputs.code }}"


def run_issue_step(tmp_path: Path, code: int, drift: int, open_issue: str = "") -> tuple[int, str]:
    script = steps()["Open, update or close the status issue"]["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(0o755)
    (tmp_path / "status.md").write_text(
        "## floyo-scale status: `production` at `growth`\n\nevery seed threshold measured\n"
    )
    (tmp_path / "drift.txt").write_text(
        "Drift on stack production: 1 resources differ\n\n"
        "  aws:s3:BucketVersioning uploads: changed: versioningConfiguration\n"
    )
    (tmp_path / "drift-error.txt").write_text(
        "error: AWS refused the refresh (AccessDenied)\n" if drift not in (0, 7) else ""
    )
    log = tmp_path / "gh.log"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GH_LOG": str(log),
        "FAKE_OPEN": open_issue,
        "LABEL": "floyo-status",
        "BLIND_LABEL": "floyo-watch-blind",
        "CODE": str(code),
        "DRIFT": str(drift),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    return done.returncode, log.read_text() if log.exists() else ""


def test_no_drift_and_green_closes_the_issues(tmp_path: Path) -> None:
    code, log = run_issue_step(tmp_path, 0, 0, open_issue="12")
    assert code == 0
    assert "gh issue close 12" in log and "gh issue create" not in log
    assert "The cloud matches the state of `production`" in (tmp_path / "status.md").read_text()


def test_drift_opens_the_status_issue_naming_the_resources(tmp_path: Path) -> None:
    code, log = run_issue_step(tmp_path, 0, 7)
    assert code == 0  # a finding, as a crossed threshold: the issue is the alert
    assert "gh issue create --label floyo-status" in log
    assert "  | ### Drift" in log
    assert "  |   aws:s3:BucketVersioning uploads: changed: versioningConfiguration" in log
    assert "gh issue close" not in log
    assert "gh issue create --label floyo-watch-blind" not in log


def test_drift_that_cannot_be_checked_is_blind(tmp_path: Path) -> None:
    code, log = run_issue_step(tmp_path, 0, 4)
    assert code == 9
    assert "gh issue create --label floyo-watch-blind" in log
    assert "  | error: AWS refused the refresh (AccessDenied)" in log
    assert "gh issue close" not in log


@pytest.mark.parametrize("drift", [0, 7])
def test_a_crossed_threshold_comments_on_the_open_issue(tmp_path: Path, drift: int) -> None:
    code, log = run_issue_step(tmp_path, 8, drift, open_issue="12")
    assert code == 0
    assert "gh issue comment 12 --body-file status.md" in log
    assert "gh issue close" not in log


def test_blind_and_drifted_reports_both(tmp_path: Path) -> None:
    code, log = run_issue_step(tmp_path, 9, 7)
    assert code == 9
    assert "gh issue create --label floyo-status" in log
    assert "gh issue create --label floyo-watch-blind" in log
