"""Every topology end to end: offline, and over HTTP against the fake server, where the
request log shows who spoke in which order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from copydesk.agents.client import OpenAIClient
from copydesk.agents.team import Agents
from copydesk.graphs.events import RunResult, TurnStarted
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.registry import TOPOLOGIES, find, load
from copydesk.graphs.topologies import debate
from copydesk.graphs.topologies.supervisor import StepLimit
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder, speakers

OFFLINE_ORDER = {
    "turn_taking": ["writer", "editor"] * 2,
    "debate": ["writer", *["advocate", "skeptic"] * 2, "judge"] * 2,
    "round_robin": ["writer", "editor", "fact_checker"] * 2,
    "supervisor": [
        *("moderator", "writer", "moderator", "editor", "moderator", "fact_checker"),
        *("moderator", "writer", "moderator", "editor"),
    ],
    "review_panel": ["writer", "structure_editor", "style_editor", "fact_checker", "merge"] * 2,
    "pipeline": ["outliner", "writer", "editor", "proofreader"],
    "document": ["sources", "outliner", *["section"] * 5, "assemble", "consistency"],
}
ENDED = {
    "turn_taking": ("approved", "approved"),
    "debate": ("approved", "approved"),
    "round_robin": ("approved", "all_agree"),
    "supervisor": ("approved", "all_agree"),
    "review_panel": ("approved", "all_agree"),
    "pipeline": ("completed", "completed"),
    "document": ("approved", "assembled"),
}


def _order(events: list[Any]) -> list[str]:
    return [e.agent for e in events if isinstance(e, TurnStarted)]


def _same_steps(actual: list[str], expected: list[str]) -> bool:
    """Equal, except that parallel panel editors may start in any order within their step."""
    panel = {"structure_editor", "style_editor", "fact_checker"}
    if set(expected) >= panel:
        squash = lambda xs: [("panel" if x in panel else x) for x in xs]  # noqa: E731
        return squash(actual) == squash(expected)
    return actual == expected


@pytest.mark.parametrize("name", TOPOLOGIES)
async def test_offline_end_to_end(make_settings: Any, name: str) -> None:
    """Offline, each topology speaks in its diagram's order and says how it ended."""
    async with ConversationManager(make_settings()) as manager:
        events = [e async for e in manager.stream(name, topic="Night trains in Europe")]
    result = events[-1]
    assert isinstance(result, RunResult)
    assert _same_steps(_order(events), OFFLINE_ORDER[name]), _order(events)
    assert (result.status, result.ended_by) == ENDED[name]
    assert "Night trains in Europe" in result.final_draft
    assert "For example," in result.final_draft  # the feedback was applied
    assert result.graph == name


# The document's sections speak at once, in no fixed order: tests/test_document.py reads its log.
@pytest.mark.parametrize("name", [n for n in TOPOLOGIES if n != "document"])
async def test_over_http_the_request_log_shows_the_speakers(make_settings: Any, name: str) -> None:
    """Against the fake server, every model call is one agent's turn, in the expected order."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=1)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run(name, topic="Harbour cranes", max_rounds=3)
        order = speakers(server.chat_requests())
    expected = [s for s in OFFLINE_ORDER[name] if s != "merge"]
    assert _same_steps(order, expected), order
    assert (result.status, result.ended_by) == ENDED[name]
    assert result.usage["total"]["calls"] == len(order)


def test_every_topology_loads_by_name_and_has_its_nodes() -> None:
    """`graphs.load(name)` returns the compiled graph; its nodes are the diagram's."""
    for name in TOPOLOGIES:
        compiled = load(name)
        assert compiled.name == name and compiled.checkpointer is None
        assert find(name).node_count() == len(
            [n for n in compiled.get_graph().nodes if not n.startswith("__")]
        )
    assert {"writer", "advocate", "skeptic", "judge", "human_review"} <= set(
        load("debate").get_graph().nodes
    )


