"""Untrusted text stays text: whatever a spec (or a pull request's stack files) puts into a
name, an email, an error or a note renders in a pull-request comment, `--format markdown`
and a Mermaid graph as the characters it is, never as a link, an image, a mention, HTML, or
a fence or table row of its own. The comment is parsed (markdown-it, CommonMark with GFM
tables), not searched for strings; GitHub's own additions (autolinks of bare URLs, `www.`
and emails; @mentions) are checked on the text the parser leaves.

And names are names: stack and phase names match one pattern wherever they are read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import copy_workspace
from markdown_it import MarkdownIt

from floyo_scale.errors import SpecError, UsageError
from floyo_scale.offline.inventory import Inventory, Resource
from floyo_scale.policy import Finding
from floyo_scale.render import mermaid
from floyo_scale.render.plan import diff_markdown, findings_markdown, plan_markdown
from floyo_scale.render.review import MARKER, comment
from floyo_scale.render.text import md_code, md_escape, mermaid_label
from floyo_scale.review.affected import Head, RevisionDiff, Side, compare_stack
from floyo_scale.spec import Workspace, load_stack, validate

HOSTILE = [
    "![x](https://evil.example/pixel.png)",
    "[click](javascript:alert(1))",
    "@org/team",
    "ping @octocat now",
    "jane.doe@example.com",
    "alerts-us-east-1-![i](https://e.example/i.png)@floyo.app",
    "www.evil.example",
    "see https://evil.example/x",
    "a`b``c",
    "`` ` ``",
    "line\n```\n# heading\n```",
    "<img src=x onerror=alert(1)>",
    "<!-- hidden -->",
    "<details><summary>x</summary>",
    "a | b | c",
    "*bold* _it_ ~~gone~~ #1",
    "- list item",
    "1. item",
    "> quote",
    "&lt;b&gt;&amp;",
    'quote " and back\\slash',
    "</summary></details>",
    "[ref]: https://evil.example",
]
ALLOWED_HTML = {
    MARKER,
    "<details>",
    "</details>",
    "<summary>",
    "</summary>",
    "<b>",
    "</b>",
    "<sub>",
    "</sub>",
}
BUCKET = "aws:s3/bucket:Bucket"
SUB = "aws:sns/topicSubscription:TopicSubscription"
BASE = "4f1c2a9e0b7d33e1c0ffee0000000000deadbeef"


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _walk(tokens):
    for token in tokens:
        yield token
        yield from _walk(token.children or [])


MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
AUTOLINK = re.compile(r"(https?|ftp)://|\bwww\.|[\w.+-]@[A-Za-z0-9]", re.IGNORECASE)


def assert_inert(markdown: str, fences: int = 0) -> None:
    """No link, image, HTML beyond the comment's own tags, mention or autolink; `fences`
    fenced blocks exactly (the graphs), each closed; every table row as wide as its head."""
    tokens = _parser().parse(markdown)
    kinds = {t.type for t in _walk(tokens)}
    assert not kinds & {"link_open", "image", "autolink"}, kinds
    for t in _walk(tokens):
        if t.type == "html_inline":
            assert t.content in ALLOWED_HTML, t.content
        if t.type == "html_block":
            for tag in re.findall(r"<[^>]*>", t.content):
                assert tag in ALLOWED_HTML, tag
        if t.type in ("text", "html_block"):
            visible = t.content
            if t.type == "html_block":  # the browser decodes entities; & stays &amp;
                visible = visible.replace("&#8203;", "\u200b")
            assert not MENTION.search(visible), visible
            assert not AUTOLINK.search(visible), visible
        if t.type == "heading_open":
            assert t.markup == "###" or t.markup == "##", t.markup  # the comment's own only
    blocks = [t for t in tokens if t.type == "fence"]
    assert len(blocks) == fences, [b.info for b in blocks]
    for block in blocks:
        assert block.info == "mermaid"
        assert "`" not in block.content
    _tables_keep_their_width(markdown)


def _cells(row: str) -> int:
    """Cells in a GFM table row: pipes not escaped and not the row's outer ones."""
    return len(re.findall(r"(?<!\\)\|", row.strip())) - 1


