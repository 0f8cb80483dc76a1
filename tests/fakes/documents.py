"""A fake-server responder for the long-document topology: it plans an outline, writes each
section's text (its own words, so a test can find them in other requests), and reviews each
section once before approving it (the approving verdict's notes and the terminology findings
are the offline model's, read from the request). Replies can be scripted per section and
call.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copydesk.agents.client.offline._task import draft
from copydesk.agents.client.offline.notes import section_notes, terminology_findings
from tests.fakes._replies import Reply, last_user_text, messages_text

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings
    from copydesk.graphs.manager import ConversationManager
    from tests.fakes.openai_server import FakeOpenAIServer

__all__ = [
    "DocumentResponder",
    "chat_texts",
    "document_values",
    "headings",
    "section_of",
    "served",
]

HEADINGS = ("Harbours", "Cranes", "Tides", "Ledgers", "Pilots", "Dredging")


def _field(text: str, label: str) -> str:
    match = re.search(rf"^{label}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def section_of(body: dict[str, Any] | None) -> str:
    """The section heading a request is about (`Section:` line), or ""."""
    return _field(last_user_text(body or {}), "Section")


def _schema_name(body: dict[str, Any]) -> str:
    if "response_format" in body:
        return str(body["response_format"]["json_schema"]["name"])
    if body.get("tools"):
        return str(body["tools"][0]["function"]["name"])
    return ""


Script = Callable[[str, int, str], str | None]
"""(section heading, the writer's call number for it, the task) -> a scripted text, or None."""


@dataclass
class DocumentResponder:
    """Answers outlines, section drafts and verdicts.

    Attributes:
        reviews: Verdicts that ask for a revision before a section is approved.
        script: Scripted section texts; None falls back to the default text.
        findings: Consistency findings; a `Findings` request gets those whose quoted
            passages are all in it (so a finding quotes the pair, or the digests, it is
            about). A `Digest` request gets every sentence of its section as a claim.
        quote: What a verdict asking for a revision quotes (`{heading}` is the section's
            heading in lower case); "" quotes nothing.
    """

    reviews: int = 1
    script: Script | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    quote: str = ""
    _calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def text_of(self, heading: str, n: int) -> str:
        """The default text of `heading`'s draft number `n`: sentences no other section has."""
        return (
            f"The {heading.lower()} section, draft {n}, explains {heading.lower()} in its own "
            f"terms. Every paragraph about {heading.lower()} stays with {heading.lower()}."
        )

    def __call__(self, body: dict[str, Any]) -> Reply:
        task = last_user_text(body)
        schema = _schema_name(body)
        heading = _field(task, "Section")
        with self._lock:
            self._calls[f"{schema}|{heading}"] += 1
            n = self._calls[f"{schema}|{heading}"]
        if schema == "Outline":
            count = int(_field(task, "Sections") or 3)
            value: Any = {
                "title": f"A report on {_field(task, 'Topic')}",
                "sections": [
                    {
                        "heading": HEADINGS[i % len(HEADINGS)],
                        "purpose": f"Covers {HEADINGS[i % len(HEADINGS)].lower()}.",
                        "key_points": [  # covered by any text that names the heading
                            HEADINGS[i % len(HEADINGS)].lower(),
                            f"{HEADINGS[i % len(HEADINGS)].lower()} in detail",
                        ],
                        "words": 200,
                    }
                    for i in range(count)
                ],
            }
        elif schema == "Verdict":
            revise = n <= self.reviews
            value = {
                "decision": "revise" if revise else "approve",
                "issues": [
                    {
                        "severity": "major",
                        "quote": self.quote.format(heading=heading.lower()),
                        "comment": "More detail.",
                    }
                ]
                if revise
                else [],
                "summary": "revise" if revise else "approve",
            }
            if "notes" in json.dumps(body.get("response_format") or body.get("tools")):
                # a section editor's verdict: approving, the offline model's notes on the draft
                value["notes"] = section_notes("" if revise else draft(task))
        elif schema == "Findings":  # those whose every quote is in the sections asked about
            asked = messages_text(body)
            value = {
                "findings": [
                    f for f in self.findings if all(q["text"] in asked for q in f["quotes"])
                ]
                + terminology_findings(task)  # what drifts from the style sheet, as offline
            }
        elif schema == "Digest":  # every sentence of the one section asked about
            fenced = re.search(r"<<<\n(.*?)\n>>>", task, re.DOTALL)
            sentences = re.findall(r"[^.!?\n]+[.!?]", fenced.group(1) if fenced else "")
            value = {"claims": [{"text": t.strip(), "about": "it"} for t in sentences[:10]]}
        elif schema:
            raise AssertionError(f"unexpected schema {schema!r}")
        else:
            scripted = self.script(heading, n, messages_text(body)) if self.script else None
            return Reply(content=scripted if scripted is not None else self.text_of(heading, n))
        text = json.dumps(value)
        if "tools" in body:
            return Reply(tool_calls=[{"name": schema, "arguments": text}])
        return Reply(content=text)


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


async def document_values(manager: ConversationManager, thread_id: str) -> dict[str, Any]:
    """The latest state values of a document thread."""
    config = {"configurable": {"thread_id": thread_id}}
    snapshot = await manager.graph("document").aget_state(config)  # type: ignore[arg-type]
    return dict(snapshot.values)


@asynccontextmanager
async def served(
    settings: Settings, responder: DocumentResponder
) -> AsyncIterator[tuple[FakeOpenAIServer, ConversationManager]]:
    """A fake server answering with `responder`, and a manager whose client talks to it."""
    from copydesk.agents.client import OpenAIClient
    from copydesk.graphs.manager import ConversationManager
    from tests.fakes.openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            yield server, manager
