"""The client's small rules at their edges: how a typed request is worded, how a prompt is cut
to fit, how the token window frees up, what a server's refusal teaches, and how odd replies on
the wire become the SDK's errors."""

from __future__ import annotations

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.capabilities import (
    CapabilityBook,
    ContextExceeded,
    FeatureRefused,
    refusal_of,
)
from copydesk.agents.client.cuts import Reading
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.agents.client.shaping import capped, fit_to_context
from copydesk.agents.client.typed import ask_for_json, json_text, problem_of
from copydesk.agents.client.usage import usage_of
from copydesk.agents.client.windows import TOKEN_WINDOW, LocalWindows
from copydesk.agents.client.wire import NoSyncCalls
from copydesk.agents.errors import ModelRequestError
from copydesk.memory.tokens import token_counter
from tests._client import MESSAGES, ClientFactory

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._client import make_client as make_client
from tests._client import sleep as sleep
from tests.fakes import FakeOpenAIServer, Fault

_TOOL = {"function": {"name": "Verdict", "parameters": {"type": "object"}}}


class _Verdict(BaseModel):
    approved: bool


def _status_error(status: int, body: object) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, request=request, json=body)
    return openai.APIStatusError("refused", response=response, body=body)


# --- typed replies -------------------------------------------------------------------------


def test_a_typed_request_with_no_user_turn_gets_one_asking_for_json() -> None:
    asked = ask_for_json([SystemMessage("You judge drafts.")], _TOOL)
    assert [type(m) for m in asked] == [SystemMessage, HumanMessage]
    assert asked[-1].text.startswith("Answer with only one JSON object (Verdict)")


def test_the_object_is_taken_out_of_a_sentence_around_it() -> None:
    said = AIMessage('Here it is: {"approved": true} hope that helps')
    assert json_text(said) == '{"approved": true}'
    unfinished = AIMessage('Sure: {"approved": tr')
    assert json_text(unfinished) == '{"approved": tr'


def test_broken_json_with_a_raw_newline_is_passed_on_as_it_is() -> None:
    text = '{"approved": "yes\nand no'
    assert json_text(AIMessage(text)) == text


def test_a_reply_cut_at_the_cap_says_so_rather_than_what_failed_to_validate() -> None:
    cut = AIMessage('{"appr', response_metadata={"finish_reason": "length"})
    with pytest.raises(ValidationError) as caught:
        _Verdict.model_validate_json('{"appr')
    assert problem_of(caught.value, cut, 256) == (
        "the reply was cut at the output cap (256 tokens) before it was complete"
    )
    whole = AIMessage("{}", response_metadata={"finish_reason": "stop"})
    with pytest.raises(ValidationError) as caught:
        _Verdict.model_validate_json("{}")
    assert problem_of(caught.value, whole, 256) == "approved: Field required"


# --- fitting the prompt to the context -----------------------------------------------------


def test_a_prompt_of_short_messages_that_cannot_fit_is_returned_as_short_as_it_gets() -> None:
    counter = token_counter("gpt-4o-mini")
    long_words = " ".join(["Pneumonoultramicroscopicsilicovolcanoconiosis" * 3] * 7)
    short = [SystemMessage("Edit."), HumanMessage(long_words)]
    assert counter.messages(short) > 64
    kept = fit_to_context(short, 64, counter, reserve=0)
    assert [m.text for m in kept] == [m.text for m in short]  # under 8 words: nothing to cut


def test_a_long_task_is_cut_in_the_middle_until_it_fits() -> None:
    counter = token_counter("gpt-4o-mini")
    task = " ".join(f"word{i}" for i in range(400))
    kept = fit_to_context([SystemMessage("Edit."), HumanMessage(task)], 200, counter, reserve=20)
    assert counter.messages(kept) <= 200
    assert kept[1].text.startswith("word0 ") and kept[1].text.endswith(" word399")
    assert "words cut to fit the model's context" in kept[1].text


def test_the_output_cap_is_at_most_half_the_context_wherever_it_is_put() -> None:
    assert capped({"max_tokens": 4000}, 2048) == {"max_tokens": 1024}
    assert capped({"extra_body": {"max_tokens": 4000}}, 2048) == {
        "extra_body": {"max_tokens": 1024}
    }
    assert capped({"max_tokens": 100}, 2048) == {"max_tokens": 100}
    assert capped({"max_tokens": 4000}, None) == {"max_tokens": 4000}


