"""Human review of a long document: where it pauses (`--review outline|sections|final`), what
the person is shown, and where their answer goes.

    outline    after the outliner: approve, and the sections fan out; or feedback, which
               the outliner answers with a new outline, shown again
    sections   every section's writer <-> editor loop pauses as `turn_taking --review` does
               (`copydesk.graphs.review`): approve the section, or feedback its writer
               answers before its editor and then the person see it again
    final      after the consistency pass (and its revisions): approve the document, or
               feedback that goes, as a consistency finding does, to the sections it quotes;
               they revise once, the document is assembled again and shown again

Every pause is a LangGraph `interrupt` whose value extends the one of every other topology
(`kind`, `question`, `round`, `draft`, `ended_by`) with the `stage` and what that stage is
about, so the same `copydesk resume --approve / --feedback` and the same review page answer
it. `review: true` alone (the bare `--review`) means `final`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.types import Command, Send, interrupt

from copydesk.agents.chatbot import message_id
from copydesk.agents.document import DocumentState, SectionRecord, by_section, outline_markdown
from copydesk.agents.state import IssueRecord, VerdictRecord
from copydesk.agents.style_sheet import style_rules
from copydesk.graphs.reports.issue_tracking import find_quote
from copydesk.graphs.review import HUMAN, answer_of

__all__ = [
    "FINAL_REVIEW",
    "OUTLINE_REVIEW",
    "Revisions",
    "feedback_targets",
    "final_review",
    "outline_review",
    "review_points",
]

OUTLINE_REVIEW, FINAL_REVIEW = "outline_review", "final_review"

Revisions = Callable[[DocumentState, dict[int, list[IssueRecord]], VerdictRecord], list[Send]]
"""Builds the `Send`s that revise each section once to answer its issues (the verdict gives
the agent, round and summary they are recorded under)."""

_QUOTED = re.compile(r'"([^"\n]{6,})"|“([^”\n]{6,})”')
_NAMED = re.compile(r"\bsection (\d+)\b", re.IGNORECASE)


def review_points(state: DocumentState) -> set[str]:
    """Where this run pauses for a human: `review_points`, or `final` for `review: true`."""
    return set(state.get("review_points") or (["final"] if state.get("review") else []))


def _said(config: RunnableConfig, state: DocumentState, text: str) -> HumanMessage:
    key = f"{HUMAN}.{len(state.get('messages') or [])}"
    return HumanMessage(text, name=HUMAN, id=message_id(config, state.get("round", 0), key))


def outline_review(fan_out: Callable[[DocumentState], list[Send]], replan: str) -> Any:
    """The node that shows the outline: approve -> `fan_out(state)`; feedback -> `replan`."""

    async def review_outline(state: DocumentState, config: RunnableConfig) -> Command[Any]:
        answer = interrupt(
            {
                "kind": "review",
                "stage": "outline",
                "question": "Approve this outline, or send feedback for the outliner?",
                "round": 0,
                "draft": outline_markdown(state["outline"]),
                "ended_by": "",
                "outline": state["outline"],
            }
        )
        decision, feedback = answer_of(answer)
        if decision == "approve":
            said = _said(config, state, "Decision: approve. The outline stands.")
            return Command(update={"messages": [said]}, goto=fan_out(state))
        said = _said(config, state, f"Decision: revise the outline. {feedback}")
        return Command(
            update={"messages": [said], "outline_feedback": feedback or "Revise."}, goto=replan
        )

    return review_outline


def feedback_targets(
    text: str, sections: list[SectionRecord], section: int | None = None
) -> dict[int, list[IssueRecord]]:
    """Which sections a human's feedback on the whole document goes to, and as what issue.

    The section the answer names (`section`); else every section holding a passage the
    feedback quotes ("..."), the passage as the issue's quote; else the sections it names
    ("section 2", or a heading); else all of them.
    """
    known = {s["index"]: s for s in sections}

    def issue(quote: str = "") -> IssueRecord:
        return {"severity": "major", "quote": quote[:100], "comment": text}

    if section in known:
        return {section: [issue()]}
    targets: dict[int, list[IssueRecord]] = {}
    for quote in (a or b for a, b in _QUOTED.findall(text)):
        for s in sections:
            if find_quote(s["text"], quote) is not None:
                targets.setdefault(s["index"], []).append(issue(quote))
    if targets:
        return targets
    lowered = text.lower()
    named = {int(n) for n in _NAMED.findall(text)} | {
        s["index"] for s in sections if len(s["heading"]) >= 4 and s["heading"].lower() in lowered
    }
    chosen = [i for i in sorted(named) if i in known] or sorted(known)
    return {i: [issue()] for i in chosen}


def final_review(revise: Revisions) -> Any:
    """The node that shows the finished document: approve -> END; feedback -> `revise` the
    sections it concerns (they are then assembled and shown again)."""

    async def review_document(state: DocumentState, config: RunnableConfig) -> Command[Any]:
        sections = state.get("sections") or []
        answer = interrupt(
            {
                "kind": "review",
                "stage": "final",
                "question": "Approve this document, or send feedback for the sections?",
                "round": state.get("round", 0),
                "draft": state.get("draft", ""),
                "ended_by": state.get("ended_by", ""),
                "sections": [
                    {"index": s["index"], "heading": s["heading"], "status": s["status"]}
                    for s in sections
                ],
                "findings": state.get("findings") or [],
                "style_sheet": style_rules(state.get("style_sheet")),
                "fact_ledger": by_section(state.get("fact_ledger")),
            }
        )
        decision, feedback = answer_of(answer)
        round_ = state.get("round", 0)
        verdict: VerdictRecord = {
            "round": round_,
            "agent": HUMAN,
            "decision": decision,
            "issues": [],
            "summary": "Approved by a human reviewer." if decision == "approve" else feedback,
        }
        if decision == "approve":
            said = _said(config, state, "Decision: approve. The document stands.")
            update = {"messages": [said], "verdicts": [verdict], "status": "approved"}
            return Command(update=update | {"ended_by": HUMAN}, goto=END)
        wanted = answer.get("section") if isinstance(answer, dict) else None
        targets = feedback_targets(feedback or "Revise.", sections, _number(wanted))
        numbers = ", ".join(str(i) for i in targets)
        said = _said(config, state, f"Decision: revise sections {numbers}. {feedback}")
        return Command(
            update={"messages": [said], "verdicts": [verdict], "status": "running"},
            goto=revise(state, targets, verdict),
        )

    return review_document


def _number(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
