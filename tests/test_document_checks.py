"""The long-document topology's checks: citations against the given sources (each `[n]` a
given source, each citing sentence supported by its passages) and the consistency pass (findings
go back only to the sections they quote)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.graphs.document_input import document_inputs
from copydesk.graphs.errors import InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.memory.sources import citations, relevant_passages, source_record, support
from tests.fakes import FakeOpenAIServer
from tests.fakes._replies import messages_text
from tests.fakes.documents import DocumentResponder, chat_texts, headings, section_of
from tests.fakes.seeded import CRANES, TIDES, citing_writer


async def test_unsupported_citations_go_back_to_the_writer(
    make_settings: Any, tmp_path: Path
) -> None:
    """A citation of a source not given, and one its source does not support, are issues of
    that section's verdict; the writer fixes them; the references list given sources only."""
    (tmp_path / "cranes.md").write_text(CRANES, encoding="utf-8")
    (tmp_path / "tides.txt").write_text(TIDES, encoding="utf-8")
    inputs = document_inputs(
        "document",
        topic="ports",
        sections=2,
        sources=[tmp_path / "cranes.md", tmp_path / "tides.txt"],
    )

    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = DocumentResponder(reviews=0, script=citing_writer)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("document", topic="ports", inputs=inputs)
        requests = [text for heading, text in chat_texts(server) if heading == "Harbours"]
    first_writer = requests[0]
    assert "[1] Harbour cranes lift containers from ships at night." in first_writer
    revision = next(t for t in requests if "Your current draft" in t)
    assert "[7] names no given source (given: [1], [2])" in revision
    assert "source [2] (tides.txt) does not support this sentence" in revision
    assert "Harbour cranes lift" not in revision.split("changes:")[1]  # supported: no issue
    assert (result.status, headings(result.final_draft)) == (
        "approved",
        ["Harbours", "Cranes", "References"],
    )
    assert result.final_draft.endswith("## References\n\n[1] cranes.md\n[2] tides.txt\n")
    assert "[7]" not in result.final_draft and "cheese" not in result.final_draft


