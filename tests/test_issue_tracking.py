"""Redlines and issue tracking: word-level changes between drafts, and whether each editor
issue's quoted passage survived into the next draft, from the library to `run --json`,
`export --format md` and the A/B report."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from copydesk.agents.client import OpenAIClient
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.prompting import find_experiment
from copydesk.graphs.reports.ab_report import build_report, outcomes
from copydesk.graphs.reports.issue_tracking import IssueSummary, find_quote, summarize, track_issues
from copydesk.graphs.reports.redline import new_text, old_text, redline
from copydesk.prompts.registry import PromptRegistry
from tests.fakes import FakeOpenAIServer
from tests.fakes.reviewing import DRAFTS, ScriptedReview


def test_redline_marks_word_insertions_and_deletions() -> None:
    segments = redline("Cities love them.", "Cities should build more.")
    assert [(s.kind, s.text) for s in segments] == [
        ("equal", "Cities "),
        ("delete", "love them"),
        ("insert", "should build more"),
        ("equal", "."),
    ]
    assert segments[2].new_start == len("Cities ")


@given(st.text(alphabet="ab .\n'", max_size=40), st.text(alphabet="ab .\n'", max_size=40))
def test_redline_reads_back_both_drafts(old: str, new: str) -> None:
    segments = redline(old, new)
    assert old_text(segments) == old and new_text(segments) == new
    for segment in segments:
        if segment.new_start is not None:
            assert new[segment.new_start : segment.new_start + len(segment.text)] == segment.text


def test_find_quote_ignores_whitespace_and_wrapping_quotes() -> None:
    text = "Trams are\n quiet. They carry many people."
    assert find_quote(text, "“Trams are quiet.”") == (0, len("Trams are\n quiet."))
    assert find_quote(text, "trams are quiet") is None  # otherwise exact
    assert find_quote(text, "  ") is None


def _revisions(*texts: str) -> list[dict[str, Any]]:
    return [{"round": n, "author": "writer", "text": t} for n, t in enumerate(texts, 1)]


def test_each_issue_is_addressed_still_there_open_or_unanchored() -> None:
    revisions = _revisions(*DRAFTS[:2])
    verdicts = [
        {"round": 1, "agent": "editor", "decision": "revise", "summary": "", "issues": [
            {"severity": "major", "quote": "Trams are quiet.", "comment": "more"},
            {"severity": "minor", "quote": "They carry many people.", "comment": "how many"},
            {"severity": "minor", "quote": "Buses are loud.", "comment": "not in the draft"},
        ]},
        {"round": 2, "agent": "human", "decision": "revise", "summary": "", "issues": [
            {"severity": "major", "quote": "", "comment": "shorter please"},
            {"severity": "major", "quote": "Cities should build more.", "comment": "which"},
        ]},
    ]  # fmt: skip
    states = [(i.quote, i.state, i.revision) for i in track_issues(revisions, verdicts)]
    assert states == [
        ("Trams are quiet.", "addressed", 0),
        ("They carry many people.", "still_there", 0),
        ("Buses are loud.", "unanchored", 0),
        ("", "unanchored", 1),
        ("Cities should build more.", "open", 1),
    ]
    summary = summarize(revisions, verdicts)
    assert summary == IssueSummary(addressed=1, still_there=1, open=1, unanchored=2)
    assert summary.share == 0.5
    assert summary.as_json()["share"] == 0.5
    assert "1 of 2 issues addressed (50%)" in summary.describe()
    assert summarize([], []).share is None


async def test_run_json_and_markdown_show_issues_addressed(make_settings: Any) -> None:
    with FakeOpenAIServer() as server:
        server.responder = ScriptedReview()
        client = OpenAIClient(base_url=server.base_url)
        async with client, ConversationManager(make_settings(), client=client) as manager:
            result = await manager.run("turn_taking", topic="Trams", thread_id="t1", max_rounds=2)
            markdown = await manager.export_markdown("t1")
    assert result.status == "out_of_rounds"
    assert result.as_json()["issues_addressed"] == {
        "share": 0.5,
        "addressed": 1,
        "still_there": 1,
        "open": 1,
        "unanchored": 0,
    }
    assert "1 of 2 issues addressed (50%); 1 still open" in markdown
    assert '"Trams are quiet.": Say more than quiet. *(addressed)*' in markdown
    assert '"They carry many people.": Vague: how many? *(still there)*' in markdown
    assert '"Cities should build more.": Which cities? Name one. *(open)*' in markdown


async def test_ab_report_has_the_share_of_issues_addressed(make_settings: Any) -> None:
    """Per variant, pooled over its threads: the scripted threads address 1 of 2 each."""
    experiment = find_experiment(PromptRegistry(), "editor-rubric")
    with FakeOpenAIServer() as server:
        server.responder = ScriptedReview()
        client = OpenAIClient(base_url=server.base_url)
        async with client, ConversationManager(make_settings(), client=client) as manager:
            for n in range(4):
                await manager.run(
                    "turn_taking",
                    topic=f"Trams {n}",
                    thread_id=f"ab-{n}",
                    max_rounds=2,
                    experiment="editor-rubric",
                )
            found = await outcomes(manager.checkpointer, "editor-rubric")
    assert [o.issues.share for o in found] == [0.5] * 4
    report = build_report(experiment, found)
    assert {v.issues_addressed for v in report.variants if v.threads} == {0.5}
    assert all("issues_addressed" in v for v in report.as_json()["variants"])
