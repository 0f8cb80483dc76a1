"""ConversationManager: streaming events, results, history, threads, transcripts, resume.

Every test runs against the memory, SQLite and PostgreSQL checkpointers (`checkpoint_url`
in conftest; PostgreSQL in a schema of its own per test)."""

from __future__ import annotations

from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.errors import ModelUnavailableError
from copydesk.graphs.events import RunResult, Token, Turn, TurnStarted
from copydesk.graphs.manager import ConversationManager, InputError, UnknownThreadError
from copydesk.graphs.registry import TopologyError
from tests.fakes import FakeOpenAIServer, Fault
from tests.fakes.writing import EditorialResponder


@pytest.fixture
def make_settings(make_conversation_settings: Any) -> Any:
    """Settings on the parametrized checkpointer."""
    return make_conversation_settings


async def test_stream_yields_speakers_tokens_turns_then_result(make_settings: Any) -> None:
    """Events come in conversation order and the last one is the result."""
    async with ConversationManager(make_settings()) as manager:
        events = [e async for e in manager.stream("turn_taking", topic="sea kayaking")]
    result = events[-1]
    assert isinstance(result, RunResult) and result.status == "approved"
    speakers = [e.agent for e in events if isinstance(e, TurnStarted)]
    assert speakers == ["writer", "editor", "writer", "editor"]
    writer_tokens = "".join(
        e.text for e in events if isinstance(e, Token) and e.agent == "writer" and not e.structured
    )
    drafts = [e.update["draft"] for e in events if isinstance(e, Turn) and e.agent == "writer"]
    assert writer_tokens == "".join(drafts)  # tokens streamed add up to the drafts
    assert any(isinstance(e, Token) and e.structured for e in events)  # verdict JSON tagged
    assert result.usage["total"]["calls"] == 4


async def test_history_threads_transcript_and_export(make_settings: Any) -> None:
    """A finished thread is listed, its checkpoints and transcript tell the story."""
    settings = make_settings()
    async with ConversationManager(settings) as manager:
        result = await manager.run("turn_taking", topic="sea kayaking", thread_id="k1")
        history = await manager.history("k1")
        threads = await manager.threads()
        markdown = await manager.export_markdown("k1")
        lines = manager.transcript("k1").lines()
    assert result.thread_id == "k1"
    assert [t.thread_id for t in threads] == ["k1"]
    assert threads[0].status == "approved" and threads[0].topic == "sea kayaking"
    assert history[0].next == () and history[0].round == 2
    assert [h.node for h in history[:4]] == ["editor", "writer", "editor", "writer"]
    assert history[0].prompts == {"writer": "writer@v1", "editor": "editor@v1"}
    assert [(x["agent"], x["round"]) for x in lines] == [
        ("writer", 1),
        ("editor", 1),
        ("writer", 2),
        ("editor", 2),
    ]
    assert lines[0]["usage"]["calls"] == 1 and lines[0]["prompt"] == "writer@v1"
    assert "## Final draft" in markdown and "### Round 1 (writer)" in markdown
    if settings.resolved_checkpoint_url.startswith("sqlite:"):
        assert (settings.home / "checkpoints.sqlite").exists()


async def test_bad_input(make_settings: Any) -> None:
    """Empty topic, bad thread id, a new topic for an existing thread, unknown graph and
    thread are clear errors."""
    async with ConversationManager(make_settings()) as manager:
        with pytest.raises(InputError, match="topic is empty"):
            await manager.run("turn_taking", topic="  ")
        with pytest.raises(InputError, match="invalid thread id"):
            await manager.run("turn_taking", topic="t", thread_id="../etc")
        await manager.run("turn_taking", topic="t", thread_id="same")
        with pytest.raises(InputError, match="is about 't'"):
            await manager.run("turn_taking", topic="other", thread_id="same")
        with pytest.raises(InputError, match="topic is empty"):
            await manager.run("turn_taking", thread_id="new-thread")
        with pytest.raises(TopologyError, match="known graphs: turn_taking"):
            await manager.run("debate-ish", topic="t")
        with pytest.raises(UnknownThreadError):
            await manager.resume("missing")
        with pytest.raises(UnknownThreadError) as unknown:
            await manager.result("y" * 120)  # a valid id: shown by its first 40 characters
        assert f"'{'y' * 40}...'" in str(unknown.value) and "y" * 41 not in str(unknown.value)


