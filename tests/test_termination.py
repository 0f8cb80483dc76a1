"""Endings: each condition, composition, and which one the result names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.offline.roles import typed_answer, write_first
from copydesk.agents.roles import Ruling, SpeakerChoice
from copydesk.agents.team import Agents
from copydesk.graphs.registry import TOPOLOGIES
from copydesk.graphs.termination import (
    AllAgree,
    Approved,
    CostBudget,
    MaxRounds,
    NoChange,
    TokenBudget,
    ending_of,
)
from copydesk.graphs.topologies import round_robin, turn_taking
from tests.fakes.writing import ScriptedChatModel, verdict_json


def _verdict(agent: str, decision: str, round_: int = 1) -> dict[str, Any]:
    return {"round": round_, "agent": agent, "decision": decision, "issues": [], "summary": ""}


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"writer": {"calls": 1, "prompt_tokens": prompt, "completion_tokens": completion}}


def test_each_ending_and_composition() -> None:
    """Each condition holds exactly when it should; `|` keeps order, first match wins."""
    state: Any = {"round": 1, "verdicts": [_verdict("a", "approve"), _verdict("b", "revise")]}
    assert not Approved()(state) and not AllAgree()(state)
    state["verdicts"].append(_verdict("b", "approve"))
    assert Approved()(state) and AllAgree()(state)  # b's last word counts
    assert not AllAgree()({"round": 2, "verdicts": state["verdicts"]})  # none on this draft

    assert TokenBudget(100)({"usage": _usage(60, 40)})
    assert not TokenBudget(100)({"usage": _usage(60, 39)})
    assert not TokenBudget()({"usage": _usage(10**6, 0)})  # 0 means no budget
    assert TokenBudget()({"usage": _usage(6, 4), "token_budget": 10})
    spent = {"w": {"calls": 1, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.012}}
    assert CostBudget(0.01)({"usage": spent})  # the client priced the calls at $0.012
    assert not CostBudget(0.02)({"usage": spent})
    assert CostBudget()({"usage": spent, "max_cost": 0.01})  # the state's max_cost wins
    assert not CostBudget()({"usage": spent})  # no limit anywhere: never ends the run

    same = [{"round": 1, "author": "w", "text": "x"}, {"round": 2, "author": "w", "text": "x "}]
    assert NoChange()({"revisions": same})
    assert not NoChange()({"revisions": same[:1]})

    endings = NoChange() | TokenBudget(5) | MaxRounds(9)
    assert [e.name for e in endings] == ["no_change", "token_budget", "max_rounds"]
    hit = ending_of(endings, {"usage": _usage(5, 5), "revisions": same, "round": 9})
    assert hit is not None and hit.name == "no_change" and hit.status == "unchanged"


async def test_the_result_names_the_ending(make_settings: Any) -> None:
    """A writer that repeats itself ends the run `unchanged` when NoChange is composed in."""
    model = ScriptedChatModel(drafts=["same"], verdicts=[verdict_json("revise")])
    agents = Agents.default(make_settings(), client=OpenAIClient(chat_model=model))
    graph = turn_taking.build(agents=agents, endings=Approved() | NoChange() | MaxRounds(5))
    state = await graph.ainvoke({"topic": "t"})
    assert (state["status"], state["ended_by"], state["round"]) == ("unchanged", "no_change", 2)

    budget = round_robin.build(agents=agents, checkpointer=InMemorySaver())
    state = await budget.ainvoke(
        {"topic": "t", "token_budget": 1, "max_rounds": 9}, {"configurable": {"thread_id": "b"}}
    )
    # A budget of one token has no room for the first prompt: nothing is sent.
    assert (state["status"], state["ended_by"], state.get("round", 0)) == (
        "over_budget",
        "token_budget",
        0,
    )
    assert not state.get("usage")


def test_offline_model_answers_any_schema_sensibly() -> None:
    """Unknown schemas get a valid instance; rulings and choices are filled in sensibly."""
    draft = write_first("canals")
    task = f"Topic: canals\n<<<\n{draft}\n>>>"
    ruling = Ruling.model_validate(typed_answer(Ruling.model_json_schema(), task, draft))
    assert ruling.decision == "revise" and len(ruling.changes) == 2
    choose = "Participants: writer, editor, fact_checker\nLast speaker: editor\n"
    choice = SpeakerChoice.model_validate(
        typed_answer(SpeakerChoice.model_json_schema(), choose, "")
    )
    assert choice.next_speaker == "fact_checker"
    odd = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 3}, "tags": {"type": "array"}},
        "required": ["n", "tags"],
    }
    assert typed_answer(odd, "", "") == {"n": 3, "tags": [{}]}


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_topology_module_imports_without_key_or_network(tmp_path: Path, name: str) -> None:
    """Each `copydesk.graphs.topologies.<name>.graph` loads in a fresh interpreter with no key and
    no network."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise SystemExit('network used at import')\n"
        "socket.socket.connect = refuse\n"
        f"import copydesk.graphs.topologies.{name} as t\n"
        "assert t.graph.checkpointer is None\n"
        "print(t.graph.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == name
    assert not any(tmp_path.iterdir())
