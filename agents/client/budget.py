"""A thread's token and cost budget, held before each model call, not only between rounds.

A node states what its thread may spend (`Allowance`: the state's `token_budget` and
`max_cost`, and what the state says was spent) for the calls it makes (`allowance_scope`).
Before each call the client asks the `SpendBook` for a `Hold`: the prompt's tokens, counted
before sending, plus an output cap that is the smaller of the call's own and what remains.
A call whose prompt alone does not fit is not sent (`BudgetSpentError`). Calls of one
thread running at once (a review panel's editors) hold from one remainder, so together they
cannot pass it. After the call the hold is replaced by what the server said it used.

The book counts per thread what this process's calls spent since it first saw the thread,
and trusts the state where it says more (a thread resumed in another process); the manager
forgets a thread when a run of it starts, so a rewound thread is counted from its state.
With a Redis configured (`Spending.share`) the book is every process's
(`budget_redis.SharedSpendBook`); without one, Redis is not imported.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.messages import BaseMessage

from copydesk.agents.client.prices import PriceTable
from copydesk.agents.client.shaping import cap_of
from copydesk.agents.errors import BudgetSpentError
from copydesk.agents.state import UsageTotals
from copydesk.memory.tokens import token_counter, vocabulary_for_model, vocabulary_loaded

__all__ = [
    "Allowance",
    "Book",
    "Hold",
    "SpendBook",
    "Spending",
    "allowance_scope",
    "current_allowance",
]

_CURRENT: contextvars.ContextVar[Allowance | None] = contextvars.ContextVar(
    "copydesk_allowance", default=None
)


@dataclass(frozen=True)
class Allowance:
    """What one thread may spend, and what its state says it has spent.

    Attributes:
        thread: The thread id.
        tokens: Tokens (prompt + completion) the thread may use in all; 0: no limit.
        cost: USD it may spend in all; 0: no limit.
        spent_tokens: Tokens the state records as used.
        spent_cost: USD the state records as spent.
        closed: The ending that already put the state over budget (no call goes), or "".
    """

    thread: str
    tokens: int = 0
    cost: float = 0.0
    spent_tokens: int = 0
    spent_cost: float = 0.0
    closed: str = ""

    @classmethod
    def of(cls, state: Mapping[str, Any], thread: str) -> Allowance | None:
        """The allowance a thread's state gives (None without a budget)."""
        tokens, cost = int(state.get("token_budget") or 0), float(state.get("max_cost") or 0.0)
        if not tokens and not cost:
            return None
        before = state.get("spent_before")  # a section's: the document's spend when it began
        usage = [*(state.get("usage") or {}).values(), *([before] if before else [])]
        return cls(
            thread=thread,
            tokens=tokens,
            cost=cost,
            spent_tokens=sum(u["prompt_tokens"] + u["completion_tokens"] for u in usage),
            spent_cost=sum(u.get("cost_usd", 0.0) for u in usage),
            closed=str(state.get("ended_by") or "token_budget")
            if state.get("status") == "over_budget"
            else "",
        )


@contextmanager
def allowance_scope(allowance: Allowance | None) -> Iterator[None]:
    """Make `allowance` the one the client's calls in this block (and its tasks) hold from."""
    token = _CURRENT.set(allowance)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_allowance() -> Allowance | None:
    """The allowance of the node running in this context, if any."""
    return _CURRENT.get()


@dataclass(frozen=True)
class Hold:
    """What one call holds of its thread's remainder until it settles.

    Attributes:
        thread: Whose budget.
        tokens: Prompt tokens plus the output cap.
        cost: USD of the prompt plus the output cap at the model's price.
        cap: The output cap to send (None: the call's own, none).
        reduced: True when the budget, not the call, set `cap`.
        ending: The ending a refusal or a cut at `cap` is: `token_budget` or `cost_budget`.
        ident: The hold's id in a book shared through Redis ("": held in this process).
    """

    thread: str
    tokens: int
    cost: float
    cap: int | None
    reduced: bool
    ending: str
    ident: str = ""


