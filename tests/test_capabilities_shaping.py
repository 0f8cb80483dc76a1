"""Requests shaped to what a server takes: turns that alternate, a prompt cut to the context,
the output cap where the server reads it, a stream bounded in time; each lesson said once."""

from __future__ import annotations

import logging

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.capabilities import CapabilityBook, context_limit_in
from copydesk.agents.client.shaping import alternate, fit_to_context, output_params
from copydesk.agents.errors import ModelUnavailableError
from copydesk.memory.tokens import token_counter
from tests._capabilities import _llama, _said
from tests._client import VERDICT_PROMPT, TokenListener
from tests.fakes import Reply
from tests.fakes.openai_server import LlamaCppQuirks


async def test_a_prompt_over_the_context_is_trimmed_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An empty stream is asked again whole; the context the server names trims the prompt."""
    history: list[BaseMessage] = [SystemMessage("You are the writer.")]
    for n in range(30):
        history.append(HumanMessage(f"[editor] note {n}: " + "the harbour cranes " * 10))
        history.append(AIMessage(f"draft {n}: " + "cranes lift boxes " * 10))
    history.append(HumanMessage("Topic: cranes\nDraft:\n" + "words of the draft " * 150))
    with _llama(context_tokens=900) as server:
        async with OpenAIClient(base_url=server.base_url, api_key=SecretStr("k")) as client:
            reply = await client.complete(history, config={"callbacks": [TokenListener()]})
            again = await client.complete(history, config={"callbacks": [TokenListener()]})
        bodies = [r.body or {} for r in server.chat_requests()]
    assert reply.text and again.text
    assert [b.get("stream") for b in bodies[:2]] == [True, False]  # empty, then asked whole
    quirks = LlamaCppQuirks(context_tokens=900)
    assert quirks.over_context(bodies[-1]) is None  # the last requests fit
    assert len(bodies) == 4  # the second call went straight to a prompt that fits
    assert "words cut to fit the model's context" in str(bodies[-1]["messages"][-1]["content"])
    assert _said(caplog, "has a context of 900 tokens") == 1


async def test_a_stream_longer_than_the_call_bound_times_out_cleanly() -> None:
    """`call_timeout` bounds a whole stream even when every chunk comes in time."""
    with _llama(chunk_delay=0.05, cut_on_concurrent=False) as server:
        server.responder = lambda body: Reply(content="word " * 200)
        async with OpenAIClient(
            base_url=server.base_url, api_key=SecretStr("k"), call_timeout=0.3
        ) as client:
            client.retry.max_retries = 1
            with pytest.raises(ModelUnavailableError, match="timed out"):
                await client.complete(VERDICT_PROMPT, config={"callbacks": [TokenListener()]})


def test_turns_alternate_for_strict_chat_templates() -> None:
    """Consecutive user turns are joined; a leading assistant turn is told as a user turn."""
    shaped = alternate(
        [
            SystemMessage("sys"),
            AIMessage("my old draft", name="writer"),
            HumanMessage("[editor] fix it", name="editor"),
            HumanMessage("memory", name="memory"),
            AIMessage("draft 2", name="writer"),
            HumanMessage("task"),
        ]
    )
    assert [m.type for m in shaped] == ["system", "human", "ai", "human"]
    assert shaped[1].text == "[writer] my old draft\n\n[editor] fix it\n\nmemory"


def test_fit_cuts_history_first_then_the_middle_of_the_task() -> None:
    counter = token_counter("gpt-4o-mini")
    messages: list[BaseMessage] = [
        SystemMessage("system"),
        HumanMessage("old " * 300),
        AIMessage("older reply " * 100),
        HumanMessage("TASK START " + "draft words " * 400 + " TASK END"),
    ]
    fitted = fit_to_context(messages, 600, counter, reserve=100)
    assert counter.messages(fitted) <= 500
    assert [m.type for m in fitted] == ["system", "human"]
    assert fitted[-1].text.startswith("TASK START") and fitted[-1].text.endswith("TASK END")
    assert "words cut to fit" in fitted[-1].text
    assert fit_to_context(messages[:1], 600, counter, 100) == messages[:1]


def test_output_cap_goes_where_the_server_reads_it() -> None:
    assert output_params({"max_tokens": 50}, 1024, openai_endpoint=True) == {"max_tokens": 50}
    assert output_params({"temperature": 0.2}, 1024, openai_endpoint=False) == {
        "temperature": 0.2,
        "extra_body": {"max_tokens": 1024},
    }
    assert output_params(None, None, openai_endpoint=False) == {}


def test_context_sizes_are_read_from_server_messages() -> None:
    assert context_limit_in("Requested tokens (3000) exceed context window of 2048") == 2048
    assert context_limit_in("This model's maximum context length is 8192 tokens") == 8192
    assert context_limit_in("something else") is None


def test_lessons_are_said_once_per_book(caplog: pytest.LogCaptureFixture) -> None:
    book = CapabilityBook()
    for _ in range(3):
        book.no_usage("http://h/v1", "m")
        book.refused("http://h/v1", "m", "json_schema", "no")
    assert _said(caplog, "reports no token usage") == 1
    assert book.of("http://h/v1", "m").structured == "function_calling"
    assert book.refused("http://h/v1", "m", "json_prompt", "no") is None
    with caplog.at_level(logging.WARNING):
        book.no_embeddings("http://h/v1", "e", "500")
        book.no_embeddings("http://h/v1", "e", "500")
    assert _said(caplog, "serves no embeddings") == 1


def test_a_book_probes_embeddings_once_per_endpoint_and_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The answer lives in the book: asked again, it is remembered; another book asks anew."""
    asked: list[str] = []

    def refused() -> tuple[bool, str]:
        asked.append("probe")
        return False, "HTTP 501: no embeddings"

    book = CapabilityBook()
    with caplog.at_level(logging.WARNING):
        assert book.serves_embeddings("http://h/v1", "e", refused) is False
        assert book.serves_embeddings("http://h/v1", "e", refused) is False
    assert asked == ["probe"] and _said(caplog, "serves no embeddings") == 1
    assert CapabilityBook().serves_embeddings("http://h/v1", "e", lambda: (True, "")) is True


def test_a_warning_never_lands_inside_streamed_text(capsys: pytest.CaptureFixture[str]) -> None:
    """The live view's half-printed line is ended before a log line goes out."""
    import io

    from rich.console import Console

    from copydesk.graphs.cli.console import LiveView, configure_logging
    from copydesk.graphs.events import Token

    screen = io.StringIO()
    configure_logging("WARNING", [])
    view = LiveView(Console(file=screen, width=80))
    view.show(Token("writer", "Trees shade the"))
    logging.getLogger("copydesk.client").warning("reports no token usage")
    view.show(Token("writer", " street."))
    assert screen.getvalue().startswith("Trees shade the\n")
    assert "reports no token usage" in capsys.readouterr().err
