"""Tokens and recall over a scripted 500-round thread, for three memory set-ups.

The user plants 20 facts in rounds 2-21 and asks about each in rounds 481-500. The writer
and editor are copydesk's real nodes with a scripted chat model; state is applied with the
graph's reducers' semantics. A fact counts as recalled when its answer word appears in the
prompt the writer receives in the round it is asked about.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from copydesk.agents.chatbot import Editor, Writer
from copydesk.agents.client import OpenAIClient
from copydesk.agents.state import DraftState
from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.recall import RecallPolicy
from copydesk.memory.tokens import TokenCounter
from copydesk.memory.vector import FaissStore
from copydesk.prompts.registry import PromptRegistry
from tests.fakes.writing import ScriptedChatModel, verdict_json

SUBJECTS = [
    ("harbour master", "rows"), ("ferry captain", "whistles"), ("village baker", "sings"),
    ("lighthouse keeper", "paints"), ("school teacher", "knits"), ("fish merchant", "juggles"),
    ("church organist", "sails"), ("night watchman", "reads"), ("post mistress", "dances"),
    ("rope maker", "fences"), ("net mender", "carves"), ("pub landlord", "climbs"),
    ("tide gauge clerk", "cycles"), ("boat builder", "gardens"), ("coast guard", "swims"),
    ("salt farmer", "brews"), ("ice seller", "fishes"), ("dock crane driver", "bakes"),
    ("ship chandler", "paints"), ("pilot boat skipper", "hikes"),
]  # fmt: skip
DRAFT = (
    "The harbour town wakes slowly; gulls circle the market while the tide turns and boats "
    "return with their catch. Streets smell of salt, tar and fresh bread in the morning."
)


def _answer(i: int) -> str:
    return f"Zebulon{i:02d}"


def _apply(state: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key in ("messages", "verdicts", "revisions"):
            state[key] = [*state.get(key, []), *value]
        elif key not in ("usage", "prompts"):
            state[key] = value


async def run(mode: str, rounds: int = 500, window: int = 2000, recall_tokens: int = 400) -> dict:
    """Prompt tokens at rounds 10/100/500 and the share of facts recalled, for one mode."""
    model = ScriptedChatModel(drafts=[DRAFT], verdicts=[verdict_json("revise")])
    client = OpenAIClient(chat_model=model)
    policy = WindowPolicy(max_tokens=10**9 if mode == "full" else window)
    recall = RecallPolicy(k=8, max_tokens=recall_tokens) if mode == "recall" else None
    registry = PromptRegistry()
    writer = Writer("writer", "drafts", registry.get("writer"), client, policy, recall)
    editor = Editor("editor", "reviews", registry.get("editor"), client, policy, recall)
    store = FaissStore(embedder=LexicalEmbedder()) if recall else None
    config: Any = {"configurable": {"thread_id": f"bench-{mode}"}}
    state: dict[str, Any] = {"topic": "a harbour town", "max_rounds": rounds + 1, "round": 0}
    counter = TokenCounter("gpt-4o-mini")
    tokens: dict[int, int] = {}
    asked = {rounds - 19 + i: i for i in range(20)}
    recalled = 0
    for round_ in range(1, rounds + 1):
        if 2 <= round_ < 22:
            i = round_ - 2
            who, does = SUBJECTS[i]
            fact = f"Remember: the {who} is called {_answer(i)} and {does} every evening."
            _apply(state, {"messages": [HumanMessage(fact, name="user", id=f"f{i}")]})
        if round_ in asked:
            who, does = SUBJECTS[asked[round_]]
            question = f"Mention the {who} who {does} every evening, by name."
            _apply(state, {"messages": [HumanMessage(question, name="user", id=f"q{round_}")]})
        _apply(state, dict(await writer(DraftState(**state), config, store=store)))
        prompt: list[BaseMessage] = model.seen[-1]
        if round_ in (10, 100, rounds):
            tokens[round_] = counter.messages(prompt)
        if round_ in asked and any(_answer(asked[round_]) in m.text for m in prompt):
            recalled += 1
        _apply(state, dict(await editor(DraftState(**state), config, store=store)))
    return {"mode": mode, **{f"tokens@{r}": t for r, t in tokens.items()}, "recall": recalled / 20}


def table(rounds: int = 500) -> list[dict[str, Any]]:
    """One row per mode: full history, window only, window plus recall."""
    return [asyncio.run(run(mode, rounds)) for mode in ("full", "window", "recall")]
