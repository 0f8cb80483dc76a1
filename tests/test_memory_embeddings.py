"""The store's embedding path against the fake server: one request per turn, no lock held
across it, and no memory lost to a storm of 429s and 500s."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from copydesk.agents.client import OpenAIClient, RetryPolicy
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.graphs.manager import ConversationManager
from copydesk.memory.recall import Memory, RecallPolicy, project_namespace, thread_namespace
from copydesk.memory.vector import FaissStore
from tests.fakes import FakeOpenAIServer
from tests.fakes.openai_server import CHAT_PATH, Fault
from tests.fakes.writing import EditorialResponder

EMBEDDINGS = "/v1/embeddings"
ANIMALS = ["heron", "otter", "badger", "curlew", "stoat", "plover", "vole", "lapwing"]
PLACES = ["salt marsh", "shingle spit", "tidal creek", "dune slack", "reed bed", "sea wall"]


def _embedder(server: FakeOpenAIServer, **retry: Any) -> tuple[OpenAIClient, ClientEmbedder]:
    client = OpenAIClient(base_url=server.base_url)
    policy = RetryPolicy(**retry) if retry else None
    return client, ClientEmbedder(client, dimensions=64, retry=policy)


async def test_each_turn_makes_at_most_one_embedding_request(make_settings: Any) -> None:
    """Through the manager, the recall query of both namespaces and the previous turn's new
    memories go in one request per turn, and no request repeats a text (after the one
    capability probe a client makes per endpoint, `memory/fallback.py`)."""
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise", "revise", "revise", "approve"))
        settings = make_settings(openai_base_url=server.base_url, checkpoint_url="memory:")
        async with ConversationManager(settings) as manager:
            result = await manager.run(
                "turn_taking", topic="lighthouse keepers", thread_id="t1", max_rounds=4
            )
            assert manager.store is not None
            pending = manager.store.stats()["pending"]
        order = [r for r in server.requests if r.path in (CHAT_PATH, EMBEDDINGS)]
    probes = [r for r in order if r.path == EMBEDDINGS and (r.body or {}).get("input") == ["probe"]]
    assert len(probes) == 1 and order[0] is probes[0]  # once per client, before any turn
    order = order[1:]
    assert result.rounds == 4
    chats = [r for r in order if r.path == CHAT_PATH]
    embeddings = [r for r in order if r.path == EMBEDDINGS]
    assert len(chats) == 8 and 1 <= len(embeddings) <= len(chats)
    before_each_chat = 0
    for request in order:  # one turn is the requests up to and including its chat call
        if request.path == EMBEDDINGS:
            before_each_chat += 1
            assert before_each_chat <= 1
        else:
            before_each_chat = 0
    for request in embeddings:
        assert request.body is not None
        inputs = request.body["input"]
        assert len(inputs) == len(set(inputs))
    sent = [t for r in embeddings for t in (r.body or {}).get("input", [])]
    assert any(t.startswith('"') for t in sent)  # the editor's issues rode along a recall
    assert pending > 0  # the last turn's memories wait for the next request, on disk


async def test_a_slow_embedding_holds_no_lock(tmp_path: Path) -> None:
    """While one conversation's search waits on a slow embedding request, another
    conversation's puts and gets on the same store complete."""
    with FakeOpenAIServer() as server:
        client, embedder = _embedder(server)
        store = FaissStore(tmp_path, embedder=embedder, fields=["text"])
        server.faults.add(Fault.delay(3.0))
        search = asyncio.create_task(store.asearch(("a",), query="heron on the salt marsh"))
        while not server.requests:  # noqa: ASYNC110 - the server thread has no asyncio.Event
            await asyncio.sleep(0.01)
        await store.aput(("b",), "k", {"text": "otter in the creek"}, index=False)
        got = await store.aget(("b",), "k")
        assert got is not None and not search.done()
        assert await search == []
        await client.aclose()
        store.close()


