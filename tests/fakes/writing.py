"""Fakes that play writer and editor: responders for the fake HTTP server and a scripted
LangChain chat model, all answering drafts with text and verdicts with valid JSON."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from tests.fakes._replies import Reply

__all__ = ["ByRoundResponder", "EditorialResponder", "ScriptedChatModel", "verdict_json"]

_ROUND = re.compile(r"round (\d+) of \d+")
_TOPIC = re.compile(r"^Topic:\s*(.+)$", re.MULTILINE)


def verdict_json(decision: str, n: int = 0) -> str:
    """A valid Verdict JSON document."""
    issues = (
        []
        if decision == "approve"
        else [{"severity": "major", "quote": "Draft", "comment": f"Needs work, pass {n}."}]
    )
    return json.dumps({"decision": decision, "issues": issues, "summary": f"{decision} #{n}"})


def _topic(text: str) -> str:
    match = _TOPIC.search(text)
    return match.group(1).strip() if match else text[:40]


@dataclass
class EditorialResponder:
    """Fake-server responder: drafts for plain requests, scripted verdicts for typed ones.

    Attributes:
        decisions: Verdict decisions in order; the last repeats once they run out.
    """

    decisions: Sequence[str] = ("revise", "approve")
    _drafts: int = 0
    _verdicts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        last = str(messages[-1].get("content", "")) if messages else ""
        typed = "response_format" in body or "tools" in body
        with self._lock:
            if typed:
                self._verdicts += 1
                n = self._verdicts
            else:
                self._drafts += 1
                n = self._drafts
        if not typed:
            return Reply(content=f"Draft {n} on {_topic(last)}.")
        decision = self.decisions[min(n - 1, len(self.decisions) - 1)]
        text = verdict_json(decision, n)
        if "tools" in body:
            return Reply(tool_calls=[{"name": "Verdict", "arguments": text}])
        return Reply(content=text)


class HeldEditor:
    """Decides as `decisions` say; holds the editor's first call until released, saying
    when it arrived (a run caught mid-turn, for a test in another process to act on)."""

    def __init__(self, decisions: Sequence[str] = ("approve",)) -> None:
        self.editorial = EditorialResponder(decisions=tuple(decisions))
        self.asked, self.release = threading.Event(), threading.Event()

    def __call__(self, body: dict[str, Any]) -> Reply:
        if "response_format" in body or "tools" in body:
            self.asked.set()
            self.release.wait(timeout=60)
        return self.editorial(body)


@dataclass
class ByRoundResponder:
    """Fake-server responder that answers by the round named in the prompt.

    The writer's reply is `Round N draft on TOPIC.`; the editor revises before round
    `approve_at` and approves from it on. Unlike `EditorialResponder`, which counts requests,
    a request lost to a killed client does not shift what later rounds get.
    """

    approve_at: int

    def __call__(self, body: dict[str, Any]) -> Reply:
        last = str((body.get("messages") or [{}])[-1].get("content", ""))
        found, topic = _ROUND.search(last), _TOPIC.search(last)
        assert found is not None and topic is not None, last
        round_ = int(found.group(1))
        if "response_format" not in body and "tools" not in body:
            return Reply(content=f"Round {round_} draft on {topic.group(1).strip()}.")
        decision = "approve" if round_ >= self.approve_at else "revise"
        return Reply(content=verdict_json(decision, round_))


class ScriptedChatModel(BaseChatModel):
    """A chat model that replies from a script and records what it was sent.

    Plain calls take the next `drafts` entry, calls bound with a `response_format` or tools
    the next `verdicts` entry; the last entry of each repeats once the script runs out.
    """

    drafts: list[str] = Field(default_factory=lambda: ["Draft."])
    verdicts: list[str] = Field(default_factory=lambda: [verdict_json("approve")])
    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def seen(self) -> list[list[BaseMessage]]:
        """Every prompt received, in order."""
        return self._seen

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        kind = "verdicts" if "response_format" in kwargs or "tools" in kwargs else "drafts"
        pool = self.verdicts if kind == "verdicts" else self.drafts
        with self._lock:
            self._seen.append(list(messages))
            index = self._counts.get(kind, 0)
            self._counts[kind] = index + 1
        message = AIMessage(pool[min(index, len(pool) - 1)])
        message.usage_metadata = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, **kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._reply(messages, **kwargs)
        yield ChatGenerationChunk(message=AIMessageChunk(content=message.text))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, **kwargs):
            yield chunk
