"""The editor's typed verdict. Decisions come from this structure, never from sentinel text."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Issue", "Verdict"]


class Issue(BaseModel):
    """One problem the editor found in the draft."""

    model_config = ConfigDict(extra="forbid")

    severity: Literal["minor", "major"] = Field(description="major blocks approval; minor does not")
    quote: str = Field(description="the exact passage of the draft the issue concerns")
    comment: str = Field(description="what is wrong and what to change")


class Verdict(BaseModel):
    """The editor's decision on one draft."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "revise"] = Field(
        description="approve when no major issue is left, else revise"
    )
    issues: list[Issue] = Field(description="every issue found, major first")
    summary: str = Field(description="one or two sentences on the draft as a whole")

    def as_text(self) -> str:
        """The verdict as the editor's message in the conversation."""
        lines = [f"Decision: {self.decision}. {self.summary}".strip()]
        lines += [f'- [{i.severity}] "{i.quote}": {i.comment}' for i in self.issues]
        return "\n".join(lines)