# --- the token window ----------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_spends_older_than_the_window_are_forgotten() -> None:
    clock = _Clock()
    windows = LocalWindows(clock=clock)
    _, first = windows.spend_now(300, 0.0, 1000, 0)
    assert windows.used_now() == 300
    clock.now += TOKEN_WINDOW
    assert windows.used_now() == 0
    windows.settle_now(first, 50)  # a spend already forgotten is not charged again
    assert windows.used_now() == 0


def test_a_call_larger_than_the_budget_waits_for_an_empty_window() -> None:
    clock = _Clock()
    windows = LocalWindows(clock=clock)
    assert windows.spend_now(2000, 0.0, 1000, 0)[1]  # an empty window takes it
    clock.now += 10
    wait, ident = windows.spend_now(1500, 0.0, 1000, 0)
    assert ident == ""
    assert wait == pytest.approx(TOKEN_WINDOW - 10)


def test_a_budget_mostly_taken_by_other_processes_waits_for_enough_of_its_own_to_expire() -> None:
    clock = _Clock()
    windows = LocalWindows(clock=clock)
    windows.spend_now(100, 0.0, 1000, 0)
    clock.now += 5
    windows.spend_now(100, 0.0, 1000, 0)
    wait, ident = windows.spend_now(150, 0.0, 1000, 700)  # others hold 700 of the 1000
    assert ident == ""
    assert wait == pytest.approx(TOKEN_WINDOW - 5)  # when the first 100 leave the window


# --- what a refusal teaches ----------------------------------------------------------------


def test_a_refusal_without_a_message_field_is_read_from_the_sdk_message() -> None:
    error = _status_error(400, {"error": {"code": 400}})
    error.message = "this model does not support response_format"
    refusal = refusal_of(error, "json_schema")
    assert isinstance(refusal, FeatureRefused)


def test_a_context_overflow_that_names_no_size_halves_the_guess() -> None:
    refusal = refusal_of(_status_error(400, {"error": {"message": "prompt too long"}}), None)
    assert refusal is None  # "too long" alone, no "context": not a definite answer
    refusal = refusal_of(_status_error(400, {"error": {"message": "context overflow"}}), None)
    assert isinstance(refusal, ContextExceeded) and refusal.limit is None
    book = CapabilityBook()
    book.learn("http://x/v1", "m", refusal, "json_schema", streamed=False)
    assert book.of("http://x/v1", "m").context_tokens == 4096
    book.learn("http://x/v1", "m", refusal, "json_schema", streamed=False)
    assert book.of("http://x/v1", "m").context_tokens == 2048


def test_a_server_that_refuses_every_typed_mode_is_one_error() -> None:
    book = CapabilityBook()
    last = "json_prompt"
    with pytest.raises(ModelRequestError, match="refused every way of asking for a typed reply"):
        book.learn("http://x/v1", "m", FeatureRefused(last, "no JSON"), last, streamed=False)


# --- the wire ------------------------------------------------------------------------------


def test_a_synchronous_call_is_refused() -> None:
    with pytest.raises(RuntimeError, match="asynchronously"):
        NoSyncCalls().create(model="m", messages=[])


def test_an_error_inside_a_stream_is_the_sdk_error_with_the_server_message() -> None:
    reading = Reading(httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    with pytest.raises(openai.APIError, match="overloaded"):
        reading.chunk('data: {"error": {"message": "overloaded"}}')
    with pytest.raises(openai.APIError, match="plain words"):
        reading.chunk('data: {"error": "plain words"}')


def test_a_reply_without_usage_counts_as_none() -> None:
    assert usage_of(AIMessage("hi")) == (0, 0)


# --- replies and embeddings through the fake server ---------------------------------------


async def test_an_empty_reply_is_asked_again(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    fake_server.faults.add(Fault.bad_content(""))
    client = make_client()

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 2


async def test_no_texts_are_embedded_without_a_request(fake_server: FakeOpenAIServer) -> None:
    client = OpenAIClient(base_url=fake_server.base_url)
    vectors = await ClientEmbedder(client, dimensions=8).aembed([])
    await client.aclose()
    assert vectors.shape == (0, 8)
    assert fake_server.requests == []


async def test_an_embedding_model_the_server_does_not_have_is_named(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.always = Fault.status(404)
    client = OpenAIClient(base_url=fake_server.base_url)
    embedder = ClientEmbedder(client, model="text-embedding-nope", dimensions=8)
    with pytest.raises(ModelRequestError, match="'text-embedding-nope' not found; set COPYDESK"):
        await embedder.aembed(["kites"])
    await client.aclose()
