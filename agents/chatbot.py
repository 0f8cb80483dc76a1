"""`Chatbot`: an agent as a LangGraph node, and its two roles, `Writer` and `Editor`.

A chatbot is a frozen dataclass of its dependencies. Everything about a thread comes from the
state LangGraph passes in and goes back out as a partial update, so one instance serves any
number of threads at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from copydesk.agents.budgets import within_budget
from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.sites import calling, in_round
from copydesk.agents.errors import ReplayMismatchError
from copydesk.agents.state import DraftState, DraftUpdate, VerdictRecord
from copydesk.agents.telemetry.turns import traced_turn
from copydesk.agents.verdict import Verdict
from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.recall import Memory, RecallPolicy
from copydesk.memory.tokens import vocabulary_for_model, vocabulary_loaded
from copydesk.prompts.template import PromptTemplate

__all__ = ["Chatbot", "Editor", "Writer", "feedback_text", "message_id"]

_log = logging.getLogger("copydesk.memory")


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


def _thread(config: RunnableConfig) -> str:
    return str((config.get("configurable") or {}).get("thread_id", "local"))


def _last_verdict(state: DraftState) -> Mapping[str, Any] | None:
    verdicts = state.get("verdicts") or []
    return verdicts[-1] if verdicts else None


def _new_user_messages(state: DraftState, agent: str) -> list[BaseMessage]:
    """User messages since `agent` last spoke (newest last): what it has not yet seen."""
    found: list[BaseMessage] = []
    for message in reversed(state.get("messages") or []):
        if isinstance(message, AIMessage) and message.name == agent:
            break
        if isinstance(message, HumanMessage) and message.name == "user":
            found.append(message)
    return found[::-1]


def _new_user_texts(state: DraftState, agent: str) -> list[str]:
    return [m.text for m in _new_user_messages(state, agent)]


@dataclass(frozen=True)
class Chatbot:
    """An agent node: builds its context from the thread's state and calls the model.

    Attributes:
        name: Node and speaker name, e.g. `writer`.
        role: A short description of the agent's job.
        prompt: The prompt version it speaks with.
        client: The shared model client.
        window: How much history it sees.
        recall: What it recalls from the store before each call (None: nothing).
    """

    name: str
    role: str
    prompt: PromptTemplate
    client: OpenAIClient
    window: WindowPolicy
    recall: RecallPolicy | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each role's turn (its `__call__`) is a span while tracing is on (`traced_turn`)."""
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = traced_turn(cls.__dict__["__call__"])  # type: ignore[method-assign]

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

    def context(
        self, state: DraftState, part: str, round_: int, recalled: BaseMessage | None = None
    ) -> list[BaseMessage]:
        """System prompt, recalled memories, the recent history within budget, then the task.

        The task message carries the current draft and the latest verdict, so those are
        never cut; the history window shows the conversation that led here, from this
        agent's point of view (its own messages as the assistant's).
        """
        return self._assemble(state, part, round_, self._history(state), recalled)

    def _history(self, state: DraftState) -> list[BaseMessage]:
        """The messages before the newest draft and verdict, as this agent sees them."""
        messages = state.get("messages") or []
        # The newest draft and verdict are already in the task message. Only as many
        # messages as could fit are converted: the window never looks further back.
        earlier = list(messages[:-2]) if len(messages) > 2 else []
        tail = earlier[-max(1, self.window.max_tokens // 4) :] if earlier else []
        return [self._as_seen(m) for m in tail]

    def _assemble(
        self,
        state: DraftState,
        part: str,
        round_: int,
        history: list[BaseMessage],
        recalled: BaseMessage | None,
    ) -> list[BaseMessage]:
        values = self.values(state, round_)
        window = self.window.window(history)
        return [
            self.prompt.system_message(values),
            *([recalled] if recalled is not None else []),
            *window.as_list(),
            self.prompt.task_message(part, values),
        ]

    async def acontext(
        self,
        state: DraftState,
        part: str,
        round_: int,
        recalled: BaseMessage | None = None,
    ) -> list[BaseMessage]:
        """`context`, with the window's vocabulary loaded off the event loop if the window needs
        it (the first count reads a file, and LangGraph Server fails blocking calls in async
        nodes). A history that surely fits is not counted, so the file is read only by
        threads long enough to be trimmed."""
        in_round(round_)  # the site of this turn's calls (a recorded exchange keeps it)
        history = self._history(state)
        if not self.window.fits_whole(history) and not vocabulary_loaded(self.window.model):
            await asyncio.to_thread(vocabulary_for_model, self.window.model)
        return self._assemble(state, part, round_, history, recalled)

    async def prompt_for(
        self,
        state: DraftState,
        config: RunnableConfig,
        part: str,
        round_: int,
        store: BaseStore | None,
    ) -> list[BaseMessage]:
        """`context` with the memories recalled for this turn, when there is a store."""
        if store is None or self.recall is None:
            return await self.acontext(state, part, round_)
        plain = await self.acontext(state, part, round_)  # also loads the tokenizer off-loop
        # What the user just said is what to recall for; otherwise the topic and open issues.
        query = "\n".join(_new_user_texts(state, self.name)) or (
            f"{state.get('topic', '')}\n{feedback_text(_last_verdict(state))}"
        )
        telemetry = self.client.telemetry
        try:
            with (
                calling(self.name),  # its embeddings are this agent's, on a cassette
                telemetry.span("recall", {"openinference.span.kind": "RETRIEVER"}) as span,
            ):
                recalled = await self.recall.recall(
                    store, _thread(config), query, [m.text for m in plain]
                )
                span.set_attribute("copydesk.recalled", recalled is not None)
        except ReplayMismatchError:
            raise  # a replay that went astray stops here, not at the next request
        except Exception as error:  # memory helps a turn; it must never be why a turn fails
            _log.warning("%s: recall failed, answering without memories: %s", self.name, error)
            return plain
        return await self.acontext(state, part, round_, recalled)

    async def remember(
        self, store: BaseStore | None, config: RunnableConfig, memories: list[Memory]
    ) -> None:
        """Store what this turn produced worth recalling later."""
        if store is not None and self.recall is not None and memories:
            try:
                with self.client.telemetry.span("remember", {"copydesk.memories": len(memories)}):
                    await self.recall.remember(store, _thread(config), memories)
            except Exception as error:  # the turn's result is in the checkpoint regardless
                _log.warning("%s: could not store %d memories: %s", self.name, len(memories), error)

    def _as_seen(self, message: BaseMessage) -> BaseMessage:
        if isinstance(message, AIMessage) and message.name == self.name:
            return AIMessage(message.text, name=self.name)
        speaker = message.name or message.type
        return HumanMessage(f"[{speaker}] {message.text}", name=speaker)


@dataclass(frozen=True)
class Writer(Chatbot):
    """Writes the first draft, then revises it to answer each of the editor's issues."""

    @within_budget
    async def __call__(
        self,
        state: DraftState,
        config: RunnableConfig,
        *,
        # LangGraph injects the store only into a parameter annotated exactly
        # `Optional[BaseStore]` or `BaseStore`; it does not recognise `BaseStore | None`.
        store: Optional[BaseStore] = None,  # noqa: UP045
    ) -> DraftUpdate:
        """Write or revise the draft; remember what the user said since the last turn."""
        round_ = state.get("round", 0) + 1
        part = "revise" if state.get("draft") else "first"
        prompt = await self.prompt_for(state, config, part, round_, store)
        reply = await self.client.complete(
            prompt, config=config, agent=self.name, params=self.prompt.model_params
        )
        text = reply.text.strip()
        facts = [
            Memory(str(m.id or f"{round_}:user:{n}"), "fact", m.text, round_, "user", True)
            for n, m in enumerate(_new_user_messages(state, self.name))
        ]
        await self.remember(store, config, facts)
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

    verdict_schema: ClassVar[type[Verdict]] = Verdict
    """The typed reply asked for: `Verdict`, or a subclass that carries more (`noted`)."""

    def noted(self, state: DraftState, verdict: Verdict, update: DraftUpdate) -> DraftUpdate:
        """The turn's update, with what a subclass keeps of its verdict beyond the decision."""
        return update

    @within_budget
    async def __call__(
        self,
        state: DraftState,
        config: RunnableConfig,
        *,
        # LangGraph injects the store only into a parameter annotated exactly
        # `Optional[BaseStore]` or `BaseStore`; it does not recognise `BaseStore | None`.
        store: Optional[BaseStore] = None,  # noqa: UP045
    ) -> DraftUpdate:
        """Judge the current draft; remember its issues, or the draft when accepted."""
        round_ = state.get("round", 0)
        part = "revise" if state.get("verdicts") else "first"
        prompt = await self.prompt_for(state, config, part, round_, store)
        result = await self.client.structured(
            prompt,
            self.verdict_schema,
            config=config,
            agent=self.name,
            params=self.prompt.model_params,
        )
        verdict = result.value
        key = message_id(config, round_, self.name)
        memories = [
            Memory(f"{key}:{n}", "issue", f'"{i.quote}": {i.comment}', round_, self.name)
            for n, i in enumerate(verdict.issues)
        ]
        if verdict.decision == "approve" and state.get("draft"):
            memories.append(
                Memory(
                    f"{key}:accepted", "revision", state.get("draft", ""), round_, "writer", True
                )
            )
        await self.remember(store, config, memories)
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
        update: DraftUpdate = {
            "messages": [message],
            "verdicts": [record],
            "prompts": {self.name: self.prompt.ref},
            "usage": {self.name: result.usage},
        }
        return self.noted(state, verdict, update)
