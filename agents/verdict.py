"""The editor's typed verdict. Decisions come from this structure, never from sentinel text.

Lists and texts carry `maxItems`/`maxLength` in their JSON schema only (not checked here): a
server that constrains its output with a grammar (llama.cpp, Ollama, vLLM) then has to close
each field, where a small model otherwise writes a summary until the output cap cuts it.
The longest verdict they allow is ~1,200 characters, and under a grammar a small model may
write a token per character (Gemma 3 270M did): that fits the cap of a typed reply's third
attempt (384, 768, 1,536 tokens). OpenAI's strict schemas do not take them, so the client
leaves them out there (`copydesk.agents.client.typed.typed_tool`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Issue", "Verdict"]


class Issue(BaseModel):
    """One problem the editor found in the draft."""

    model_config = ConfigDict(extra="forbid")

    severity: Literal["minor", "major"] = Field(description="major blocks approval; minor does not")
    quote: str = Field(
        description="the exact passage of the draft the issue concerns",
        json_schema_extra={"maxLength": 100},
    )
    comment: str = Field(
        description="what is wrong and what to change", json_schema_extra={"maxLength": 160}
    )


class Verdict(BaseModel):
    """The editor's decision on one draft."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "revise"] = Field(
        description="approve when no major issue is left, else revise"
    )
    issues: list[Issue] = Field(
        description="every issue found, major first", json_schema_extra={"maxItems": 3}
    )
    summary: str = Field(
        description="one or two sentences on the draft as a whole",
        json_schema_extra={"maxLength": 200},
    )

    def as_text(self) -> str:
        """The verdict as the editor's message in the conversation."""
        lines = [f"Decision: {self.decision}. {self.summary}".strip()]
        lines += [f'- [{i.severity}] "{i.quote}": {i.comment}' for i in self.issues]
        return "\n".join(lines)
