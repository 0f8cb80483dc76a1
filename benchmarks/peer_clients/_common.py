"""What every peer client of `benchmarks/peers.py` shares: arguments, prompts, the verdict type.

The clients run in the peers' own virtualenvs, so this module uses only the standard library
and pydantic (which LangGraph, AutoGen and CrewAI all depend on), and is imported from the
client's own folder (a script's folder is first on `sys.path`).

Every client runs `--conversations` writer <-> editor conversations at once, each of
`--rounds` rounds: the writer drafts, the editor returns a typed `Verdict`, the writer revises
with the issues; the fake server always says "revise", so a conversation is 2 x rounds chat
calls. A client prints one JSON line: `{"conversations": N, "rounds": R, "completed": C}`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EDITOR_PROMPT",
    "MODEL",
    "WRITER_PROMPT",
    "Issue",
    "Verdict",
    "api_settings",
    "parse_args",
    "report",
    "revision_request",
    "topics",
]

MODEL = "gpt-4o-mini"
# The fake server answers a request containing this phrase with a verdict (see _peer_server).
VERDICT_MARKER = "Reply with the verdict as JSON"
WRITER_PROMPT = (
    "You are the writer. Write a short persuasive piece (one paragraph) on the topic you are "
    "given. When the editor sends issues, revise the draft to fix every one of them and reply "
    "with the whole revised draft only."
)
EDITOR_PROMPT = (
    "You are the editor. Read the latest draft and decide: approve it when no major issue is "
    "left, else revise. List every issue (severity minor or major, the exact quote, what to "
    f"change) and sum the draft up in one or two sentences. {VERDICT_MARKER}."
)


class Issue(BaseModel):
    """One problem the editor found in the draft."""

    model_config = ConfigDict(extra="forbid")

    severity: Literal["minor", "major"] = Field(description="major blocks approval")
    quote: str = Field(description="the exact passage of the draft")
    comment: str = Field(description="what is wrong and what to change")


class Verdict(BaseModel):
    """The editor's decision on one draft."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "revise"] = Field(description="approve or revise")
    issues: list[Issue] = Field(description="every issue found, major first")
    summary: str = Field(description="one or two sentences on the draft")


def parse_args(prog: str) -> argparse.Namespace:
    """`--rounds R --conversations N --workdir DIR`."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=1)
    parser.add_argument("--workdir", default=".")
    return parser.parse_args()


def api_settings() -> tuple[str, str]:
    """`(base_url, api_key)` from `OPENAI_BASE_URL` and `OPENAI_API_KEY`."""
    return os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"]


def topics(count: int) -> list[str]:
    """One topic per conversation."""
    return [f"Why every city street should have a tree (piece {n + 1})" for n in range(count)]


def revision_request(topic: str, draft: str, verdict: Verdict) -> str:
    """The writer's next task: the topic, its draft and the editor's issues."""
    issues = "\n".join(f'- [{i.severity}] "{i.quote}": {i.comment}' for i in verdict.issues)
    return f"Topic: {topic}\n\nYour draft:\n{draft}\n\nThe editor's issues:\n{issues}"


def report(conversations: int, rounds: int, completed: int) -> None:
    """Print the client's one-line result."""
    print(json.dumps({"conversations": conversations, "rounds": rounds, "completed": completed}))
