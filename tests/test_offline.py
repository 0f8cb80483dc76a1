"""The offline model: deterministic, streaming, derived from topic and feedback, typed verdicts."""

from __future__ import annotations

import json

from langchain_core.messages import HumanMessage

from agents.client.offline import OFFLINE_MODEL_NAME, OfflineChatModel, review, write_first
from agents.verdict import Verdict

JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "Verdict", "schema": {}}}


def _ask(text: str) -> list[HumanMessage]:
    return [HumanMessage(text)]


def test_same_prompt_same_reply_and_labelled() -> None:
    """Deterministic, and it says it is the offline model."""
    model = OfflineChatModel()
    first = model.invoke(_ask("Topic: tidal power\n\nWrite the first draft."))
    second = model.invoke(_ask("Topic: tidal power\n\nWrite the first draft."))
    assert first.text == second.text
    assert first.response_metadata["model_name"] == OFFLINE_MODEL_NAME
    assert first.usage_metadata is not None and first.usage_metadata["output_tokens"] > 20


def test_draft_derives_from_topic() -> None:
    """Different topics give different drafts that mention the topic."""
    model = OfflineChatModel()
    tides = model.invoke(_ask("Topic: tidal power\n\nWrite the first draft.")).text
    bees = model.invoke(_ask("Topic: urban beekeeping\n\nWrite the first draft.")).text
    assert "Tidal power" in tides and "beekeeping" in bees
    assert tides != bees


def test_revision_answers_each_issue() -> None:
    """A revision adds what each issue asked for, and the editor then approves."""
    draft = write_first("urban beekeeping")
    verdict = review(draft)
    assert verdict["decision"] == "revise"
    feedback = "\n".join(f'- [major] "{i["quote"]}": {i["comment"]}' for i in verdict["issues"])
    task = (
        f"Topic: urban beekeeping\n\n<<<\n{draft}\n>>>\n\n"
        f'The editor asked for these changes:\n{feedback}\n- [minor] "x": Mention the cost.\n'
    )
    revised = OfflineChatModel().invoke(_ask(task)).text
    assert revised.startswith(draft)
    assert "For example," in revised and "In short," in revised
    assert "mention the cost" in revised
    assert review(revised)["decision"] == "approve"


def test_structured_reply_is_a_valid_verdict_quoting_the_draft() -> None:
    """With a json_schema response_format it answers a Verdict whose quotes come from the draft."""
    draft = write_first("tidal power")
    reply = OfflineChatModel().invoke(
        _ask(f"Topic: tidal power\n\n<<<\n{draft}\n>>>"), response_format=JSON_SCHEMA
    )
    verdict = Verdict.model_validate_json(reply.text)
    assert verdict.decision == "revise"
    assert all(issue.quote in draft for issue in verdict.issues)


def test_forced_tool_call_is_a_verdict() -> None:
    """With a forced tool it answers through a tool call."""
    reply = OfflineChatModel().invoke(
        _ask("Topic: x\n\n<<<\nFor example, x. In short, y.\n>>>"),
        tools=[{"type": "function", "function": {"name": "Verdict", "parameters": {}}}],
        tool_choice={"type": "function", "function": {"name": "Verdict"}},
    )
    assert reply.tool_calls[0]["name"] == "Verdict"
    assert Verdict.model_validate(reply.tool_calls[0]["args"]).decision == "approve"


async def test_streams_many_tokens_that_add_up() -> None:
    """Streaming yields the reply piece by piece, ending with usage."""
    model = OfflineChatModel()
    prompt = _ask("Topic: tidal power\n\nWrite the first draft.")
    chunks = [chunk async for chunk in model.astream(prompt)]
    assert len(chunks) > 20
    assert "".join(c.text for c in chunks) == model.invoke(prompt).text
    assert chunks[-1].usage_metadata is not None


def test_verdict_json_round_trips() -> None:
    """review() output is exactly the Verdict schema."""
    verdict = review("For example, this. In short, that.")
    assert Verdict.model_validate_json(json.dumps(verdict)).decision == "approve"
