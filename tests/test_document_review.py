"""A person reviews a long document (`--review outline|sections|final`): the outline before
the sections fan out, each section's loop as `turn_taking --review` does, the finished
document after the consistency pass; from the CLI, in process and from the review page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from copydesk.graphs.document_review import feedback_targets
from copydesk.graphs.errors import InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.web import create_app
from tests._cli import in_process_cli
from tests.fakes.documents import DocumentResponder, document_values, headings, served

FEEDBACK = {"action": "feedback", "text": "Add a section on costs"}
APPROVE = {"action": "approve"}


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`copydesk ARGS` in this process, home under tmp_path, offline."""
    yield from in_process_cli(home, monkeypatch)


def _inputs(*points: str, sections: int = 2) -> dict[str, Any]:
    return {"sections_wanted": sections, "words": 300, "review_points": list(points)}


async def test_the_outline_waits_and_the_outliner_answers_feedback(make_settings: Any) -> None:
    """Offline: the outline pauses before any section is written; feedback gets a new
    outline (shown again), approval fans the sections out from it."""
    async with ConversationManager(make_settings()) as manager:
        paused = await manager.run(
            "document", topic="Night trains", thread_id="o", inputs=_inputs("outline")
        )
        asked = paused.review
        assert (paused.status, asked["stage"], paused.final_draft) == (
            "waiting_for_review",
            "outline",
            "",
        )
        assert [s["heading"] for s in asked["outline"]["sections"]] == [
            "Background",
            "The case for it",
        ]
        assert asked["draft"].startswith("# Night trains\n\n## Background\n")
        assert "section_writer" not in paused.usage
        again = await manager.resume("o", answer=FEEDBACK)
        assert again.review["stage"] == "outline"
        planned = [s["heading"] for s in again.review["outline"]["sections"]]
        assert planned == ["Background", "The case for it", "Costs"]
        assert again.usage["document_outliner"]["calls"] == 2
        done = await manager.resume("o", answer=APPROVE)
    assert (done.status, done.ended_by) == ("approved", "assembled")
    assert headings(done.final_draft) == planned


async def test_outline_feedback_reaches_the_outliner_with_the_given_outline(
    make_settings: Any, tmp_path: Path
) -> None:
    """Through a server: a given outline (`--outline`) is shown as it is; feedback on it is
    the one outliner call, whose request carries the outline and the feedback."""
    from copydesk.graphs.document_input import document_inputs

    plan = tmp_path / "plan.md"
    plan.write_text("# Ports\n\n## Harbours\n- the quay\n\n## Cranes\n- the night shift\n")
    inputs = document_inputs("document", topic="ports", outline=plan, words=400, review=["outline"])
    settings = make_settings(checkpoint_url="memory:")
    async with served(settings, DocumentResponder(reviews=0)) as (server, manager):
        paused = await manager.run("document", topic="ports", thread_id="p", inputs=inputs)
        assert len(server.chat_requests()) == 0
        assert "## Harbours\n- the quay" in paused.review["draft"]
        again = await manager.resume("p", answer={"action": "feedback", "text": "Add tides"})
        asked = server.chat_requests()[0].body or {}
        done = await manager.resume("p", answer=APPROVE)
    task = asked["messages"][-1]["content"]
    assert "## Cranes\n- the night shift" in task and "- Add tides" in task
    assert [s["heading"] for s in again.review["outline"]["sections"]] == ["Harbours", "Cranes"]
    assert headings(done.final_draft) == ["Harbours", "Cranes"]


