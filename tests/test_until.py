"""Endings composed with `&` and `|`, the `--until` grammar, and runs that end by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.team import Agents
from copydesk.graphs.endings import (
    AllOf,
    Approved,
    Endings,
    MaxRounds,
    NoChange,
    Reached,
    TokenBudget,
)
from copydesk.graphs.errors import EndingError
from copydesk.graphs.termination import ending_of
from copydesk.graphs.topologies import turn_taking
from copydesk.graphs.until import until_endings
from tests._cli import assert_one_line_error, cli_env, copydesk
from tests.fakes.writing import ScriptedChatModel, verdict_json


def _state(round_: int = 0, tokens: int = 0, decision: str = "revise", **more: Any) -> Any:
    usage = {"w": {"calls": 1, "prompt_tokens": tokens, "completion_tokens": 0, "cost_usd": 0.5}}
    verdict = {"round": round_, "agent": "e", "decision": decision, "issues": [], "summary": ""}
    return {"round": round_, "usage": usage, "verdicts": [verdict], "max_rounds": 99, **more}


def test_and_binds_tighter_than_or_in_python_and_in_text() -> None:
    composed = Approved() | Reached("rounds", ">=", 5) & Reached("tokens", ">=", 20000)
    assert isinstance(composed, Endings) and isinstance(composed[1], AllOf)
    assert composed.name == "approved | rounds>=5 & tokens>=20000"
    parsed = until_endings("approved | rounds>=5 & tokens>=20000")
    assert [e.name for e in parsed] == [
        "approved",
        "rounds>=5 & tokens>=20000",
        "max_rounds",  # the limits still hold, after the expression
        "token_budget",
        "cost_budget",
    ]
    assert parsed[:2] == composed  # the same values, built from text

    assert ending_of(composed, _state(round_=5, tokens=19999)) is None  # & needs both
    both = ending_of(composed, _state(round_=5, tokens=20000))
    assert both is not None and (both.name, both.status) == (
        "rounds>=5 & tokens>=20000",
        "out_of_rounds",
    )
    approved = ending_of(composed, _state(round_=1, decision="approve"))
    assert approved is not None and approved.name == "approved"


def test_parentheses_group_and_the_result_names_what_held() -> None:
    state = _state(round_=2, decision="approve", until="(no_change | approved) & rounds>=2")
    held = ending_of((), state)
    # The group narrows to the member that held, and an & takes a named ending's status.
    assert held is not None and (held.name, held.status) == ("approved & rounds>=2", "approved")
    assert ending_of((), {**state, "round": 1}) is None
    group = (NoChange() | Approved()) & TokenBudget(900)
    assert group.name == "(no_change | approved) & token_budget"
    assert (MaxRounds(2) & group).members[1:] == group.members  # & flattens


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("rounds>3", False),
        ("rounds>=3 & rounds<=3 & rounds==3", True),
        ("rounds<3 | tokens>=50", True),
        ("cost>=0.5", True),
        ("cost>0.5", False),
        ("  approved|  no_change ", False),
    ],
)
def test_each_comparison(text: str, holds: bool) -> None:
    state = _state(round_=3, tokens=50, max_rounds=99)
    assert (ending_of((), {**state, "until": text}) is not None) is holds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the expression is empty at position 1"),
        ("approved |", "expected a name, a comparison or ( but found the end at position 11"),
        ("aproved", "unknown ending 'aproved' at position 1; did you mean approved?"),
        ("rounds", "rounds needs a comparison at position 1; write e.g. rounds>=5"),
        ("rounds>=", "expected a number after >= at position 9; write e.g. rounds>=5"),
        ("(approved", "expected ) at position 10; close the ( opened at position 1"),
        ("approved)", "unexpected ')' at position 9; remove the unmatched )"),
        ("approved rounds>=2", "unexpected 'rounds' at position 10; join parts with & or |"),
        ("a$b", "unexpected '$' at position 2"),
        ("approved>=2", "'approved' cannot be compared at position 1; write approved alone"),
        ("pages>=2", "'pages' cannot be compared at position 1; compare one of rounds"),
        ("x" * 501, "--until is 501 characters long; keep it under 500"),
    ],
)
def test_a_bad_expression_names_the_position_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(EndingError) as raised:
        until_endings(text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_until_replaces_the_topology_endings_but_not_the_rounds(make_settings: Any) -> None:
    """An editor that approves at once: `--until` keeps the writer going to round 2."""
    model = ScriptedChatModel(drafts=["a", "b", "c"], verdicts=[verdict_json("approve")])
    agents = Agents.default(make_settings(), client=OpenAIClient(chat_model=model))
    graph = turn_taking.build(agents=agents)
    state = await graph.ainvoke({"topic": "t", "until": "approved & rounds>=2", "max_rounds": 5})
    assert (state["status"], state["ended_by"], state["round"]) == (
        "approved",
        "approved & rounds>=2",
        2,
    )
    capped = await graph.ainvoke({"topic": "t", "until": "rounds>=9", "max_rounds": 3})
    assert (capped["ended_by"], capped["round"]) == ("max_rounds", 3)  # a limit still holds


@pytest.mark.slow
def test_until_on_the_command_line(tmp_path: Path, home: Path) -> None:
    env = cli_env(home, COPYDESK_OFFLINE="1")
    run = copydesk(tmp_path, env, "run", "turn_taking", "-t", "Bells", "--max-rounds", "4",
                   "--until", "rounds>=2 & approved", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert (result["ended_by"], result["rounds"]) == ("rounds>=2 & approved", 2)

    bad = copydesk(tmp_path, env, "run", "turn_taking", "-t", "Bells", "--until", "approved &")
    line = assert_one_line_error(bad, 2)
    assert "expected a name, a comparison or ( but found the end at position 11" in line
    listed = copydesk(tmp_path, env, "threads", "--json")
    assert len(json.loads(listed.stdout)) == 1  # the refused run wrote nothing
