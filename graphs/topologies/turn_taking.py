"""Writer <-> editor: the writer drafts, the editor approves or sends it back.

START -> writer -> editor -> (approved or out of rounds) -> END
            ^         |              or, with --review: -> human_review -> (approve) -> END
            +---------+ revise                                  | feedback -> writer
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from copydesk.agents.state import DraftState
from copydesk.agents.team import Agents
from copydesk.graphs.review import add_human_review
from copydesk.graphs.termination import (
    DEFAULT_ENDINGS,
    HUMAN_REVIEW,
    Ending,
    then_decide,
    with_max_rounds,
)

__all__ = ["DESCRIPTION", "EDITOR", "NAME", "WRITER", "build", "graph"]

NAME = "turn_taking"
DESCRIPTION = "Writer drafts, editor approves or sends it back, until approved or out of rounds."
WRITER, EDITOR = "writer", "editor"


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = DEFAULT_ENDINGS,
    schema: type[Any] = DraftState,
) -> CompiledStateGraph[DraftState, None, DraftState, DraftState]:
    """Compile the loop. Leave `checkpointer` None under LangGraph Server: it brings its own.

    Args:
        agents: Writer and editor; built from the environment when None.
        checkpointer: Where checkpoints go.
        store: Long-term memory store.
        max_rounds: Rounds when the input does not say (`max_rounds` in the state wins).
        endings: What ends the run, checked after each verdict.
        schema: The state it runs on: `DraftState`, or a `TypedDict` extending it whose
            extra keys the agents' prompts read (a long document's section).
    """
    agents = agents or Agents.default()
    endings = with_max_rounds(endings, max_rounds)
    builder = StateGraph(schema)
    builder.add_node(WRITER, agents.writer, input_schema=schema)
    builder.add_node(
        EDITOR,
        then_decide(agents.editor, endings, WRITER),
        destinations=(WRITER, HUMAN_REVIEW, END),
        input_schema=schema,
    )
    add_human_review(builder, revise_to=WRITER, schema=schema)
    builder.add_edge(START, WRITER)
    builder.add_edge(WRITER, EDITOR)
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
