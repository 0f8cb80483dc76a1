"""Where llama-cpp-python's server (0.3.x) differs from OpenAI, for the fake server to copy.

Seen against the real server with Gemma 3 270M: a `json_schema` response format is refused
with HTTP 500 ("Input should be 'text' or 'json_object'"); a forced tool call works; streams
carry no usage chunk even with `stream_options.include_usage`; `/v1/embeddings` answers 500
unless the model was started with embeddings on; `max_completion_tokens` is ignored and only
`max_tokens` caps the reply (a tool call cut there still ends `tool_calls`); a prompt over
the context gets an empty stream (or a 400 when
not streamed); a second request arriving while a stream runs ends that stream early with
`[DONE]` and no finish reason; Gemma's chat template rejects two user turns in a row.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes._replies import (
    Reply,
    call_arguments,
    estimate_tokens,
    last_user_text,
    messages_text,
)
from tests.fakes._schema import example_for_schema

__all__ = ["LlamaCppQuirks"]

_ASKED_SCHEMA = re.compile(r"matching this JSON schema:\s*(\{.*\})\s*$", re.S)


@dataclass
class LlamaCppQuirks:
    """Which of llama.cpp's behaviours the fake server copies (all on by default).

    Attributes:
        refuse_json_schema: 500 for `response_format` `json_schema`.
        refuse_tools: 500 for a request with `tools` (some servers and templates).
        stream_usage: Send the usage chunk in streams (llama.cpp does not).
        embeddings: Serve `/v1/embeddings` (llama.cpp does not unless started with them).
        context_tokens: The model's context; a longer prompt gets an empty stream or a 400.
        cut_on_concurrent: A new chat request ends a running stream with `[DONE]`.
        strict_alternation: 500 for two user (or assistant) turns in a row.
        chunk_delay: Seconds between stream chunks (lets requests overlap).
    """

    refuse_json_schema: bool = True
    refuse_tools: bool = False
    stream_usage: bool = False
    embeddings: bool = False
    context_tokens: int | None = None
    cut_on_concurrent: bool = True
    strict_alternation: bool = True
    chunk_delay: float = 0.0

    def refusal(self, body: Mapping[str, Any]) -> tuple[int, str] | None:
        """The error llama.cpp sends for this chat request, if any."""
        response_format = body.get("response_format")
        if (
            self.refuse_json_schema
            and isinstance(response_format, Mapping)
            and response_format.get("type") == "json_schema"
        ):
            return 500, (
                "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  "
                "Input should be 'text' or 'json_object' [type=literal_error, "
                "input_value='json_schema', input_type=str]"
            )
        if self.refuse_tools and body.get("tools"):
            return 500, "tool calls are not supported by this chat format (function)"
        if self.strict_alternation:
            roles = [m.get("role") for m in body.get("messages") or [] if isinstance(m, Mapping)]
            turns = [r for r in roles if r != "system"]
            if any(a == b for a, b in itertools.pairwise(turns)) or "system" in roles[1:]:
                return 500, "Conversation roles must alternate user/assistant/user/assistant/..."
        return None

    def prompt_tokens(self, body: Mapping[str, Any]) -> int:
        """The prompt's size as this fake counts it."""
        return estimate_tokens(messages_text(body))

    def over_context(self, body: Mapping[str, Any]) -> int | None:
        """The prompt's tokens when they and the reply cap do not fit the context."""
        if self.context_tokens is None:
            return None
        cap = body.get("max_tokens")
        wanted = self.prompt_tokens(body) + (cap if isinstance(cap, int) else 16)
        return wanted if wanted > self.context_tokens else None

    def context_error(self, wanted: int) -> str:
        """llama-cpp-python's message for a prompt over the context."""
        return (
            f"Requested tokens ({wanted}) exceed context window of {self.context_tokens}"
            if self.context_tokens
            else "context exceeded"
        )

    def respond(self, body: Mapping[str, Any], reply: Reply) -> Reply:
        """`reply` as llama.cpp would send it: JSON when the prompt asked for a schema, and
        cut at `max_tokens` (never at `max_completion_tokens`)."""
        asked = _ASKED_SCHEMA.search(last_user_text(body))
        if asked and not body.get("tools") and not _is_json(reply.content):
            reply = Reply(content=json.dumps(example_for_schema(json.loads(asked.group(1)))))
        cap = body.get("max_tokens")
        if isinstance(cap, int) and reply.content and estimate_tokens(reply.content) > cap:
            reply = Reply(content=reply.content[: cap * 4], finish_reason="length")
        calls = reply.tool_calls or []
        if isinstance(cap, int) and calls and estimate_tokens(call_arguments(calls[0])) > cap:
            # A tool call cut at the cap: llama.cpp still says `tool_calls`, not `length`.
            cut = {**calls[0], "arguments": call_arguments(calls[0])[: cap * 4]}
            reply = Reply(content=reply.content, tool_calls=[cut])
        return reply

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body the stream is built from: without `stream_options` unless usage is sent."""
        if self.stream_usage:
            return body
        return {k: v for k, v in body.items() if k != "stream_options"}


def _is_json(text: str | None) -> bool:
    try:
        json.loads(text or "", strict=False)  # its grammar lets raw newlines into strings
    except ValueError:
        return False
    return True
