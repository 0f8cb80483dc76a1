"""What a run starts from, and the rules that refuse a bad start.

A run begins a new thread (its topic as the first message), continues a finished one under
any topology (with more rounds allowed, the same topic), or resumes an interrupted one (with
the reviewer's answer when it waits for review). Each function here builds that input from
what the manager has read, or raises `InputError` naming the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.types import Command, Interrupt

from copydesk.graphs.document_input import DOCUMENT_GRAPH
from copydesk.graphs.errors import InputError
from copydesk.graphs.events import RunResult
from copydesk.graphs.prompting import PromptChoice
from copydesk.graphs.until import until_endings

__all__ = [
    "check_finished",
    "continuation",
    "new_thread",
    "resume_command",
    "run_options",
    "section_of",
]


def run_options(
    choice: PromptChoice,
    *,
    review: bool,
    token_budget: int,
    max_cost: float | None,
    until: str = "",
) -> dict[str, Any]:
    """The values every run writes first: a fresh status, its options and its prompts.

    Raises:
        EndingError: An `until` expression that cannot be read (before anything is written).
    """
    if until:
        until_endings(until)
    start: dict[str, Any] = {
        "status": "running",
        "ended_by": "",
        "review": review,
        "steps": 0,
        "token_budget": token_budget,
        "prompts": choice.prompts,
        "until": until,
    }
    if choice.experiment is not None:
        start["experiment"] = choice.experiment
    if max_cost is not None:
        start["max_cost"] = max_cost
    return start


def new_thread(thread_id: str, topic: str, rounds: int) -> dict[str, Any]:
    """The first state of a new thread about `topic`, allowed `rounds` drafts."""
    if not topic:
        raise InputError("the topic is empty; pass --topic with what to write about")
    return {
        "topic": topic,
        "max_rounds": rounds,
        "round": 0,
        "messages": [HumanMessage(topic, name="user", id=f"{thread_id}:0:user")],
    }


def check_finished(thread_id: str, before: RunResult) -> None:
    """Refuse to continue a thread that has not finished (it is to be resumed instead)."""
    if before.next:
        verb = "--approve or --feedback" if before.status == "waiting_for_review" else ""
        raise InputError(
            f"thread {thread_id!r} has not finished ({before.status}); finish it first "
            f"with `copydesk resume {thread_id} {verb}`".rstrip()
            + " or pick another --thread-id"
        )


def continuation(
    thread_id: str, topic: str, rounds: int, values: Mapping[str, Any], *, graph: str = ""
) -> dict[str, Any]:
    """The input that continues a finished thread (state `values`) with `rounds` more drafts.

    A finished long document is not run again as a document: that would plan and write every
    section anew. (Another topology may take it on as one draft.)
    """
    if graph == DOCUMENT_GRAPH and values.get("sections"):
        raise InputError(
            f"thread {thread_id!r} is a finished document; running it again would rewrite "
            f"every section: read it with `copydesk export {thread_id}`, or start a new "
            "document (leave out --thread-id)"
        )
    if topic and topic != values.get("topic"):
        raise InputError(
            f"thread {thread_id!r} is about {values.get('topic')!r}; leave out --topic to "
            "continue it, or pick another --thread-id for a new topic"
        )
    return {"max_rounds": int(values.get("round", 0)) + rounds}


def resume_command(
    thread_id: str, *, interrupts: Sequence[Interrupt], answer: Any
) -> Command[Any] | None:
    """What resumes an interrupted thread: the review `answer` if it waits for one, else None.

    When several pauses wait at once (the sections of a long document under `--review
    sections`), the answer goes to the section it names (`"section": N`), else to the lowest
    numbered one; the others keep waiting.

    Raises:
        InputError: A thread waiting for review without an answer, an answer to a thread
            that is not waiting for one, or to a section that is not waiting.
    """
    waiting = bool(interrupts)
    if waiting and answer is None:
        raise InputError(
            f"thread {thread_id!r} is waiting for review; resume it with --approve or "
            '--feedback "what to change"'
        )
    if answer is not None and not waiting:
        raise InputError(
            f"thread {thread_id!r} is not waiting for review; resume it without "
            "--approve or --feedback"
        )
    if not waiting:
        return None
    sections = {section_of(i.value): i for i in interrupts if section_of(i.value) is not None}
    if not sections:
        return Command(resume=answer)
    wanted = answer.get("section") if isinstance(answer, dict) else None
    if wanted is not None and wanted not in sections:
        listed = ", ".join(str(n) for n in sorted(sections))  # type: ignore[type-var]
        raise InputError(
            f"section {wanted} of thread {thread_id!r} is not waiting for review; pick one "
            f"that is with --section ({listed})"
        )
    chosen = sections[wanted if wanted is not None else min(sections)]  # type: ignore[type-var]
    return Command(resume={chosen.id: answer})


def section_of(value: Any) -> int | None:
    """The number of the document section a pause is about (None: not a section's pause)."""
    if isinstance(value, dict) and value.get("stage") == "section":
        return int(value["section"]["index"])
    return None
