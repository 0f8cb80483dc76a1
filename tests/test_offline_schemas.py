"""The offline model answers structured output for schemas it has never seen.

Whatever a caller asks for (nested models, references, constants, enums, bounded numbers,
lists with a minimum length, optional and self-referencing fields), the reply is an instance
the schema accepts: pydantic validates it here, as it would in a caller.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from copydesk.agents.client.offline import OfflineChatModel

TASK = [HumanMessage("Draft:\n<<<\nTrees shade streets.\n>>>\n\nFill in the form.")]


class Source(BaseModel):
    kind: Literal["book"]
    title: str = Field(min_length=3)
    pages: int = Field(ge=12)
    rating: float = Field(ge=0.5)
    checked: bool


class Outline(BaseModel):
    heading: str
    sections: list[Source] = Field(min_length=2)
    tone: Literal["plain", "lyrical"]
    parent: Outline | None = None
    notes: list[Outline] = []


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_an_unknown_nested_schema_gets_a_valid_instance(method: str) -> None:
    outline = OfflineChatModel().with_structured_output(Outline, method=method).invoke(TASK)

    assert isinstance(outline, Outline)
    assert len(outline.sections) == 2  # the smallest list the schema allows
    first = outline.sections[0]
    assert first.kind == "book" and len(first.title) == 3
    assert first.pages == 12 and first.rating == 0.5 and first.checked is False
    assert outline.tone == "plain"  # the first value the enum allows


def _answer(schema: dict[str, Any]) -> Any:
    return OfflineChatModel().with_structured_output(schema, method="json_schema").invoke(TASK)


def test_plain_json_schemas_get_their_types() -> None:
    schema = {
        "title": "Form",
        "type": "object",
        "properties": {
            "size": {"type": ["null", "integer"], "minimum": 3},
            "share": {"type": "number"},
            "pick": {"oneOf": [{"const": "left"}, {"const": "right"}]},
            "missing": {"$ref": "#/$defs/Nowhere"},
            "anything": {"type": "null"},
        },
        "required": ["size", "share", "pick", "missing", "anything"],
    }

    assert _answer(schema) == {
        "size": 3,
        "share": 0.0,
        "pick": "left",
        "missing": {},  # an unresolved reference: the empty object
        "anything": None,
    }


def test_a_schema_that_refers_to_itself_gets_a_finite_instance() -> None:
    """Recursion through a required list: nested as deep as the limit, then an empty list."""
    schema: dict[str, Any] = {
        "title": "Thread",
        "type": "object",
        "$defs": {
            "Thread": {
                "type": "object",
                "properties": {"replies": {"type": "array", "items": {"$ref": "#/$defs/Thread"}}},
                "required": ["replies"],
            }
        },
        "properties": {"replies": {"type": "array", "items": {"$ref": "#/$defs/Thread"}}},
        "required": ["replies"],
    }

    node, depth = _answer(schema), 0
    while node["replies"]:
        node, depth = node["replies"][0], depth + 1
    assert 1 < depth < 20


def test_a_deep_optional_chain_ends_in_null() -> None:
    """Past the depth limit an optional field is null rather than one more level."""
    schema: dict[str, Any] = {
        "title": "Chain",
        "type": "object",
        "$defs": {
            "Link": {
                "type": "object",
                "properties": {"next": {"anyOf": [{"$ref": "#/$defs/Link"}, {"type": "null"}]}},
                "required": ["next"],
            }
        },
        "properties": {"next": {"$ref": "#/$defs/Link"}},
        "required": ["next"],
    }

    node, depth = _answer(schema), 0
    while node is not None:
        node, depth = node["next"], depth + 1
    assert 1 < depth < 20