def _tables_keep_their_width(markdown: str) -> None:
    width = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        if width is None:
            width = _cells(line)
        assert _cells(line) == width, line


def _text(markdown: str) -> str:
    """What a reader sees: the parsed text (entities decoded, zero-width spaces removed)."""
    out = []
    for t in _walk(_parser().parse(markdown)):
        if t.type in ("text", "code_inline"):
            out.append(t.content)
    return " ".join(out).replace("\u200b", "")


@pytest.mark.parametrize("text", HOSTILE)
def test_each_escaper_keeps_the_text_and_drops_the_markup(text: str) -> None:
    flat = " ".join(text.splitlines())
    prose = f"| a | b |\n|---|---|\n| x {md_escape(text)} | {md_code(text)} |\n"
    assert_inert(prose)
    assert flat in _text(prose)
    label = mermaid_label(text)
    assert label.startswith('"') and label.endswith('"')
    bare = re.sub(r"#\w+;|<br/>", "", label[1:-1])  # entity codes; the label's line breaks
    assert not set('"`<>[]()|#;\n') & set(bare), label


def _resources(prefix: str) -> list[Resource]:
    out = []
    for i, name in enumerate(HOSTILE):
        out.append(Resource(BUCKET, f"{prefix}{name}", "storage", "us-east-1", {"bucket": name}))
        out.append(
            Resource(SUB, f"alerts-{i}-{name}", "monitoring", "us-east-1", {"endpoint": name})
        )
    return out


def _side(stack: str, phase: str, resources: list[Resource], error: str | None = None) -> Side:
    if error:
        return Side(phase, error=error)
    return Side(phase, Inventory(phase, stack, tuple(resources), "key"))


def test_a_hostile_change_renders_an_inert_comment() -> None:
    changes = []
    for i, name in enumerate(HOSTILE):
        stack = f"s{i:02d}{name}"  # a stack file name from a pull request's tree
        base = _side(stack, name, _resources("old-"))
        head = _side(stack, "growth", _resources("new-")[: 2 * (i + 1)])
        change = compare_stack(stack, base, head)
        changes.append(change)
    failed = compare_stack("zz" + HOSTILE[0], _side("x", "g", []), _side("x", "g", [], HOSTILE[10]))
    changes.append(failed)
    ref = "main`\n```\n![x](https://evil.example/a.png)"
    for some in (changes, changes[:3] + changes[10:11]):  # all; a few, with their graphs
        result = RevisionDiff(ref, BASE, Head("9" * 40, False), tuple(some))
        text = comment(result, graph=mermaid)
        assert text.startswith(MARKER)
        graphs = text.count("\n```mermaid\n")  # those that fit in GitHub's limit
        assert graphs >= (0 if len(some) > 4 else 4)
        assert_inert(text, fences=graphs)
        seen = _text(text)
        for name in HOSTILE:
            assert " ".join(name.splitlines()) in seen


def test_a_hostile_finding_stays_in_its_quote() -> None:
    message = "destroys:\n  - delete s3:Bucket ![x](https://evil.example/a.png)\n@org/team"
    finding = Finding("destroy", "x", message, "hint", "--allow-destroy")
    text = findings_markdown([finding])
    assert_inert(text)
    assert all(line.startswith(">") for line in text.strip().splitlines())


def test_plan_and_diff_markdown_and_the_graph_of_hostile_names() -> None:
    old = Inventory("growth", "production", tuple(_resources("a-")), "k")
    new = Inventory("growth", "production", tuple(_resources("b-")), "k")
    summary = {"resources": 1, "stateful": 0, "protected": 0}
    summary |= {"by_component": {"storage": 1}, "by_region": {"us-east-1": 1}}
    assert_inert(plan_markdown(new, summary, extra=md_escape(HOSTILE[0])))
    from floyo_scale.offline.plan import diff_inventories

    assert_inert(diff_markdown(diff_inventories(old, new)))
    graph = mermaid(new)
    for line in graph.splitlines()[1:]:
        assert re.fullmatch(
            r'\s+(subgraph \w+\["[^"`\n]*"\]|end|\w+\["[^"`\n]*"\]|\w+ -->(\|"[^"|]*"\|)? \w+)',
            line,
        ), line


