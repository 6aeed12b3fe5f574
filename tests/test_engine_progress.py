"""Engine events on screen: one plain line per event in CI, a live panel on a terminal."""

from __future__ import annotations

import io

from floyo_scale.engine.events import Event
from floyo_scale.render import progress

BUCKET = "aws:s3/bucket:Bucket"
URN = f"urn:pulumi:staging::floyo::{BUCKET}::uploads"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain(events: list[Event], clock: Clock | None = None) -> list[str]:
    lines: list[str] = []
    display = progress.PlainDisplay(lines.append, clock or Clock())
    for event in events:
        display(event)
    return [line.rstrip("\n") for line in lines]


def test_plain_lines_follow_an_update():
    clock = Clock()
    lines: list[str] = []
    display = progress.PlainDisplay(lines.append, clock)
    display(Event("start", op="up", total=2))
    display(Event("step", "same", "urn:stack", "pulumi:pulumi:Stack", "floyo-staging"))
    display(Event("step", "create", URN, BUCKET, "uploads"))
    clock.now += 65
    display(Event("done", "create", URN, BUCKET, "uploads"))
    display(Event("diagnostic", message="info only", severity="info"))
    display(Event("summary", counts={"create": 1, "same": 1}))
    assert [line.rstrip("\n") for line in lines] == [
        "[00:00] up started (2 changes)",
        "[00:00] creating aws:s3:Bucket uploads",
        "[01:05] created aws:s3:Bucket uploads [1/2 done]",
        "[01:05] up finished: 1 create (1 unchanged)",
    ]


def test_a_failure_names_the_resource_and_the_providers_message():
    lines = plain(
        [
            Event("start", op="up"),
            Event("step", "create", URN, BUCKET, "uploads"),
            Event("diagnostic", "", URN, BUCKET, "uploads", "BucketAlreadyExists", "error"),
            Event("failed", "create", URN, BUCKET, "uploads"),
        ]
    )
    assert lines[-2:] == [
        "[00:00] error (aws:s3:Bucket uploads): BucketAlreadyExists",
        "[00:00] FAILED create aws:s3:Bucket uploads: BucketAlreadyExists",
    ]


def test_planned_steps_of_a_preview_are_not_listed_one_by_one():
    lines = plain(
        [
            Event("start", op="preview"),
            Event("step", "create", URN, BUCKET, "uploads", preview=True),
            Event("done", "create", URN, BUCKET, "uploads", preview=True),
            Event("summary", counts={"create": 1}),
        ]
    )
    assert lines == ["[00:00] preview started", "[00:00] preview finished: 1 create"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_display_is_live_on_a_terminal_and_plain_elsewhere():
    with progress.display(Tty(), {"TERM": "xterm"}) as sink:
        assert isinstance(sink, progress.LiveDisplay)
    with progress.display(Tty(), {"TERM": "xterm", "CI": "true"}) as sink:
        assert isinstance(sink, progress.PlainDisplay)
    with progress.display(Tty(), {"TERM": "dumb"}) as sink:
        assert isinstance(sink, progress.PlainDisplay)
    with progress.display(io.StringIO(), {}) as sink:
        assert isinstance(sink, progress.PlainDisplay)


def test_the_live_panel_shows_done_total_running_and_time():
    clock = Clock()
    stream = Tty()
    live = progress.LiveDisplay(stream, clock)
    live(Event("start", op="up", total=3))
    live(Event("step", "create", URN, BUCKET, "uploads"))
    live(Event("step", "update", "urn:2", "aws:sns/topic:Topic", "alerts"))
    live(Event("done", "update", "urn:2", "aws:sns/topic:Topic", "alerts"))
    clock.now += 12
    panel = live._render().plain.splitlines()
    assert panel == ["up: 1/3 done · 00:12", "  creating aws:s3:Bucket uploads"]


def test_the_live_display_prints_finished_steps_above_the_panel():
    stream = Tty()
    with progress.LiveDisplay(stream, Clock()) as live:
        live(Event("start", op="up", total=1))
        live(Event("step", "create", URN, BUCKET, "uploads"))
        live(Event("done", "create", URN, BUCKET, "uploads"))
        with live.paused():
            pass
    assert "created aws:s3:Bucket uploads [1/1 done]" in stream.getvalue()


def test_a_replacement_finishes_one_resource():
    lines = plain(
        [
            Event("start", op="up", total=1),
            Event("done", "create-replacement", URN, BUCKET, "uploads"),
            Event("done", "replace", URN, BUCKET, "uploads"),
            Event("done", "delete-replaced", URN, BUCKET, "uploads"),
        ]
    )
    assert lines[-1] == "[00:00] deleted replaced aws:s3:Bucket uploads [1/1 done]"


def test_a_resource_a_provider_adopted_is_said_so_on_screen():
    """The Supabase provider notes in an `adopted` output when it took over a project an
    earlier, interrupted run created; the display shows that note as a warning."""
    import pulumi.automation as auto
    from engine_fakes import step_event

    from floyo_scale.engine.events import _Events

    project = "pulumi-python:dynamic/supabase:Project"
    note = "adopted Supabase project 'floyo-staging' (abcdefghijklmnopqrst): an earlier attempt"
    raw = step_event("resOutputsEvent", "create", project, "primary")
    meta = raw["resOutputsEvent"]["metadata"]
    meta["new"] = {"type": project, "urn": meta["urn"], "outputs": {"adopted": note}}
    seen: list[Event] = []
    _Events(seen.append, lambda text: text, preview=False)(auto.EngineEvent.from_json(raw))
    assert [e.kind for e in seen] == ["done", "diagnostic"]
    assert seen[1].severity == "warning" and seen[1].message == note
    assert plain(seen)[-1].endswith(f"warning (supabase:Project primary): {note}")

    quiet = step_event("resOutputsEvent", "create", project, "primary")  # nothing adopted
    seen.clear()
    _Events(seen.append, lambda text: text, preview=False)(auto.EngineEvent.from_json(quiet))
    assert [e.kind for e in seen] == ["done"]
