"""Recall in conversations: facts from early rounds reach late prompts within budgets,
through the nodes and through ConversationManager with the fake server's embeddings."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.store.base import SearchItem
from langgraph.types import Command

from copydesk.agents.chatbot import Editor, Writer
from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.agents.state import DraftState
from copydesk.graphs.manager import ConversationManager
from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.recall import (
    RECALL_NAME,
    RecallPolicy,
    diverse,
    project_namespace,
    thread_namespace,
)
from copydesk.memory.tokens import TokenCounter
from copydesk.memory.vector import FaissStore
from copydesk.prompts.registry import PromptRegistry
from tests.fakes import FakeOpenAIServer
from tests.fakes.writing import EditorialResponder, ScriptedChatModel, verdict_json

NOW = "2026-01-01T00:00:00+00:00"
FACT = "The harbour master is called Ilse Brandt and she rows a green dory every dawn."


def _apply(state: dict[str, Any], update: dict[str, Any]) -> None:
    """What the graph's reducers do with an update (append lists, replace the rest)."""
    for key, value in update.items():
        if key in ("messages", "verdicts", "revisions"):
            state[key] = [*state.get(key, []), *value]
        elif key not in ("usage", "prompts"):
            state[key] = value


async def test_fact_from_round_3_is_in_the_prompt_at_round_300(store_form: Any) -> None:
    """A user fact given in round 3 has left the window long before round 300, yet the
    writer's round-300 prompt carries it (in the recall message), and the prompt stays
    about as long as at round 10."""
    model = ScriptedChatModel(
        drafts=["A draft about the harbour at dawn, with boats and gulls."],
        verdicts=[verdict_json("revise")],
    )
    client = OpenAIClient(chat_model=model)
    window = WindowPolicy(max_tokens=300)
    recall = RecallPolicy(k=3, max_tokens=120)
    registry = PromptRegistry()
    writer = Writer("writer", "drafts", registry.get("writer"), client, window, recall)
    editor = Editor("editor", "reviews", registry.get("editor"), client, window, recall)
    store = store_form(embedder=LexicalEmbedder())
    config: Any = {"configurable": {"thread_id": "long"}}
    state: dict[str, Any] = {"topic": "a harbour town", "max_rounds": 400, "round": 0}
    prompts: dict[int, list[BaseMessage]] = {}
    for round_ in range(1, 301):
        if round_ == 3:
            _apply(state, {"messages": [HumanMessage(FACT, name="user", id="long:3:user")]})
        if round_ == 300:
            ask = HumanMessage("Name the harbour master who rows at dawn.", name="user", id="q")
            _apply(state, {"messages": [ask]})
        _apply(state, dict(await writer(DraftState(**state), config, store=store)))
        prompts[round_] = model.seen[-1]
        _apply(state, dict(await editor(DraftState(**state), config, store=store)))
    late = prompts[300]
    recalled = [m for m in late if m.name == RECALL_NAME]
    assert recalled and "Ilse Brandt" in recalled[0].text
    window_texts = [m.text for m in late if m.name != RECALL_NAME]
    assert not any("Ilse Brandt" in t for t in window_texts)  # only recall brought it back
    counter = TokenCounter("gpt-4o-mini")
    assert counter.messages(late) <= counter.messages(prompts[10]) + recall.max_tokens + 40
    assert store.get(project_namespace("default"), "long:3:user") is not None  # project-wide


async def test_editor_remembers_issues_and_accepted_drafts(store_form: Any) -> None:
    """Issues go to the thread; an approved draft to the thread and the project."""
    model = ScriptedChatModel(verdicts=[verdict_json("approve")])
    registry = PromptRegistry()
    editor = Editor(
        "editor", "reviews", registry.get("editor"), OpenAIClient(chat_model=model),
        WindowPolicy(), RecallPolicy(project="p1"),
    )  # fmt: skip
    store = store_form(embedder=LexicalEmbedder())
    state = DraftState(topic="t", draft="Final words about kites.", round=2, messages=[])
    await editor(state, {"configurable": {"thread_id": "e1"}}, store=store)
    kinds = {i.value["kind"] for i in store.search(thread_namespace("e1"))}
    assert kinds == {"revision"}
    (shared,) = store.search(project_namespace("p1"), query="kites")
    assert shared.value["text"] == "Final words about kites." and shared.value["thread"] == "e1"


async def test_recall_respects_its_token_budget(store_form: Any) -> None:
    """However many memories match, the recall message stays within max_tokens."""
    store = store_form(embedder=LexicalEmbedder())
    for i in range(40):
        store.put(thread_namespace("b"), f"k{i}", {"text": f"kite fact {i} " + "wind " * 30})
    policy = RecallPolicy(k=40, max_tokens=150)
    message = await policy.recall(store, "b", "kite wind")
    assert message is not None
    assert TokenCounter("gpt-4o-mini").text(message.text) <= 150
    assert 1 <= message.text.count("\n- ") + message.text.startswith("- ") <= 5


