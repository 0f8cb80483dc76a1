"""Where a model call comes from: the lane (an eval run), the agent and the round.

A recorded exchange keeps its site, so a replay matches each request to the exchange of the
same agent in the same round (and, in an eval, the same case, variant and repeat), and a
request that matches none is named by its site. The site is a context variable: the eval
sets the lane of each run's task, the chatbot the round of its turn (`in_round`), the client
the agent of each call; LangGraph runs every node in a task of its own, so a round set in
one node never leaks into another.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

__all__ = ["Site", "calling", "current", "in_lane", "in_round"]


@dataclass(frozen=True)
class Site:
    """The origin of one model call."""

    lane: str = ""
    """The eval run (`case/variant/repeat`); empty outside an eval."""
    agent: str = ""
    """Who calls (the client's `agent`)."""
    round: int | None = None
    """The conversation's round, when the caller said."""

    def described(self, what: str = "call") -> str:
        """`the editor's call in round 2 of <lane>`, for an error line."""
        where = f" in round {self.round}" if self.round is not None else ""
        lane = f" of {self.lane}" if self.lane else ""
        return f"the {self.agent or 'model'}'s {what}{where}{lane}"


_NOWHERE = Site()  # frozen: a shared default cannot be changed in place
_SITE: ContextVar[Site] = ContextVar("copydesk-call-site", default=_NOWHERE)


def current() -> Site:
    """The site of the call being made in this task."""
    return _SITE.get()


def in_round(round_: int) -> None:
    """Mark the rest of this task (a graph node's) as round `round_`."""
    _SITE.set(replace(_SITE.get(), round=round_))


def in_lane(lane: str) -> None:
    """Mark the rest of this task (one eval run's) as lane `lane`."""
    _SITE.set(replace(_SITE.get(), lane=lane))


@contextmanager
def calling(agent: str) -> Iterator[None]:
    """Calls in this block are `agent`'s."""
    token = _SITE.set(replace(_SITE.get(), agent=agent))
    try:
        yield
    finally:
        _SITE.reset(token)