async def test_failed_call_leaves_a_resumable_thread(make_settings: Any) -> None:
    """A server that keeps failing ends the run with a clear error; resume finishes it later."""
    settings = make_settings()
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise", "approve"))
        client = OpenAIClient(
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=1, base=0.01),
        )
        async with client, ConversationManager(settings, client=client) as manager:
            server.faults.add(Fault.status(503), Fault.status(503))
            with pytest.raises(ModelUnavailableError, match=server.base_url):
                await manager.run("turn_taking", topic="t", thread_id="r1")
            stuck = await manager.result("r1")
            assert stuck.status == "interrupted" and stuck.next == ("writer",)
            listed = {t.thread_id: t.status for t in await manager.threads()}
            assert listed["r1"] == "interrupted"  # `copydesk threads` names it the same
            done = await manager.resume("r1")
            again = await manager.resume("r1")  # a finished thread stays finished
            lines = manager.transcript("r1").lines()
    assert done.status == "approved" and done.rounds == 2
    assert again.status == "approved" and again.final_draft == done.final_draft
    ids = [x["id"] for x in lines]
    assert len(ids) == len(set(ids)) == 4


async def test_a_run_nobody_watches_asks_for_whole_replies(make_settings: Any) -> None:
    """`run` (batches, workers) asks for whole replies, yet checks, checkpoints and
    transcripts them as a watched `stream` does; a dropped reply is asked for again."""
    settings = make_settings()
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise", "approve"))
        client = OpenAIClient(base_url=server.base_url, retry=RetryPolicy(base=0.01))
        async with client, ConversationManager(settings, client=client) as manager:
            server.faults.add(Fault.drop())
            whole = await manager.run("turn_taking", topic="t", thread_id="batch")
            asked_whole = server.chat_requests()
            events = [e async for e in manager.stream("turn_taking", topic="t", thread_id="live")]
            watched = server.chat_requests()[len(asked_whole) :]
            lines = manager.transcript("batch").lines()
    assert [(r.body or {}).get("stream", False) for r in asked_whole] == [False] * 5
    assert all((r.body or {}).get("stream") for r in watched)
    assert any(isinstance(e, Token) for e in events)
    assert isinstance(events[-1], RunResult) and events[-1].status == "approved"
    assert (whole.status, whole.rounds) == ("approved", 2)
    assert [x["agent"] for x in lines] == ["writer", "editor", "writer", "editor"]


async def test_resume_drops_transcript_lines_without_a_checkpoint(make_settings: Any) -> None:
    """A line written for a step whose checkpoint was lost is dropped before resuming."""
    async with ConversationManager(make_settings()) as manager:
        await manager.run("turn_taking", topic="t", thread_id="c1", max_rounds=1)
        manager.transcript("c1").append([{"id": "c1:9:ghost", "agent": "writer", "round": 9}])
        await manager.resume("c1")
        lines = manager.transcript("c1").lines()
    assert "c1:9:ghost" not in {x["id"] for x in lines}
    assert len(lines) == 2


async def test_many_threads_at_once(make_settings: Any) -> None:
    """Ten threads on one manager run concurrently and each keeps its own topic."""
    import asyncio

    async with ConversationManager(make_settings()) as manager:
        results = await asyncio.gather(
            *(
                manager.run("turn_taking", topic=f"harbour {i}", thread_id=f"h{i}")
                for i in range(10)
            )
        )
    for i, result in enumerate(results):
        assert result.status == "approved"
        assert f"Harbour {i}" in result.final_draft
