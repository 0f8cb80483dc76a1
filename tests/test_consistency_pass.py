"""The consistency pass in pieces that fit the window: neighbouring pairs; map-reduce (a
digest per section, the digests compared) when the whole document does not fit one prompt;
and the outline's key points no section covers. Each finding goes back to the sections it
names, and only those revise."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copydesk.agents.client import OpenAIClient
from copydesk.agents.coverage import omissions
from copydesk.agents.digests import groups
from copydesk.agents.outline import parse_outline
from copydesk.graphs.document_input import document_inputs
from copydesk.graphs.manager import ConversationManager
from copydesk.memory.tokens import TokenCounter
from tests.fakes import FakeOpenAIServer
from tests.fakes._replies import Reply, messages_text
from tests.fakes.documents import HEADINGS, DocumentResponder, section_of
from tests.test_document_checks import assemblies, sections_of

CONTEXT = 2000
"""The model's context in these tests: a pair of sections fits, four do not."""


def long_text(heading: str, n: int) -> str:
    """About 160 words on `heading`, its own sentences (draft `n`)."""
    h = heading.lower()
    return " ".join(
        f"Paragraph {k} of the {h} section, draft {n}, says one more distinct thing about "
        f"{h} number {k} that no other section says."
        for k in range(1, 9)
    )


def schema_of(body: dict[str, Any]) -> str:
    """The typed reply a request asks for ("" for text)."""
    text = json.dumps(body.get("response_format") or body.get("tools") or "")
    return next((s for s in ("Findings", "Digest", "Verdict", "Outline") if s in text), "")


@dataclass
class Ran:
    """What a run left: its result, its first and final assembly, the requests, findings."""

    result: Any
    first: str
    final: str
    bodies: list[dict[str, Any]]
    findings: list[dict[str, Any]]


async def run(responder: DocumentResponder, settings: Any, **inputs: Any) -> Ran:
    """Run a document against the fake server with a `CONTEXT`-token model: the result,
    the first and the final assembly, every request body and the findings."""
    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url, context_tokens=CONTEXT) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("document", topic="ports", thread_id="m1", inputs=inputs)
            texts = await assemblies(manager, "m1")
            config = {"configurable": {"thread_id": "m1"}}
            state = await manager.graph("document").aget_state(config)  # type: ignore[arg-type]
        bodies = [r.body or {} for r in server.chat_requests()]
    return Ran(result, texts[0], texts[-1], bodies, state.values.get("findings") or [])


async def test_a_document_longer_than_the_window_is_read_by_map_reduce(
    make_settings: Any,
) -> None:
    """Four sections that do not fit one prompt: every section is digested alone, the
    digests compared; a contradiction between sections 1 and 4 (never neighbours) sends
    exactly those two back; 2 and 3 stay byte for byte; no prompt passes the window."""
    responder = DocumentResponder(reviews=0, script=lambda h, n, task: long_text(h, n))
    first_of = {h: long_text(h, 1).split(". ")[0] for h in HEADINGS[:4]}
    responder.findings = [
        {
            "kind": "contradiction",
            "quotes": [
                {"section": 1, "text": first_of["Harbours"]},
                {"section": 4, "text": first_of["Ledgers"]},
            ],
            "comment": "Section 1 and section 4 give different numbers.",
        }
    ]
    settings = make_settings(checkpoint_url="memory:")
    ran = await run(responder, settings, sections_wanted=4)
    kinds = [schema_of(b) for b in ran.bodies]
    digests = [b for b, k in zip(ran.bodies, kinds, strict=True) if k == "Digest"]
    compared = [b for b in ran.bodies if "digest" in messages_text(b).lower() and "Findings" in
                json.dumps(b.get("tools") or b.get("response_format"))]  # fmt: skip
    assert sorted(section_of(b) or re.findall(r"Section (\d+):", messages_text(b))[0]
                  for b in digests) == ["1", "2", "3", "4"]  # fmt: skip
    assert compared and all("(about: it)" in messages_text(b) for b in compared)
    assert ran.result.usage["section_digester"]["calls"] == 4
    assert ran.result.usage["digest_comparer"]["calls"] == len(compared)
    counter = TokenCounter("gpt-4o-mini")
    largest = max(counter.text(messages_text(b)) for b in ran.bodies)
    assert largest <= CONTEXT
    before, after = sections_of(ran.first), sections_of(ran.final)
    assert [h for h in before if before[h] != after[h]] == ["Harbours", "Ledgers"]
    assert after["Ledgers"].strip() == long_text("Ledgers", 2)
    assert "contradiction (also in section 1): Section 1 and section 4" in "".join(
        messages_text(b) for b in ran.bodies if section_of(b) == "Ledgers"
    )


async def test_a_short_document_is_read_in_pairs_only(make_settings: Any) -> None:
    """Three short sections fit one prompt: pairs only, no digest."""
    settings = make_settings(checkpoint_url="memory:")
    ran = await run(DocumentResponder(reviews=0), settings, sections_wanted=3)
    assert "Digest" not in [schema_of(b) for b in ran.bodies]
    assert "section_digester" not in ran.result.usage
    assert ran.result.usage["consistency_editor"]["calls"] == 2 and ran.first == ran.final


