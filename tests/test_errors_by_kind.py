"""Errors by kind: what a provider, its SDK or the network raises is caught where it may
happen and reported; anything else is a bug and reaches the one boundary (cli/root.py).

One test a site: a programming error (a TypeError from a stubbed reader) propagates, and a
provider's error is still reported as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from engine_fakes import make_workspace

from floyo_scale.errors import EngineError, ProviderError, provider_errors
from floyo_scale.spec import ResolvedStack, Workspace, load_stack


def bug(*args: Any, **kwargs: Any) -> Any:
    raise TypeError("a bug, not the provider")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("errors") / "repo")


@pytest.fixture
def staging(root: Path) -> ResolvedStack:
    return load_stack(Workspace(root), "staging")


def test_provider_errors_name_the_sdks_in_use_and_never_a_bug() -> None:
    kinds = provider_errors()
    assert ProviderError in kinds and OSError in kinds and ClientError in kinds
    assert not any(issubclass(TypeError, k) or issubclass(KeyError, k) for k in kinds)


# -- observe/collect.py --------------------------------------------------------------------


def test_collect_reports_a_providers_error_and_raises_a_bug() -> None:
    from floyo_scale.observe.collect import Source, collect
    from floyo_scale.observe.thresholds import SourceState

    def denied(deadline: float) -> list[Any]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")

    [result] = collect([Source("aws", denied)], timeout=5)
    assert result.state is SourceState.FAILED and "AccessDenied" in result.message
    with pytest.raises(TypeError, match="a bug"):
        collect([Source("aws", denied), Source("odd", bug)], timeout=5)


# -- observe/status.py ---------------------------------------------------------------------


def test_status_notes_a_failed_estimate_and_raises_a_bug(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from floyo_scale.observe import inventories
    from floyo_scale.observe import status as status_mod

    monkeypatch.setattr(status_mod, "build_sources", lambda *args: [])
    options = dict(env={}, read_outputs=lambda stack: None, recommend=False, timeout=5.0)
    monkeypatch.setattr(inventories, "inventory_for", bug)
    with pytest.raises(TypeError, match="a bug"):
        status_mod.status_report(Workspace(root), "dev", status_mod.StatusOptions(**options))

    out: dict[str, Any] = {}
    monkeypatch.setattr(inventories, "inventory_for", lambda *a: (_ for _ in ()).throw(
        EngineError("the mock engine cannot answer")))  # fmt: skip
    status_mod._synthesize_into(load_stack(Workspace(root), "dev"), None, out)
    assert out == {"error": "EngineError: the mock engine cannot answer"}


def test_status_aws_source_a_missing_profile_is_unavailable_a_bug_propagates(
    staging: ResolvedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from botocore.exceptions import ProfileNotFound

    from floyo_scale.observe import status as status_mod
    from floyo_scale.observe import targets as targets_mod
    from floyo_scale.observe.collect import SourceUnavailable
    from floyo_scale.observe.window import Window

    def source() -> Any:
        targets = targets_mod.from_spec(staging)
        return status_mod._aws_source(staging, targets, {}, Window.at(None, 24), 5.0)

    monkeypatch.setattr(boto3, "Session", lambda **kw: (_ for _ in ()).throw(
        ProfileNotFound(profile="nowhere")))  # fmt: skip
    with pytest.raises(SourceUnavailable, match="no AWS credentials"):
        source().read(0.0)
    monkeypatch.setattr(boto3, "Session", bug)
    with pytest.raises(TypeError, match="a bug"):
        source().read(0.0)


# -- observe/targets.py --------------------------------------------------------------------


def test_targets_note_unreadable_outputs_and_raise_a_bug(staging: ResolvedStack) -> None:
    from floyo_scale.observe.targets import resolve

    def locked(stack: ResolvedStack) -> Any:
        raise EngineError("the backend is unreachable")

    targets = resolve(staging, Path("."), {}, read_outputs=locked)
    assert "the stack's outputs could not be read: the backend is unreachable" in targets.notes
    with pytest.raises(TypeError, match="a bug"):
        resolve(staging, Path("."), {}, read_outputs=bug)


# -- engine/aws_preflight.py ---------------------------------------------------------------


class _Session:
    region_name = "us-east-1"
    profile_name = None

    def __init__(self, error: Exception) -> None:
        self.error = error

    def client(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


def test_preflight_translates_botocore_and_raises_a_bug(staging: ResolvedStack) -> None:
    from floyo_scale.engine.aws_preflight import check_aws, check_state_bucket

    unreachable = EndpointConnectionError(endpoint_url="https://sts.amazonaws.com")
    with pytest.raises(EngineError, match="could not reach AWS STS"):
        check_aws(staging, None, session_factory=lambda p: _Session(unreachable))
    with pytest.raises(TypeError, match="a bug"):
        check_aws(staging, None, session_factory=bug)
    with pytest.raises(TypeError, match="a bug"):
        check_aws(staging, None, session_factory=lambda p: _Session(TypeError("a bug")))
    with pytest.raises(TypeError, match="a bug"):
        check_state_bucket(
            "s3://bucket", staging, session_factory=lambda p: _Session(TypeError("a bug"))
        )


# -- engine/events.py: tests/test_engine_events.py (a display bug reaches the caller) -------

# -- offline/synth.py ----------------------------------------------------------------------


def test_synth_reports_a_refusing_program_and_raises_a_bug() -> None:
    import pulumi

    from floyo_scale.offline.synth import _run

    def refuses() -> None:
        raise pulumi.RunError("this phase cannot be built")

    with pytest.raises(EngineError, match="this phase cannot be built"):
        _run(refuses, "floyo", "dev")
    with pytest.raises(TypeError, match="a bug"):
        _run(bug, "floyo", "dev")
