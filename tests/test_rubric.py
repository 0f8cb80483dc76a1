"""The rubric judge asks for the rubric's own schema: against a llama.cpp server (which turns
a forced tool's schema into a grammar) the request bounds every score to 1-5 by an `enum`,
names each criterion, wants exactly one score per criterion and still requires each quote."""

from __future__ import annotations

from typing import Any

from copydesk.agents.client import OpenAIClient
from copydesk.agents.rubric import Criterion, RubricJudge, RubricScores, rubric_schema
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from tests.fakes import FakeOpenAIServer
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
    item = scores["items"]
    assert (scores["minItems"], scores["maxItems"]) == (2, 2)  # one score per criterion
    assert item["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert item["properties"]["criterion"]["enum"] == ["clarity", "evidence"]
    assert item["properties"]["quote"]["maxLength"] == 200
    assert set(item["required"]) == {"criterion", "score", "quote"}
    assert asked[-1]["tool_choice"]["function"]["name"] == "RubricScores"
    assert set(judgement.scores) == {"clarity", "evidence"}
    assert all(judgement.grounded.values())


def test_openai_keeps_the_enums_but_not_the_item_counts() -> None:
    from copydesk.agents.client.typed import typed_tool

    parameters = typed_tool(rubric_schema(["clarity"]), bounded=False)["function"]["parameters"]
    scores = parameters["properties"]["scores"]

    assert "minItems" not in scores and "maxItems" not in scores
    assert scores["items"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert scores["items"]["properties"]["criterion"]["enum"] == ["clarity"]


def test_the_rubric_schema_reads_replies_as_the_plain_one_does() -> None:
    schema = rubric_schema(["clarity", "evidence"])
    reply = '{"scores": [{"criterion": "clarity", "score": 4, "quote": "Tide pools"}]}'

    value = schema.model_validate_json(reply)  # a server that ignores the schema: 1 of 2

    assert issubclass(schema, RubricScores) and schema.__name__ == "RubricScores"
    assert [(s.criterion, s.score) for s in value.scores] == [("clarity", 4)]
