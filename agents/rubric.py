"""The rubric judge: a typed agent that scores a finished draft on each criterion of a rubric.

A rubric is a list of criteria, each with a question and an anchor for every score from 1 to
5 (what a 1 looks like, ..., what a 5 looks like). The judge answers with `RubricScores`: a
score per criterion and the passage of the draft it rests on, word for word; a quote the
draft does not contain is kept but marked ungrounded, so a report can say how often the
judge quoted what it judged. Its prompt is a versioned prompt like the others
(`rubric_judge@v1`), and it runs on a model of its own (`copydesk eval --judge-model`).

The schema it asks for is the rubric's own (`rubric_schema`): a score for each criterion under
the criterion's name, each score one of 1-5 as an `enum`. A server that
turns the schema into a grammar (llama.cpp) then lets the model write nothing else; a bare
`minimum`/`maximum` would not do it, since llama-cpp-python's grammar ignores them (Gemma 3
270M answered `score: 0` under one). Other servers read the same schema (every property
required, no other), and a reply that leaves a criterion out leaves it unscored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from copydesk.agents.client import OpenAIClient
from copydesk.agents.state import UsageTotals
from copydesk.prompts.template import PromptTemplate

__all__ = [
    "CRITERION_LINE",
    "Criterion",
    "CriterionScore",
    "Judgement",
    "RubricJudge",
    "RubricScores",
    "rubric_schema",
]

SCORES = (1, 2, 3, 4, 5)

CRITERION_LINE = "Criterion {name}: {question}"
"""How each criterion opens in the judge's task (the offline model reads the names by it)."""


@dataclass(frozen=True)
class Criterion:
    """One criterion of a rubric."""

    name: str
    question: str
    anchors: Mapping[int, str]
    """What each score from 1 to 5 looks like."""

    def rendered(self) -> str:
        lines = [CRITERION_LINE.format(name=self.name, question=self.question)]
        lines += [f"  {score}: {self.anchors[score]}" for score in sorted(self.anchors)]
        return "\n".join(lines)


class CriterionScore(BaseModel):
    """The judge's score on one criterion, and the passage it rests on."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(
        ge=1,
        le=5,
        description="1 to 5, by the rubric's anchors",
        json_schema_extra={"enum": list(SCORES)},  # what a grammar enforces (min/max it may not)
    )
    quote: str = Field(
        description="the exact passage of the draft this score rests on",
        json_schema_extra={"maxLength": 200},
    )


class RubricScores(BaseModel):
    """The judge's scores on every criterion."""

    model_config = ConfigDict(extra="forbid")

    scores: dict[str, CriterionScore] = Field(
        description="each criterion's score, by the criterion's name as the rubric gives it"
    )


def rubric_schema(names: Sequence[str]) -> type[RubricScores]:
    """`RubricScores` for a rubric of criteria `names`: `scores` has one property per
    criterion, each required, and no other, so a grammar-constrained server lets the model
    score each criterion once, in order (a list of named items let Gemma 3 270M score one
    criterion twice and the other never). The reply is still read by name: a server that
    ignores the schema and leaves a criterion out leaves it unscored, as before."""
    item: JsonValue = CriterionScore.model_json_schema()  # inline: its fields are plain
    shape: dict[str, JsonValue] = {
        "properties": dict.fromkeys(names, item),
        "required": list(names),
        "additionalProperties": False,
    }
    scores = Field(
        description=RubricScores.model_fields["scores"].description, json_schema_extra=shape
    )
    return create_model(
        "RubricScores",
        __base__=RubricScores,
        __doc__=RubricScores.__doc__,
        scores=(dict[str, CriterionScore], scores),
    )


@dataclass(frozen=True)
class Judgement:
    """Scores by criterion name, each with its quote and whether the draft contains it."""

    scores: Mapping[str, int]
    quotes: Mapping[str, str]
    grounded: Mapping[str, bool]
    usage: UsageTotals

    @property
    def mean(self) -> float | None:
        """The mean score over the criteria scored (None when none was)."""
        return sum(self.scores.values()) / len(self.scores) if self.scores else None


@dataclass(frozen=True)
class RubricJudge:
    """Scores drafts on `criteria` with `prompt` on `client`'s model."""

    prompt: PromptTemplate
    client: OpenAIClient
    criteria: Sequence[Criterion]

    @cached_property
    def schema(self) -> type[RubricScores]:
        """The reply's schema for these criteria (built once: the client keeps its tool)."""
        return rubric_schema([c.name for c in self.criteria])

    async def judge(self, topic: str, draft: str) -> Judgement:
        """Score `draft` on every criterion (a criterion the reply leaves out is unscored)."""
        values = {
            "topic": topic,
            "draft": draft,
            "rubric": "\n".join(c.rendered() for c in self.criteria),
        }
        messages = [self.prompt.system_message(values), self.prompt.task_message("first", values)]
        result = await self.client.structured(
            messages, self.schema, agent="judge", params=self.prompt.model_params
        )
        flat = " ".join(draft.split())
        given = result.value.scores
        scores = {c.name: given[c.name].score for c in self.criteria if c.name in given}
        quotes = {name: given[name].quote for name in scores}
        bare = {k: " ".join(q.strip("\"'“” ").split()) for k, q in quotes.items()}
        grounded = {k: bool(q) and q in flat for k, q in bare.items()}  # '' quotes nothing
        return Judgement(scores, quotes, grounded, result.usage)
