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
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.client._schema_instance import instance_of
from copydesk.memory.tokens import TokenCounter

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


_KNOWN_FIELDS = frozenset({"decision", "issues", "changes", "summary", "next_speaker", "reason"})
"""Fields of copydesk's typed replies that `typed_answer` fills as the roles would."""


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
    """Deterministic stand-in for a chat model. See the module docstring.

    The standard parameters are honoured where a deterministic model can: `stop` ends the
    text before the first stop sequence, `max_tokens` cuts it at that many tokens (finish
    reason `length`); `temperature`, `timeout` and `max_retries` are accepted and change
    nothing. Tools bound with `bind_tools` are called (see `_tool_call`), and
    `with_structured_output` answers by forced tool call or `json_schema` response format.
    """

    model_config = ConfigDict(populate_by_name=True)

    model_name: str = Field(default=OFFLINE_MODEL_NAME, alias="model")
    """Reported as the model in responses and usage."""
    tokenizer_model: str = "gpt-4o-mini"
    """Whose tokenizer counts usage."""
    temperature: float | None = None
    """Accepted for compatibility; the output does not depend on it."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Output cap in tokens; a longer text is cut and its finish reason is `length`."""
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    """Stop sequences: the text ends before the first one."""
    timeout: float | None = None
    """Accepted for compatibility: the offline model answers at once."""
    max_retries: int | None = None
    """Accepted for compatibility: the offline model does not fail."""
    streaming: bool = False
    """Stream by default (callers may still call `stream` either way)."""

    @property
    def _llm_type(self) -> str:
        return OFFLINE_MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_tokens": self.max_tokens, "stop": self.stop}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="copydesk",
            ls_model_name=str(kwargs.get("model") or self.model_name),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        cap = _cap(kwargs) or self.max_tokens
        if cap:
            params["ls_max_tokens"] = cap
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """This model with `tools` (LangChain tools, pydantic models, functions or OpenAI
        tool dicts) to call; `tool_choice` is `auto` (the default), `any`/`required` (some
        tool), `none`, a tool's name, or True (the only tool)."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        choice: Any = tool_choice
        if choice is True or choice == "any":
            choice = "required"
        elif choice in (None, False, "auto"):
            choice = None
        elif isinstance(choice, str) and choice not in ("none", "required"):
            choice = {"type": "function", "function": {"name": choice}}
        options: dict[str, Any] = {"tools": formatted, **kwargs}
        if choice is not None:
            options["tool_choice"] = choice
        return self.bind(**options)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """This model answering with an instance of `schema` (a pydantic model, TypedDict or
        JSON schema): by a forced tool call (`function_calling`) or as JSON text in a
        `json_schema` response format."""
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_schema", "json_mode"):
            raise ValueError(
                f"unsupported method {method!r}: use function_calling, json_schema or json_mode"
            )
        if kwargs:
            raise ValueError(f"unsupported arguments {kwargs}")
        function = convert_to_openai_tool(schema)["function"]
        asked = {
            "name": function["name"],
            "schema": function.get("parameters") or {},
            "strict": bool(strict),
        }
        # json_mode asks for any JSON object; the offline model still answers with the
        # schema's shape, as a real model does when the prompt describes it.
        response_format = (
            {"type": "json_schema", "json_schema": asked}
            if method == "json_schema"
            else {"type": "json_object", "json_schema": asked}
        )
        llm = self.bind(
            response_format=response_format,
            ls_structured_output_format={
                "kwargs": {"method": method, "strict": strict},
                "schema": convert_to_json_schema(schema),
            },
        )
        parser: Runnable[Any, Any] = (
            PydanticOutputParser(pydantic_object=schema)
            if isinstance(schema, type) and issubclass(schema, BaseModel)
            else JsonOutputParser()
        )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        ).with_fallbacks(
            [RunnablePassthrough.assign(parsed=lambda _: None)], exception_key="parsing_error"
        )
        return RunnableMap(raw=llm) | parsed

    def _reply(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> AIMessage:
        task = _task(messages)
        topic = _field(task, "Topic") or task.strip()[:120]
        draft = _draft(task)
        counter = TokenCounter(self.tokenizer_model)
        finish = "stop"
        call = _tool_call(messages, kwargs, task, draft)
        if call is not None:
            message = AIMessage(content="", tool_calls=[call])
            body = json.dumps(call["args"])
            finish = "tool_calls"
        else:
            if _json_schema(kwargs) is not None:
                body = json.dumps(typed_answer(_schema_of(kwargs), task, draft))
            elif isinstance(messages[-1] if messages else None, ToolMessage):
                body = _after_tools(messages)
            elif _field(task, "Persona"):
                body = argue(_field(task, "Persona"), draft)
            elif draft:
                feedback = task.split("changes:", 1)[-1] if "changes:" in task else task
                body = write_revision(topic, draft, feedback)
            else:
                body = write_first(topic)
            body, finish = _bounded(body, stop or self.stop, _cap(kwargs) or self.max_tokens,
                                    counter)  # fmt: skip
            message = AIMessage(content=body)
        prompt, completion = counter.messages(messages), counter.text(body)
        message.usage_metadata = UsageMetadata(
            input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
        )
        model = str(kwargs.get("model") or self.model_name)
        message.response_metadata = {"model_name": model, "finish_reason": finish}
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._reply(messages, stop, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Off the event loop: the first call loads the tokenizer's tables from disk, and
        # LangGraph Server (blockbuster) fails blocking calls inside async nodes.
        message = await asyncio.to_thread(self._reply, messages, stop, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        if message.tool_calls:
            call = message.tool_calls[0]
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": call["name"],
                        "args": json.dumps(call["args"], ensure_ascii=False),
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
        for chunk in self._chunks(self._reply(messages, stop, **kwargs)):
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
        message = await asyncio.to_thread(self._reply, messages, stop, **kwargs)
        for chunk in self._chunks(message):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=generation)
            yield generation


def _cap(kwargs: Mapping[str, Any]) -> int | None:
    """The output cap a call asks for (`max_tokens`, or OpenAI's `max_completion_tokens`)."""
    cap = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    return int(cap) if cap else None


def _bounded(
    text: str, stop: Sequence[str] | None, cap: int | None, counter: TokenCounter
) -> tuple[str, str]:
    """`text` ended before its first stop sequence and cut to `cap` tokens (at a word
    boundary), with the finish reason: `stop`, or `length` when the cap cut it."""
    ends = [i for i in (text.find(s) for s in stop or () if s) if i >= 0]
    if ends:
        text = text[: min(ends)]
    if not cap or counter.text(text) <= cap:
        return text, "stop"
    pieces = re.findall(r"\S+\s*|\s+", text)
    low, high = 0, len(pieces)  # the most pieces whose text fits the cap
    while low < high:
        middle = (low + high + 1) // 2
        if counter.text("".join(pieces[:middle])) <= cap:
            low = middle
        else:
            high = middle - 1
    return "".join(pieces[:low]).rstrip(), "length"


def _after_tools(messages: list[BaseMessage]) -> str:
    """The answer once tools have run: what each returned, in order."""
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            break
        status = " (error)" if message.status == "error" else ""
        results.append(f"{message.name or 'the tool'}{status}: {message.text.strip()}")
    return "From the tools: " + "; ".join(reversed(results)) + "."


def _tool_call(
    messages: list[BaseMessage], kwargs: Mapping[str, Any], task: str, draft: str
) -> ToolCall | None:
    """The tool call this turn makes, if any.

    A forced choice (a tool's name, `required`) always calls; `none` never does; otherwise
    a bound tool is called unless the last message is a tool's result (then the model
    answers in text). The tool is the one named in the choice, else one whose name the task
    mentions, else the first. Its arguments: the fields copydesk's roles fill (as in
    `typed_answer`), numbers taken in order from the task, strings from its first quoted
    phrase (else the task itself), anything else the schema's smallest valid value.
    """
    tools = [t for t in kwargs.get("tools") or [] if isinstance(t, Mapping)]
    choice = kwargs.get("tool_choice")
    if not tools or choice == "none" or _json_schema(kwargs) is not None:
        return None
    named = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
    if not named and choice != "required" and messages and isinstance(messages[-1], ToolMessage):
        return None
    functions = [dict(t.get("function") or {}) for t in tools]
    chosen = next((f for f in functions if f.get("name") == named), None) or next(
        (f for f in functions if f.get("name") and str(f["name"]) in task), functions[0]
    )
    schema = dict(chosen.get("parameters") or {})
    # A tool declaring no fields at all gets the editor's verdict (as `typed_answer`); one
    # declaring an empty set of fields takes no arguments.
    takes_none = "properties" in schema and not schema["properties"]
    args = {} if takes_none else typed_answer(schema, task, draft)
    if isinstance(args, dict):
        args = _from_task(schema, args, task)
    return tool_call(name=str(chosen.get("name", "tool")), args=args, id=f"call_{len(messages)}")


def _from_task(schema: Mapping[str, Any], args: dict[str, Any], task: str) -> dict[str, Any]:
    """`args` with the fields copydesk's roles do not know filled from the task."""
    numbers = [float(n) for n in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", task)]
    quoted = re.findall(r"'([^']+)'|\"([^\"]+)\"", task)
    phrase = next((a or b for a, b in quoted), "") or task.strip()[:200]
    properties = schema.get("properties") or {}
    for name in args:
        if name in _KNOWN_FIELDS:
            continue
        kind = (properties.get(name) or {}).get("type")
        if kind in ("integer", "number") and numbers:
            value = numbers.pop(0)
            args[name] = int(value) if kind == "integer" else value
        elif kind == "string" and not (properties.get(name) or {}).get("enum") and phrase:
            args[name] = phrase
    return args


def _json_schema(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON response format a call asks for (`json_schema`, or `json_object`), if any."""
    response_format = kwargs.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_schema",
        "json_object",
    ):
        return dict(response_format)
    return None


def _schema_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema a typed request asks for (response_format or the forced tool)."""
    response_format = _json_schema(kwargs)
    if response_format is not None:
        return dict((response_format.get("json_schema") or {}).get("schema") or {})
    for tool in kwargs.get("tools") or []:
        return dict(tool.get("function", {}).get("parameters") or {})
    return {}