# -- names are names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../x", "a/b", "a`b", "a\nb", "staging\n", "Prod", "x" * 42, "-x", "a.b", ""]
)
def test_a_phase_reference_that_is_not_a_name_is_an_invalid_spec(tmp_path: Path, name) -> None:
    root = copy_workspace(tmp_path)
    text = (root / "stacks" / "staging.yaml").read_text()
    (root / "stacks" / "staging.yaml").write_text(
        text.replace("phase: growth", f"phase: {name!r}".replace("'", '"'))
    )
    with pytest.raises(SpecError) as caught:
        load_stack(Workspace(root), "staging")
    issue = next(i for i in caught.value.issues if i.path == "phase")
    assert "is not a phase name" in issue.message
    assert issue.hint and "lowercase letters" in issue.hint


def test_extends_outside_phases_is_an_invalid_spec(tmp_path: Path) -> None:
    root = copy_workspace(tmp_path)
    (root / "phases" / "growth.yaml").write_text(
        (root / "phases" / "growth.yaml").read_text().replace("extends: startup", "extends: ../x")
    )
    with pytest.raises(SpecError) as caught:
        validate(Workspace(root))
    assert any("'../x' is not a phase name" in i.message for i in caught.value.issues)


def test_a_stack_file_whose_name_is_not_a_name_is_an_invalid_spec(tmp_path: Path) -> None:
    root = copy_workspace(tmp_path)
    (root / "stacks" / "a`b.yaml").write_text((root / "stacks" / "dev.yaml").read_text())
    with pytest.raises(SpecError) as caught:
        validate(Workspace(root))
    assert [i.message for i in caught.value.issues] == [
        "'a`b' is not a stack name (the file's name)"
    ]


@pytest.mark.parametrize("name", ["../stacks/dev", "dev\n", "dev`", "/etc/passwd"])
def test_a_command_line_name_that_is_not_a_name_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="is not a stack name"):
        load_stack(Workspace(Path(__file__).resolve().parent.parent), name)
    with pytest.raises(UsageError, match="is not a phase name"):
        load_stack(Workspace(Path(__file__).resolve().parent.parent), "dev", name)


def test_the_cli_exits_3_on_a_phase_reference_outside_phases(cli, workspace: Path) -> None:
    path = workspace / "stacks" / "staging.yaml"
    path.write_text(path.read_text().replace("phase: growth", "phase: ../../x"))
    result = cli("validate")
    assert result.code == 3
    assert "'../../x' is not a phase name" in result.err
    assert "hint:" in result.err


def test_plan_markdown_and_graph_of_a_stack_with_hostile_emails(cli, workspace: Path) -> None:
    """Through the program: resource names derived from emails (an SNS subscription per
    email) render inert in `plan --format markdown` and `graph`."""
    path = workspace / "stacks" / "dev.yaml"
    emails = [
        "![x](https://evil.example/p.png)@evil.example",
        "cc_*ops*_[team](javascript:x)@evil.example",  # one @ only: the pattern's rule
        "a`b<img>@evil.example",
    ]
    text = path.read_text().replace(
        "emails: [dev-alerts@floyo.app]", "emails: " + json.dumps(emails)
    )
    path.write_text(text)
    plan = cli("plan", "--stack", "dev", "--format", "markdown")
    assert plan.code == 0, plan.err
    assert_inert(plan.out)
    seen = _text(plan.out)
    assert all(f"alerts-us-east-1-{e}" in seen for e in emails)
    graph = cli("graph", "--stack", "dev")
    assert graph.code == 0, graph.err
    assert "`" not in graph.out and "<img" not in graph.out
