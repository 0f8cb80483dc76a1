"""A circuit breaker that reads a failure rate over a sliding window, not a streak.

It follows resilience4j's model: CLOSED while fewer than `failure_rate` of the calls that
ended in the last `window` seconds failed, or while fewer than `minimum_calls` ended there at
all; OPEN for `cooldown` seconds once both hold; then HALF-OPEN, letting at most `probes`
calls through, whose outcomes close it again or reopen it. 429s are not failures (they say
"slow down", not "broken"); the caller does not report them.

Failures that end within `burst` seconds of each other count as one: five calls that fail at
the same instant because a server's listen backlog overflowed once are one event, not five.
A sustained outage fails call after call, seconds apart, and opens it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CircuitBreaker"]

log = logging.getLogger("copydesk.client")

State = Literal["closed", "open", "half_open"]


def _clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


@dataclass
class CircuitBreaker:
    """Opens on a failure rate over a sliding window; half-opens for a few probes.

    Attributes:
        name: What it guards, for messages.
        window: Seconds of outcomes the rate is read over.
        minimum_calls: Outcomes (a burst is one) the window needs before the rate counts.
        failure_rate: Share of failed outcomes that opens it (0.5: half of them).
        cooldown: Seconds it stays open before letting probes through.
        probes: Calls let through while half-open; their outcomes decide.
        burst: Failures this close in time count as one.
        clock: Monotonic seconds, injectable for tests.
    """

    name: str
    window: float = 60.0
    minimum_calls: int = 5
    failure_rate: float = 0.5
    cooldown: float = 30.0
    probes: int = 2
    burst: float = 0.1
    clock: Callable[[], float] = time.monotonic
    _outcomes: deque[tuple[float, bool]] = field(default_factory=deque, init=False)
    _last_failure: float = field(default=float("-inf"), init=False)
    _opened: float = field(default=0.0, init=False)
    _open_until: float = field(default=float("-inf"), init=False)
    _probing: int = field(default=0, init=False)
    _probe_results: list[bool] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def state(self) -> State:
        """Closed, open, or half-open (the cool-down is over, probes decide)."""
        if self._open_until == float("-inf"):
            return "closed"
        return "open" if self.clock() < self._open_until else "half_open"

    @property
    def is_open(self) -> bool:
        """True while a call should not go: open, or half-open with every probe taken."""
        state = self.state
        return state == "open" or (state == "half_open" and self._probing >= self.probes)

    def enter(self) -> bool:
        """Ask to send a call: True when it may go (while half-open, it takes a probe)."""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "open" or self._probing >= self.probes:
                return False
            self._probing += 1
            return True

    def success(self) -> None:
        """A call succeeded."""
        self._record(ok=True)

    def failure(self) -> bool:
        """A call failed; True if that opened the breaker."""
        return self._record(ok=False)

    def describe(self) -> str:
        """What the breaker is doing, for an error message: open since when, until when."""
        now, wall = self.clock(), time.time()
        since = _clock_time(wall - (now - self._opened))
        until = _clock_time(wall + max(0.0, self._open_until - now))
        return (
            f"{self.name}: circuit breaker open since {since} until {until} (too many of its "
            f"calls failed in the last {self.window:.0f}s); calls to it fail fast until then"
        )

    def _record(self, *, ok: bool) -> bool:
        with self._lock:
            now = self.clock()
            if self.state != "closed":
                return self._probe(now, ok)
            if not ok:
                if now - self._last_failure < self.burst:
                    return False  # the same burst: counted once already
                self._last_failure = now
            self._outcomes.append((now, ok))
            while self._outcomes and self._outcomes[0][0] < now - self.window:
                self._outcomes.popleft()
            failed = sum(1 for _, good in self._outcomes if not good)
            total = len(self._outcomes)
            if ok or total < self.minimum_calls or failed < self.failure_rate * total:
                return False
            self._open(now)
            log.warning(
                "%s: %d of its last %d calls failed within %.0fs; skipping it for %.0fs",
                self.name,
                failed,
                total,
                self.window,
                self.cooldown,
            )
            return True

    def _probe(self, now: float, ok: bool) -> bool:
        """An outcome while open or half-open: probes close or reopen it."""
        if self.state == "open":
            return False  # a call that began before it opened; the rate already spoke
        self._probe_results.append(ok)
        if not ok:
            self._open(now)  # a probe that fails: the server is not back yet
            return True
        if len(self._probe_results) >= self.probes:
            self._open_until = float("-inf")  # every probe answered: closed, a fresh window
            self._outcomes.clear()
            self._last_failure = float("-inf")
            self._probing, self._probe_results = 0, []
        return False

    def _open(self, now: float) -> None:
        self._opened, self._open_until = now, now + self.cooldown
        self._probing, self._probe_results = 0, []