@dataclass
class _Spend:
    tokens: int = 0
    cost: float = 0.0
    held_tokens: int = 0
    held_cost: float = 0.0
    waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=list
    )

    def room(
        self, allowance: Allowance, prompt: int, price: tuple[float, float], *, held: bool
    ) -> tuple[float, str]:
        """Output tokens left after `prompt` (counting what others hold when `held`), and
        which budget leaves the least."""
        room, ending = math.inf, "token_budget"
        if allowance.tokens:
            room = allowance.tokens - self.tokens - prompt - (self.held_tokens if held else 0)
        if allowance.cost and price[1] > 0:
            left = allowance.cost - self.cost - prompt * price[0]
            left -= self.held_cost if held else 0.0
            if left / price[1] < room:
                room, ending = left / price[1], "cost_budget"
        return room, ending


@dataclass
class SpendBook:
    """Per-thread spending of one process, held before and settled after each call."""

    _threads: dict[str, _Spend] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def forget(self, thread: str) -> None:
        """Count `thread` from its state again (a run of it starts)."""
        with self._lock:
            self._threads.pop(thread, None)

    async def hold(
        self,
        allowance: Allowance,
        prompt: int,
        cap: int | None,
        price: tuple[float, float] = (0.0, 0.0),
    ) -> Hold:
        """Hold `prompt` tokens and an output cap within what `allowance` leaves.

        A call that would get less than it would alone, because calls of the same thread
        running at once hold the rest, waits until one of them settles: the remainder is
        shared, and no call is cut for what another only might spend.

        Args:
            allowance: The thread's budget and what its state says it spent.
            prompt: The prompt's tokens, counted (or bounded from above) before sending.
            cap: The call's own output cap (None: none).
            price: USD per prompt token and per completion token.

        Raises:
            BudgetSpentError: The prompt alone does not fit in what remains.
        """
        while True:
            with self._lock:
                spend = self._threads.setdefault(allowance.thread, _Spend())
                spend.tokens = max(spend.tokens, allowance.spent_tokens)
                spend.cost = max(spend.cost, allowance.spent_cost)
                alone, ending = spend.room(allowance, prompt, price, held=False)
                if allowance.closed or alone < 1:
                    raise BudgetSpentError.of(allowance, allowance.closed or ending)
                # No cap at all only when nothing limits the output (a cost budget, no price).
                want = (
                    None
                    if alone == math.inf and cap is None
                    else int(min(alone, cap if cap is not None else alone))
                )
                shared, ending = spend.room(allowance, prompt, price, held=True)
                if shared >= (want or 0):
                    tokens = prompt + (want or 0)
                    cost = prompt * price[0] + (want or 0) * price[1]
                    spend.held_tokens += tokens
                    spend.held_cost += cost
                    reduced = want is not None and (cap is None or want < cap)
                    return Hold(allowance.thread, tokens, cost, want, reduced, ending)
                loop = asyncio.get_running_loop()
                waiter: asyncio.Future[None] = loop.create_future()
                spend.waiting.append((loop, waiter))
            await waiter  # another call of the thread settles, and the room is read again

    def settle(self, hold: Hold, usage: UsageTotals | None) -> None:
        """Replace `hold` with what the call used (`usage`; None: it was not billed)."""
        with self._lock:
            spend = self._threads.setdefault(hold.thread, _Spend())
            spend.held_tokens -= hold.tokens
            spend.held_cost -= hold.cost
            if usage is not None:
                spend.tokens += usage["prompt_tokens"] + usage["completion_tokens"]
                spend.cost += usage.get("cost_usd", 0.0)
            waiting, spend.waiting = spend.waiting, []
        for loop, waiter in waiting:
            loop.call_soon_threadsafe(_wake, waiter)

    async def aclose(self) -> None:
        """Nothing to close: the book is this process's memory."""


