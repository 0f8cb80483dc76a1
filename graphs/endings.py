"""The endings every topology shares: small frozen values composed with `|` and `&`.

An ending has a `name` (what the result's `ended_by` says), a `status` and a test on the
state. `a | b` is a group whose first ending that holds ends the run (`Endings`); `a & b`
holds when both do (`AllOf`), and binds tighter than `|`, as in Python:
`Approved() | Reached("rounds", ">=", 5) & Reached("tokens", ">=", 20_000)`. How a topology
checks them, and routes on the one that held, is `copydesk.graphs.termination`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from copydesk.agents.state import DraftState, Status

__all__ = [
    "DEFAULT_ENDINGS",
    "DEFAULT_MAX_ROUNDS",
    "LIMITS",
    "NAMED_ENDINGS",
    "QUANTITIES",
    "AllAgree",
    "AllOf",
    "Approved",
    "Completed",
    "CostBudget",
    "Ending",
    "Endings",
    "MaxRounds",
    "NoChange",
    "Reached",
    "TokenBudget",
    "narrowed",
]

DEFAULT_MAX_ROUNDS = 3


class Ending(Protocol):
    """A condition that ends a run."""

    @property
    def name(self) -> str:
        """What the result's `ended_by` says when this ending stopped the run."""
        ...

    @property
    def status(self) -> Status:
        """The status a run ended by this condition gets."""
        ...

    def __call__(self, state: DraftState) -> bool:
        """True when the run should end."""
        ...


class _Composable:
    """Lets one ending be composed with another: `Approved() | MaxRounds(5) & NoChange()`."""

    def __or__(self, other: object) -> Endings:
        mine = tuple(self) if isinstance(self, tuple) else (self,)
        extra = tuple(other) if isinstance(other, tuple) else (other,)
        return Endings((*mine, *extra))

    def __and__(self, other: object) -> AllOf:
        parts = [p.members if isinstance(p, AllOf) else (p,) for p in (self, other)]
        return AllOf((*parts[0], *parts[1]))


class Endings(_Composable, tuple[Ending, ...]):
    """Endings composed with `|`: the first that holds ends the run. Itself an ending, so a
    group can be a part of an `AllOf`: `(Approved() | NoChange()) & TokenBudget(900)`."""

    @property
    def name(self) -> str:
        """The names joined with ` | `."""
        return " | ".join(e.name for e in self)

    @property
    def status(self) -> Status:
        """The first ending's status (the one that held, once `ending_of` has chosen)."""
        return self[0].status if self else "completed"

    def __call__(self, state: DraftState) -> bool:
        return any(e(state) for e in self)


@dataclass(frozen=True)
class AllOf(_Composable):
    """Every one of `members` holds: `Reached("rounds", ">=", 5) & Approved()`.

    Its `ended_by` is the members' names joined with ` & ` (`rounds>=5 & approved`); its
    status is the first member's that is not a comparison (`approved` here), else the first
    member's.
    """

    members: tuple[Ending, ...]

    @property
    def name(self) -> str:
        """The members' names joined with ` & ` (a group of several in parentheses)."""
        return " & ".join(
            f"({m.name})" if isinstance(m, Endings) and len(m) > 1 else m.name for m in self.members
        )

    @property
    def status(self) -> Status:
        """The first member's status that is not a comparison's, else the first member's."""
        named = [m for m in self.members if not isinstance(m, Reached)]
        return (named or list(self.members))[0].status

    def __call__(self, state: DraftState) -> bool:
        return all(m(state) for m in self.members)


@dataclass(frozen=True)
class Approved(_Composable):
    """The latest verdict approves the draft."""

    name: str = "approved"
    status: Status = "approved"

    def __call__(self, state: DraftState) -> bool:
        verdicts = state.get("verdicts") or []
        return bool(verdicts) and verdicts[-1]["decision"] == "approve"


@dataclass(frozen=True)
class MaxRounds(_Composable):
    """The writer has used every round (`max_rounds` in the state, else `default`)."""

    default: int = DEFAULT_MAX_ROUNDS
    name: str = "max_rounds"
    status: Status = "out_of_rounds"

    def __call__(self, state: DraftState) -> bool:
        return state.get("round", 0) >= state.get("max_rounds", self.default)


@dataclass(frozen=True)
class AllAgree(_Composable):
    """Every reviewer who gave a verdict on the current draft approves it."""

    name: str = "all_agree"
    status: Status = "approved"

    def __call__(self, state: DraftState) -> bool:
        round_ = state.get("round", 0)
        current = [v for v in state.get("verdicts") or [] if v["round"] == round_]
        latest = {v["agent"]: v["decision"] for v in current}  # a reviewer's last word counts
        return bool(latest) and all(d == "approve" for d in latest.values())


