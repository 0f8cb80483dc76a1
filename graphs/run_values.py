"""The values a thread runs with, checked by one set of rules wherever they come from: the
flags of `copydesk run` (`--topic`, `--max-rounds`, `--token-budget`, `--max-cost`) and the
`--set key=value` pairs of `copydesk fork`. Checked before anything is opened or written.

`--max-rounds` follows `COPYDESK_MAX_ROUNDS`'s own rule (`Settings.max_rounds`), so a value
the settings refuse is refused in a fork too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_type_hints

from pydantic import Field, Strict, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from copydesk.agents.settings import Settings
from copydesk.agents.settings_checks import range_fix
from copydesk.agents.state import ExperimentRecord, Status
from copydesk.graphs.errors import InputError

__all__ = [
    "MAX_TOKEN_BUDGET",
    "RUN_VALUES",
    "check_run_flags",
    "check_value",
    "check_values",
    "parse_value",
]

MAX_TOKEN_BUDGET = 10**15
"""Largest `--token-budget`: far above any thread, far below SQLite's 64-bit integers."""
MAX_COST = 1e9
"""Largest `--max-cost` in USD."""

# Strict: `true` is not a number of rounds, nor `1` a yes (JSON would let them through).
_MaxRounds = Annotated[int, Strict(), *Settings.model_fields["max_rounds"].metadata]
_Text = Annotated[str, StringConstraints(max_length=1_000_000)]
# pydantic validates TypedDicts of typing_extensions only (on Python < 3.12): the same fields.
_Experiment = TypedDict("_Experiment", get_type_hints(ExperimentRecord))  # type: ignore[misc]

RUN_VALUES: Mapping[str, Any] = {
    "topic": Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ],
    "max_rounds": _MaxRounds,
    "token_budget": Annotated[int, Strict(), Field(ge=0, le=MAX_TOKEN_BUDGET)],
    "max_cost": Annotated[float, Field(ge=0, le=MAX_COST, allow_inf_nan=False)],
    "review": Annotated[bool, Strict()],
    "draft": _Text,
    "round": Annotated[int, Strict(), Field(ge=0, le=1_000_000)],
    "steps": Annotated[int, Strict(), Field(ge=0, le=1_000_000)],
    "status": Status,
    "ended_by": Annotated[str, StringConstraints(max_length=200)],
    "experiment": _Experiment,
}
"""Each state key a run flag or `fork --set` may give, and the type and bounds it must have."""

_ADAPTERS = {key: TypeAdapter(kind) for key, kind in RUN_VALUES.items()}


def parse_value(key: str, raw: str) -> Any:
    """`--set key=raw`'s value: JSON for numbers, booleans and objects; text for text keys
    (so `topic=2026` is the text "2026"), a quoted JSON string unquoted."""
    if _ADAPTERS[key].json_schema().get("type") == "string" and not raw.startswith('"'):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def check_value(key: str, value: Any, *, named: str) -> Any:
    """`value` for state key `key`, validated (and stripped, for the topic).

    Args:
        key: A `RUN_VALUES` key.
        value: The value given.
        named: How the user gave it, for the message (`--token-budget`, `--set max_rounds`).

    Raises:
        InputError: One line naming the flag, the value, the problem and the rule.
    """
    try:
        return _ADAPTERS[key].validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        problem = str(first["msg"])
        if key == "topic" and first["type"] == "string_too_short":
            problem = "The topic is empty; give what to write about"
        elif first["loc"]:  # inside an object: name the field
            problem = f"{'.'.join(map(str, first['loc']))}: {problem}"
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        fix = _range_of(key) if str(first["type"]).startswith(("greater", "less")) else ""
        raise InputError(f"{named}={shown}: {problem[0].lower()}{problem[1:]}{fix}") from None


def _range_of(key: str) -> str:
    """ "; use a number from 1 to 1000": every bound of `key`'s rule (an error names one)."""
    schema = _ADAPTERS[key].json_schema()
    signs = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    return range_fix({sign: schema[name] for name, sign in signs.items() if name in schema})


def check_values(
    values: Mapping[str, Any], named: Callable[[str], str] = lambda key: f"--set {key}"
) -> dict[str, Any]:
    """Every value of `values` checked with `check_value` (keys must be `RUN_VALUES` keys)."""
    return {key: check_value(key, value, named=named(key)) for key, value in values.items()}


def check_run_flags(
    *, topic: str = "", token_budget: int = 0, max_cost: float | None = None
) -> None:
    """Check the flags of `run`, `submit` and `run-many` that become state values (an empty
    topic is left to the caller: it may continue a thread).

    Raises:
        InputError: The first value out of its rule.
    """
    if topic.strip():
        check_value("topic", topic, named="--topic")
    check_value("token_budget", token_budget, named="--token-budget")
    if max_cost is not None:
        check_value("max_cost", max_cost, named="--max-cost")