def test_sources_are_split_cited_and_checked() -> None:
    """Passages are paragraphs; a citation belongs to the sentence before it; support is the
    share of that sentence's content words one passage holds."""
    record = source_record(1, "cranes.md", "# Title\n\n" + CRANES)
    assert record["passages"] == [
        "Harbour cranes lift containers from ships at night.",
        "Crane drivers work eight-hour shifts.",
    ]
    text = "Cranes lift containers at night. [1] Drivers work shifts [1][3]!"
    assert [(c["number"], c["sentence"]) for c in citations(text)] == [
        (1, "Cranes lift containers at night"),
        (1, "Drivers work shifts"),
        (3, "Drivers work shifts"),
    ]
    assert support("Cranes lift containers at night", record["passages"]) == 1.0
    assert support("The moon is made of cheese", record["passages"]) == 0.0
    assert relevant_passages([record], "crane drivers", k=1) == [
        (1, "Crane drivers work eight-hour shifts.")
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.md", b"  \n", "is empty"),
        ("blob.txt", b"\x00\x01\x02abc", "is not text (binary data)"),
        ("paper.pdf", b"%PDF-1.4", "only plain text and Markdown are read"),
    ],
)
def test_bad_sources_are_refused(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    """An empty, binary or non-text source is one error naming it; so is a folder."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(message)):
        document_inputs("document", topic="t", sources=[path])
    with pytest.raises(InputError, match="is a folder"):
        document_inputs("document", topic="t", sources=[tmp_path])


def sections_of(document: str) -> dict[str, str]:
    """Heading -> body of each `## ` section of an assembled document."""
    parts = re.split(r"^## (.+)$", document, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


async def assemblies(manager: ConversationManager, thread_id: str) -> list[str]:
    """Every assembled document of a thread, first to last."""
    config = {"configurable": {"thread_id": thread_id}}
    state = await manager.graph("document").aget_state(config)  # type: ignore[arg-type]
    return [r["text"] for r in state.values["revisions"]]


async def test_consistency_findings_revise_only_the_sections_they_quote(
    make_settings: Any,
) -> None:
    """The consistency editor reads neighbouring pairs only; a finding anchored in section 2
    sends it back once; a finding whose quote is not in its section is dropped; sections 1
    and 3 are unchanged byte for byte."""
    responder = DocumentResponder(reviews=0)
    cranes = responder.text_of("Cranes", 1)
    responder.findings = [
        {
            "kind": "contradiction",
            "quotes": [{"section": 2, "text": cranes.split(". ")[0]}],
            "comment": "Section 1 says the harbour closes at night; this says it works.",
        },
        {
            "kind": "terminology",
            "quotes": [{"section": 3, "text": responder.text_of("Harbours", 1).split(". ")[0]}],
            "comment": "Quoted from the wrong section: dropped.",
        },
    ]
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run(
                "document", topic="ports", thread_id="d1", inputs={"sections_wanted": 3}
            )
            first, final = await assemblies(manager, "d1")
        bodies = [r.body or {} for r in server.chat_requests()]
    asked = [messages_text(b) for b in bodies if "Findings" in json.dumps(b.get("tools") or b)]
    assert len(asked) == 2  # the pairs (1, 2) and (2, 3), nothing more
    pairs = sorted(tuple(n for n in (1, 2, 3) if f"Section {n}:" in t) for t in asked)
    assert pairs == [(1, 2), (2, 3)] and all(t.count("<<<") == 2 for t in asked)
    before, after = sections_of(first), sections_of(final)
    assert before["Harbours"] == after["Harbours"] and before["Tides"] == after["Tides"]
    assert before["Cranes"] != after["Cranes"]
    assert after["Cranes"].strip() == responder.text_of("Cranes", 2)  # its one revision
    revision = next(
        messages_text(b) for b in bodies if section_of(b) == "Cranes" and "changes:" in str(b)
    )
    assert "contradiction: Section 1 says the harbour closes at night" in revision
    assert cranes.split(". ")[0] in revision.split("changes:")[1]
    assert "Quoted from the wrong section" not in "".join(messages_text(b) for b in bodies)
    assert result.usage["consistency_editor"]["calls"] == 2
    assert result.usage["section_writer"]["calls"] == 3 + 1
    assert result.rounds == 2


async def test_offline_consistency_pass_removes_repeats_and_keeps_other_sections(
    make_settings: Any, tmp_path: Path
) -> None:
    """Offline, sections citing the same passage repeat it; the consistency pass finds each
    repeat in the later section, which drops it; sections without a finding are unchanged."""
    source = tmp_path / "rail.md"
    source.write_text(
        "Night trains in Europe carried more passengers in 2023 than in any year since 2000.\n",
        encoding="utf-8",
    )
    inputs = document_inputs("document", topic="Night trains", sections=3, sources=[source])
    async with ConversationManager(make_settings()) as manager:
        result = await manager.run("document", topic="Night trains", thread_id="o1", inputs=inputs)
        first, final = await assemblies(manager, "o1")
    repeated = "Night trains in Europe carried more passengers in 2023 than in any year since 2000."
    before, after = sections_of(first), sections_of(final)
    assert all(repeated in body for h, body in before.items() if h != "References")
    assert [h for h, body in after.items() if repeated in body] == ["Background"]
    assert before["Background"] == after["Background"]  # the first says it; no finding there
    assert all(before[h] != after[h] for h in ("The case for it", "How it works in practice"))
    assert result.final_draft == final and final.endswith("## References\n\n[1] rail.md\n")


async def test_findings_the_model_cannot_type_leave_the_document_as_approved(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A consistency reply that never validates is logged, and the document stands."""
    responder = DocumentResponder(reviews=0)
    quote = responder.text_of("Harbours", 1).split(". ")[0]
    responder.findings = [
        {"kind": "vibes", "quotes": [{"section": 1, "text": quote}], "comment": "Hm."}
    ]
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("document", topic="ports", inputs={"sections_wanted": 2})
    assert (result.status, result.rounds) == ("approved", 1)
    assert headings(result.final_draft) == ["Harbours", "Cranes"]
    assert "consistency_editor: no findings on sections 1 and 2" in caplog.text
