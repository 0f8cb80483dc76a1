"""A long document's page (in process, through the app's ASGI interface): the outline with
each section's state, each section's redline since the first complete draft, every
consistency finding anchored in each section it quotes and linked between them, open
issues, the references; model output as text; the sections' states read while the run goes
on (drafting, in review, approved)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import Settings
from copydesk.graphs.document_input import document_inputs
from copydesk.graphs.events import Turn
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.reports.document_view import document_view, load_document, split_sections
from copydesk.graphs.web import create_app
from tests.fakes import FakeOpenAIServer
from tests.fakes.harbour_report import MARKUP, TOPIC, HarbourReport, report_inputs, seed

Desk = tuple[httpx.AsyncClient, FakeOpenAIServer]


@pytest.fixture
async def desk(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Desk]:
    """The report, finished, and a client for the app on the same home."""
    with FakeOpenAIServer() as server:
        settings = make_settings(openai_base_url=server.base_url)
        await seed(server, settings, tmp_path)
        app = create_app(settings, token="")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http, server
        await app.state.runtime.aclose()


@contextlib.asynccontextmanager
async def _through(
    make_settings: Callable[..., Settings], responder: HarbourReport
) -> AsyncIterator[ConversationManager]:
    """A manager whose client talks to a fake server answering with `responder`."""
    with FakeOpenAIServer() as server:
        server.responder = responder
        settings = make_settings(openai_base_url=server.base_url)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            yield manager


def _section(page: str, index: int) -> str:
    start = page.index(f'<section class="doc-section" id="section-{index}"')
    return page[start : page.index("</section>", start)]


async def test_outline_states_redlines_and_findings(desk: Desk) -> None:
    http, _ = desk
    response = await http.get("/desk/t/report")
    assert response.status_code == 200
    page = response.text
    states = re.findall(r'<li data-section="(\d)" data-state="(\w+)">', page)
    assert states == [("1", "revised"), ("2", "revised"), ("3", "out_of_rounds")]
    assert '<span id="document-title">The night port</span>' in page
    harbours, cranes, tides = (_section(page, i) for i in (1, 2, 3))
    # Section 1 kept its text: no redline, both findings' passages marked where they stand.
    assert "<del>" not in harbours and "<ins>" not in harbours
    assert re.search(r'id="f1-s1"[^>]*>the night shift starts at 22:00<sup>', harbours)
    assert re.search(r'id="f2-s1"[^>]*>14 million containers a year<sup>', harbours)
    # Section 2's revision: the contradicting time and the drifting term struck out, the
    # passages the findings quote marked in the text the consistency pass read.
    assert "Changes since the first complete draft" in cranes
    assert re.search(
        r'<del><mark class="finding" title="finding 1">23</mark></del><ins>22</ins>', cranes
    )
    assert re.search(r'<del><mark class="finding" title="finding 2">box<sup>', cranes)
    assert 'id="f1-s2"' in cranes and 'id="f2-s2"' in cranes
    # Each section's note on a finding links to its passage in the other section.
    assert (
        '<a href="#f1-s2">section 2</a>' in harbours and '<a href="#f1-s1">section 1</a>' in cranes
    )
    findings = page[page.index('id="findings"') :]
    assert findings.index('href="#f1-s1"') < findings.index('href="#f1-s2"')
    assert "F2 · terminology" in findings
    # The section out of rounds: its open issue marked and listed; markup stays text.
    assert '<mark class="severity-major" title="issue 1">A draft of 20 metres' in tides
    assert "Say which ships." in tides and 'data-state="open"' in tides
    assert MARKUP not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in tides
    assert page.count("<script") == 1  # the app's own
    assert "[1] port-figures.md" in page[page.index('id="references"') :]
    assert "2 of 3 sections approved; 2 consistency finding(s); 2 of 5 issues addressed" in page
    # Each section's own drafts: the consistency round's issues addressed in section 2;
    # section 3's editor issue open (listed), still there in its second draft, and open.
    assert cranes.count('data-state="addressed"') == 2 and "<del>box</del>" in cranes
    assert re.findall(r'class="issue severity-major" data-state="(\w+)"', tides) == [
        "open", "still_there", "open"
    ]  # fmt: skip


async def test_other_topologies_keep_their_page(desk: Desk) -> None:
    http, _ = desk
    page = (await http.get("/desk/t/trams")).text
    assert 'id="outline"' not in page and "doc-section" not in page
    assert 'id="draft"' in page and 'id="timeline"' in page


def test_sections_cut_from_an_assembled_document() -> None:
    document = "# T\n\n## A\n\none\n\n### inner\n\n## B\n\ntwo\n\n## References\n\n[1] x\n"
    assert split_sections(document, ["A", "B", "C"]) == ["one\n\n### inner", "two", None]
    assert split_sections(document, ["B"]) == ["two"]
    view = document_view(
        {
            "outline": {
                "title": "T",
                "sections": [
                    {"index": 1, "heading": "A", "purpose": "", "key_points": [], "words": 100}
                ],
            }
        }
    )
    assert [(s.state, s.text, s.first, s.changed) for s in view.sections] == [
        ("planned", "", None, False)
    ]


async def test_states_while_the_sections_are_written(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Section 1 approved while section 2's writer is still drafting and section 3's editor
    is still reviewing: the page reads each from its own loop."""
    responder = HarbourReport(hold={("Cranes", "text"), ("Tides", "Verdict")})
    async with _through(make_settings, responder) as manager:
        done: asyncio.Queue[Any] = asyncio.Queue()

        async def watch() -> None:
            async for event in manager.stream(
                "document", topic=TOPIC, thread_id="live",
                inputs=report_inputs(tmp_path), max_rounds=2,
            ):  # fmt: skip
                if isinstance(event, Turn) and event.agent == "section":
                    await done.put(event)

        running = asyncio.create_task(watch())
        try:
            await done.get()  # Harbours: the only section that can end
            for event in responder.arrived.values():
                assert await asyncio.to_thread(event.wait, 60)
            document = await load_document(manager, "live")
            assert document is not None
            states = [(s.heading, s.state) for s in document.sections]
            assert states == [
                ("Harbours", "approved"), ("Cranes", "drafting"), ("Tides", "in_review")
            ]  # fmt: skip
            tides = document.sections[2]
            assert tides.text.startswith("Tides decide when the largest ships")
            assert tides.first is None and not document.markdown
            app = create_app(manager.settings, token="")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                page = (await http.get("/desk/t/live")).text
            await app.state.runtime.aclose()
            assert re.findall(r'<li data-section="\d" data-state="(\w+)">', page) == [
                "approved", "drafting", "in_review"
            ]  # fmt: skip
            assert "in review</span>" in page
        finally:
            responder.release.set()
            await running
        finished = await load_document(manager, "live")
    assert finished is not None
    assert [s.state for s in finished.sections] == ["revised", "revised", "out_of_rounds"]


