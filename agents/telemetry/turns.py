"""The span of each agent's turn (a node of the graph), and of its recall and memory writes.

`traced_turn` wraps a role's `__call__`: with tracing on, the turn runs in a span
`invoke_agent NAME` carrying the topology, the node and step, the round, the prompt version
and the A/B experiment and variant, read from the node's config (LangGraph passes the run's
checkpoint metadata into it); the model calls of the turn are its children. With tracing off
the wrapper only calls through. A role whose `__call__` calls its parent's gets one span.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from copydesk.agents.telemetry.core import AttributeValue

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from copydesk.agents.chatbot import Chatbot

__all__ = ["traced_turn", "turn_attributes"]

C = TypeVar("C", bound="Chatbot")
Call = Callable[..., Awaitable[Any]]

_FROM_METADATA = {
    "graph": "copydesk.topology",
    "langgraph_node": "copydesk.node",
    "langgraph_step": "copydesk.step",
    "experiment": "copydesk.experiment",
    "variant": "copydesk.variant",
}


def turn_attributes(bot: Chatbot, config: RunnableConfig) -> dict[str, AttributeValue]:
    """What a turn's span says about the agent, its prompt and where the run stands."""
    metadata: Mapping[str, Any] = config.get("metadata") or {}
    thread = (config.get("configurable") or {}).get("thread_id")
    out: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": bot.name,
        "copydesk.prompt": bot.prompt.ref,
        "openinference.span.kind": "AGENT",
    }
    if thread:
        out["gen_ai.conversation.id"] = str(thread)
    for key, name in _FROM_METADATA.items():
        value = metadata.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            out[name] = value
    return out


def traced_turn(call: Call) -> Call:
    """`call` (a role's `__call__`) in a turn span while its client's telemetry traces."""

    @functools.wraps(call)
    async def turn(
        self: Chatbot, state: Mapping[str, Any], config: RunnableConfig, **kw: Any
    ) -> Any:
        telemetry = self.client.telemetry
        if not telemetry.on or type(self).__call__ is not turn:
            return await call(self, state, config, **kw)  # off, or a parent's turn inside
        with telemetry.span(f"invoke_agent {self.name}", turn_attributes(self, config)) as span:
            update = await call(self, state, config, **kw)
            round_ = (update or {}).get("round", state.get("round", 0))
            span.set_attribute("copydesk.round", int(round_ or 0))
            return update

    return turn