async def test_an_embedding_storm_loses_no_memory(tmp_path: Path) -> None:
    """Four conversations of six turns each recall and remember while the embedding endpoint
    answers 30 requests in a row with 429s and 500s (the breaker opens): recalls fail and the
    turns go on; afterwards every memory is in the store, gets its vector with the next
    successful request, and is found first by its own text."""
    with FakeOpenAIServer() as server:
        client, embedder = _embedder(server, max_retries=2, base=0.01, cap=0.05, budget=2.0)
        client.limiters.breaker(client.endpoint, embedder.model).cooldown = 0.2
        store = FaissStore(tmp_path, embedder=embedder, fields=["text"])
        policy = RecallPolicy(k=4, project="marsh")
        storm = [
            Fault.status(429, retry_after=0.02) if n % 3 else Fault.status(500) for n in range(30)
        ]
        server.faults.add(*storm)
        remembered: list[tuple[str, Memory]] = []
        failed_recalls = 0

        async def conversation(thread: str, number: int) -> None:
            nonlocal failed_recalls
            for turn in range(6):
                try:
                    await policy.recall(store, thread, f"what happened at turn {turn}")
                except Exception:  # what Chatbot does: the turn goes on without memories
                    failed_recalls += 1
                animal = ANIMALS[(number * 6 + turn) % len(ANIMALS)]
                place = PLACES[(number + turn) % len(PLACES)]
                text = f"{thread} turn {turn}: a {animal} crossed the {place} at {turn + number}"
                memory = Memory(f"{thread}:{turn}", "fact", text, turn, "user", turn % 2 == 0)
                await policy.remember(store, thread, [memory])
                remembered.append((thread, memory))
                await asyncio.sleep(0.01)

        await asyncio.gather(*(conversation(f"c{n}", n) for n in range(4)))
        assert failed_recalls > 0 and len(server.faults) < len(storm)
        server.faults.clear()
        await asyncio.sleep(0.25)  # the breaker's cool-down
        assert await policy.recall(store, "c0", "heron") is not None  # the next request
        assert store.stats()["pending"] == 0
        for thread, memory in remembered:
            item = await store.aget(thread_namespace(thread), memory.key)
            assert item is not None and item.value["text"] == memory.text
            (top,) = await store.asearch(thread_namespace(thread), query=memory.text, limit=1)
            assert top.key == memory.key and top.score is not None and top.score > 0.99
            if memory.project_wide:
                shared = await store.aget(project_namespace("marsh"), memory.key)
                assert shared is not None
        await client.aclose()
        store.close()
    reopened = FaissStore(tmp_path, embedder=embedder, fields=["text"])
    assert reopened.stats()["items"] == len(remembered) + sum(
        1 for _, m in remembered if m.project_wide
    )
    assert reopened.stats()["vectors"] == reopened.stats()["items"]
    reopened.close()


async def test_waiting_texts_are_embedded_on_request(tmp_path: Path) -> None:
    """Texts put with a remote embedder wait; `aembed_pending` embeds them in one request,
    the same text once however many items carry it."""
    with FakeOpenAIServer() as server:
        client, embedder = _embedder(server)
        store = FaissStore(tmp_path, embedder=embedder, fields=["text"])
        for namespace in (("a",), ("b",)):
            await store.aput(namespace, "k", {"text": "a heron on the salt marsh"})
        await store.aput(("a",), "j", {"text": "an otter in the creek"})
        assert store.stats()["pending"] == 3 and not server.requests
        assert await store.aembed_pending() == 3
        (request,) = server.requests
        assert request.body is not None
        assert sorted(request.body["input"]) == [
            "a heron on the salt marsh",
            "an otter in the creek",
        ]
        assert store.stats()["pending"] == 0 and store.stats()["vectors"] == 3
        found = await store.asearch(("a",), query="an otter in the creek", limit=1)
        assert found[0].key == "j" and len(server.requests) == 2
        again = await store.asearch(("a",), query="an otter in the creek", limit=1)
        assert again[0].key == "j" and len(server.requests) == 2  # the query vector is cached
        assert store.queries.get("an otter in the creek").base is None  # not a view of a reply
        await client.aclose()
        store.close()


async def test_a_batch_reports_done_with_its_memories_embedded(make_settings: Any) -> None:
    """`run-many` embeds the memories still waiting before it reports (the last turns'
    would otherwise wait for the next run): each is found by a search with a score."""
    from copydesk.graphs.cli.batch import run_batch

    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise", "approve"))
        settings = make_settings(openai_base_url=server.base_url, checkpoint_url="memory:")
        rows = await run_batch(settings, "turn_taking", ["herons", "otters"], concurrency=2)
        client = OpenAIClient(base_url=server.base_url)
        embedder = ClientEmbedder(client)  # as the run's: the store is stamped with it
        store = FaissStore(settings.home / "memory", embedder=embedder, fields=["text"])
        stats = store.stats()
        found = await store.asearch(("copydesk", "thread"), query="otters", limit=50)
        await client.aclose()
        store.close()
    assert [r["status"] for r in rows] == ["approved", "approved"]
    assert stats["pending"] == 0 and stats["vectors"] == stats["items"] > 0
    assert found and all(i.score is not None for i in found)


async def test_memories_that_cannot_be_embedded_wait_for_the_next_run(tmp_path: Path) -> None:
    """A server that fails (or a bound that runs out) leaves the memories waiting, said in
    one warning, never raised; the next request embeds them."""
    from copydesk.graphs.settle import settle

    with FakeOpenAIServer() as server:
        client, embedder = _embedder(server, max_retries=0)
        store = FaissStore(tmp_path, embedder=embedder, fields=["text"])
        await store.aput(("a",), "k", {"text": "a heron on the salt marsh"})
        server.faults.add(Fault.status(500))
        assert await settle(store) == 0
        server.faults.add(Fault.delay(3.0))
        assert await settle(store, seconds=0.2) == 0
        assert store.stats()["pending"] == 1
        assert await settle(store) == 1 and store.stats()["pending"] == 0
        assert await settle(None) == 0
        await client.aclose()
        store.close()
