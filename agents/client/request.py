"""What one call sends: its parameters, its messages and the chat model bound to answer.

Each is shaped for the client's server as learned so far (`shaping.py`): the output cap goes
in the field the server reads, and within half the model's context once that is known; the
messages alternate and are trimmed to the context. The chat model is bound to answer plainly
or in a structured mode (`typed.py`), the schema's tool built once per schema. The offline
model and an injected chat model take the messages as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from copydesk.agents.client.capabilities import StructuredMode
from copydesk.agents.client.shaping import capped, output_params, shaped
from copydesk.agents.client.typed import bind_typed, typed_tool

if TYPE_CHECKING:
    from copydesk.agents.client.chat import OpenAIClient

__all__ = ["Requests"]


class Requests:
    """The requests of `client`, for its server and model.

    Args:
        client: Whose server, model, capabilities and chat models.
        as_is: Send the messages as they are (an injected chat model: no chat template).
    """

    def __init__(self, client: OpenAIClient, *, as_is: bool) -> None:
        self._client = client
        self._as_is = as_is
        self._tools: dict[type[BaseModel], dict[str, Any]] = {}

    @property
    def openai(self) -> bool:
        """True for OpenAI's own API (its output cap field, its strict schema subset)."""
        base_url = self._client.base_url
        return base_url is None or "api.openai.com" in base_url

    def params(self, params: Mapping[str, Any] | None, default_cap: int | None) -> dict[str, Any]:
        """Model parameters with the output cap (the prompt's `max_tokens`, else
        `default_cap`) where the server reads it, at most half the model's context."""
        client = self._client
        sent = output_params(params, default_cap, openai_endpoint=self.openai)
        limit = client.capabilities.of(client.endpoint, client.model).context_tokens
        return sent if client.offline else capped(sent, limit)

    def messages(
        self, messages: Sequence[BaseMessage], params: Mapping[str, Any]
    ) -> list[BaseMessage]:
        """`messages` alternating (for a server's chat template), and trimmed to the model's
        context when it is known, leaving room for the reply's cap in `params`."""
        client = self._client
        if client.offline or self._as_is:
            return list(messages)
        limit = client.capabilities.of(client.endpoint, client.model).context_tokens
        return shaped(messages, params, limit, client.model)

    def plain(
        self, model: str, params: Mapping[str, Any], *, stream: bool = True
    ) -> Runnable[Any, Any]:
        """`model`'s chat model bound with `params` (and without streaming unless `stream`)."""
        chat = self._client.chat_model(model)
        runnable = chat.bind(**params) if params else chat
        return runnable if stream else runnable.bind(stream=False)

    def typed(
        self,
        schema: type[BaseModel],
        model: str,
        *,
        mode: StructuredMode,
        params: Mapping[str, Any],
        stream: bool = True,
    ) -> Runnable[Any, Any]:
        """`model`'s chat model bound to answer as `schema` in `mode`, with `params`."""
        chat = self._client.chat_model(model)
        return bind_typed(chat, mode, self.tool(schema), params, stream=stream)

    def tool(self, schema: type[BaseModel]) -> dict[str, Any]:
        """The strict tool of `schema` (built once: a JSON schema costs ~1.5 ms)."""
        tool = self._tools.get(schema)
        if tool is None:
            tool = self._tools[schema] = typed_tool(schema, bounded=not self.openai)
        return tool