async def test_style_sheet_and_fact_ledger(
    desk: Desk, make_settings: Callable[..., Settings]
) -> None:
    """The style sheet and the fact ledger the approved sections built, in section order."""
    http, server = desk
    settings = make_settings(openai_base_url=server.base_url)
    async with ConversationManager(settings) as manager:
        config: Any = {"configurable": {"thread_id": "report"}, "metadata": {"graph": "document"}}
        await manager.graph("document").aupdate_state(
            config,
            {
                "style_sheet": {
                    "2": [{"section": 2, "kind": "term", "rule": "container, not box"}],
                    "1": [{"section": 1, "kind": "numbers", "rule": "24-hour times <b>"}],
                },
                "fact_ledger": {
                    "1": [{"section": 1, "claim": "Rotterdam handles 14 million containers",
                           "value": "14 million", "kind": "number", "source": 1}],
                },
            },
        )  # fmt: skip
    page = (await http.get("/desk/t/report")).text
    style = page[page.index('id="style-sheet"') : page.index('id="fact-ledger"')]
    assert style.index("24-hour times &lt;b&gt;") < style.index("container, not box")
    ledger = page[page.index('id="fact-ledger"') : page.index('id="references"')]
    assert "Rotterdam handles 14 million containers" in ledger and "[1]" in ledger
    assert '<a href="#section-1">section 1</a>' in ledger


async def test_review_forms_at_each_pause(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Offline: the outline, a section and the whole document each wait; the page says what
    waits and offers the sections an answer can be for; approving section 1 from the page
    leaves section 2 waiting."""
    settings = make_settings()
    async with ConversationManager(settings) as manager:
        for point in ("outline", "sections", "final"):
            inputs = document_inputs("document", topic="Ports", sections=2, review=[point])
            await manager.run("document", topic="Ports", thread_id=point, inputs=inputs)
    app = create_app(settings, token="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        outline = (await http.get("/desk/t/outline")).text
        assert "The outline waits for you (below)" in outline and "<select" not in outline
        final = (await http.get("/desk/t/final")).text
        assert "The whole document waits for you" in final
        assert re.findall(r'<option value="(\d*)">', final) == ["", "1", "2"]
        sections = (await http.get("/desk/t/sections")).text
        assert "Waiting for your review: 1. Background, 2. The case for it." in sections
        assert re.findall(r'id="approve-section"><option value="1">', sections)
        csrf = re.search(r'name="csrf" value="([^"]+)"', sections)
        assert csrf is not None
        form = {"csrf": csrf.group(1), "action": "approve", "section": "1"}
        sent = await http.post("/desk/t/sections/review", data=form)
        assert sent.status_code == 303
        async with http.stream("GET", "/desk/t/sections/events") as events:
            async for _ in events.aiter_lines():
                pass
        after = (await http.get("/desk/t/sections")).text
        states = re.findall(r'<li data-section="\d" data-state="(\w+)">', after)
        assert states == ["approved", "waiting_for_review"]
        assert (
            'id="approve-section"><option value="2">2. The case for it</option></select>' in after
        )
    await app.state.runtime.aclose()


async def test_sections_revising_for_consistency(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """While the sections the findings quote revise, each reads `revising for consistency`;
    the section no finding quotes keeps how its loop ended."""
    responder = HarbourReport(hold={("Harbours", "revision"), ("Cranes", "revision")})
    async with _through(make_settings, responder) as manager:
        running = asyncio.create_task(
            manager.run("document", topic=TOPIC, thread_id="rev",
                        inputs=report_inputs(tmp_path), max_rounds=2)
        )  # fmt: skip
        try:
            for event in responder.arrived.values():
                assert await asyncio.to_thread(event.wait, 60)
            document = await load_document(manager, "rev")
        finally:
            responder.release.set()
            await running
    assert document is not None
    assert [s.label for s in document.sections] == [
        "revising for consistency", "revising for consistency", "out of rounds"
    ]  # fmt: skip
    assert document.sections[1].text.startswith("Each crane moves a box")
