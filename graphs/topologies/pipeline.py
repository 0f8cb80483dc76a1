"""Pipeline: outline -> draft -> edit -> proofread, each stage a `Chatbot`, one pass.

START -> outliner -> writer -> editor -> proofreader -> END
                       ^                      |
                       |                      +-- with --review --> human_review (a subgraph)
                       +------- feedback -----------------------------+   approve -> END

The editor's typed verdict tells the proofreader what to fix. With `--review` the human's
sign-off runs as a subgraph, so its pause is checkpointed inside the subgraph.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from copydesk.agents.chatbot import Writer
from copydesk.agents.roles import Speaker
from copydesk.agents.state import DraftState
from copydesk.agents.team import Agents
from copydesk.graphs.review import add_human_review
from copydesk.graphs.termination import (
    HUMAN_REVIEW,
    Completed,
    Ending,
    Endings,
    TokenBudget,
    then_decide,
)

__all__ = ["DESCRIPTION", "EDITOR", "NAME", "OUTLINER", "PROOFREADER", "WRITER", "build", "graph"]

NAME = "pipeline"
DESCRIPTION = "Outline -> draft -> edit -> proofread: one pass, each stage its own agent."
OUTLINER, WRITER, EDITOR, PROOFREADER = "outliner", "writer", "editor", "proofreader"
ENDINGS = Endings((TokenBudget(), Completed()))


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = ENDINGS,
) -> CompiledStateGraph[DraftState, None, DraftState, DraftState]:
    """Compile the pipeline. Leave `checkpointer` None under LangGraph Server.

    Args:
        agents: The cast; outliner and proofreader are made on its client.
        checkpointer: Where checkpoints go.
        store: Long-term memory store.
        max_rounds: Unused (one pass); accepted so every topology takes the same options.
        endings: Checked after proofreading; the default always ends (`completed`).
    """
    agents = agents or Agents.default()
    builder = StateGraph(DraftState)
    builder.add_node(OUTLINER, agents.chatbot(Speaker, OUTLINER, "outlines the piece"))
    builder.add_node(WRITER, agents.writer)
    builder.add_node(EDITOR, agents.editor)
    proofreader = agents.chatbot(Writer, PROOFREADER, "applies the edits and proofreads")
    builder.add_node(
        PROOFREADER,
        then_decide(proofreader, endings, WRITER),
        destinations=(WRITER, HUMAN_REVIEW, END),
    )
    add_human_review(builder, revise_to=WRITER, as_subgraph=True)

    builder.add_edge(START, OUTLINER)
    builder.add_edge(OUTLINER, WRITER)
    builder.add_edge(WRITER, EDITOR)
    builder.add_edge(EDITOR, PROOFREADER)
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