class Book(Protocol):
    """Where a client's holds are kept: this process (`SpendBook`) or Redis
    (`budget_redis.SharedSpendBook`)."""

    def forget(self, thread: str) -> None: ...

    async def hold(
        self, allowance: Allowance, prompt: int, cap: int | None, price: tuple[float, float]
    ) -> Hold: ...

    def settle(self, hold: Hold, usage: UsageTotals | None) -> None: ...

    async def aclose(self) -> None: ...


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Spending:
    """The budget side of one client's calls: count the prompt, hold, settle, refuse.

    Args:
        model: Whose tokenizer counts prompts.
        prices: Prices per model, for a `--max-cost` budget.
        params: The client's request parameters with an output cap (`Requests.params`).
    """

    def __init__(
        self,
        model: str,
        prices: PriceTable,
        params: Callable[[Mapping[str, Any] | None, int | None], dict[str, Any]],
    ) -> None:
        self.book: Book = SpendBook()
        self._model = model
        self._prices = prices
        self._params = params

    def share(self, redis_url: str | None, checkpoint_url: str) -> None:
        """Keep the books of threads in Redis at `redis_url` (if set), shared with every
        process whose checkpoints are at `checkpoint_url` (Redis is loaded only then)."""
        if redis_url:
            from copydesk.agents.client.budget_redis import SharedSpendBook, book_scope

            self.book = SharedSpendBook(redis_url, book_scope(checkpoint_url))

    async def capped(
        self,
        asked: Sequence[BaseMessage],
        sent: dict[str, Any],
        params: Mapping[str, Any] | None,
        tool: object = None,
    ) -> tuple[Hold | None, dict[str, Any]]:
        """A hold for the call (None without an allowance) and its parameters with the
        output cap the hold allows (`sent` as it was without one).

        Raises:
            BudgetSpentError: The prompt alone does not fit in what remains.
        """
        hold = await self.hold(asked, sent, tool)
        if hold is None:
            return None, sent
        return hold, self._params({**(params or {}), "max_tokens": hold.cap}, None)

    @contextmanager
    def holding(self, hold: Hold | None) -> Iterator[None]:
        """A block whose failure gives `hold` back (the server billed nothing)."""
        try:
            yield
        except BaseException:
            self.settle(hold, None)
            raise

    async def hold(
        self, asked: Sequence[BaseMessage], sent: Mapping[str, Any], tool: object = None
    ) -> Hold | None:
        """A hold for a call of `asked` with params `sent` (and `tool`'s schema) within the
        running node's allowance; None when it has none (nothing is counted then).

        Raises:
            BudgetSpentError: The prompt alone does not fit in what remains.
        """
        allowance = current_allowance()
        if allowance is None:
            return None
        model = self._model
        if not vocabulary_loaded(model):
            await asyncio.to_thread(vocabulary_for_model, model)
        counter = token_counter(model)
        text = json.dumps(tool) if tool else ""
        # The tokenizer's count, or a quarter of the characters where that is more: servers
        # count their chat template too, and a budget is better spent short than over.
        counted = counter.messages_upper(asked) + (counter.upper(text) if text else 0)
        rough = math.ceil((sum(len(m.text) for m in asked) + len(text)) / 4)
        price = self._prices.price(model)
        per_token = (price.input / 1e6, price.output / 1e6) if price else (0.0, 0.0)
        return await self.book.hold(allowance, max(counted, rough), cap_of(sent), per_token)

    def settle(self, hold: Hold | None, usage: UsageTotals | None) -> None:
        """Replace `hold` (if any) with what the call used (None: nothing was billed)."""
        if hold is not None:
            self.book.settle(hold, usage)

    def close(self, hold: Hold | None, usage: UsageTotals, *, cut: bool) -> None:
        """Settle `hold` with `usage`; raise when the budget's cap cut the reply (`cut`)."""
        self.settle(hold, usage)
        if cut:
            self.refuse(hold, usage)

    def refuse(self, hold: Hold | None, usage: UsageTotals) -> None:
        """Raise `BudgetSpentError` (with `usage`) when the budget set `hold`'s cap: a reply it
        cut is not asked for again with a larger one."""
        allowance = current_allowance()
        if hold is not None and hold.reduced and allowance is not None:
            raise BudgetSpentError.of(allowance, hold.ending, usage)