def _total_tokens(state: DraftState) -> tuple[int, int]:
    usage = state.get("usage") or {}
    return (
        sum(u["prompt_tokens"] for u in usage.values()),
        sum(u["completion_tokens"] for u in usage.values()),
    )


@dataclass(frozen=True)
class TokenBudget(_Composable):
    """The thread has used `limit` tokens or more (`token_budget` in the state wins; 0 = none)."""

    limit: int = 0
    name: str = "token_budget"
    status: Status = "over_budget"

    def __call__(self, state: DraftState) -> bool:
        limit = state.get("token_budget") or self.limit
        return limit > 0 and sum(_total_tokens(state)) >= limit


@dataclass(frozen=True)
class CostBudget(_Composable):
    """The thread has spent `limit_usd` or more (`max_cost` in the state wins; 0 = none).

    Spending is the `cost_usd` the client priced each call at (its price table), summed.
    """

    limit_usd: float = 0.0
    name: str = "cost_budget"
    status: Status = "over_budget"

    def __call__(self, state: DraftState) -> bool:
        limit = state.get("max_cost") or self.limit_usd
        spent = sum(u.get("cost_usd", 0.0) for u in (state.get("usage") or {}).values())
        return limit > 0 and spent >= limit


@dataclass(frozen=True)
class NoChange(_Composable):
    """The last two drafts are the same text: another round would not help."""

    name: str = "no_change"
    status: Status = "unchanged"

    def __call__(self, state: DraftState) -> bool:
        revisions = state.get("revisions") or []
        return (
            len(revisions) >= 2 and revisions[-1]["text"].strip() == revisions[-2]["text"].strip()
        )


@dataclass(frozen=True)
class Completed(_Composable):
    """Always holds: for topologies that end after one pass (the pipeline)."""

    name: str = "completed"
    status: Status = "completed"

    def __call__(self, state: DraftState) -> bool:
        return True


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


def _spent(state: DraftState) -> float:
    return sum(u.get("cost_usd", 0.0) for u in (state.get("usage") or {}).values())


QUANTITIES: dict[str, Callable[[DraftState], float]] = {
    "rounds": lambda state: state.get("round", 0),
    "tokens": lambda state: sum(_total_tokens(state)),
    "cost": _spent,
}


@dataclass(frozen=True)
class Reached(_Composable):
    """A quantity of the thread compared with a number: `Reached("rounds", ">=", 5)`.

    `rounds` counts drafts, `tokens` prompt plus completion tokens, `cost` USD spent. A run
    it ends is `out_of_rounds` (rounds) or `over_budget` (tokens, cost).
    """

    quantity: Literal["rounds", "tokens", "cost"]
    op: Literal[">=", ">", "<=", "<", "=="]
    value: float

    @property
    def name(self) -> str:
        """As written: `rounds>=5`."""
        value = int(self.value) if float(self.value).is_integer() else self.value
        return f"{self.quantity}{self.op}{value}"

    @property
    def status(self) -> Status:
        """`out_of_rounds` for rounds, `over_budget` for tokens and cost."""
        return "out_of_rounds" if self.quantity == "rounds" else "over_budget"

    def __call__(self, state: DraftState) -> bool:
        return _OPS[self.op](QUANTITIES[self.quantity](state), self.value)


DEFAULT_ENDINGS: Endings = Endings((Approved(), MaxRounds(), TokenBudget(), CostBudget()))
"""Approved, out of rounds, or over the state's `token_budget` or `max_cost`. Add
`NoChange()` to stop when the writer repeats itself."""

NAMED_ENDINGS: dict[str, Ending] = {
    e.name: e
    for e in (
        Approved(),
        AllAgree(),
        NoChange(),
        Completed(),
        MaxRounds(),
        TokenBudget(),
        CostBudget(),
    )
}
"""The endings `--until` may name."""
LIMITS: Endings = Endings((MaxRounds(), TokenBudget(), CostBudget()))
"""What ends a run whatever `--until` says: its rounds, its token budget, its cost budget."""


def narrowed(ending: Ending, state: DraftState) -> Ending:
    """`ending` narrowed to what held: a group to its first member that holds."""
    if isinstance(ending, Endings):
        return next(narrowed(e, state) for e in ending if e(state))
    if isinstance(ending, AllOf):
        return AllOf(tuple(narrowed(m, state) for m in ending.members))
    return ending
