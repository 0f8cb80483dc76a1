"""Seeded inconsistencies: a scripted model plants ten contradictions and terminology drifts,
each between two sections that are never neighbours, in a document longer than its window;
the consistency pass finds them (by map-reduce), the final text has each found one fixed,
and every section no finding names is unchanged byte for byte. The same run as
`benchmarks/document.py`, smaller: 12 short sections in a 2048-token window."""

from __future__ import annotations

from pathlib import Path

from benchmarks.document import prompt_tokens, seeded
from tests.fakes import FakeOpenAIServer
from tests.fakes.seeded import PLANTS, SeededResponder


async def test_seeded_inconsistencies_are_found_and_fixed_and_nothing_else_moves(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer() as server:
        server.responder = SeededResponder(words=150, reviews=0)
        run = await seeded(server.base_url, tmp_path, sections=12, words=1800, context=2048)
        largest = max(prompt_tokens(r.body or {}) for r in server.chat_requests())
    assert len(run.found) >= 9 and len(PLANTS) == 10
    assert run.fixed == run.found
    assert run.changed and set(run.changed) <= set(run.named)  # the rest byte for byte
    assert largest <= 2048
