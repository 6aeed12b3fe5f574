"""Signal forwarding with real child processes: a small Python script that traps signals
stands in for `pulumi` (pulumi/pulumi#9103: the Automation API alone kills the child)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pulumi.automation as auto
import pytest

from floyo_scale import engine
from floyo_scale.errors import Interrupted

CHILD = """
import os, signal, sys, time

mode = sys.argv[1]
count = 0

def on_signal(signum, frame):
    global count
    count += 1
    print(f"got {signal.Signals(signum).name} #{count}", flush=True)
    if mode == "graceful":
        time.sleep(0.2)  # finishing in-flight work, releasing the lock
        print("stopped gracefully", flush=True)
        sys.exit(3)
    if mode == "twice" and count == 2:
        sys.exit(4)

if mode == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
print(f"ready session={os.getsid(0)}", flush=True)
end = time.monotonic() + 20
while time.monotonic() < end:
    time.sleep(0.02)
print("finished", flush=True)
"""

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@pytest.fixture
def child(tmp_path: Path) -> Path:
    script = tmp_path / "fake_pulumi.py"
    script.write_text(CHILD)
    return script


def run(
    script: Path,
    mode: str,
    signals: list[int],
    *,
    grace: float = 5.0,
    kill_after: float = 5.0,
    between: float = 0.0,
) -> tuple[int, list[str], engine.SignalReport]:
    """Run the fake child under a SignalForwarder; once it is ready, send `signals` to this
    process (as a terminal or a CI runner would), `between` seconds apart."""
    lines: list[str] = []

    def send() -> None:
        for i, sig in enumerate(signals):
            if i:
                time.sleep(between)
            os.kill(os.getpid(), sig)

    def on_output(line: str) -> None:
        lines.append(line)
        if line.startswith("ready"):
            threading.Thread(target=send, daemon=True).start()

    with engine.SignalForwarder(grace=grace, kill_after=kill_after) as forwarder:
        code, _, _ = engine.run_child(
            [sys.executable, str(script), mode], str(script.parent), dict(os.environ), on_output
        )
    # stopped by the signals, not run to its end (20 s later): order, not a bound in seconds
    assert "finished" not in lines, lines
    return code, lines, forwarder.report


def test_the_first_signal_is_forwarded_once_and_the_child_stops_gracefully(child):
    code, lines, report = run(child, "graceful", [signal.SIGINT])
    assert code == 3
    assert lines[1:] == ["got SIGINT #1", "stopped gracefully"]
    assert report.signals == [signal.SIGINT]
    assert not report.escalated and not report.killed


def test_sigterm_reaches_the_child_as_sigint(child):
    code, lines, report = run(child, "graceful", [signal.SIGTERM])
    assert code == 3
    assert "got SIGINT #1" in lines  # Pulumi's graceful path is its SIGINT handler
    assert report.name == "SIGTERM"


def test_sighup_is_forwarded_too(child):
    code, lines, _ = run(child, "graceful", [signal.SIGHUP])
    assert code == 3 and "got SIGINT #1" in lines


def test_a_child_still_running_after_the_grace_period_is_told_to_stop_at_once(child):
    code, lines, report = run(child, "twice", [signal.SIGINT], grace=0.3)
    assert code == 4
    assert lines[1:] == ["got SIGINT #1", "got SIGINT #2"]
    assert report.escalated and not report.killed


def test_a_second_signal_escalates_without_waiting(child):
    # the grace period (30 s) outlasts the child (20 s): had the forwarder waited it out, the
    # child would have printed "finished" (which run() refuses) instead of stopping at once
    code, lines, report = run(child, "twice", [signal.SIGINT, signal.SIGINT], grace=30, between=0.3)
    assert code == 4 and report.escalated
    assert report.signals == [signal.SIGINT, signal.SIGINT]


def test_a_child_that_ignores_everything_is_killed(child):
    code, lines, report = run(child, "ignore", [signal.SIGINT], grace=0.2, kill_after=0.2)
    assert code == -signal.SIGKILL
    assert report.escalated and report.killed
    assert "finished" not in lines


def test_the_child_runs_in_its_own_session(child):
    """A terminal's Ctrl-C goes to its foreground process group: the child is outside it, so
    it receives exactly the one SIGINT floyo-scale forwards."""
    code, lines, _ = run(child, "graceful", [signal.SIGINT])
    session = int(lines[0].split("session=")[1])
    assert session != os.getsid(0)


def test_handlers_are_restored_afterwards(child):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    run(child, "graceful", [signal.SIGINT])
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert not engine.CHILDREN.stopping


def test_no_new_child_starts_once_a_signal_arrived(child, monkeypatch):
    monkeypatch.setattr(engine.CHILDREN, "stopping", True)
    with pytest.raises(Interrupted):
        engine.run_child([sys.executable, str(child), "graceful"], str(child.parent), {})


def test_the_pulumi_command_runs_as_the_automation_api_runs_it(tmp_path):
    """PulumiCLI.run keeps PulumiCommand.run's contract: --non-interactive first, the
    Automation API's environment, output callbacks, and errors classified by the SDK."""
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "print(' '.join(sys.argv[1:]))\n"
        "print(os.environ['PULUMI_AUTOMATION_API'], os.environ['FLOYO_TEST'])\n"
        "print(os.environ['PATH'].split(os.pathsep)[0])\n"
        "if 'up' in sys.argv:\n"
        "    print('error: the stack is currently locked by 1 lock(s).', file=sys.stderr)\n"
        "    sys.exit(255)\n"
    )
    fake.chmod(0o755)
    cli = engine.PulumiCLI.__new__(engine.PulumiCLI)  # skip `pulumi version`
    cli.command = str(fake)
    seen: list[str] = []
    result = cli.run(["stack", "ls", "--", "x"], str(tmp_path), {"FLOYO_TEST": "1"}, seen.append)
    assert result.stdout.splitlines() == [
        "--non-interactive stack ls -- x",
        "true 1",
        str(fake.parent),  # bundled plugins next to the binary come first
    ]
    assert seen == result.stdout.splitlines()
    with pytest.raises(auto.ConcurrentUpdateError):
        cli.run(["up"], str(tmp_path), {"FLOYO_TEST": "1"})
