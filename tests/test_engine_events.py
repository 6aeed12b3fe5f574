"""Engine event streams through the SDK's real event reader.

No fake Stack: the real Automation API (Stack.preview) starts its gRPC event server
(`_EventsServicer`, used with a CLI after v3.205.0) and runs a stand-in `pulumi` that streams
the events below to it over gRPC, as the CLI does (pulumi/pulumi
pkg/backend/display/display.go, startEventLogger: one EventRequest per event, the JSON of
apitype.EngineEvent followed by a newline). The SDK parses each with EngineEvent.from_json and
drops, with a warning, one it cannot parse; floyo-scale's sink sees the rest.

The streams are written by hand in the CLI's wire format (sdk/go/common/apitype/events.go),
not recorded from a real CLI: none can be installed here. They hold what the SDK's reader
does not know: the `extend-parameterize` op (pkg/resource/deploy/step.go; an internal step
with no URN) and `diff`, both missing from the SDK's OpType.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import SECRET_ENV, make_workspace

from floyo_scale import engine
from floyo_scale.engine.events import EventHandler, internal
from floyo_scale.errors import GuardrailError
from floyo_scale.progress import ResourceEvent as Event
from floyo_scale.spec import Workspace, load_stack

STREAMING_PULUMI = """#!{python}
import os, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
if args == ["version"]:
    print("v3.272.0")
elif args[:2] in (["stack", "select"], ["config", "set-all"]):
    pass
elif args[:2] == ["stack", "output"]:
    print("{{}}")
elif args[:1] == ["preview"]:
    import grpc
    from pulumi.runtime.proto import events_pb2, events_pb2_grpc
    address = args[args.index("--event-log") + 1].removeprefix("tcp://")
    with open(os.environ["FAKE_EVENTS"]) as f:
        lines = [line for line in f.read().splitlines() if line]
    with grpc.insecure_channel(address) as channel:
        stub = events_pb2_grpc.EventsStub(channel)
        stub.StreamEvents(iter([events_pb2.EventRequest(event=line + "\\n") for line in lines]))
else:
    print("error: unexpected " + " ".join(args), file=sys.stderr)
    sys.exit(2)
