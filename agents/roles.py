"""Roles beyond writer and editor: a speaker that only talks, a judge, and a moderator.

- `Speaker` (a debater, an outliner) adds a message to the conversation and changes nothing
  else.
- `Judge` returns a typed `Ruling`, stored as a verdict so the writer applies it like an
  editor's.
- `Moderator` picks who speaks next with a typed `SpeakerChoice`, validated against the
  participants: an unknown name is retried once, then a deterministic rule decides.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.budgets import within_budget
from copydesk.agents.chatbot import Chatbot, message_id
from copydesk.agents.errors import ModelOutputError
from copydesk.agents.state import DraftState, DraftUpdate, UsageTotals, VerdictRecord, add_usage

__all__ = ["Judge", "Moderator", "Ruling", "Speaker", "SpeakerChoice", "next_in_turn"]

log = logging.getLogger("copydesk.roles")


class Ruling(BaseModel):
    """A judge's ruling on how the draft should change, after hearing the debate."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "revise"] = Field(
        description="approve when the draft should stand as it is, else revise"
    )
    changes: list[str] = Field(
        description="what the writer must change, most important first",
        json_schema_extra={"maxItems": 3, "items": {"type": "string", "maxLength": 160}},
    )
    summary: str = Field(
        description="one or two sentences on which arguments won and why",
        json_schema_extra={"maxLength": 200},
    )


class SpeakerChoice(BaseModel):
    """A moderator's choice of the next speaker."""

    model_config = ConfigDict(extra="forbid")

    next_speaker: str = Field(description="exactly one of the participants' names")
    reason: str = Field(
        description="why this participant should speak now", json_schema_extra={"maxLength": 160}
    )


@functools.cache
def choice_schema(participants: tuple[str, ...]) -> type[SpeakerChoice]:
    """`SpeakerChoice` whose `next_speaker` is an enum of `participants` in the JSON schema,
    so a grammar-constrained server can only name one of them; the value is still checked
    (case-insensitively) by the moderator, so a server that ignores the enum is handled."""
    if not participants:
        return SpeakerChoice
    names = ", ".join(participants)

    class Choice(SpeakerChoice):
        model_config = ConfigDict(
            extra="forbid",
            title="SpeakerChoice",
            json_schema_extra=lambda schema: _enum_of(schema, participants),
        )

    Choice.__name__ = Choice.__qualname__ = "SpeakerChoice"
    Choice.__doc__ = f"A moderator's choice of the next speaker, one of: {names}."
    return Choice


def _enum_of(schema: dict[str, Any], participants: tuple[str, ...]) -> None:
    schema["properties"]["next_speaker"]["enum"] = list(participants)


def next_in_turn(participants: tuple[str, ...], last: str) -> str:
    """The participant after `last` in order (the first when `last` is not one of them)."""
    if last not in participants:
        return participants[0]
    return participants[(participants.index(last) + 1) % len(participants)]


def _step_id(config: RunnableConfig, state: DraftState, name: str) -> str:
    """A message id unique per turn (an agent may speak several times in one round)."""
    return message_id(config, state.get("round", 0), f"{name}.{len(state.get('messages') or [])}")


@dataclass(frozen=True)
class Speaker(Chatbot):
    """Says its piece (an argument, an outline) without touching the draft."""

    @within_budget
    async def __call__(self, state: DraftState, config: RunnableConfig) -> DraftUpdate:
        """Speak once."""
        round_ = state.get("round", 0)
        part = "revise" if state.get("draft") else "first"
        reply = await self.client.complete(
            await self.acontext(state, part, round_),
            config=config,
            agent=self.name,
            params=self.prompt.model_params,
        )
        text = reply.text.strip()
        return {
            "messages": [AIMessage(text, name=self.name, id=_step_id(config, state, self.name))],
            "prompts": {self.name: self.prompt.ref},
            "usage": {self.name: reply.usage},
        }


