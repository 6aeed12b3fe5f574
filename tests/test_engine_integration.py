"""The real Pulumi engine on a temporary file backend, with a program that creates no cloud
resource: up, outputs, drift, refresh, destroy, cancel. Skipped (with the reason) where the
`pulumi` CLI is absent, as on the development and CI machines."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fakes import SECRET_ENV, make_workspace

from floyo_scale import engine
from floyo_scale.errors import EngineError
from floyo_scale.spec import Workspace, load_stack


def _cli_missing() -> str | None:
    try:
        engine.find_cli()
    except EngineError as exc:
        return f"requires the pulumi CLI ({exc.message}; `floyo-scale setup` installs it)"
    return None


MISSING = _cli_missing()
pytestmark = [
    pytest.mark.requires_pulumi,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]


def no_cloud_program() -> None:
    """Registers a component and exports, like the real program's outputs; no provider."""
    import pulumi

    class Marker(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("floyo:test:Marker", name, {}, None)
            self.register_outputs({})

    Marker("marker")
    pulumi.export("phase", "growth")
    pulumi.export("database_url", pulumi.Output.secret("postgresql://u:p@h/db"))


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> engine.Session:
    root = make_workspace(tmp_path / "repo")
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    target = engine.prepare(load_stack(Workspace(root), "staging"), root)
    (tmp_path / "state").mkdir()
    return engine.open_session(target, create=True, program=no_cloud_program)


def test_up_outputs_drift_refresh_destroy(session: engine.Session) -> None:
    preview = session.preview()
    assert {s.op for s in preview.changes} == {"create"}
    assert preview.unreadable == 0  # every step the summary counts was announced and read

    report = session.up()
    assert report.counts.get("create", 0) >= 2  # the stack and the marker
    assert report.outputs["database_url"].secret
    assert session.deployed_phase() == "growth"

    assert session.drift().drifted == ()
    assert session.refresh().get("same", 0) >= 1
    assert session.lock_holders() == ()  # released after each operation

    assert session.destroy().get("delete", 0) >= 1
    assert session.outputs() == {}


def test_cancel_without_a_lock(session: engine.Session) -> None:
    assert session.cancel() == ()


def test_a_fresh_work_folder_keeps_the_states_secrets_provider(
    session: engine.Session,
) -> None:
    """A CI checkout has no .floyo/work: with PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER the
    CLI takes the provider the state records (here the passphrase, with its salt) instead
    of making a new one."""
    import shutil

    session.up()
    recorded = session._state()["secrets_providers"]
    assert recorded["type"] == "passphrase"
    shutil.rmtree(session.target.work_dir)
    again = engine.open_session(session.target, program=no_cloud_program)
    again.up()
    assert again._state()["secrets_providers"] == recorded
    again.destroy()
