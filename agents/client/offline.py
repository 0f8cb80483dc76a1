"""The offline model: a deterministic chat model used when no API key or base URL is set.

It is a real LangChain chat model, so it streams tokens through LangGraph like a remote model
does, reports token usage (counted with tiktoken) and answers structured-output requests
(`response_format` json_schema, or a forced tool call) with valid JSON. Its writing is built
from the task in front of it, so different topics and different editor feedback give visibly
different drafts. It says what it is: its model name is `copydesk-offline`.

How it plays the two roles, so a writer <-> editor thread behaves like a real one:
- writer, first draft: a title, an opening and a body, built from the topic's words;
- editor: asks for a concrete example and a closing takeaway when the draft lacks them
  (major issues, quoting the draft), otherwise approves;
- writer, revision: answers each issue it was given, in order;
- debater (a task with a `Persona:` line): argues for the changes the editor would ask for;
- any other typed reply: a valid instance of the requested JSON schema, with the fields it
  knows filled sensibly: `decision`/`changes`/`summary` as the editor would judge the draft,
  `next_speaker` as the participant after the `Last speaker:` in the `Participants:` line.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agents.client._schema_instance import instance_of
from memory.tokens import TokenCounter

__all__ = ["OFFLINE_MODEL_NAME", "OfflineChatModel"]

OFFLINE_MODEL_NAME = "copydesk-offline"
_EXAMPLE, _TAKEAWAY = "For example,", "In short,"
_STOP = {
    "the",
    "a",
    "an",
    "of",
    "and",
    "or",
    "to",
    "in",
    "on",
    "for",
    "with",
    "how",
    "why",
    "what",
    "is",
    "are",
    "about",
    "more",
    "most",
    "less",
    "should",
    "could",
    "would",
    "can",
    "will",
    "must",
    "do",
    "does",
    "it",
    "its",
    "their",
    "our",
    "your",
}


def _task(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return messages[-1].text if messages else ""


def _field(text: str, label: str) -> str:
    match = re.search(rf"^{label}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def _draft(text: str) -> str:
    match = re.search(r"<<<\n(.*?)\n>>>", text, re.DOTALL)
    return match.group(1).strip() if match else ""


def _sentences(text: str) -> list[str]:
    body = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return re.findall(r"[^.!?]+[.!?]", " ".join(body)) or [text.strip()]


def _subject(topic: str) -> tuple[str, str]:
    """(topic as a phrase, its last content word): 'Why cities plant trees' -> ..., 'trees'."""
    phrase = topic.strip().rstrip(".?!") or "the subject"
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", phrase) if w.lower() not in _STOP]
    return phrase, (words[-1].lower() if words else "the details")


def write_first(topic: str) -> str:
    """A first draft on `topic`: title, opening, body; no example and no takeaway yet."""
    phrase, focus = _subject(topic)
    return (
        f"# {phrase[:1].upper()}{phrase[1:]}\n\n"
        f"{phrase[:1].upper()}{phrase[1:]}: the question is easy to ask and harder to answer "
        f"well. This piece sets out what is at stake and why it deserves attention.\n\n"
        f"Most of the difficulty comes down to {focus}: it rewards steady attention and "
        f"punishes shortcuts. People who treat {focus} as a habit rather than a one-off project "
        f"see the benefits compound over time."
    )


def write_revision(topic: str, draft: str, feedback: str) -> str:
    """`draft` revised to answer each feedback line, in order."""
    phrase, focus = _subject(topic)
    text = draft or write_first(topic)
    for line in (ln.strip() for ln in feedback.splitlines() if ln.strip().startswith("-")):
        lowered = line.lower()
        if "example" in lowered and _EXAMPLE not in text:
            text += (
                f"\n\n{_EXAMPLE} a group that reviews its {focus} every week catches problems "
                f"while they are still cheap to fix."
            )
        elif ("takeaway" in lowered or "conclu" in lowered) and _TAKEAWAY not in text:
            claim = re.sub(r"^(why|how|what|whether)\s+", "", phrase, flags=re.IGNORECASE)
            text += (
                f"\n\n{_TAKEAWAY} {claim[:1].lower()}{claim[1:]}, and getting there takes practice."
            )
        elif "example" not in lowered and "takeaway" not in lowered:
            comment = line.split(":", 1)[-1].strip().rstrip(".")
            text += (
                f"\n\nOn the point that {comment[:1].lower()}{comment[1:]}: this is now addressed."
            )
    return text


def review(draft: str) -> dict[str, Any]:
    """A verdict on `draft`, as the JSON object the editor's schema describes."""
    sentences = _sentences(draft)
    issues = []
    if _EXAMPLE not in draft:
        issues.append(
            {
                "severity": "major",
                "quote": sentences[min(1, len(sentences) - 1)].strip(),
                "comment": "Too abstract: add a concrete example.",
            }
        )
    if _TAKEAWAY not in draft:
        issues.append(
            {
                "severity": "major",
                "quote": sentences[-1].strip(),
                "comment": "The ending trails off: close with a clear takeaway.",
            }
        )
    if issues:
        return {
            "decision": "revise",
            "issues": issues,
            "summary": f"A sound start with {len(issues)} major issue(s) to fix.",
        }
    return {
        "decision": "approve",
        "issues": [],
        "summary": "Concrete, well structured and it lands its point.",
    }


