"""One typed call's attempts: each reply validated, and asked for again until one is whole.

`OpenAIClient.structured` asks; a `Repairs` keeps what the call has cost and been told. A reply
cut at the output cap is never taken, even when what came validates (langchain closes a cut
tool call's JSON): the same cap would cut the repair at the same place, so it is asked for
again with twice the cap. A reply that does not validate is shown back with its problem and
asked for again. Both count against `max_repairs`. A server's lessons (a refused mode, an
empty or broken stream, a prompt over its context) do not, but after four the call gives up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from copydesk.agents.client.typed import cut_at_cap, json_text, problem_of, was_cut
from copydesk.agents.errors import ModelOutputError, ModelRequestError
from copydesk.agents.state import UsageTotals

__all__ = ["MAX_LESSONS", "Repairs"]

log = logging.getLogger("copydesk.client")
T = TypeVar("T", bound=BaseModel)

MAX_LESSONS = 4
"""Lessons one typed call may learn (each moves the server to what works) before giving up."""


class Repairs(Generic[T]):
    """The state of one typed call: the conversation so far, the cap, the cost, the problem.

    Args:
        schema: The type the reply must validate as.
        messages: The conversation to answer.
        cap: The output cap of the next attempt (None: no cap).
        max_repairs: Attempts after the first one whose reply did not validate or was cut.
        agent: Who is calling, for log lines and errors.
    """

    def __init__(
        self,
        schema: type[T],
        messages: Sequence[BaseMessage],
        *,
        cap: int | None,
        max_repairs: int,
        agent: str,
    ) -> None:
        self.schema = schema
        self.conversation = list(messages)
        """What the next attempt asks: the messages, then each invalid reply and its problem."""
        self.cap = cap
        self.max_repairs = max_repairs
        self.agent = agent
        self.usage = UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        """What every attempt cost together."""
        self.problem = ""
        self._repairs = 0
        self._lessons = 0

    @property
    def going(self) -> bool:
        """True while another attempt may be made."""
        return self._repairs <= self.max_repairs

    def params(self, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The model parameters of the next attempt: `params` with its output cap."""
        return {**(params or {}), "max_tokens": self.cap} if self.cap else params

    def taught(self, lesson: Exception, server: str) -> None:
        """Count a lesson `server` taught (refused, empty, cut, overlong).

        Raises:
            ModelRequestError: It was one lesson too many.
        """
        self._lessons += 1
        if self._lessons > MAX_LESSONS:
            raise ModelRequestError(f"{server} cannot give a typed reply: {lesson}") from None

    def add(self, usage: UsageTotals) -> None:
        """Count one attempt's usage in the call's."""
        for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
            self.usage[key] += usage[key]
        if usage.get("estimated_calls"):
            self.usage["estimated_calls"] = self.usage.get("estimated_calls", 0) + 1

    def read(self, message: AIMessage) -> T | None:
        """The reply as a `schema` value; None after setting up the repair when it is cut or
        does not validate."""
        raw = json_text(message)
        if was_cut(message) and self.cap:
            self.problem = cut_at_cap(self.cap)
            self._repairs += 1
            log.info(
                "%s: %s reply %s; asking again", self.agent, self.schema.__name__, self.problem
            )
            self.cap *= 2
            return None
        try:
            return self.schema.model_validate_json(raw)
        except ValidationError as error:
            self.problem = problem_of(error, message, self.cap)
        self._repairs += 1
        name = self.schema.__name__
        log.info("%s: invalid %s reply (%s); asking again", self.agent, name, self.problem)
        self.conversation += [
            AIMessage(raw),
            HumanMessage(
                f"That reply is not a valid {name} object: {self.problem}. "
                "Reply again with only the JSON object the schema describes."
            ),
        ]
        return None

    def failed(self) -> ModelOutputError:
        """The error of a call whose every attempt was cut or invalid."""
        return ModelOutputError(
            f"{self.agent}: the model's reply was not a valid {self.schema.__name__} after "
            f"{self.max_repairs + 1} attempts ({self.problem}); try another model or resume later"
        )
