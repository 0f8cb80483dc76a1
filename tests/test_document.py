"""The long-document topology: an outline (the outliner's or the user's), each section its own
writer <-> editor loop with a bounded prompt, all sections at once, assembled in Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.outline import OutlineError, parse_outline
from copydesk.graphs.document_input import document_inputs
from copydesk.graphs.errors import InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.registry import find
from copydesk.memory.sources import citations, relevant_passages, source_record, support
from tests._cli import cli_env, copydesk, ok_json
from tests.fakes import FakeOpenAIServer
from tests.fakes._replies import messages_text
from tests.fakes.documents import DocumentResponder, section_of
from tests.fakes.topologies import speakers

OUTLINE_MD = """\
# Ports at night

## Harbours
Why the harbour matters after dark.
- the quay at midnight
- who keeps watch

## Cranes
* the night shift
* lights and noise
"""


def headings(document: str) -> list[str]:
    """The `## ` headings of an assembled document, in order."""
    return re.findall(r"^## (.+)$", document, re.MULTILINE)


def chat_texts(server: FakeOpenAIServer) -> list[tuple[str, str]]:
    """(section heading, whole request text) of every section request."""
    found = []
    for request in server.chat_requests():
        body = request.body or {}
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])
        found.append((section_of(body), text))
    return [(heading, text) for heading, text in found if heading]


async def test_offline_document_has_a_heading_per_section(make_settings: Any) -> None:
    """Offline: the outliner plans the sections asked for; each is written, reviewed and
    revised in its own loop; the final draft is the title and a heading per section."""
    async with ConversationManager(make_settings()) as manager:
        result = await manager.run(
            "document",
            topic="Night trains in Europe",
            inputs={"sections_wanted": 3, "words": 900},
        )
    assert (result.status, result.ended_by) == ("approved", "assembled")
    assert result.final_draft.startswith("# Night trains in Europe\n")
    assert headings(result.final_draft) == [
        "Background",
        "The case for it",
        "How it works in practice",
    ]
    assert result.final_draft.count("For example,") == 3  # each section answered its editor
    usage = result.usage
    assert usage["document_outliner"]["calls"] == 1
    assert usage["section_writer"]["calls"] == usage["section_editor"]["calls"] == 6


async def test_each_section_prompt_holds_its_brief_and_no_other_section(
    make_settings: Any,
) -> None:
    """Through a server: sections run at once; every section request carries the outline and
    its own brief, and never a word of another section's text."""
    settings = make_settings(checkpoint_url="memory:")
    responder = DocumentResponder(reviews=1)
    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run(
                "document", topic="harbour cranes", inputs={"sections_wanted": 3}
            )
        requests = chat_texts(server)
        order = speakers(server.chat_requests())
    assert headings(result.final_draft) == ["Harbours", "Cranes", "Tides"]
    assert result.final_draft.startswith("# A report on harbour cranes\n")
    bodies = {h: responder.text_of(h, 2) for h in ("Harbours", "Cranes", "Tides")}
    assert all(body in result.final_draft for body in bodies.values())
    # The outline, two rounds of each section, and the consistency pass's two pairs.
    assert len(requests) == 3 * 4 and len(order) == 1 + 3 * 4 + 2
    for heading, text in requests:
        assert "1. Harbours" in text and "3. Tides" in text  # the whole outline
        assert f"Covers {heading.lower()}." in text  # its own brief
        for other in bodies.keys() - {heading}:
            for n in (1, 2):  # no draft of another section, first or final
                assert responder.text_of(other, n) not in text
                assert f"The {other.lower()} section" not in text


async def test_a_given_outline_is_taken_as_it_is(make_settings: Any, tmp_path: Path) -> None:
    """`--outline`: its headings are the sections and its bullets their key points; no
    outliner call is made."""
    path = tmp_path / "outline.md"
    path.write_text(OUTLINE_MD, encoding="utf-8")
    inputs = document_inputs("document", topic="ports", outline=path, words=600)
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = DocumentResponder(reviews=0)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("document", topic="ports", inputs=inputs)
        requests = chat_texts(server)
    assert result.final_draft.startswith("# Ports at night\n")
    assert headings(result.final_draft) == ["Harbours", "Cranes"]
    assert "document_outliner" not in result.usage
    harbours = [text for heading, text in requests if heading == "Harbours"]
    assert harbours and all("- the quay at midnight" in t for t in harbours)
    assert all("Why the harbour matters after dark." in t for t in harbours)