def argue(persona: str, draft: str) -> str:
    """A debater's short case for how `draft` should change."""
    issues = review(draft)["issues"]
    if not issues:
        return f"As the {persona}: the draft makes its case; keep it as it stands."
    asks = "; ".join(str(i["comment"]).split(":")[-1].strip().rstrip(".") for i in issues)
    return f"As the {persona}: the draft should change. {asks[:1].upper()}{asks[1:]}."


def next_speaker(task: str) -> str:
    """The participant after the last speaker, in the order the task lists them."""
    names = [n.strip() for n in _field(task, "Participants").split(",") if n.strip()]
    if not names:
        return "writer"
    last = _field(task, "Last speaker")
    return names[(names.index(last) + 1) % len(names)] if last in names else names[0]


def typed_answer(schema: dict[str, Any], task: str, draft: str) -> Any:
    """A valid instance of `schema`, with the fields the offline model understands filled in."""
    verdict = review(draft)
    if not schema.get("properties"):
        return verdict  # a request that names no fields gets the editor's verdict
    value = instance_of(schema)
    if not isinstance(value, dict):
        return value
    if set(value) == {"decision", "issues", "summary"}:
        return verdict
    known: dict[str, Any] = {
        "decision": verdict["decision"],
        "changes": [str(i["comment"]) for i in verdict["issues"]],
        "summary": verdict["summary"],
        "next_speaker": next_speaker(task),
        "reason": "offline model: the next participant in turn",
    }
    properties = schema.get("properties") or {}
    for name in value:
        enum = (properties.get(name) or {}).get("enum")
        if name in known and (enum is None or known[name] in enum):
            value[name] = known[name]
    return value


class OfflineChatModel(BaseChatModel):
    """Deterministic stand-in for a chat model. See the module docstring."""

    model_name: str = OFFLINE_MODEL_NAME
    """Reported as the model in responses and usage."""
    tokenizer_model: str = "gpt-4o-mini"
    """Whose tokenizer counts usage."""

    @property
    def _llm_type(self) -> str:
        return OFFLINE_MODEL_NAME

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        task = _task(messages)
        topic = _field(task, "Topic") or task.strip()[:120]
        draft = _draft(task)
        structured = _structured_target(kwargs)
        counter = TokenCounter(self.tokenizer_model)
        if structured is not None:
            body = json.dumps(typed_answer(_schema_of(kwargs), task, draft))
            if structured == "response_format":
                message = AIMessage(content=body)
            else:
                message = AIMessage(
                    content="",
                    tool_calls=[{"name": structured, "args": json.loads(body), "id": "call_0"}],
                )
        elif _field(task, "Persona"):
            body = argue(_field(task, "Persona"), draft)
            message = AIMessage(content=body)
        elif draft:
            feedback = task.split("changes:", 1)[-1] if "changes:" in task else task
            body = write_revision(topic, draft, feedback)
            message = AIMessage(content=body)
        else:
            body = write_first(topic)
            message = AIMessage(content=body)
        prompt, completion = counter.messages(messages), counter.text(body)
        message.usage_metadata = UsageMetadata(
            input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
        )
        message.response_metadata = {"model_name": self.model_name, "finish_reason": "stop"}
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, **kwargs))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Off the event loop: the first call loads the tokenizer's tables from disk, and
        # LangGraph Server (blockbuster) fails blocking calls inside async nodes.
        message = await asyncio.to_thread(self._reply, messages, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        if message.tool_calls:
            call = message.tool_calls[0]
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": call["name"],
                        "args": json.dumps(call["args"]),
                        "id": call["id"],
                        "index": 0,
                        "type": "tool_call_chunk",
                    }
                ],
            )
        else:
            for piece in re.findall(r"\S+\s*|\s+", message.text):
                yield AIMessageChunk(content=piece)
        yield AIMessageChunk(
            content="",
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, **kwargs)):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message = await asyncio.to_thread(self._reply, messages, **kwargs)
        for chunk in self._chunks(message):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=generation)
            yield generation


def _structured_target(kwargs: dict[str, Any]) -> str | None:
    """`response_format` when asked for JSON content, a tool name when forced to call one."""
    response_format = kwargs.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return "response_format"
    choice = kwargs.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name", "tool"))
    tools = kwargs.get("tools") or []
    if len(tools) == 1:
        return str(tools[0].get("function", {}).get("name", "tool"))
    return None


def _schema_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema a typed request asks for (response_format or the forced tool)."""
    response_format = kwargs.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return dict(response_format.get("json_schema", {}).get("schema") or {})
    for tool in kwargs.get("tools") or []:
        return dict(tool.get("function", {}).get("parameters") or {})
    return {}
