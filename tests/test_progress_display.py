"""The one progress display (render.progress) for every progress.ProgressEvent: one plain line
per step in CI, JSON lines with --format json, a rich.progress display on a terminal. Every
clock here is a fake one: no assertion depends on how fast the machine is."""

from __future__ import annotations

import io
import json

from floyo_scale.progress import Count, Step
from floyo_scale.progress import ResourceEvent as Event
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
    with progress.display(Tty(), {"TERM": "xterm"}, json_lines=True) as sink:
        assert isinstance(sink, progress.JsonDisplay)


def live_text(live: progress.LiveDisplay) -> list[str]:
    """What the live display shows now, as plain text lines."""
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(live.progress.get_renderable())
    return [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]


def test_the_live_display_shows_done_total_running_and_time():
    clock = Clock()
    live = progress.LiveDisplay(Tty(), clock)
    live(Event("start", op="up", total=3))
    live(Event("step", "create", URN, BUCKET, "uploads"))
    live(Event("step", "update", "urn:2", "aws:sns/topic:Topic", "alerts"))
    live(Event("done", "update", "urn:2", "aws:sns/topic:Topic", "alerts"))
    clock.now += 12
    shown = live_text(live)
    assert len(shown) == 2
    assert shown[0].split()[1] == "up" and shown[0].endswith("1/3 done 0:00:12")
    assert "creating aws:s3:Bucket uploads" in shown[1] and shown[1].endswith("0:00:12")


def test_the_live_display_shows_a_steps_rows_and_bytes():
    clock = Clock()
    live = progress.LiveDisplay(Tty(), clock)
    where = "shard 0 events"
    live(Step(where, "copy rows"))
    live(Count(where, "copy rows", 10_000, 200_000, "rows"))
    live(Count(where, "upload", 8_400_000, None, "bytes"))
    clock.now += 65
    shown = live_text(live)
    assert len(shown) == 2
    assert "shard 0 events copy rows" in shown[0] and "10,000 rows of ~200,000" in shown[0]
    assert "shard 0 events upload" in shown[1] and "8.4 MB" in shown[1]
    assert shown[0].endswith("0:01:05")
    live(Step(where, "copy rows", "200000 rows", done=True))
    assert len(live_text(live)) == 1  # the finished step left the display


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

    from floyo_scale.engine.events import EventHandler

    project = "pulumi-python:dynamic/supabase:Project"
    note = "adopted Supabase project 'floyo-staging' (abcdefghijklmnopqrst): an earlier attempt"
    raw = step_event("resOutputsEvent", "create", project, "primary")
    meta = raw["resOutputsEvent"]["metadata"]
    meta["new"] = {"type": project, "urn": meta["urn"], "outputs": {"adopted": note}}
    seen: list[Event] = []
    EventHandler(seen.append, lambda text: text, preview=False)(auto.EngineEvent.from_json(raw))
    assert [e.kind for e in seen] == ["done", "diagnostic"]
    assert seen[1].severity == "warning" and seen[1].message == note
    assert plain(seen)[-1].endswith(f"warning (supabase:Project primary): {note}")

    quiet = step_event("resOutputsEvent", "create", project, "primary")  # nothing adopted
    seen.clear()
    EventHandler(seen.append, lambda text: text, preview=False)(auto.EngineEvent.from_json(quiet))
    assert [e.kind for e in seen] == ["done"]


def test_the_live_display_prints_a_finished_db_step_above_the_running_ones():
    stream = Tty()
    with progress.LiveDisplay(stream, Clock()) as live:
        live(Step("shard 0 events", "swap"))
        live(Step("shard 0 events", "swap", "31 ms", done=True))
    assert "✓ shard 0 events swap: 31 ms" in stream.getvalue()


# -- db steps and counts: one line per finished step ----------------------------------------


def test_ci_progress_is_one_line_per_finished_step() -> None:
    lines: list[str] = []
    ticks = iter([0.0, 1.0, 65.0])
    display = progress.PlainDisplay(lines.append, clock=lambda: next(ticks))
    where = "shard 0 events"
    display(Step(where, "copy rows"))
    display(Count(where, "copy rows", 10_000, 200_000, "rows"))
    display(Step(where, "copy rows", "200000 rows", done=True))
    display(Step(where, "swap"))
    display(Step(where, "swap", "31 ms", done=True))
    display(Count(where, "upload", 8_388_608, None, "bytes"))
    assert lines == [
        "[00:01] shard 0 events copy rows: 200000 rows\n",
        "[01:05] shard 0 events swap: 31 ms\n",
    ]


def test_setup_and_engine_events_share_one_display():
    """`setup` reports Steps (where "setup"), the engine ResourceEvents: one display, one
    clock, one line each."""
    clock = Clock()
    lines: list[str] = []
    display = progress.PlainDisplay(lines.append, clock)
    display(Step("setup", "install the Pulumi CLI 3.200.0", "into /data/pulumi"))
    clock.now += 30
    display(Step("setup", "install the Pulumi CLI 3.200.0", "installed into /data", done=True))
    display(Event("start", op="preview"))
    assert [line.rstrip("\n") for line in lines] == [
        "[00:30] setup install the Pulumi CLI 3.200.0: installed into /data",
        "[00:30] preview started",
    ]


# -- JSON lines (--format json) ------------------------------------------------------------


def json_lines(events: list, clock: Clock) -> list[dict]:
    lines: list[str] = []
    display = progress.JsonDisplay(lines.append, clock)
    for event in events:
        if isinstance(event, float):
            clock.now += event  # a pause between two events
        else:
            display(event)
    assert all(line.endswith("\n") and "\n" not in line[:-1] for line in lines)
    return [json.loads(line) for line in lines]


def test_json_lines_say_every_step_begin_and_end_with_its_time():
    where = "shard 1 orders"
    records = json_lines(
        [Step(where, "copy rows"), 2.5, Step(where, "copy rows", "10 rows", done=True)], Clock()
    )
    assert records == [
        {
            "event": "step",
            "t": 0.0,
            "where": where,
            "step": "copy rows",
            "detail": "",
            "done": False,
        },
        {
            "event": "step",
            "t": 2.5,
            "where": where,
            "step": "copy rows",
            "detail": "10 rows",
            "done": True,
        },
    ]


def test_json_lines_write_a_steps_counts_at_most_once_a_second_and_the_last():
    where = "shard 0 events"
    records = json_lines(
        [
            Count(where, "copy rows", 1, 100, "rows"),
            0.2,
            Count(where, "copy rows", 2, 100, "rows"),  # too soon: left out
            0.9,
            Count(where, "copy rows", 50, 100, "rows"),
            0.1,
            Count(where, "copy rows", 100, 100, "rows"),  # the total: always written
        ],
        Clock(),
    )
    assert [(r["event"], r["done"], r["total"], r["unit"]) for r in records] == [
        ("count", 1, 100, "rows"),
        ("count", 50, 100, "rows"),
        ("count", 100, 100, "rows"),
    ]


def test_json_lines_carry_engine_events_as_the_plain_display_shows_them():
    records = json_lines(
        [
            Event("start", op="up", total=1),
            Event("step", "same", "urn:stack", "pulumi:pulumi:Stack", "floyo-staging"),  # quiet
            Event("done", "create", URN, BUCKET, "uploads"),
            Event("summary", counts={"create": 1}),
        ],
        Clock(),
    )
    assert [(r["event"], r["kind"]) for r in records] == [
        ("resource", "start"),
        ("resource", "done"),
        ("resource", "summary"),
    ]
    assert records[1]["urn"] == URN and records[1]["type"] == BUCKET
    assert records[2]["counts"] == {"create": 1}