async def test_each_section_waits_and_an_answer_goes_to_the_section_it_names(
    make_settings: Any,
) -> None:
    """Offline: every section's loop pauses once its editor approves; the lowest waits
    first and all are listed; feedback to section 2 is revised and shown again; a section
    not waiting is refused; once all are approved the document is assembled."""
    async with ConversationManager(make_settings()) as manager:
        paused = await manager.run(
            "document", topic="Night trains", thread_id="s", inputs=_inputs("sections")
        )
        asked = paused.review
        assert (asked["stage"], asked["section"], asked["waiting"]) == (
            "section",
            {"index": 1, "heading": "Background"},
            [1, 2],
        )
        with pytest.raises(InputError, match=r"section 5 of thread 's' is not waiting.*\(1, 2\)"):
            await manager.resume("s", answer={**APPROVE, "section": 5})
        fares = {"action": "feedback", "text": "Say more about fares", "section": 2}
        again = await manager.resume("s", answer=fares)
        assert again.review["waiting"] == [1, 2]
        one = await manager.resume("s", answer=APPROVE)  # the first waiting: section 1
        assert (one.review["section"]["index"], one.review.get("waiting")) == (2, None)
        assert "say more about fares" in one.review["draft"]
        done = await manager.resume("s", answer=APPROVE)
        values = await document_values(manager, "s")
    assert (done.status, done.ended_by) == ("approved", "assembled")
    second = values["sections"][1]
    human = [v for v in second["verdicts"] if v["agent"] == "human"]
    assert [v["decision"] for v in human] == ["revise", "approve"]
    assert human[0]["issues"][0]["comment"] == "Say more about fares"
    assert "say more about fares" in second["text"] and "fares" not in values["sections"][0]["text"]


async def test_final_feedback_revises_only_the_sections_it_quotes(make_settings: Any) -> None:
    """Bare `review: true` is the final review: the whole document waits after the
    consistency pass; feedback quoting section 2 revises it alone (section 1 byte for
    byte), then the document waits again; approval ends the run `human`."""
    async with ConversationManager(make_settings()) as manager:
        paused = await manager.run(
            "document", topic="Night trains", thread_id="f", review=True, inputs=_inputs()
        )
        asked = paused.review
        assert (asked["stage"], asked["draft"]) == ("final", paused.final_draft)
        assert [s["index"] for s in asked["sections"]] == [1, 2]
        before = await document_values(manager, "f")
        quote = "In short, the case for it"
        again = await manager.resume(
            "f", answer={"action": "feedback", "text": f'"{quote}" is weak'}
        )
        assert again.status == "waiting_for_review" and again.review["stage"] == "final"
        after = await document_values(manager, "f")
        done = await manager.resume("f", answer=APPROVE)
    first, second = after["sections"]
    assert first == before["sections"][0]
    assert second["status"] == "revised" and second["text"] != before["sections"][1]["text"]
    assert second["verdicts"][-1]["agent"] == "human"
    assert second["verdicts"][-1]["issues"][0]["quote"] == quote
    assert (done.status, done.ended_by, done.verdict["agent"]) == ("approved", "human", "human")


def test_where_final_feedback_goes() -> None:
    """A named section, else the sections holding a quoted passage, else those named by
    number or heading, else all."""
    sections = [
        {"index": 1, "heading": "Harbours", "text": "The quay is quiet at night."},
        {"index": 2, "heading": "Cranes", "text": "Cranes lift boxes. The quay is busy."},
    ]
    assert list(feedback_targets("Shorter", sections, 2)) == [2]  # type: ignore[arg-type]
    quoted = feedback_targets('"The quay is busy" contradicts section 1', sections)  # type: ignore[arg-type]
    assert quoted == {2: [{"severity": "major", "quote": "The quay is busy", "comment": (
        '"The quay is busy" contradicts section 1')}]}  # fmt: skip
    assert list(feedback_targets("Section 1 is thin", sections)) == [1]  # type: ignore[arg-type]
    assert list(feedback_targets("The cranes part drags", sections)) == [2]  # type: ignore[arg-type]
    assert list(feedback_targets("Tighter overall", sections, 9)) == [1, 2]  # type: ignore[arg-type]


