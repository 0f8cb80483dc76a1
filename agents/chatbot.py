"""`Chatbot`: an agent as a LangGraph node, and its two roles, `Writer` and `Editor`.

A chatbot is a frozen dataclass of its dependencies. Everything about a thread comes from the
state LangGraph passes in and goes back out as a partial update, so one instance serves any
number of threads at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from agents.client import OpenAIClient
from agents.state import DraftState, DraftUpdate, VerdictRecord
from agents.verdict import Verdict
from memory.buffer import WindowPolicy
from memory.tokens import encoding_loaded
from prompts.template import PromptTemplate

__all__ = ["Chatbot", "Editor", "Writer", "feedback_text", "message_id"]


def message_id(config: RunnableConfig, round_: int, agent: str) -> str:
    """A message id that is the same when a crashed step is re-run, so nothing is doubled."""
    thread = (config.get("configurable") or {}).get("thread_id", "local")
    return f"{thread}:{round_}:{agent}"


def feedback_text(verdict: Mapping[str, Any] | None) -> str:
    """The latest verdict's issues as a list the writer can answer one by one."""
    if not verdict:
        return "(none)"
    lines = [f'- [{i["severity"]}] "{i["quote"]}": {i["comment"]}' for i in verdict["issues"]]
    return "\n".join(lines) or f"- {verdict['summary']}"


@dataclass(frozen=True)
class Chatbot:
    """An agent node: builds its context from the thread's state and calls the model.

    Attributes:
        name: Node and speaker name, e.g. `writer`.
        role: A short description of the agent's job.
        prompt: The prompt version it speaks with.
        client: The shared model client.
        window: How much history it sees.
    """

    name: str
    role: str
    prompt: PromptTemplate
    client: OpenAIClient
    window: WindowPolicy

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The prompt variables for this turn."""
        verdicts = state.get("verdicts") or []
        return {
            "topic": state.get("topic", ""),
            "draft": state.get("draft", ""),
            "feedback": feedback_text(verdicts[-1] if verdicts else None),
            "round": round_,
            "max_rounds": state.get("max_rounds", round_),
        }

    def context(self, state: DraftState, part: str, round_: int) -> list[BaseMessage]:
        """System prompt, the recent history within budget, then the task.

        The task message carries the current draft and the latest verdict, so those are
        never cut; the history window shows the conversation that led here, from this
        agent's point of view (its own messages as the assistant's).
        """
        values = self.values(state, round_)
        messages = state.get("messages") or []
        # The newest draft and verdict are already in the task message.
        earlier = list(messages[:-2]) if len(messages) > 2 else []
        history = [self._as_seen(m) for m in earlier]
        return [
            self.prompt.system_message(values),
            *self.window.recent(history),
            self.prompt.task_message(part, values),
        ]

    async def acontext(self, state: DraftState, part: str, round_: int) -> list[BaseMessage]:
        """`context`, built off the event loop until the tokenizer is loaded: the first count
        reads its tables from disk, and LangGraph Server fails blocking calls in async nodes."""
        if encoding_loaded(self.window.model):
            return self.context(state, part, round_)
        return await asyncio.to_thread(self.context, state, part, round_)

    def _as_seen(self, message: BaseMessage) -> BaseMessage:
        if isinstance(message, AIMessage) and message.name == self.name:
            return AIMessage(message.text, name=self.name)
        speaker = message.name or message.type
        return HumanMessage(f"[{speaker}] {message.text}", name=speaker)


@dataclass(frozen=True)
class Writer(Chatbot):
    """Writes the first draft, then revises it to answer each of the editor's issues."""

    async def __call__(self, state: DraftState, config: RunnableConfig) -> DraftUpdate:
        """Write or revise the draft."""
        round_ = state.get("round", 0) + 1
        part = "revise" if state.get("draft") else "first"
        reply = await self.client.complete(
            await self.acontext(state, part, round_), config=config, agent=self.name
        )
        text = reply.text.strip()
        return {
            "messages": [AIMessage(text, name=self.name, id=message_id(config, round_, self.name))],
            "draft": text,
            "revisions": [{"round": round_, "author": self.name, "text": text}],
            "round": round_,
            "status": "running",
            "prompts": {self.name: self.prompt.ref},
            "usage": {self.name: reply.usage},
        }


@dataclass(frozen=True)
class Editor(Chatbot):
    """Reviews the current draft and returns a typed `Verdict`."""

    async def __call__(self, state: DraftState, config: RunnableConfig) -> DraftUpdate:
        """Judge the current draft."""
        round_ = state.get("round", 0)
        part = "revise" if state.get("verdicts") else "first"
        result = await self.client.structured(
            await self.acontext(state, part, round_), Verdict, config=config, agent=self.name
        )
        verdict = result.value
        record: VerdictRecord = {
            "round": round_,
            "agent": self.name,
            "decision": verdict.decision,
            "issues": [issue.model_dump() for issue in verdict.issues],  # type: ignore[misc]
            "summary": verdict.summary,
        }
        message = AIMessage(
            verdict.as_text(), name=self.name, id=message_id(config, round_, self.name)
        )
        return {
            "messages": [message],
            "verdicts": [record],
            "prompts": {self.name: self.prompt.ref},
            "usage": {self.name: result.usage},
        }
