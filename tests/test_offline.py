"""The offline model: deterministic, streaming, derived from topic and feedback, typed verdicts."""

from __future__ import annotations

import json

from langchain_core.messages import HumanMessage, ToolMessage

from copydesk.agents.client.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from copydesk.agents.client.offline.roles import review, write_first
from copydesk.agents.verdict import Verdict
from copydesk.memory.tokens import TokenCounter

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


TOPIC_TASK = [HumanMessage("Topic: Why every city street should have a tree\n\nWrite it.")]


def test_stop_ends_the_text_before_the_first_stop_sequence() -> None:
    model = OfflineChatModel()
    whole = model.invoke(TOPIC_TASK).text
    assert "the question" in whole

    cut = model.invoke(TOPIC_TASK, stop=["the question", "never there"])
    bound = OfflineChatModel(stop=["the question"]).invoke(TOPIC_TASK)
    streamed = "".join(c.text for c in model.stream(TOPIC_TASK, stop=["the question"]))

    assert cut.text == whole[: whole.index("the question")]
    assert "the question" not in cut.text and "the question" not in streamed
    assert bound.text == cut.text == streamed
    assert cut.response_metadata["finish_reason"] == "stop"


def test_max_tokens_caps_the_reply_and_says_length() -> None:
    counter = TokenCounter("gpt-4o-mini")
    model = OfflineChatModel()
    whole = model.invoke(TOPIC_TASK)

    capped = model.invoke(TOPIC_TASK, max_tokens=12)
    by_field = OfflineChatModel(max_tokens=12).invoke(TOPIC_TASK)
    openai_name = model.bind(max_completion_tokens=12).invoke(TOPIC_TASK)

    assert counter.text(whole.text) > 12
    assert 0 < counter.text(capped.text) <= 12
    assert whole.text.startswith(capped.text)
    assert capped.response_metadata["finish_reason"] == "length"
    assert capped.usage_metadata is not None and capped.usage_metadata["output_tokens"] <= 12
    assert by_field.text == capped.text == openai_name.text


def test_bound_tools_are_called_with_the_task_s_numbers_and_quoted_words() -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def greet(name: str) -> str:
        """Greet someone by name."""
        return f"Hello {name}"

    model = OfflineChatModel().bind_tools([add, greet])

    summed = model.invoke("What is 3 + 4? Use add.")
    named = model.invoke("Please greet 'Ada Lovelace'.")
    answered = model.invoke(
        [
            HumanMessage("What is 3 + 4?"),
            summed,
            ToolMessage("7", name="add", tool_call_id=summed.tool_calls[0]["id"]),
        ]
    )

    assert summed.tool_calls[0]["name"] == "add" and summed.tool_calls[0]["args"] == {
        "a": 3,
        "b": 4,
    }
    assert named.tool_calls[0]["name"] == "greet"
    assert named.tool_calls[0]["args"] == {"name": "Ada Lovelace"}
    assert not answered.tool_calls and "7" in answered.text


def test_with_structured_output_in_each_method() -> None:
    model = OfflineChatModel()
    task = [HumanMessage("Draft:\n<<<\nTrees shade streets.\n>>>\n\nJudge the draft.")]
    for method in ("function_calling", "json_schema", "json_mode"):
        verdict = model.with_structured_output(Verdict, method=method).invoke(task)
        assert isinstance(verdict, Verdict)
        assert verdict.decision == "revise"  # no example, no takeaway: as the editor judges
