"""The rubric judge asks for the rubric's own schema: against a llama.cpp server (which turns
a forced tool's schema into a grammar) the request wants a score under each criterion's name
and no other, bounds every score to 1-5 by an `enum` and still requires each quote."""

from __future__ import annotations

import json
from typing import Any

from copydesk.agents.client import OpenAIClient
from copydesk.agents.rubric import Criterion, RubricJudge, RubricScores, rubric_schema
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes.openai_server import LlamaCppQuirks
from tests.fakes.topologies import JudgingResponder

ANCHORS = {1: "Lost.", 2: "Unclear.", 3: "Mostly clear.", 4: "Clear.", 5: "Crisp."}
CRITERIA = [
    Criterion("clarity", "Can a reader follow it?", ANCHORS),
    Criterion("evidence", "Are claims shown with an example?", ANCHORS),
]
DRAFT = "Tide pools hold crabs, anemones and snails between the tides."


def _judge(client: OpenAIClient) -> RubricJudge:
    prompt = PromptRegistry(DEFAULT_PROMPTS_DIR).get("rubric_judge@production")
    return RubricJudge(prompt, client, CRITERIA)


def _scores_schema(body: dict[str, Any]) -> dict[str, Any]:
    parameters: dict[str, Any] = body["tools"][0]["function"]["parameters"]
    scores: dict[str, Any] = parameters["properties"]["scores"]
    return scores


async def test_a_llama_cpp_judge_request_carries_the_bounds_its_grammar_enforces() -> None:
    with FakeOpenAIServer() as server:
        server.llama_cpp = LlamaCppQuirks()  # refuses json_schema: a forced tool call instead
        server.responder = JudgingResponder(approve_after=0)
        async with OpenAIClient(base_url=server.base_url, model="gemma") as client:
            judgement = await _judge(client).judge("Tide pools", DRAFT)
        asked = [r.body for r in server.chat_requests() if r.body and r.body.get("tools")]

    assert asked, "the judge never asked by forced tool call"
    scores = _scores_schema(asked[-1])
    assert list(scores["properties"]) == ["clarity", "evidence"]  # each once, in order
    assert scores["required"] == ["clarity", "evidence"]
    assert scores["additionalProperties"] is False
    for item in scores["properties"].values():
        assert item["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
        assert item["properties"]["quote"]["maxLength"] == 200
        assert item["required"] == ["score", "quote"]
    assert asked[-1]["tool_choice"]["function"]["name"] == "RubricScores"
    expected = 1 + len(DRAFT.split()) % 5  # what the fake judge gives
    assert judgement.scores == {"clarity": expected, "evidence": expected}
    assert all(judgement.grounded.values())


def test_openai_gets_the_same_schema_without_lengths() -> None:
    from copydesk.agents.client.typed import typed_tool

    parameters = typed_tool(rubric_schema(["clarity"]), bounded=False)["function"]["parameters"]
    item = parameters["properties"]["scores"]["properties"]["clarity"]

    assert parameters["properties"]["scores"]["required"] == ["clarity"]
    assert item["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert "maxLength" not in item["properties"]["quote"]


def test_a_reply_that_leaves_a_criterion_out_leaves_it_unscored() -> None:
    schema = rubric_schema(["clarity", "evidence"])
    reply = '{"scores": {"clarity": {"score": 4, "quote": "Tide pools"}}}'

    value = schema.model_validate_json(reply)  # a server that ignores the schema: 1 of 2

    assert issubclass(schema, RubricScores) and schema.__name__ == "RubricScores"
    assert {name: s.score for name, s in value.scores.items()} == {"clarity": 4}


async def test_an_empty_quote_is_not_grounded() -> None:
    def empty_quotes(body: dict[str, Any]) -> Reply:
        mark = {"score": 3, "quote": ""}  # as Gemma 3 270M quoted under the grammar
        return Reply(content=json.dumps({"scores": {"clarity": mark, "evidence": mark}}))

    with FakeOpenAIServer() as server:
        server.responder = empty_quotes
        async with OpenAIClient(base_url=server.base_url, model="gemma") as client:
            judgement = await _judge(client).judge("Tide pools", DRAFT)

    assert judgement.scores == {"clarity": 3, "evidence": 3}
    assert judgement.grounded == {"clarity": False, "evidence": False}