"""

STACK = "urn:pulumi:staging::floyo::pulumi:pulumi:Stack::floyo-staging"
RANDOM_DEFAULT = "urn:pulumi:staging::floyo::pulumi:providers:random::default_4_21_4"
BUCKET_TYPE = "aws:s3/bucket:Bucket"
BUCKET = f"urn:pulumi:staging::floyo::floyo:storage:Storage${BUCKET_TYPE}::uploads"
DB_TYPE = "aws:rds/instance:Instance"
DB = f"urn:pulumi:staging::floyo::floyo:database:Rds${DB_TYPE}::db"


def step(kind: str, op: str, urn: str, type_: str, seq: int) -> dict[str, Any]:
    state = {"type": type_, "urn": urn, "id": "", "parent": "", "provider": ""} if urn else None
    metadata = {
        "op": op,
        "urn": urn,
        "type": type_,
        "old": state if op not in ("create",) else None,
        "new": state,
        "detailedDiff": None,
        "logical": op not in ("extend-parameterize",),
        "provider": "",
    }
    return {
        "sequence": seq,
        "timestamp": 1767225600,
        kind: {"metadata": metadata, "planning": True},
    }


def summary(seq: int, **counts: int) -> dict[str, Any]:
    return {
        "sequence": seq,
        "timestamp": 1767225601,
        "summaryEvent": {
            "maybeCorrupt": False,
            "durationSeconds": 1,
            "resourceChanges": counts,
            "PolicyPacks": {},
            "isPreview": True,
        },
    }


PRELUDE = {"sequence": 0, "timestamp": 1767225600, "preludeEvent": {"config": {}}}
CANCEL = {"sequence": 99, "timestamp": 1767225602, "cancelEvent": {}}

# a preview that creates a bucket, with a default provider and an extension parameterization
# (both internal: Pulumi's display hides them and its summary does not count them)
WITH_INTERNAL_STEPS = [
    PRELUDE,
    step("resourcePreEvent", "same", STACK, "pulumi:pulumi:Stack", 1),
    step("resourcePreEvent", "create", RANDOM_DEFAULT, "pulumi:providers:random", 2),
    step("resOutputsEvent", "create", RANDOM_DEFAULT, "pulumi:providers:random", 3),
    step("resourcePreEvent", "extend-parameterize", "", "", 4),
    step("resOutputsEvent", "extend-parameterize", "", "", 5),
    step("resourcePreEvent", "create", BUCKET, BUCKET_TYPE, 6),
    step("resOutputsEvent", "create", BUCKET, BUCKET_TYPE, 7),
    step("resOutputsEvent", "same", STACK, "pulumi:pulumi:Stack", 8),
    summary(9, create=1, same=1),
    CANCEL,
]

# an op the SDK does not know, on a database: whatever it is, it cannot be vouched for
UNKNOWN_OP_ON_A_DATABASE = [
    PRELUDE,
    step("resourcePreEvent", "same", STACK, "pulumi:pulumi:Stack", 1),
    step("resourcePreEvent", "diff", DB, DB_TYPE, 2),
    step("resOutputsEvent", "diff", DB, DB_TYPE, 3),
    summary(4, diff=1, same=1),
    CANCEL,
]

# the summary counts a delete that no step event announced (an event lost on the way)
A_DELETE_NOT_ANNOUNCED = [
    PRELUDE,
    step("resourcePreEvent", "same", STACK, "pulumi:pulumi:Stack", 1),
    summary(2, delete=1, same=1),
    CANCEL,
]


@pytest.fixture
def streaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Returns run(events) -> (session, sink events): the stand-in `pulumi` will stream
    `events` to the SDK when asked for a preview."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    data = tmp_path / "data"
    binary = data / "floyo-scale" / "pulumi" / engine.CLI_VERSION / "bin" / "pulumi"
    binary.parent.mkdir(parents=True)
    binary.write_text(STREAMING_PULUMI.format(python=sys.executable))
    binary.chmod(0o755)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    root = make_workspace(tmp_path / "repo")
    stream = tmp_path / "events.jsonl"
    monkeypatch.setenv("FAKE_EVENTS", str(stream))

    def run(events: list[dict[str, Any]]) -> tuple[engine.Session, list[Event]]:
        stream.write_text("".join(json.dumps(e) + "\n" for e in events))
        target = engine.prepare(load_stack(Workspace(root), "staging", None), root, SECRET_ENV)
        seen: list[Event] = []
        return engine.open_session(target, sink=seen.append), seen

    return run


def test_internal_steps_are_hidden_and_do_not_count_as_unreadable(streaming, monkeypatch):
    dropped: list[str] = []
    keep = EventHandler.dropped
    monkeypatch.setattr(EventHandler, "dropped", lambda self, w: (dropped.append(w), keep(self, w)))
    session, seen = streaming(WITH_INTERNAL_STEPS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the SDK's "Failed to parse" warning is consumed
        report = session.preview()
    assert [(s.op, s.type, s.name) for s in report.steps] == [
        ("same", "pulumi:pulumi:Stack", "floyo-staging"),
        ("create", BUCKET_TYPE, "uploads"),
    ]
    assert report.counts == {"create": 1, "same": 1}
    assert report.unreadable == 0
    shown = [e for e in seen if e.kind in ("step", "done")]
    assert all("default_" not in e.urn and e.urn for e in shown)  # as Pulumi's display
    assert {e.name for e in shown} == {"floyo-staging", "uploads"}
    # the SDK's reader did drop both extension parameterization events (its OpType lacks it)
    assert len(dropped) == 2
    assert all("'extend-parameterize' is not a valid OpType" in w for w in dropped)


def test_an_unknown_op_on_a_database_is_unreadable_and_up_refuses(streaming):
    session, _ = streaming(UNKNOWN_OP_ON_A_DATABASE)
    report = session.preview()
    assert [s.type for s in report.steps] == ["pulumi:pulumi:Stack"]  # the SDK dropped it
    # the two dropped events, and the `diff` the summary counts that no event announced
    assert report.unreadable == 3
    with pytest.raises(GuardrailError, match="3 event.s. of the preview could not be read"):
        engine.deploy(session, approve=lambda _: True, allow_over_budget=True)


def test_a_step_the_summary_counts_but_no_event_announced_is_unreadable(streaming):
    session, _ = streaming(A_DELETE_NOT_ANNOUNCED)
    report = session.preview()
    assert report.counts == {"delete": 1, "same": 1} and report.changes == ()
    assert report.unreadable == 1
    from floyo_scale.render import engine as text

    assert "warning: 1 engine event(s) could not be read" in text.preview_table(report)
    assert text.preview_json(report)["unreadable"] == 1
    assert "> warning: 1 engine event(s)" in text.preview_markdown(report)
    with pytest.raises(GuardrailError, match="1 event.s. of the preview could not be read"):
        engine.deploy(session, approve=lambda _: True, allow_over_budget=True)


@pytest.mark.parametrize(
    ("op", "urn", "hidden"),
    [
        ("create", RANDOM_DEFAULT, True),
        ("update", "urn:pulumi:s::p::pulumi:providers:aws::default", True),
        ("create", "urn:pulumi:s::p::pulumi:providers:aws::aws-us-east-1", False),  # explicit
        ("extend-parameterize", "", True),
        ("remove-pending-replace", BUCKET, True),
        ("delete", BUCKET, False),
        ("create", "urn:pulumi:s::p::floyo:x:X$aws:s3/bucket:Bucket::default-bucket", False),
    ],
)
def test_internal_steps_are_those_the_engine_marks_internal(op, urn, hidden):
    assert internal(op, urn) is hidden


@pytest.mark.parametrize("error", [TypeError("a bug in the display"), BrokenPipeError()])
def test_a_display_bug_reaches_the_caller_a_closed_terminal_does_not(streaming, error):
    """The sink's OSError (the terminal went away) is dropped; any other error is a bug,
    raised on the caller's thread once the engine's call returns (not lost on the event
    thread, not counted as an unreadable event)."""
    session, _ = streaming(WITH_INTERNAL_STEPS)
    calls: list[Event] = []

    def sink(event: Event) -> None:
        if event.kind == "step":
            calls.append(event)
            raise error

    session.sink = sink
    if isinstance(error, OSError):
        assert session.preview().unreadable == 0
        assert len(calls) == 2  # the display kept being called
    else:
        with pytest.raises(TypeError, match="a bug in the display"):
            session.preview()
        assert len(calls) == 1  # the display stopped at its first error
