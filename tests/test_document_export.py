"""A long document as people take it away: `run --json`'s `final_draft` and `copydesk export`
(Markdown with its headings and references)."""

from __future__ import annotations

from typing import Any

from copydesk.agents.client import OpenAIClient
from copydesk.graphs.manager import ConversationManager
from tests.fakes import FakeOpenAIServer
from tests.fakes.documents import DocumentResponder, headings


async def test_a_writers_own_headings_nest_under_its_section(make_settings: Any) -> None:
    """A section that starts with its own heading and holds headings of its own: the
    document keeps one `## ` heading per section, the writer's nested below it."""
    texts = {
        "Harbours": "## Harbours\n\nQuays at night.\n\n# Big picture\n\nShips.\n\n"
        "## Detail\n\nRopes.",
        "Cranes": "Cranes lift boxes.\n\n### Already deep\n\nHooks.",
    }
    responder = DocumentResponder(reviews=0, script=lambda heading, n, task: texts[heading])
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("document", topic="ports", inputs={"sections_wanted": 2})
    assert headings(result.final_draft) == ["Harbours", "Cranes"]
    assert result.final_draft == (
        "# A report on ports\n\n## Harbours\n\nQuays at night.\n\n### Big picture\n\nShips.\n\n"
        "### Detail\n\nRopes.\n\n## Cranes\n\nCranes lift boxes.\n\n### Already deep\n\nHooks.\n"
    )
