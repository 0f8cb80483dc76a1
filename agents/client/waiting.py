"""The calls waiting for a limiter, and which of them goes next.

Waiting calls are served by priority (a verdict before a draft before a background summary),
round-robin between conversation threads within a priority, and a call that has waited longer
than `max_wait_unfair` seconds goes next whatever its priority, so nothing starves. A waiter
may belong to another event loop than the one that grants it: its permit is handed over on
its own loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Permit", "Priority", "WaitQueue", "Waiter"]


class Priority(IntEnum):
    """Who goes first when calls wait (lower first)."""

    VERDICT = 0
    """An editor's decision: the conversation waits on it."""
    DRAFT = 1
    """A writer's draft or any ordinary call."""
    BACKGROUND = 2
    """Summaries and other work nobody is waiting for."""


@dataclass(frozen=True)
class Permit:
    """The right to make one call, and what it was estimated to cost."""

    spend_id: str
    tokens: int


@dataclass(eq=False)
class Waiter:
    """One call waiting for its permit."""

    priority: Priority
    thread: str
    tokens: int
    since: float
    future: asyncio.Future[Permit]
    loop: asyncio.AbstractEventLoop
    done: bool = False
    """Out of the queue: granted, or given up."""

    def grant(self, permit: Permit) -> None:
        """Hand `permit` to the call (on its event loop, from any thread)."""
        _resolve(self.future, permit)

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> None:
        """Run `callback(*args)` in `delay` seconds on the call's event loop, from any thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.loop.call_later(delay, callback, *args)
        else:
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, callback, *args)


class WaitQueue:
    """The waiting calls of one limiter, per priority and thread (the caller holds its lock)."""

    def __init__(self) -> None:
        self._threads: dict[Priority, OrderedDict[str, deque[Waiter]]] = {
            p: OrderedDict() for p in Priority
        }
        self._arrivals: dict[Priority, deque[Waiter]] = {p: deque() for p in Priority}
        self.waiting = 0
        """Calls waiting now."""

    def add(self, waiter: Waiter) -> None:
        """Queue `waiter` behind its thread's other calls."""
        self._threads[waiter.priority].setdefault(waiter.thread, deque()).append(waiter)
        self._arrivals[waiter.priority].append(waiter)
        self.waiting += 1

    def forget(self, waiter: Waiter) -> None:
        """Take `waiter` out (granted, or given up)."""
        waiter.done = True
        self.waiting -= 1
        queue = self._threads[waiter.priority].get(waiter.thread)
        if queue is not None:
            queue.remove(waiter)
            if not queue:
                del self._threads[waiter.priority][waiter.thread]

    def granted(self, waiter: Waiter) -> None:
        """Take `waiter` out; its thread goes to the back of its priority (round-robin)."""
        self.forget(waiter)
        threads = self._threads[waiter.priority]
        if waiter.thread in threads:
            threads.move_to_end(waiter.thread)

    def put_back(self, waiter: Waiter) -> None:
        """Queue a granted `waiter` again, first in line (its slot was missed)."""
        waiter.done = False
        self.waiting += 1
        threads = self._threads[waiter.priority]
        threads.setdefault(waiter.thread, deque()).appendleft(waiter)
        threads.move_to_end(waiter.thread, last=False)
        self._arrivals[waiter.priority].appendleft(waiter)

    def next(self, now: float, max_wait_unfair: float) -> Waiter | None:
        """The waiter whose turn it is (not removed): the oldest when it has waited longer
        than `max_wait_unfair` seconds, else the next thread's of the first priority."""
        oldest: Waiter | None = None
        for priority in Priority:
            arrivals = self._arrivals[priority]
            while arrivals and arrivals[0].done:
                arrivals.popleft()
            if arrivals and (oldest is None or arrivals[0].since < oldest.since):
                oldest = arrivals[0]
        if oldest is not None and now - oldest.since > max_wait_unfair:
            return oldest  # waited too long: goes first, whatever its priority
        for priority in Priority:
            threads = self._threads[priority]
            if threads:
                return next(iter(threads.values()))[0]
        return None


def _resolve(future: asyncio.Future[Permit], permit: Permit) -> None:
    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        if not future.done():
            future.set_result(permit)
    else:
        loop.call_soon_threadsafe(_resolve, future, permit)