def test_review_from_the_command_line(cli: Any) -> None:
    """`run document --review outline` shows the outline and how to answer; `resume
    --approve` writes the document; bad review flags are one line, exit 2."""
    paused = cli("run", "document", "-t", "Night trains", "--sections", "2", "--review",
                 "outline", "--thread-id", "c")  # fmt: skip
    assert paused.exit_code == 0, paused.output
    assert "for review: outline" in paused.output and "## The case for it" in paused.output
    assert 'answer with: copydesk resume c --approve, or --feedback "what to change"' in (
        paused.output
    )
    lone = cli("resume", "c", "--section", "1")
    assert lone.exit_code == 2 and "--section goes with --approve or --feedback" in lone.output
    done = cli("resume", "c", "--approve")
    assert done.exit_code == 0 and "status: approved" in done.output
    for args, message in [
        (["document", "--review=nowhere"], "--review nowhere: a document pauses at outline"),
        (["turn_taking", "--review", "outline"], "--review outline applies to the document"),
        (["document", "--thread-id", "c"], "'c' is a finished document"),
    ]:
        refused = cli("run", *args, "-t", "Night trains")
        lines = refused.output.strip().splitlines()
        assert refused.exit_code == 2 and len(lines) == 1 and message in lines[0], refused.output


async def test_the_review_page_answers_a_waiting_section(make_settings: Any) -> None:
    """The review page's form resumes a document's section pause: a `section` field picks
    the section (one not waiting is a 409), without it the first waiting one is answered."""
    settings = make_settings()
    async with ConversationManager(settings) as manager:
        await manager.run("document", topic="Trams", thread_id="w", inputs=_inputs("sections"))
    app = create_app(settings, token="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        page = await http.get("/desk/t/w")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        form = {"csrf": csrf.group(1), "action": "approve"}
        wrong = await http.post("/desk/t/w/review", data={**form, "section": "7"})
        assert wrong.status_code == 409 and "waiting: 1, 2" in wrong.text
        sent = await http.post("/desk/t/w/review", data={**form, "section": "2"})
        assert sent.status_code == 303
        async with http.stream("GET", "/desk/t/w/events") as events:
            async for _ in events.aiter_lines():
                pass
        await app.state.runtime.aclose()
    async with ConversationManager(settings) as manager:
        result = await manager.result("w")
    assert (result.status, result.review["section"]["index"]) == ("waiting_for_review", 1)
    assert result.review.get("waiting") is None


def test_offline_outline_feedback_line_by_line() -> None:
    """The offline outliner answers outline feedback line by line: add a section, drop one
    (by heading or number; never the last), any other line a key point of the section it
    names (else the last)."""
    from copydesk.agents.client.offline.outlines import revised_outline

    task = (
        "Topic: ports\n\nThe current outline:\n<<<\n# Ports\n\n## Harbours\nWhy.\n- the quay\n"
        "(200 words)\n\n## Cranes\n- the shift\n(300 words)\n>>>\n\n"
        "The reviewer asked for these changes:\n{lines}\n\nPlan the document again."
    )
    asked = "- Drop Harbours\n- Add a section on tides\n- Name the cranes' makers.\n- More colour"
    revised = revised_outline(task.format(lines=asked))
    assert revised["title"] == "Ports"
    assert [(s["heading"], s["key_points"], s["words"]) for s in revised["sections"]] == [
        ("Cranes", ["the shift", "Name the cranes' makers"], 300),
        ("Tides", ["the scope of tides", "the evidence on tides", "More colour"], 300),
    ]
    lone = revised_outline(task.format(lines="- Remove section 1\n- Remove section 1"))
    assert [s["heading"] for s in lone["sections"]] == ["Cranes"]


def test_review_flag_words_and_bad_section_answers() -> None:
    """`--review POINT` is read before typer parses (a word after `--` is left alone); a
    review form's section that is not a number is a 400."""
    from starlette.exceptions import HTTPException

    from copydesk.graphs.cli.run import review_point_args
    from copydesk.graphs.document_review import _number
    from copydesk.graphs.web.actions import _section

    assert review_point_args(["document", "--review", "outline,final", "-t", "x"]) == [
        "document", "--review", "--review-at", "outline,final", "-t", "x"
    ]  # fmt: skip
    assert review_point_args(["--review=final", "--", "--review", "final"]) == [
        "--review", "--review-at", "final", "--", "--review", "final"
    ]  # fmt: skip
    assert review_point_args(["--review", "turn_taking"]) == ["--review", "turn_taking"]
    with pytest.raises(HTTPException, match="not a section number"):
        _section("two", None)
    assert _section("3", {"stage": "final"}) == 3
    assert (_number("2"), _number("x"), _number(True), _number(None)) == (2, None, None, None)