@dataclass(frozen=True)
class Judge(Chatbot):
    """Hears the debate and rules how the draft should change; the ruling is a verdict."""

    @within_budget
    async def __call__(self, state: DraftState, config: RunnableConfig) -> DraftUpdate:
        """Rule on the debate."""
        round_ = state.get("round", 0)
        result = await self.client.structured(
            await self.acontext(state, "first", round_),
            Ruling,
            config=config,
            agent=self.name,
            params=self.prompt.model_params,
        )
        ruling = result.value
        decision: Literal["approve", "revise"] = (
            "approve" if ruling.decision == "approve" or not ruling.changes else "revise"
        )
        record: VerdictRecord = {
            "round": round_,
            "agent": self.name,
            "decision": decision,
            "issues": [{"severity": "major", "quote": "", "comment": c} for c in ruling.changes],
            "summary": ruling.summary,
        }
        lines = [f"Ruling: {decision}. {ruling.summary}", *(f"- {c}" for c in ruling.changes)]
        return {
            "messages": [
                AIMessage("\n".join(lines), name=self.name, id=_step_id(config, state, self.name))
            ],
            "verdicts": [record],
            "prompts": {self.name: self.prompt.ref},
            "usage": {self.name: result.usage},
        }


@dataclass(frozen=True)
class Moderator(Chatbot):
    """Chooses who speaks next among `participants`.

    Attributes:
        participants: The names it may choose from, in their default speaking order.
    """

    participants: tuple[str, ...] = ()

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The usual variables plus `participants` and `last_speaker`."""
        return {
            **super().values(state, round_),
            "participants": ", ".join(self.participants),
            "last_speaker": self.last_speaker(state),
        }

    @staticmethod
    def last_speaker(state: DraftState) -> str:
        """Who spoke last (`user` before anyone has)."""
        messages = state.get("messages") or []
        return str(messages[-1].name or "user") if messages else "user"

    async def choose(self, state: DraftState, config: RunnableConfig) -> tuple[str, DraftUpdate]:
        """The next speaker and the usage it cost; never fails on a bad choice.

        An unknown name is sent back once with the list of valid names; if the second answer
        is no better (or the reply is not a valid `SpeakerChoice` at all), the participant
        after the last speaker is chosen. So is the participant after the last speaker when
        the choice is the last speaker again (nobody speaks twice in a row), and the first
        participant (the writer) before there is a draft to review.
        """
        round_ = state.get("round", 0)
        conversation: list[BaseMessage] = await self.acontext(state, "first", round_)
        usage: dict[str, UsageTotals] = {}
        for attempt in (1, 2):
            try:
                result = await self.client.structured(
                    conversation,
                    choice_schema(self.participants),
                    config=config,
                    agent=self.name,
                    params=self.prompt.model_params,
                )
            except ModelOutputError as error:
                log.warning("%s: no valid choice (%s); choosing by turn order", self.name, error)
                break
            usage = add_usage(usage, {self.name: result.usage})
            choice = result.value.next_speaker.strip()
            known = {p.lower(): p for p in self.participants}.get(choice.lower())
            if known is not None:
                last = self.last_speaker(state)
                if not state.get("draft") and known != self.participants[0]:
                    # Nothing to review yet: the first participant (the writer) drafts first.
                    log.info("%s chose %s before any draft", self.name, known)
                    known = self.participants[0]
                elif known == last:
                    # A second turn in a row hears nothing new (a small model's moderator
                    # names the writer every time, and the editor never judges): next in turn.
                    known = next_in_turn(self.participants, last)
                    log.info("%s chose %s again; %s speaks next", self.name, last, known)
                return known, {"prompts": {self.name: self.prompt.ref}, "usage": usage}
            log.warning("%s chose unknown participant %r (attempt %d)", self.name, choice, attempt)
            conversation += [
                AIMessage(result.value.model_dump_json()),
                HumanMessage(
                    f"{choice!r} is not a participant. Choose exactly one of: "
                    f"{', '.join(self.participants)}."
                ),
            ]
        fallback = next_in_turn(self.participants, self.last_speaker(state))
        return fallback, {"prompts": {self.name: self.prompt.ref}, "usage": usage}