async def test_supervisor_retries_an_unknown_agent_once_then_uses_it(make_settings: Any) -> None:
    """A moderator naming a ghost is asked again; the valid second answer is followed."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(bad_choices=1)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("supervisor", topic="t")
        order = speakers(server.chat_requests())
    assert order[:3] == ["moderator", "moderator", "writer"]
    retry = server.chat_requests()[1].body or {}
    assert "'ghost_writer' is not a participant" in str(retry["messages"][-1]["content"])
    assert result.status == "approved"


async def test_supervisor_falls_back_to_turn_order_and_stays_bounded(make_settings: Any) -> None:
    """A moderator that only names ghosts: two tries per step, then the next in turn speaks."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(bad_choices=10_000)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("supervisor", topic="t")
        order = speakers(server.chat_requests())
    assert order[:6] == ["moderator", "moderator", "writer", "moderator", "moderator", "editor"]
    assert result.status == "approved" and result.ended_by == "all_agree"


async def test_supervisor_moderator_that_always_names_the_writer_still_hears_the_editor(
    make_settings: Any,
) -> None:
    """A moderator that always names the writer (as the 270M model's did): the writer never
    speaks twice in a row, the editor gets the next turn, and the rounds end the run."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(always_choose="writer", approve_after=99)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("supervisor", topic="t", max_rounds=2)
        order = speakers(server.chat_requests())
    assert (result.status, result.ended_by) == ("out_of_rounds", "max_rounds")
    spoke = [s for s in order if s != "moderator"]
    assert spoke == ["writer", "editor", "writer", "editor"]
    assert result.verdict is not None


def test_supervisor_step_limit_counts_the_moderators_choices() -> None:
    """The step limit (the safety net for a moderator whose picks make no rounds) stops at
    `per_round` choices per allowed round."""
    limit = StepLimit(per_round=6)
    assert not limit({"steps": 5, "max_rounds": 1})  # type: ignore[typeddict-item]
    assert limit({"steps": 6, "max_rounds": 1})  # type: ignore[typeddict-item]
    assert not limit({"steps": 11, "max_rounds": 2})  # type: ignore[typeddict-item]


async def test_review_panel_editors_call_the_model_at_once(make_settings: Any) -> None:
    """Three editors against 0.2 s latency: the server holds all three requests at once."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=0)
        server.latency = 0.2
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("review_panel", topic="t", max_rounds=1)
        requests = server.chat_requests()
        overlap = server.peak_in_flight
    editors = [r for r in requests if speakers([r])[0] != "writer"]
    assert len(editors) == 3 and result.status == "approved"
    # Sequential calls are answered one at a time; the panel's three are in flight together.
    assert overlap == 3


async def test_human_review_inside_a_parallel_branch_keeps_the_editors_work(
    make_settings: Any,
) -> None:
    """The panel's human pauses the run; resuming runs only the human's branch."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=0)
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            paused = await manager.run("review_panel", topic="t", review=True, thread_id="p")
            calls_at_pause = len(server.chat_requests())
            done = await manager.resume("p", answer={"action": "approve"})
    assert paused.status == "waiting_for_review" and paused.review["kind"] == "review"
    assert calls_at_pause == 4  # writer + three editors, all before the pause
    assert len(server.chat_requests()) == 4  # the editors did not run again
    assert (done.status, done.ended_by) == ("approved", "all_agree")


async def test_many_topologies_share_one_manager_at_once(make_settings: Any) -> None:
    """Different topologies run concurrently on one manager, each on its own thread."""
    async with ConversationManager(make_settings()) as manager:
        results = await asyncio.gather(
            *(manager.run(n, topic=f"topic {n}", thread_id=f"t-{n}") for n in TOPOLOGIES)
        )
    assert [r.graph for r in results] == list(TOPOLOGIES)
    assert all(r.status in ("approved", "completed") for r in results)


async def test_debate_with_three_personas_and_one_round(make_settings: Any) -> None:
    """A third debater joins in turn; one round of argument per ruling."""
    agents = Agents.default(make_settings())
    graph = debate.build(
        agents=agents,
        checkpointer=InMemorySaver(),
        debaters=("advocate", "skeptic", "reader"),
        debate_rounds=1,
    )
    order: list[str] = []
    config: Any = {"configurable": {"thread_id": "d3"}}
    async for update in graph.astream({"topic": "Rooftop gardens"}, config, stream_mode="updates"):
        order += list(update)
    assert order == ["writer", "advocate", "skeptic", "reader", "judge"] * 2
    state = (await graph.aget_state(config)).values
    assert state["messages"][3].content.startswith("As the reader:")
    with pytest.raises(ValueError, match="two or three debaters"):
        debate.build(agents=agents, debaters=("advocate",))