def test_outline_markdown_rules() -> None:
    """A lone top heading is the title; otherwise the topic is. Bullets are key points."""
    given = parse_outline(OUTLINE_MD, topic="ports", words=1000)
    assert given["title"] == "Ports at night"
    assert [s["heading"] for s in given["sections"]] == ["Harbours", "Cranes"]
    assert given["sections"][1]["key_points"] == ["the night shift", "lights and noise"]
    assert [s["words"] for s in given["sections"]] == [500, 500]
    flat = parse_outline("# One\n# Two\n1. first\n", topic="ports", words=1000)
    assert flat["title"] == "ports" and [s["heading"] for s in flat["sections"]] == ["One", "Two"]
    nested = parse_outline("## One\n- a\n### One, deeper\n- b\n## Two\n", topic="ports", words=1000)
    assert [(s["heading"], s["key_points"]) for s in nested["sections"]] == [
        ("One", ["a", "One, deeper", "b"]),
        ("Two", []),
    ]
    with pytest.raises(OutlineError, match="has no headings"):
        parse_outline("just a line\n- a bullet\n", topic="ports", words=1000)


@pytest.mark.parametrize(
    ("graph", "options", "message"),
    [
        ("document", {"sections": 0}, "--sections=0: use a number from 1 to 50"),
        ("document", {"sections": 1000}, "--sections=1000: use a number from 1 to 50"),
        ("document", {"words": 10}, "--words=10: use a number from 100 to 200000"),
        ("turn_taking", {"sections": 3}, "--sections applies to the document graph only"),
        ("pipeline", {"words": 500}, "--words applies to the document graph only"),
        ("document", {"review": True}, "--review is not available for the document graph"),
    ],
)
def test_bad_document_flags(graph: str, options: dict[str, Any], message: str) -> None:
    """Each bad flag is one error naming it and the fix."""
    with pytest.raises(InputError, match=re.escape(message)):
        document_inputs(graph, topic="t", **options)


def test_document_is_listed_with_its_nodes() -> None:
    """`document` is a shipped topology whose nodes are its diagram's."""
    nodes = set(find("document").drawable().nodes) - {"__start__", "__end__"}
    assert nodes == {"outliner", "section", "assemble", "consistency", "revise", "reassemble"}


@pytest.mark.slow
def test_cli_runs_a_document_and_refuses_bad_input(tmp_path: Path, home: Path) -> None:
    """`copydesk run document` prints the whole document; bad input is one line, exit 2,
    nothing written."""
    env = cli_env(home)
    bad_outline = tmp_path / "flat.md"
    bad_outline.write_text("no headings here\n- just bullets\n", encoding="utf-8")
    for args, message in [
        (["--outline", str(bad_outline)], "has no headings"),
        (["--outline", str(tmp_path)], "is a folder"),
        (["--sections", "0"], "--sections=0"),
        (["--sections", "1000"], "--sections=1000"),
        (["--source", str(tmp_path)], "is a folder"),
        (["--source", str(bad_outline), "--source", str(tmp_path / "nope.md")], "does not exist"),
    ]:
        done = copydesk(tmp_path, env, "run", "document", "-t", "Ports", *args)
        assert done.returncode == 2, done.stderr
        errors = done.stderr.strip().splitlines()
        assert len(errors) == 1 and message in errors[0], done.stderr
    other = copydesk(tmp_path, env, "run", "turn_taking", "-t", "Ports", "--words", "500")
    assert other.returncode == 2 and "applies to the document graph only" in other.stderr
    assert not home.exists()

    good = tmp_path / "outline.md"
    good.write_text(OUTLINE_MD, encoding="utf-8")
    result = ok_json(
        copydesk(tmp_path, env, "run", "document", "-t", "Ports", "--outline", str(good),
                 "--words", "400", "--json")
    )  # fmt: skip
    assert result["graph"] == "document" and result["status"] == "approved"
    assert headings(result["final_draft"]) == ["Harbours", "Cranes"]
    source = tmp_path / "background.md"
    source.write_text("The background of ports: harbours grew with trade.\n", encoding="utf-8")
    planned = ok_json(
        copydesk(tmp_path, env, "run", "document", "-t", "Ports", "--sections", "2",
                 "--source", str(source), "--json")
    )  # fmt: skip
    assert headings(planned["final_draft"]) == ["Background", "The case for it", "References"]
    assert planned["final_draft"].endswith("## References\n\n[1] background.md\n")


CRANES = (
    "Harbour cranes lift containers from ships at night.\n\nCrane drivers work eight-hour shifts."
)
TIDES = "Tides decide when the largest ships can enter the harbour."


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

    def script(heading: str, n: int, task: str) -> str | None:
        if heading != "Harbours":
            return None
        if n == 1:
            return (
                "Harbour cranes lift containers from ships at night [1]. The moon is made of "
                "green cheese [2]. Pilots always bring every vessel in safely [7]."
            )
        return (
            "Harbour cranes lift containers from ships at night [1]. Tides decide when the "
            "largest ships can enter the harbour [2]."
        )

    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = DocumentResponder(reviews=0, script=script)
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
