"""The grammar of `--until`: endings by name, comparisons, `&`, `|` and parentheses.

    until      := any_of
    any_of     := all_of ("|" all_of)*          first that holds ends the run
    all_of     := operand ("&" operand)*        `&` binds tighter than `|`
    operand    := "(" any_of ")" | NAME | QUANTITY OP NUMBER
    OP         := ">=" | ">" | "<=" | "<" | "=="

so `approved | rounds>=5 & tokens>=20000` reads `approved | (rounds>=5 & tokens>=20000)`,
as Python reads `Approved() | Rounds(5) & Tokens(20000)`. Parsing gives a small tree of
tuples; `until_endings` turns it into endings. A grammar of five rules is
written here by hand rather than pulled in with a parser library: its one job is an error
that names the position and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from copydesk.graphs.endings import (
    LIMITS,
    NAMED_ENDINGS,
    QUANTITIES,
    AllOf,
    Ending,
    Endings,
    Reached,
)
from copydesk.graphs.errors import EndingError

__all__ = ["Comparison", "Conjunction", "Disjunction", "Name", "Node", "parse", "until_endings"]

MAX_LENGTH = 500
"""Longest expression accepted: far beyond any useful one."""

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>>=|<=|==|>|<)|(?P<punct>[&|()]))"
)

Op = Literal[">=", ">", "<=", "<", "=="]


@dataclass(frozen=True)
class Name:
    """An ending by its name (`approved`)."""

    name: str


@dataclass(frozen=True)
class Comparison:
    """A quantity of the thread against a number (`rounds>=5`)."""

    quantity: str
    op: Op
    value: float


@dataclass(frozen=True)
class Conjunction:
    """Every part holds (`&`)."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Disjunction:
    """The first part that holds (`|`)."""

    parts: tuple[Node, ...]


Node = Name | Comparison | Conjunction | Disjunction


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int
    """1-based column of the token's first character."""


def _tokens(text: str) -> list[_Token]:
    out, at = [], 0
    while at < len(text):
        if not text[at:].strip():
            break
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            column = at + len(text[at:]) - len(text[at:].lstrip()) + 1
            raise _error(text, column, f"unexpected {text[column - 1]!r}", _SHAPE)
        out.append(
            _Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup) + 1)
        )
        at = match.end()
    out.append(_Token("end", "", len(text) + 1))
    return out


_SHAPE = "write names and comparisons joined by & and |, e.g. approved | rounds>=5 & tokens>=20000"


def _error(text: str, column: int, problem: str, fix: str) -> EndingError:
    return EndingError(f"--until {text!r}: {problem} at position {column}; {fix}")


class _Parser:
    def __init__(self, text: str, names: Collection[str], quantities: Collection[str]) -> None:
        self.text, self.names, self.quantities = text, names, quantities
        self.tokens = _tokens(text)
        self.at = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def fail(self, problem: str, fix: str = _SHAPE) -> EndingError:
        return _error(self.text, self.token.at, problem, fix)

    def take(self, text: str) -> bool:
        if self.token.text == text and self.token.kind in ("punct", "op"):
            self.at += 1
            return True
        return False

    def whole(self) -> Node:
        if self.token.kind == "end":
            raise self.fail("the expression is empty")
        node = self.any_of()
        if self.token.kind != "end":
            shown = self.token.text
            raise self.fail(
                f"unexpected {shown!r}",
                "join parts with & or |" if shown != ")" else "remove the unmatched )",
            )
        return node

    def any_of(self) -> Node:
        parts = [self.all_of()]
        while self.take("|"):
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else Disjunction(tuple(parts))

    def all_of(self) -> Node:
        parts = [self.operand()]
        while self.take("&"):
            parts.append(self.operand())
        return parts[0] if len(parts) == 1 else Conjunction(tuple(parts))

    def operand(self) -> Node:
        token = self.token
        if self.take("("):
            node = self.any_of()
            if not self.take(")"):
                raise self.fail("expected )", f"close the ( opened at position {token.at}")
            return node
        if token.kind != "name":
            found = "the end" if token.kind == "end" else repr(token.text)
            raise self.fail(f"expected a name, a comparison or ( but found {found}")
        if self.tokens[self.at + 1].kind == "op":
            self.at += 1
            return self.comparison(token)
        if token.text in self.quantities:
            raise self.fail(f"{token.text} needs a comparison", f"write e.g. {token.text}>=5")
        if token.text not in self.names:
            raise self.fail(f"unknown ending {token.text!r}", self._known(token.text))
        self.at += 1
        return Name(token.text)

    def comparison(self, quantity: _Token) -> Comparison:
        if quantity.text not in self.quantities:
            self.at -= 1
            named = f"write {quantity.text} alone, or " if quantity.text in self.names else ""
            raise self.fail(
                f"{quantity.text!r} cannot be compared",
                f"{named}compare one of {', '.join(self.quantities)} (e.g. rounds>=5)",
            )
        op = self.token.text
        self.at += 1
        if self.token.kind != "number":
            raise self.fail(f"expected a number after {op}", f"write e.g. {quantity.text}{op}5")
        value = float(self.token.text)
        self.at += 1
        return Comparison(quantity.text, op, value)  # type: ignore[arg-type]

    def _known(self, word: str) -> str:
        close = difflib.get_close_matches(word, [*self.names, *self.quantities], n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return (
            f"{hint}use one of {', '.join(self.names)}, or compare "
            f"{', '.join(self.quantities)} (e.g. rounds>=5)"
        )


def parse(text: str, *, names: Collection[str], quantities: Collection[str]) -> Node:
    """The tree of an `--until` expression.

    Args:
        text: The expression.
        names: The ending names it may use (`approved`, ...).
        quantities: The quantities it may compare (`rounds`, `tokens`, `cost`).

    Raises:
        EndingError: One line naming the position (1-based) of the first problem and the fix.
    """
    if len(text) > MAX_LENGTH:
        raise EndingError(f"--until is {len(text)} characters long; keep it under {MAX_LENGTH}")
    return _Parser(text, names, quantities).whole()


def _built(node: Node) -> Ending:
    if isinstance(node, Name):
        return NAMED_ENDINGS[node.name]
    if isinstance(node, Comparison):
        return Reached(node.quantity, node.op, node.value)  # type: ignore[arg-type]
    parts = tuple(_built(part) for part in node.parts)
    return AllOf(parts) if isinstance(node, Conjunction) else Endings(parts)


def until_endings(text: str) -> Endings:
    """The endings of an `--until` expression, then the `LIMITS`, in that order.

    Raises:
        EndingError: The expression cannot be read (one line: the position and the fix).
    """
    tree = parse(text, names=list(NAMED_ENDINGS), quantities=list(QUANTITIES))
    ending = _built(tree)
    head = tuple(ending) if isinstance(ending, Endings) else (ending,)
    return Endings((*head, *LIMITS))
