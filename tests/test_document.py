"""The long-document topology: an outline (the outliner's or the user's), each section its own
writer <-> editor loop with a bounded prompt, all sections at once, assembled in Markdown."""

from __future__ import annotations

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
from tests._cli import cli_env, copydesk, ok_json
from tests.fakes import FakeOpenAIServer
from tests.fakes.documents import DocumentResponder, chat_texts, headings
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
        ("document", {"review": ["later"]}, "--review later: a document pauses at outline"),
    ],
)
def test_bad_document_flags(graph: str, options: dict[str, Any], message: str) -> None:
    """Each bad flag is one error naming it and the fix."""
    with pytest.raises(InputError, match=re.escape(message)):
        document_inputs(graph, topic="t", **options)


def test_document_is_listed_with_its_nodes() -> None:
    """`document` is a shipped topology whose nodes are its diagram's."""
    nodes = set(find("document").drawable().nodes) - {"__start__", "__end__"}
    assert nodes == {
        "sources",
        "outliner",
        "outline_review",
        "section",
        "assemble",
        "consistency",
        "revise",
        "reassemble",
        "final_review",
    }


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


def test_the_outline_schema_asks_for_the_sections_wanted() -> None:
    """A grammar-constrained server is asked for exactly the sections wanted (a 270M model
    left free plans one); a server without grammars gets no bounds; no count, no bounds."""
    from copydesk.agents.client.typed import typed_tool
    from copydesk.agents.outline import Outline, outline_schema

    bounded = typed_tool(outline_schema(3), bounded=True)["function"]
    sections = bounded["parameters"]["properties"]["sections"]
    assert (bounded["name"], sections["minItems"], sections["maxItems"]) == ("Outline", 3, 3)
    free = typed_tool(outline_schema(3), bounded=False)["function"]["parameters"]
    assert "minItems" not in free["properties"]["sections"]
    assert outline_schema(None) is Outline