async def test_an_outline_point_no_section_covers_goes_back_to_its_section(
    make_settings: Any, tmp_path: Path
) -> None:
    """A key point of the given outline that no section mentions is an omission finding
    for the section whose brief lists it, which revises; the other stays as it was."""
    outline = tmp_path / "plan.md"
    outline.write_text(
        "# Ports\n\n## Harbours\n- harbours\n\n## Cranes\n- cranes\n- the tide tables of 1890\n",
        encoding="utf-8",
    )
    inputs = document_inputs("document", topic="ports", outline=outline)
    settings = make_settings(checkpoint_url="memory:")
    ran = await run(DocumentResponder(reviews=0), settings, **inputs)
    before, after = sections_of(ran.first), sections_of(ran.final)
    assert before["Harbours"] == after["Harbours"] and before["Cranes"] != after["Cranes"]
    revision = next(
        messages_text(b) for b in ran.bodies if section_of(b) == "Cranes" and "changes:" in str(b)
    )
    assert (
        'omission: no section covers the outline\'s key point "the tide tables of 1890"'
        in (revision.split("changes:")[1])
    )
    assert [(f["kind"], f["quotes"]) for f in ran.findings] == [
        ("omission", [{"section": 2, "text": ""}])
    ]


def test_coverage_by_wording_and_meaning() -> None:
    """A point is covered by a sentence holding half its content words, or one the
    embedder finds close; a point with no content word is never an omission."""
    outline = parse_outline(
        "## Tides\n- the tide tables\n- night shifts of the pilots\n- who we are\n"
        "## Cranes\n- the budget for 2031\n",
        topic="ports",
        words=400,
    )
    sections = [
        {"index": 1, "heading": "Tides", "text": "Tide tables decide. Crane drivers sleep.",
         "rounds": 1, "status": "approved", "issues": []},
        {"index": 2, "heading": "Cranes", "text": "Cranes are tall.", "rounds": 1,
         "status": "approved", "issues": []},
    ]  # fmt: skip
    found = omissions(outline, sections)  # type: ignore[arg-type]
    assert [(f["quotes"][0]["section"], f["comment"].split('"')[1]) for f in found] == [
        (1, "night shifts of the pilots"),
        (2, "the budget for 2031"),
    ]
    assert len(omissions(outline, [])) == 0  # nothing written: nothing to check


def test_groups_fill_the_budget_in_order() -> None:
    """Consecutive texts as long as they fit; one over the budget alone."""
    assert groups(["aa", "bb", "cccc", "d", "eeeeee"], 5, len) == [[0, 1], [2, 3], [4]]
    assert groups([], 5, len) == []


async def test_offline_map_reduce_finds_each_repeat_once(
    make_settings: Any, tmp_path: Path
) -> None:
    """Offline, a 4-section document over a 4096-token window: the digests are compared as
    well as the pairs; each section repeating the one cited passage has one finding, and
    the first section, which says it first, none."""
    source = tmp_path / "rail.md"
    source.write_text(
        "Night trains in Europe carried more passengers in 2023 than in any year since 2000.\n",
        encoding="utf-8",
    )
    inputs = document_inputs(
        "document", topic="Night trains", sections=4, words=2400, sources=[source]
    )
    settings = make_settings(context_tokens=4096, checkpoint_url="memory:")
    async with ConversationManager(settings) as manager:
        result = await manager.run("document", topic="Night trains", thread_id="o4", inputs=inputs)
        state = await manager.graph("document").aget_state(
            {"configurable": {"thread_id": "o4"}}  # type: ignore[arg-type]
        )
    assert result.usage["section_digester"]["calls"] == 4
    assert result.usage["digest_comparer"]["calls"] >= 1
    repeats = [f["quotes"][0]["section"] for f in state.values["findings"]]
    assert sorted(repeats) == [2, 3, 4]


async def test_digests_and_comparisons_the_model_cannot_type_leave_the_document_as_it_is(
    make_settings: Any, caplog: Any
) -> None:
    """A digest or a comparison that never validates is logged; the pairs still read."""
    inner = DocumentResponder(reviews=0, script=lambda h, n, task: long_text(h, n))

    def broken(body: dict[str, Any]) -> Any:
        if schema_of(body) == "Digest" and "Section 1:" not in messages_text(body):
            return Reply(content=json.dumps({"claims": "none"}))
        if schema_of(body) == "Findings" and "(about: it)" in messages_text(body):
            return Reply(content=json.dumps({"findings": "none"}))
        return inner(body)

    settings = make_settings(checkpoint_url="memory:")
    ran = await run(broken, settings, sections_wanted=4)  # type: ignore[arg-type]
    assert ran.result.status == "approved" and ran.first == ran.final
    assert "section_digester: no digest of section 2" in caplog.text
    assert "digest_comparer: no findings on " in caplog.text
