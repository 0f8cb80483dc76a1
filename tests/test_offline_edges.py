"""The offline model at its edges: the ways of asking for a typed reply it refuses, the raw reply
beside the parsed one, and the schema read from a tool when there is no response format."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from copydesk.agents.client.offline import OfflineChatModel
from copydesk.agents.client.offline._calls import schema_of


class Headline(BaseModel):
    """A headline for the draft."""

    text: str


def test_only_the_three_structured_methods_are_taken() -> None:
    model = OfflineChatModel()
    with pytest.raises(ValueError, match="unsupported method 'xml'"):
        model.with_structured_output(Headline, method="xml")
    with pytest.raises(ValueError, match="unsupported arguments"):
        model.with_structured_output(Headline, method="json_schema", tools=[])


async def test_the_raw_reply_comes_beside_the_parsed_one() -> None:
    model = OfflineChatModel().with_structured_output(
        Headline, method="json_schema", include_raw=True
    )

    answer = await model.ainvoke([HumanMessage("Topic: kites\nWrite a headline.")])

    assert isinstance(answer, dict)
    assert isinstance(answer["raw"], AIMessage)
    assert isinstance(answer["parsed"], Headline) and answer["parsed"].text
    assert answer["parsing_error"] is None


def test_a_tool_call_request_names_its_schema_by_the_tool() -> None:
    parameters = {"type": "object", "properties": {"text": {"type": "string"}}}
    tool = {"type": "function", "function": {"name": "Headline", "parameters": parameters}}
    assert schema_of({"tools": [tool]}) == parameters
    assert schema_of({}) == {}
