"""A three-section report that exercises every part of a document's page and exports: two
consistency findings that each quote sections 1 and 2 (a contradiction the revision of
section 2 removes, a terminology drift), a section that runs out of rounds with its issue
still open and with markup in its text, a cited source, and sections that can be held in
their loops to see them drafting and in review.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import Settings
from copydesk.graphs.document_input import document_inputs
from copydesk.graphs.events import RunResult
from copydesk.graphs.manager import ConversationManager
from tests.fakes._replies import Reply, messages_text
from tests.fakes.documents import DocumentResponder, _schema_name, section_of
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.reviewing import ScriptedReview

__all__ = ["MARKUP", "TOPIC", "HarbourReport", "report_inputs", "run_report", "seed"]

TOPIC = "The night port"

OUTLINE = """\
# The night port

## Harbours
- the quay at night

## Cranes
- the night shift

## Tides
- when ships can berth
"""

SOURCE = "The harbour at Rotterdam handles 14 million containers a year.\n"

MARKUP = "<script>window.__xss=1</script>"
TEXTS: dict[str, list[str]] = {
    "Harbours": [
        "The harbour at Rotterdam handles 14 million containers a year [1]. Its quays stay "
        "lit all night, and the night shift starts at 22:00.\n\nPilots board at the outer "
        "buoy and bring each ship in.",
    ],
    "Cranes": [
        "Each crane moves a box in about 90 seconds. The night shift starts at 23:00, when "
        "the day crews hand over.\n\nCrane drivers work four hours, then rest.",
        "Each crane moves a container in about 90 seconds. The night shift starts at 22:00, "
        "when the day crews hand over.\n\nCrane drivers work four hours, then rest.",
    ],
    "Tides": [
        f"Tides decide when the largest ships can berth. {MARKUP} A draft of 20 metres "
        "needs high water.",
        f"Tides decide when the deepest ships can berth. {MARKUP} A draft of 20 metres "
        "needs high water, twice a day.",
    ],
}
"""Each section's drafts, first to last (the last repeats when asked for more)."""

FINDINGS = [
    {
        "kind": "contradiction",
        "quotes": [
            {"section": 1, "text": "the night shift starts at 22:00"},
            {"section": 2, "text": "The night shift starts at 23:00"},
        ],
        "comment": "Section 1 starts the night shift at 22:00, section 2 at 23:00.",
    },
    {
        "kind": "terminology",
        "quotes": [
            {"section": 1, "text": "14 million containers a year"},
            {"section": 2, "text": "Each crane moves a box"},
        ],
        "comment": "Say container, as section 1 does, not box.",
    },
]
TIDES_ISSUE = "A draft of 20 metres needs high water"


@dataclass
class HarbourReport(DocumentResponder):
    """The report's model. `hold` names (section, kind) calls that wait for `release`, each
    setting its own event in `arrived` when it comes in; a kind is the schema of a typed
    call, `text` for a first draft, `revision` for a writer's revision."""

    reviews: int = 0
    hold: set[tuple[str, str]] = field(default_factory=set)
    arrived: dict[tuple[str, str], threading.Event] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.findings = [dict(f) for f in FINDINGS]
        self.script = lambda heading, n, task: TEXTS[heading][min(n, len(TEXTS[heading])) - 1]
        self.arrived = {key: threading.Event() for key in self.hold}

    def __call__(self, body: dict[str, Any]) -> Reply:
        kind = _schema_name(body) or ("revision" if "changes:" in messages_text(body) else "text")
        key = (section_of(body), kind)
        if key in self.hold:
            self.arrived[key].set()
            self.release.wait(timeout=120)
        if key == ("Tides", "Verdict"):  # never good enough: out of rounds, its issue open
            decision = {
                "decision": "revise",
                "issues": [
                    {"severity": "major", "quote": TIDES_ISSUE, "comment": "Say which ships."}
                ],
                "summary": "Not yet.",
            }
            text = json.dumps(decision)
            if "tools" in body:
                return Reply(tool_calls=[{"name": _schema_name(body), "arguments": text}])
            return Reply(content=text)
        return super().__call__(body)


def report_inputs(folder: Path) -> dict[str, Any]:
    """The report's document inputs, its outline and source written into `folder`."""
    outline, source = folder / "night-port.md", folder / "port-figures.md"
    outline.write_text(OUTLINE, encoding="utf-8")
    source.write_text(SOURCE, encoding="utf-8")
    return document_inputs("document", topic=TOPIC, outline=outline, sources=[source])


async def run_report(
    manager: ConversationManager, folder: Path, thread_id: str = "report"
) -> RunResult:
    """Run the report on `manager` (whose client talks to a server answering with a
    `HarbourReport`), its outline and source written into `folder`."""
    inputs = report_inputs(folder)
    return await manager.run(
        "document", topic=TOPIC, thread_id=thread_id, inputs=inputs, max_rounds=2
    )


async def seed(server: FakeOpenAIServer, settings: Settings, folder: Path) -> None:
    """Through `server`: the report (thread `report`) and a `turn_taking` thread (`trams`),
    in the home of `settings`."""
    async with (
        OpenAIClient(base_url=server.base_url) as client,
        ConversationManager(settings, client=client) as manager,
    ):
        server.responder = HarbourReport()
        await run_report(manager, folder)
        server.responder = ScriptedReview()
        await manager.run("turn_taking", topic="Trams", thread_id="trams", max_rounds=1)
