"""`OfflineChatModel`: the offline model as a LangChain chat model.

It streams tokens through LangGraph like a remote model does, reports token usage (counted
with tiktoken) and answers structured-output requests (`response_format` json_schema, or a
forced tool call) with valid JSON. `_reply` reads the task by its markers and picks who
answers (see `roles`); everything else here is the LangChain chat-model interface.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.client.offline import _task
from copydesk.agents.client.offline._calls import (
    after_tools,
    bounded,
    cap,
    json_format,
    schema_of,
    tool_call_for,
)
from copydesk.agents.client.offline.documents import write_section
from copydesk.agents.client.offline.roles import argue, typed_answer, write_first, write_revision
from copydesk.memory.tokens import TokenCounter
from copydesk.prompts.markers import PERSONA_FIELD, SECTION_FIELD, TOPIC_FIELD

__all__ = ["OFFLINE_MODEL_NAME", "OfflineChatModel"]

OFFLINE_MODEL_NAME = "copydesk-offline"
"""The model name the offline model reports (in usage, transcripts and `run --json`)."""


class OfflineChatModel(BaseChatModel):
    """Deterministic stand-in for a chat model. See the module docstring.

    The standard parameters are honoured where a deterministic model can: `stop` ends the
    text before the first stop sequence, `max_tokens` cuts it at that many tokens (finish
    reason `length`); `temperature`, `timeout` and `max_retries` are accepted and change
    nothing. Tools bound with `bind_tools` are called (see `_calls.tool_call_for`), and
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
        limit = cap(kwargs) or self.max_tokens
        if limit:
            params["ls_max_tokens"] = limit
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
        task = _task.task(messages)
        topic = _task.field(task, TOPIC_FIELD) or task.strip()[:120]
        draft = _task.draft(task)
        counter = TokenCounter(self.tokenizer_model)
        finish = "stop"
        call = tool_call_for(messages, kwargs, task, draft)
        if call is not None:
            message = AIMessage(content="", tool_calls=[call])
            body = json.dumps(call["args"])
            finish = "tool_calls"
        else:
            persona = _task.field(task, PERSONA_FIELD)
            if json_format(kwargs) is not None:
                body = json.dumps(typed_answer(schema_of(kwargs), task, draft))
            elif isinstance(messages[-1] if messages else None, ToolMessage):
                body = after_tools(messages)
            elif persona:
                body = argue(persona, draft)
            elif section := _task.field(task, SECTION_FIELD):
                feedback = _task.feedback(task)
                body = write_revision(section, draft, feedback) if draft else write_section(task)
            elif draft:
                body = write_revision(topic, draft, _task.feedback(task))
            else:
                body = write_first(topic)
            limit = cap(kwargs) or self.max_tokens
            body, finish = bounded(body, stop or self.stop, limit, counter)
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
