"""Every output fits (issue 21): on a terminal 80, 100, 120 or 200 columns wide, no line of
any offline command's table output is longer than the screen, and no amount (`$...`) or
resource name is cut: the amounts and names at 80 columns are those at 200.

`show` (YAML) and `graph` (Mermaid) are data, their lines as long as their values: only
checked for what they print being the same at every width. `diff --base` is checked in
tests/test_diff_base.py (it needs a git revision), `status` against live stand-ins in
tests/observe/test_cli_status.py; here `status` is blind (no credentials).

Fast: each phase and stack is synthesized once for the whole module (the CLI's synthesis
is memoized), so the four widths cost one synthesis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

AMOUNT = re.compile(r"[-+]?\$\d[\d,]*(?:\.\d+)?")
WIDTHS = (80, 100, 120, 200)
DATA = {"show", "graph"}  # data formats: their values are never wrapped

COMMANDS = [
    ("phases",),
    ("validate",),
    ("validate", "--stack", "production"),
    ("show", "--phase", "growth"),
    ("graph", "--phase", "enterprise"),
    ("plan", "--phase", "startup"),
    ("plan", "--stack", "production"),
    ("plan", "--phase", "enterprise"),
    ("diff", "growth", "scale"),
    ("diff", "startup", "enterprise"),
    ("diff", "scale", "enterprise", "--stack", "production"),
    ("cost", "--phase", "startup"),
    ("cost", "--phase", "growth"),
    ("cost", "--phase", "scale"),
    ("cost", "--phase", "enterprise"),
    ("cost", "--stack", "production"),
    ("doctor", "--stack", "dev"),
    ("status", "--stack", "production"),  # blind: no credentials, exit 9
    ("preview", "--stack", "dev"),  # the engine's prerequisites: an error of many lines
    ("plan", "--phase", "nope"),  # a usage error
    ("diff",),
]


def amounts(text: str) -> set[str]:
    return set(AMOUNT.findall(text))


def words_fit(text: str, width: int) -> None:
    """No line longer than `width` (but for one word alone, never split: a path), nothing
    cut with an ellipsis."""
    long = [line for line in text.splitlines() if len(line) > width and " " in line.strip()]
    assert not long, f"{len(long)} lines over {width} columns:\n" + "\n".join(long[:5])
    assert "…" not in text


@pytest.fixture(scope="module")
def memo_synthesis() -> Iterator[dict[tuple[str, str], object]]:
    """The CLI's synthesis, once per stack and phase for the whole module."""
    from floyo_scale.offline import synth

    real = synth.synthesize
    cache: dict[tuple[str, str], object] = {}

    def synthesize(stack, *args, **kwargs):  # type: ignore[no-untyped-def]
        if args or kwargs:
            return real(stack, *args, **kwargs)
        key = (stack.name, stack.phase_name)
        if key not in cache:
            cache[key] = real(stack)
        return cache[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth, "synthesize", synthesize)
        yield cache


def _names(cache: dict[tuple[str, str], object]) -> set[str]:
    return {r.name for inventory in cache.values() for r in inventory.custom_resources()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_output_fits_every_width_and_cuts_nothing(
    args: tuple[str, ...], cli, workspace: Path, monkeypatch, memo_synthesis
) -> None:
    for name in ("VERCEL_API_TOKEN", "SUPABASE_ACCESS_TOKEN", "SENTRY_AUTH_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "UPSTASH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to ask
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file://~/.floyo-state")  # as short as a user's
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(workspace / "no-aws-files"))
    shown = {}
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        result = cli(*args)
        shown[width] = (result.code, result.out, result.err)
    codes = {code for code, _, _ in shown.values()}
    assert len(codes) == 1, codes  # the width changes nothing but the layout
    names = _names(memo_synthesis)
    for width, (_, out, err) in shown.items():
        if args[0] not in DATA:
            words_fit(out, width)
        words_fit(err, width)
    wide, narrow = shown[200], shown[80]
    for i in (1, 2):  # stdout, stderr
        assert amounts(narrow[i]) == amounts(wide[i])
        assert {w for w in narrow[i].split() if w in names} == {
            w for w in wide[i].split() if w in names
        }
