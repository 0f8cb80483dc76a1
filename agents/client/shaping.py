"""The request as every server accepts it: alternating turns, within the context, capped.

- **Alternation**: strict chat templates (Gemma's, Mistral's) reject two user turns in a
  row or an assistant turn first. The system messages are merged into one at the top, a
  leading assistant turn is told as a user turn, and consecutive turns of one role are
  joined (the window's messages already carry their speaker, `[editor] ...`).
- **Context**: when the model's context is known (learned or `COPYDESK_CONTEXT_TOKENS`), the
  prompt is trimmed to leave room for the reply: the oldest history goes first, then the
  middle of the longest message (the task, which quotes the draft) is cut, with a marker.
- **Output cap**: the reply's token cap goes in the field the server honours. OpenAI takes
  `max_completion_tokens` (langchain-openai renames `max_tokens` to it); llama.cpp, Ollama
  and older servers read only `max_tokens`, so other endpoints get `max_tokens` in the body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from copydesk.memory.tokens import TokenCounter, token_counter

__all__ = ["alternate", "cap_of", "capped", "fit_to_context", "output_params", "shaped"]

_CUT = "\n[... {n} words cut to fit the model's context ...]\n"


def _joinable(message: BaseMessage) -> bool:
    return not (isinstance(message, AIMessage) and message.tool_calls)


def alternate(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """`messages` as one system message, then user and assistant turns taking turns."""
    systems = [m for m in messages if isinstance(m, SystemMessage)]
    # A system message further down (a recalled memory) joins the one at the top.
    head = [m for m in messages if not isinstance(m, SystemMessage)]
    out: list[BaseMessage] = []
    if systems:
        out.append(SystemMessage("\n\n".join(m.text for m in systems)))
    for message in head:
        first = not out or isinstance(out[-1], SystemMessage)
        if first and isinstance(message, AIMessage) and _joinable(message):
            message = HumanMessage(f"[{message.name or 'assistant'}] {message.text}")
        last = out[-1] if out else None
        if (
            last is not None
            and type(last) is type(message)
            and not isinstance(last, SystemMessage)
            and _joinable(last)
            and _joinable(message)
            and isinstance(message, HumanMessage | AIMessage)
        ):
            name = message.name if last.name == message.name else None
            out[-1] = type(message)(f"{last.text}\n\n{message.text}", name=name)
            continue
        out.append(message)
    return out


def _cut_middle(text: str, words_to_drop: int) -> str:
    words = text.split(" ")
    if words_to_drop <= 0 or len(words) < 8:
        return text
    drop = min(words_to_drop, len(words) - 6)
    keep_head = (len(words) - drop) // 2
    keep_tail = len(words) - drop - keep_head
    return " ".join(words[:keep_head]) + _CUT.format(n=drop) + " ".join(words[-keep_tail:])


def fit_to_context(
    messages: Sequence[BaseMessage], limit: int, counter: TokenCounter, reserve: int
) -> list[BaseMessage]:
    """`messages` trimmed so they and a reply of `reserve` tokens fit in `limit` tokens.

    The first (system) and last (task) messages stay; the history between them goes oldest
    first; then the longest message is cut in the middle until the prompt fits. A prompt
    that cannot fit even so is returned as short as it gets (the server will say so).
    """
    budget = max(64, limit - reserve)
    kept = list(messages)
    if counter.messages(kept) <= budget:
        return kept
    while len(kept) > 2 and counter.messages(kept) > budget:
        kept.pop(1)
    for _ in range(6):  # each pass cuts what is still over; the token/word ratio varies
        over = counter.messages(kept) - budget
        if over <= 0:
            break
        longest = max(range(len(kept)), key=lambda i: len(kept[i].text))
        message = kept[longest]
        shorter = _cut_middle(message.text, int(over * 0.8) + 8)
        if shorter == message.text:
            break
        kept[longest] = type(message)(shorter, name=message.name)
    return kept


def output_params(
    params: Mapping[str, Any] | None, default_cap: int | None, *, openai_endpoint: bool
) -> dict[str, Any]:
    """Model parameters with the output cap (the prompt's `max_tokens`, else the default)
    put where the server reads it."""
    out = dict(params or {})
    cap = out.pop("max_tokens", None) or default_cap
    if cap:
        if openai_endpoint:
            out["max_tokens"] = int(cap)  # sent as max_completion_tokens
        else:
            out["extra_body"] = {**out.get("extra_body", {}), "max_tokens": int(cap)}
    return out


def cap_of(params: Mapping[str, Any]) -> int | None:
    """The output cap `params` send (wherever `output_params` put it), or None."""
    cap = params.get("max_tokens") or params.get("extra_body", {}).get("max_tokens")
    return int(cap) if cap else None


def capped(params: dict[str, Any], context_tokens: int | None) -> dict[str, Any]:
    """`params` with an output cap of at most half a context of `context_tokens` (as they
    are when the context is unknown)."""
    if context_tokens is None:
        return params
    most = max(64, context_tokens // 2)
    if params.get("max_tokens", 0) > most:
        return {**params, "max_tokens": most}
    body = params.get("extra_body", {})
    if body.get("max_tokens", 0) > most:
        return {**params, "extra_body": {**body, "max_tokens": most}}
    return params


def shaped(
    messages: Sequence[BaseMessage],
    params: Mapping[str, Any],
    context_tokens: int | None,
    model: str,
) -> list[BaseMessage]:
    """`messages` alternating (for a server's chat template), and trimmed to a context of
    `context_tokens` (counted with `model`'s tokenizer) when it is known, leaving room for
    the reply's cap in `params`."""
    alternating = alternate(messages)
    if context_tokens is None:
        return alternating
    cap = params.get("max_tokens") or params.get("extra_body", {}).get("max_tokens") or 256
    return fit_to_context(alternating, context_tokens, token_counter(model), int(cap) + 64)
