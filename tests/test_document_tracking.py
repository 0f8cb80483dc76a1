"""A long document's issues followed section by section: each section keeps its drafts and
the verdicts on them (its editor's and the consistency findings that quote it), so the run
says which issues its revisions addressed. A finished document is not written again."""

from __future__ import annotations

from typing import Any

import pytest

from copydesk.graphs.errors import InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.reports.issue_tracking import summarize, summarize_thread
from tests.fakes.documents import DocumentResponder, document_values, served


async def test_issues_are_followed_per_section_and_per_finding(make_settings: Any) -> None:
    """Each section's editor issue quotes its first draft, which the second drops; the one
    consistency finding quotes section 2, whose revision drops the passage: all addressed,
    each counted in its own section, and the sections no finding quotes keep two drafts."""
    settings = make_settings(checkpoint_url="memory:")
    repeated = DocumentResponder().text_of("Cranes", 2).split(". ")[0]
    responder = DocumentResponder(
        reviews=1,
        quote="{heading} section, draft 1",
        findings=[
            {
                "kind": "repetition",
                "quotes": [{"section": 2, "text": repeated}],
                "comment": "Said already.",
            }
        ],
    )
    async with served(settings, responder) as (_, manager):
        result = await manager.run(
            "document", topic="harbour cranes", thread_id="d1", inputs={"sections_wanted": 3}
        )
        values = await document_values(manager, "d1")
    assert result.issues_addressed == {
        "share": 1.0,
        "addressed": 4,
        "still_there": 0,
        "open": 0,
        "unanchored": 0,
    }
    sections = {s["index"]: s for s in values["sections"]}
    assert [len(sections[i]["revisions"]) for i in (1, 2, 3)] == [2, 3, 2]
    cranes = sections[2]
    assert [v["agent"] for v in cranes["verdicts"]] == [
        "section_editor",
        "section_editor",
        "consistency",
    ]
    assert cranes["revisions"][-1]["text"] == cranes["text"] == responder.text_of("Cranes", 3)
    assert summarize(cranes["revisions"], cranes["verdicts"]).addressed == 2
    assert summarize_thread(values) == summarize_thread({"sections": values["sections"]})


def test_a_section_finding_the_revision_kept_is_still_there() -> None:
    """A consistency issue whose passage the section's revision kept is `still_there`; a
    section from a thread before drafts were kept counts nothing."""
    section = {
        "index": 1,
        "revisions": [
            {"round": 1, "author": "section_writer", "text": "Ports open at 6. Cranes rest."},
            {"round": 2, "author": "section_writer", "text": "Ports open at 6. Cranes sleep."},
        ],
        "verdicts": [
            {
                "round": 1,
                "agent": "consistency",
                "decision": "revise",
                "issues": [
                    {"severity": "major", "quote": "Ports open at 6.", "comment": "contradiction"},
                    {"severity": "major", "quote": "Cranes rest.", "comment": "repetition"},
                ],
                "summary": "",
            }
        ],
    }
    counted = summarize_thread({"sections": [section, {"index": 2, "text": "old"}]})
    assert (counted.addressed, counted.still_there, counted.open) == (1, 1, 0)


async def test_a_finished_document_is_not_written_again(make_settings: Any) -> None:
    """`resume` on a finished document changes nothing and calls no model; `run` on it is
    refused in one line naming the fix; nothing is rewritten."""
    async with ConversationManager(make_settings()) as manager:
        first = await manager.run(
            "document", topic="Night trains", thread_id="trains", inputs={"sections_wanted": 2}
        )
        again = await manager.resume("trains")
        with pytest.raises(InputError, match="is a finished document; running it again"):
            await manager.run("document", thread_id="trains")
        after = await manager.result("trains")
    assert again.final_draft == after.final_draft == first.final_draft
    assert again.usage == after.usage == first.usage
