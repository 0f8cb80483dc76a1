"""CrewAI writer <-> editor loop: two agents and 2 x R sequential tasks, run with `akickoff`.

    python crewai_loop.py --rounds R --conversations N --workdir DIR

Each conversation is one `Crew` (sequential process) of a writer and an editor agent on one
OpenAI-compatible `LLM` (base URL from `OPENAI_BASE_URL`). Its tasks alternate: draft, review
(typed: `output_pydantic=Verdict`), revise with the review as context, review, ... The
conversations run at once with `asyncio.gather` of `Crew.akickoff()` (native async).
Telemetry and tracing are off (`CREWAI_DISABLE_TELEMETRY`, `OTEL_SDK_DISABLED`), set by the
benchmark's environment before crewai is imported.
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

# Telemetry must be off before crewai is imported.
from _common import (
    EDITOR_PROMPT,
    MODEL,
    WRITER_PROMPT,
    Verdict,
    api_settings,
    parse_args,
    report,
    topics,
)
from crewai import LLM, Agent, Crew, Process, Task


def crew_for(llm: LLM, rounds: int) -> Crew:
    """One conversation's crew: draft, then review and revise until the rounds are used."""
    writer = Agent(
        role="Writer",
        goal="Write and revise a short persuasive piece on {topic}",
        backstory=WRITER_PROMPT,
        llm=llm,
        allow_delegation=False,
        verbose=False,
    )
    editor = Agent(
        role="Editor",
        goal="Judge each draft on {topic} and list what must change",
        backstory=EDITOR_PROMPT,
        llm=llm,
        allow_delegation=False,
        verbose=False,
    )
    tasks: list[Task] = []
    for number in range(rounds):
        if number == 0:
            write = Task(
                description="Write a one-paragraph persuasive piece on: {topic}",
                expected_output="The draft, one paragraph",
                agent=writer,
            )
        else:
            write = Task(
                description="Revise your draft on {topic} to fix every issue the editor listed.",
                expected_output="The whole revised draft, one paragraph",
                agent=writer,
                context=[tasks[-2], tasks[-1]],
            )
        review = Task(
            description=f"Review the latest draft on {{topic}}. {EDITOR_PROMPT}",
            expected_output="The verdict: decision, issues and summary",
            agent=editor,
            context=[write],
            output_pydantic=Verdict,
        )
        tasks += [write, review]
    return Crew(agents=[writer, editor], tasks=tasks, process=Process.sequential, verbose=False)


async def main() -> None:
    args = parse_args("crewai_loop")
    base_url, api_key = api_settings()
    llm = LLM(model=MODEL, base_url=base_url, api_key=api_key)

    async def one(topic: str) -> bool:
        output = await crew_for(llm, args.rounds).akickoff(inputs={"topic": topic})
        reviews = [t for t in output.tasks_output if isinstance(t.pydantic, Verdict)]
        return len(reviews) == args.rounds

    done = await asyncio.gather(*(one(topic) for topic in topics(args.conversations)))
    report(args.conversations, args.rounds, sum(done))


if __name__ == "__main__":
    asyncio.run(main())
