"""The rubric judge: a typed agent that scores a finished draft on each criterion of a rubric.

A rubric is a list of criteria, each with a question and an anchor for every score from 1 to
5 (what a 1 looks like, ..., what a 5 looks like). The judge answers with `RubricScores`: a
score per criterion and the passage of the draft it rests on, word for word; a quote the
draft does not contain is kept but marked ungrounded, so a report can say how often the
judge quoted what it judged. Its prompt is a versioned prompt like the others
(`rubric_judge@v1`), and it runs on a model of its own (`copydesk eval --judge-model`).

The schema it asks for is the rubric's own (`rubric_schema`): exactly one score per criterion,
each criterion one of the rubric's names, each score one of 1-5 as an `enum`. A server that
turns the schema into a grammar (llama.cpp) then lets the model write nothing else; a bare
`minimum`/`maximum` would not do it, since llama-cpp-python's grammar ignores them (Gemma 3
270M answered `score: 0` under one). Servers without grammars get the item counts left out
(`copydesk.agents.client.typed`) and the reply is validated as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, create_model

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
    """The judge's score on one criterion."""

    model_config = ConfigDict(extra="forbid")

    criterion: str = Field(description="the criterion's name, as the rubric gives it")
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

    scores: list[CriterionScore] = Field(json_schema_extra={"maxItems": 12})


def rubric_schema(names: Sequence[str]) -> type[RubricScores]:
    """`RubricScores` for a rubric of criteria `names`: one score per criterion, each naming
    one of them (a grammar-constrained server can then answer no other list; the reply is
    still read by name, so a server that ignores the schema is handled as before)."""
    criterion = Field(
        description="the criterion's name, as the rubric gives it",
        json_schema_extra={"enum": list(names)},
    )
    item = create_model(
        "CriterionScore",
        __base__=CriterionScore,
        __doc__=CriterionScore.__doc__,
        criterion=(str, criterion),
    )
    scores = Field(json_schema_extra={"minItems": len(names), "maxItems": len(names)})
    return create_model(
        "RubricScores",
        __base__=RubricScores,
        __doc__=RubricScores.__doc__,
        scores=(list[item], scores),
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
        names = {c.name for c in self.criteria}
        flat = " ".join(draft.split())
        scores: dict[str, int] = {}
        quotes: dict[str, str] = {}
        for item in result.value.scores:
            if item.criterion in names and item.criterion not in scores:
                scores[item.criterion] = item.score
                quotes[item.criterion] = item.quote
        grounded = {k: " ".join(q.strip("\"'“” ").split()) in flat for k, q in quotes.items()}
        return Judgement(scores, quotes, grounded, result.usage)