async def test_manager_stores_and_recalls_through_the_fake_server(make_settings: Any) -> None:
    """With a base URL set, memories are embedded by /v1/embeddings and recalled into the
    chat requests the server receives; the store persists under COPYDESK_HOME/memory."""
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise", "revise", "approve"))
        settings = make_settings(openai_base_url=server.base_url, checkpoint_url="memory:")
        async with ConversationManager(settings) as manager:
            assert isinstance(manager.store, FaissStore)
            assert isinstance(manager.store.embedder, ClientEmbedder)
            result = await manager.run("turn_taking", topic="lighthouse keepers", thread_id="m1")
            stats = manager.store.stats()
        embedding_calls = [r for r in server.requests if r.path == "/v1/embeddings"]
        chats = server.chat_requests()
    assert result.status == "approved" and result.rounds == 3
    assert embedding_calls and stats["items"] >= 3 and stats["embedder"].startswith("openai:")
    # Turns are joined for strict chat templates, so the memories arrive inside a user turn.
    memory_messages = [
        m for r in chats for m in r.body["messages"] if "Remembered from earlier" in m["content"]
    ]
    assert any("Needs work" in str(m["content"]) for m in memory_messages)
    assert (settings.home / "memory" / "items.sqlite").exists()
    assert not (settings.home / "memory" / "vectors.faiss").exists()  # small: kept in NumPy


@pytest.mark.slow
async def test_through_the_graph_a_round_3_fact_reaches_round_300(make_settings: Any) -> None:
    """End to end through turn_taking, the manager's store and LangGraph's store injection:
    a user fact added after round 2 is in the writer's prompt at round 300, though the
    200-token window has long dropped it."""
    model = ScriptedChatModel(
        drafts=["A draft about the harbour at dawn, with boats and gulls. " * 3],
        verdicts=[verdict_json("revise")],
    )
    settings = make_settings(checkpoint_url="memory:", window_tokens=200)
    async with ConversationManager(settings, client=OpenAIClient(chat_model=model)) as manager:
        await manager.run("turn_taking", topic="a harbour town", thread_id="g", max_rounds=2)
        graph = manager.graph("turn_taking")
        config: Any = {"configurable": {"thread_id": "g"}, "recursion_limit": 5000}

        async def say(text: str, key: str, rounds: int) -> None:
            message = HumanMessage(text, name="user", id=key)
            update = {"messages": [message], "max_rounds": rounds, "status": "running"}
            await graph.aupdate_state(config, update, as_node="editor")
            await graph.ainvoke(Command(goto="writer"), config)

        await say(FACT, "g:3:user", 299)
        await say("Name the harbour master who rows at dawn.", "g:300:user", 300)
        state = (await graph.aget_state(config)).values
    assert state["round"] == 300 and state["status"] == "out_of_rounds"
    writer_prompt = model.seen[-2]  # the last call is the editor's
    recalled = [m for m in writer_prompt if m.name == RECALL_NAME]
    assert recalled and "Ilse Brandt" in recalled[0].text
    assert not any("Ilse Brandt" in m.text for m in writer_prompt if m.name != RECALL_NAME)


async def test_memory_off_opens_no_store(make_settings: Any) -> None:
    """COPYDESK_MEMORY=false: no store is opened or written, and prompts carry no memories."""
    model = ScriptedChatModel(verdicts=[verdict_json("revise"), verdict_json("approve")])
    settings = make_settings(memory=False, checkpoint_url="memory:")
    async with ConversationManager(settings, client=OpenAIClient(chat_model=model)) as manager:
        result = await manager.run("turn_taking", topic="kites", thread_id="off")
        assert manager.store is None
    assert result.status == "approved"
    assert not (settings.home / "memory").exists()
    assert not any(m.name == RECALL_NAME for prompt in model.seen for m in prompt)


def _diverse_by_definition(items: list[Any], count: int, weight: float = 0.5) -> list[Any]:
    """Maximal marginal relevance written as its definition: every pick recomputes each
    candidate's highest Jaccard overlap with all picks so far."""

    def words(item: Any) -> set[str]:
        return set(re.findall(r"[a-z0-9]+", str(item.value["text"]).lower()))

    pool = sorted(items, key=lambda i: -(i.score or 0.0))
    picked: list[int] = []
    while len(picked) < min(count, len(pool)):

        def value(n: int) -> float:
            overlap = max(
                (len(words(pool[n]) & words(pool[p])) / max(1, len(words(pool[n]) | words(pool[p])))
                 for p in picked),
                default=0.0,
            )  # fmt: skip
            return weight * (pool[n].score or 0.0) - (1 - weight) * overlap

        picked.append(
            max((n for n in range(len(pool)) if n not in picked), key=lambda n: (value(n), -n))
        )
    return [pool[n] for n in picked]


def test_diverse_picks_what_the_definition_picks() -> None:
    """The incremental MMR picks exactly the definition's items, in order, near-copies and
    ties included; and of ten near-copies and one distinct fact, the fact is picked second."""
    rng = random.Random(7)
    vocabulary = [
        "tree",
        "street",
        "shade",
        "water",
        "drain",
        "city",
        "cost",
        "park",
        "bike",
        "tram",
        "ferry",
        "rain",
    ]
    for trial in range(200):
        items = [
            SearchItem(
                ("t",), f"k{n}", {"text": " ".join(rng.choices(vocabulary, k=rng.randint(0, 6)))},
                NOW, NOW, score=rng.choice([0.1, 0.5, 0.5, 0.9, None]),
            )
            for n in range(rng.randint(0, 30))
        ]  # fmt: skip
        count = rng.randint(1, 12)
        assert [i.key for i in diverse(items, count)] == [
            i.key for i in _diverse_by_definition(items, count)
        ], trial
    copies = [
        SearchItem(("t",), f"c{n}", {"text": f"please add a tree {n}"}, NOW, NOW, score=0.9)
        for n in range(10)
    ]
    fact = SearchItem(
        ("t",), "fact", {"text": "the harbour master rows a dory"}, NOW, NOW, score=0.6
    )
    assert [i.key for i in diverse([*copies, fact], 2)] == ["c0", "fact"]
