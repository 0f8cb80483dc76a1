"""Calls on the wire per server and model, and one at a time for a server that needs it.

llama.cpp's server (its default, `--interrupt_requests True`) generates one reply at a time:
a request that arrives while a stream runs ends that stream at once with `[DONE]` and no
finish reason. Parallel callers (the review panel's editors, `run-many`) would cut each
other's streams turn after turn. `Turns` notices a cut stream that another call of this
process started during (the only cut that a second request explains) so that the client can
learn the server serves one request at a time, and from then on lets one call of this
process at a time onto the wire for that server and model; the others wait their turn
without the wait counting against their own timeouts.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from types import TracebackType

__all__ = ["Turn", "Turns"]

Key = tuple[str, str]
"""(endpoint, model)."""


class Turns:
    """Every call's turn on the wire, counted per endpoint and model."""

    def __init__(self) -> None:
        self._started: Counter[Key] = Counter()
        self._loose: Counter[Key] = Counter()  # calls on the wire that did not take turns
        # One gate per event loop (asyncio's Lock and Event belong to the loop that first
        # waits on them): the turn to take, and "no call that did not take turns is running".
        self._gates: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Key, tuple[asyncio.Lock, asyncio.Event]]
        ] = weakref.WeakKeyDictionary()

    def turn(self, endpoint: str, model: str, *, one_at_a_time: bool) -> Turn:
        """One call's turn: `async with` it around the request (and the whole stream)."""
        return Turn(self, (endpoint, model), one_at_a_time)

    def _gate(self, key: Key) -> tuple[asyncio.Lock, asyncio.Event]:
        gates = self._gates.setdefault(asyncio.get_running_loop(), {})
        gate = gates.get(key)
        if gate is None:
            gate = gates[key] = (asyncio.Lock(), asyncio.Event())
            if not self._loose[key]:
                gate[1].set()
        return gate


class Turn:
    """One call on the wire. After it, `overlapped` says whether another call to the same
    server and model was sent while this one was still running."""

    def __init__(self, turns: Turns, key: Key, one_at_a_time: bool) -> None:
        self._turns = turns
        self._key = key
        self._one_at_a_time = one_at_a_time
        self._gate, self._idle = turns._gate(key)
        self._number = 0
        self._company = False
        self.overlapped = False
        """True when another call of this process, not waiting for this one's turn, was on
        the wire while this one ran (a call that took its turn one at a time never is)."""

    async def __aenter__(self) -> Turn:
        if self._one_at_a_time:
            await self._gate.acquire()
            try:
                # Calls sent before the lesson may still be running: the first to take
                # turns waits for them, or it would cut one (or be cut by one arriving late).
                await self._idle.wait()
            except BaseException:  # cancelled while waiting: the turn passes on
                self._gate.release()
                raise
        else:
            # Another call already on the wire may reach the server after this one does.
            self._company = bool(self._turns._loose[self._key])
            self._turns._loose[self._key] += 1
            self._idle.clear()
        self._turns._started[self._key] += 1
        self._number = self._turns._started[self._key]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        moved = self._turns._started[self._key] != self._number
        self.overlapped = not self._one_at_a_time and (moved or self._company)
        if self._one_at_a_time:
            self._gate.release()
            return
        self._turns._loose[self._key] -= 1
        if not self._turns._loose[self._key]:
            self._idle.set()
