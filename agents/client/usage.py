"""Token usage and cost per call, and their totals per thread, agent and model."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata

from copydesk.agents.client.prices import PriceTable
from copydesk.agents.state import UsageTotals
from copydesk.memory.tokens import token_counter

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from copydesk.agents.client.calls import Outcome
    from copydesk.agents.client.chat import OpenAIClient

__all__ = [
    "ESTIMATED",
    "CallRecord",
    "UsageLedger",
    "charge_call",
    "estimate_usage",
    "usage_of",
]

ESTIMATED = "copydesk_usage_estimated"
"""`response_metadata` flag of a message whose usage was counted here, not reported."""


@dataclass(frozen=True)
class CallRecord:
    """One model call."""

    thread_id: str
    agent: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    attempts: int
    cost_usd: float = 0.0
    estimated: bool = False
    """True when the server reported no usage and the tokens were counted locally."""


def estimate_usage(message: AIMessage, prompt: Sequence[BaseMessage], model: str) -> bool:
    """Give `message` usage counted with the tokenizer when the server reported none.

    Returns:
        True if the usage was estimated (the message is then flagged `ESTIMATED`).
    """
    usage = message.usage_metadata
    if usage is not None and (usage.get("input_tokens") or usage.get("output_tokens")):
        return False
    counter = token_counter(model)
    completion = counter.text(message.text)
    for call in message.tool_calls:
        completion += counter.text(json.dumps(call["args"])) + counter.text(call["name"])
    prompt_tokens = counter.messages(list(prompt))
    message.usage_metadata = UsageMetadata(
        input_tokens=prompt_tokens,
        output_tokens=completion,
        total_tokens=prompt_tokens + completion,
    )
    message.response_metadata[ESTIMATED] = True
    return True


def usage_of(message: AIMessage) -> tuple[int, int]:
    """(prompt tokens, completion tokens) the server reported for `message`."""
    usage = message.usage_metadata
    if usage is None:
        return 0, 0
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


@dataclass
class UsageLedger:
    """Every call a client made in this process. Per-thread totals also live in the
    thread's state, so they survive the process; this ledger is for the process's view."""

    calls: list[CallRecord] = field(default_factory=list)
    path: Path | None = None
    """Also append each call to this JSON-lines file (what `copydesk usage` reads)."""

    def record(self, call: CallRecord) -> None:
        """Add one call (and append it to the file, blocking: see `arecord`)."""
        self.calls.append(call)
        self._write(call)

    async def arecord(self, call: CallRecord) -> None:
        """Add one call; the file append runs in a worker thread, off the event loop
        (LangGraph Server refuses blocking file calls inside async nodes)."""
        self.calls.append(call)
        if self.path is not None:
            await asyncio.to_thread(self._write, call)

    async def charge(
        self,
        message: AIMessage,
        prices: PriceTable,
        *,
        thread_id: str,
        agent: str,
        model: str,
        seconds: float,
        attempts: int,
    ) -> UsageTotals:
        """Record the call that answered with `message` (as `arecord` does), costed with
        `prices`, and return its usage."""
        prompt, completion = usage_of(message)
        cost = prices.cost(model, prompt, completion)
        estimated = bool(message.response_metadata.get(ESTIMATED))
        call = CallRecord(
            thread_id, agent, model, prompt, completion, seconds, attempts, cost, estimated
        )
        await self.arecord(call)
        totals = UsageTotals(
            calls=1, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost
        )
        if estimated:
            totals["estimated_calls"] = 1
        return totals

    def _write(self, call: CallRecord) -> None:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps({"time": time.time(), **asdict(call)}) + "\n")
            except OSError:
                pass  # accounting must never stop a run; the home may be read-only

    def totals(self, *, thread_id: str | None = None) -> dict[str, UsageTotals]:
        """Usage per agent, plus `total`, optionally for one thread."""
        out: dict[str, UsageTotals] = defaultdict(
            lambda: UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        )
        for call in self.calls:
            if thread_id is not None and call.thread_id != thread_id:
                continue
            for key in (call.agent, "total"):
                out[key]["calls"] += 1
                out[key]["prompt_tokens"] += call.prompt_tokens
                out[key]["completion_tokens"] += call.completion_tokens
                out[key]["cost_usd"] = out[key].get("cost_usd", 0.0) + call.cost_usd
        return dict(out)


async def charge_call(
    client: OpenAIClient,
    message: AIMessage,
    config: RunnableConfig | None,
    agent: str,
    outcome: Outcome,
) -> UsageTotals:
    """Charge one call of `client` to its ledger: the thread, the agent, the model that
    answered (the label of a fixed or offline model), its time and attempts."""
    label = client.model_label  # a fixed or offline model's own name, else the one asked
    return await client.ledger.charge(
        message,
        client.prices,
        thread_id=str((config or {}).get("configurable", {}).get("thread_id", "")),
        agent=agent,
        model=outcome.model if label == client.model else label,
        seconds=outcome.seconds,
        attempts=outcome.attempts,
    )
