"""Review panel: K editors review the draft in parallel, each for its own focus; their
verdicts merge; the writer revises; until all approve or the rounds run out.

                  +--> structure_editor --+
START -> writer --+--> style_editor ------+--> merge -> (all agree / out of rounds) -> END
            ^     +--> fact_checker ------+      |
            |     +--> human_review (--review) --+
            +------------- revise ---------------+

The fan-out is LangGraph `Send`, so the editors' calls run at once. With `--review` the human
sits on the panel as one more parallel reviewer, so the pause happens inside a parallel branch:
the editors' verdicts are kept while the run waits, and only the human's branch runs on resume.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Send

from copydesk.agents.chatbot import Editor, message_id
from copydesk.agents.state import DraftState, DraftUpdate, IssueRecord, VerdictRecord
from copydesk.agents.team import Agents
from copydesk.graphs.review import HUMAN, HumanReviewer
from copydesk.graphs.termination import (
    HUMAN_REVIEW,
    AllAgree,
    Ending,
    Endings,
    MaxRounds,
    TokenBudget,
    then_decide,
    with_max_rounds,
)

__all__ = ["DESCRIPTION", "EDITORS", "MERGE", "NAME", "PANEL", "WRITER", "build", "graph"]

NAME = "review_panel"
DESCRIPTION = "K editors (structure, style, facts) review in parallel; the writer revises."
WRITER, MERGE, PANEL = "writer", "merge", "panel"
EDITORS: tuple[str, ...] = ("structure_editor", "style_editor", "fact_checker")
ENDINGS = Endings((AllAgree(), MaxRounds(), TokenBudget()))


async def merge(state: DraftState, config: RunnableConfig) -> DraftUpdate:
    """One panel verdict from this round's verdicts: approve only if every reviewer does."""
    round_ = state.get("round", 0)
    current = [
        v for v in state.get("verdicts") or [] if v["round"] == round_ and v["agent"] != PANEL
    ]
    issues: list[IssueRecord] = [
        {**issue, "comment": f"({v['agent']}) {issue['comment']}"}
        for v in current
        for issue in v["issues"]
    ]
    approve = bool(current) and all(v["decision"] == "approve" for v in current)
    votes = ", ".join(f"{v['agent']}: {v['decision']}" for v in current)
    record: VerdictRecord = {
        "round": round_,
        "agent": PANEL,
        "decision": "approve" if approve else "revise",
        "issues": issues,
        "summary": f"Panel ({votes}).",
    }
    text = f"Decision: {record['decision']}. {record['summary']}"
    return {
        "messages": [AIMessage(text, name=PANEL, id=message_id(config, round_, PANEL))],
        "verdicts": [record],
    }


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = ENDINGS,
    editors: Sequence[str] = EDITORS,
) -> CompiledStateGraph[DraftState, None, DraftState, DraftState]:
    """Compile the panel. Leave `checkpointer` None under LangGraph Server.

    Args:
        agents: The cast; the panel editors are made on its client.
        checkpointer: Where checkpoints go.
        store: Long-term memory store.
        max_rounds: Drafts when the input does not say.
        endings: What ends the run, checked after the verdicts merge.
        editors: Prompt names of the panel editors (each reviews in parallel).
    """
    agents = agents or Agents.default()
    endings = with_max_rounds(endings, max_rounds)
    panel = tuple(editors)

    def to_the_panel(state: DraftState) -> list[Send]:
        seats = [*panel, HUMAN_REVIEW] if state.get("review") else list(panel)
        return [Send(seat, state) for seat in seats]

    builder = StateGraph(DraftState)
    builder.add_node(WRITER, agents.writer)
    for name in panel:
        builder.add_node(name, agents.chatbot(Editor, name))
    builder.add_node(HUMAN_REVIEW, HumanReviewer(HUMAN))
    # The human already sits on the panel, so an ending goes straight to END.
    builder.add_node(
        MERGE, then_decide(merge, endings, WRITER, review=False), destinations=(WRITER, END)
    )

    builder.add_edge(START, WRITER)
    builder.add_conditional_edges(WRITER, to_the_panel, [*panel, HUMAN_REVIEW])
    for seat in (*panel, HUMAN_REVIEW):
        builder.add_edge(seat, MERGE)
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
