"""Servers that are not OpenAI: the client learns what each can do and keeps every run going.

The fake server's llama.cpp mode copies what llama-cpp-python's server was seen doing with a
real model: json_schema refused with a 500, no usage in streams, no embeddings, only
`max_tokens` honoured, an empty stream for a prompt over the context, a running stream ended
by the next request, consecutive user turns rejected.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from copydesk.agents import Settings
from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.capabilities import CapabilityBook, context_limit_in
from copydesk.agents.client.shaping import alternate, fit_to_context, output_params
from copydesk.agents.client.typed import TYPED_MIN_CAP, typed_tool
from copydesk.agents.errors import ModelUnavailableError
from copydesk.agents.roles import Ruling, choice_schema
from copydesk.agents.verdict import Verdict
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.registry import TOPOLOGIES
from copydesk.memory.tokens import token_counter
from tests._client import TokenListener
from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes.openai_server import LlamaCppQuirks
from tests.fakes.topologies import TopologyResponder, speakers

VERDICT_PROMPT: list[BaseMessage] = [
    SystemMessage("You are the editor. Judge the draft."),
    HumanMessage("Draft:\n<<<\nTrees shade streets.\n>>>"),
]
ENDED = {
    "turn_taking": "approved",
    "debate": "approved",
    "round_robin": "approved",
    "supervisor": "approved",
    "review_panel": "approved",
    "pipeline": "completed",
}


def _llama(**quirks: Any) -> FakeOpenAIServer:
    server = FakeOpenAIServer()
    server.llama_cpp = LlamaCppQuirks(**quirks)
    return server


LONG_SUMMARY = "The draft makes its case for street trees with shade, cooler air and calm. " * 2


def _answering(verdict: dict[str, Any]) -> Callable[[dict[str, Any]], Reply]:
    """A responder that answers every request with `verdict` as a forced tool call."""
    return lambda body: Reply(tool_calls=[{"name": "Verdict", "arguments": json.dumps(verdict)}])


async def _typed_from_llama(
    responder: Callable[[dict[str, Any]], Reply],
    *,
    stream: bool,
    mode: str = "function_calling",
    params: dict[str, Any] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """One verdict asked of a llama.cpp-like server answering with `responder` (streamed when
    `stream`): the typed reply and the body of every chat request it took."""
    with _llama() as server:
        server.responder = responder
        async with OpenAIClient(
            base_url=server.base_url, api_key=SecretStr("k"), structured_output=mode
        ) as client:
            config = {"callbacks": [TokenListener()]} if stream else None
            typed = await client.structured(VERDICT_PROMPT, Verdict, config=config, params=params)
        return typed, [r.body or {} for r in server.chat_requests()]


def _said(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode", ["json_schema", "function_calling"])
@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
async def test_every_topology_completes_on_a_llama_cpp_like_server(
    name: str, mode: str, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """Every topology ends normally in both structured modes; json_schema is tried once."""
    with _llama(chunk_delay=0.002) as server:
        server.responder = TopologyResponder(approve_after=1)
        settings = make_settings(
            checkpoint_url="memory:", openai_base_url=server.base_url, structured_output=mode
        )
        async with ConversationManager(settings) as manager:
            result = await manager.run(name, topic="Harbour cranes", max_rounds=3)
        bodies = [r.body or {} for r in server.chat_requests()]
    assert result.status == ENDED[name], (result.status, speakers(server.chat_requests()))
    schema_asks = [b for b in bodies if "response_format" in b]
    parallel = 3 if name == "review_panel" else 1  # editors asking at once learn together
    assert len(schema_asks) <= (parallel if mode == "json_schema" else 0)  # never after
    assert _said(caplog, "does not accept a json_schema response_format") <= 1
    assert all(b.get("max_tokens") and "max_completion_tokens" not in b for b in bodies)
    total = result.usage["total"]
    assert total["prompt_tokens"] > 0 and total["completion_tokens"] > 0
    assert total.get("estimated_calls", 0) >= 1  # streams carried no usage


async def test_refused_tools_fall_back_to_json_asked_for_in_the_prompt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """json_schema and tools both refused: the schema goes in the prompt; each said once."""
    with _llama(refuse_tools=True) as server:
        async with OpenAIClient(base_url=server.base_url, api_key=SecretStr("k")) as client:
            first = await client.structured(VERDICT_PROMPT, Verdict)
            second = await client.structured(VERDICT_PROMPT, Verdict)
        bodies = [r.body or {} for r in server.chat_requests()]
    assert isinstance(first.value, Verdict) and isinstance(second.value, Verdict)
    assert ["response_format" in b for b in bodies] == [True, False, False, False]
    assert ["tools" in b for b in bodies] == [False, True, False, False]
    assert "matching this JSON schema" in str(bodies[-1]["messages"][-1]["content"])
    assert _said(caplog, "does not accept a json_schema") == 1
    assert _said(caplog, "does not accept a forced tool call") == 1
    assert "Input should be 'text' or 'json_object'" in caplog.text  # the server's words


@pytest.mark.parametrize("stream", [True, False])
async def test_a_tool_call_cut_at_the_cap_is_asked_again_with_room(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """llama.cpp ends a tool call cut at `max_tokens` with `tool_calls`, not `length`, and
    langchain would close its JSON: the cut is seen, never taken as the verdict, and asked
    for again with twice the cap."""
    summary = LONG_SUMMARY
    caplog.set_level(logging.INFO, logger="copydesk.client")
    typed, bodies = await _typed_from_llama(
        _answering({"decision": "approve", "issues": [], "summary": summary}),
        stream=stream,
        params={"max_tokens": 30},
    )
    assert typed.value.summary == summary  # the whole reply, not a closed-up cut one
    assert [b["max_tokens"] for b in bodies] == [30, 60]
    assert "cut at the output cap (30 tokens)" in caplog.text


@pytest.mark.parametrize("stream", [True, False])
async def test_a_tool_call_ended_early_is_asked_again_with_the_same_cap(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A tool call whose arguments stop far below the cap the client sent (in the body as
    `max_tokens`, for llama.cpp) was ended by the server, not by the cap: asked again as it
    was, never taken as cut at the cap (doubled caps, then 'not a valid Verdict')."""
    verdict = {"decision": "approve", "issues": [], "summary": "Clear."}
    replies = iter(['{"decision": "approve", "issues": [], "summ', json.dumps(verdict)])
    caplog.set_level(logging.INFO, logger="copydesk.client")
    typed, bodies = await _typed_from_llama(
        lambda body: Reply(tool_calls=[{"name": "Verdict", "arguments": next(replies)}]),
        stream=stream,
    )
    assert typed.value.summary == "Clear."
    assert [b["max_tokens"] for b in bodies] == [1024, 1024]  # the default cap, kept
    assert "cut at the output cap" not in caplog.text


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("mode", ["function_calling", "json_prompt"])
async def test_a_raw_newline_inside_a_json_string_is_taken(stream: bool, mode: str) -> None:
    """llama.cpp's grammar lets Gemma write newlines into a string unescaped: the reply is
    whole JSON but for that, and is taken at the first request (it was taken for a call
    ended early, five times, then 'cannot give a typed reply')."""
    raw = '{"decision": "revise", "issues": [], "summary": "Too short.\nSay more."}'
    typed, requests = await _typed_from_llama(
        lambda body: (
            Reply(content=raw)
            if mode == "json_prompt"
            else Reply(tool_calls=[{"name": "Verdict", "arguments": raw}])
        ),
        stream=stream,
        mode=mode,
    )
    assert typed.value.summary == "Too short.\nSay more."
    assert len(requests) == 1


async def test_a_typed_reply_gets_room_under_a_cap_meant_for_short_prose() -> None:
    """A client capped at 30 tokens for its drafts still asks a verdict with room for one:
    a cut typed reply would only be thrown away and asked again."""
    summary = LONG_SUMMARY
    with _llama() as server:
        server.responder = _answering({"decision": "approve", "issues": [], "summary": summary})
        async with OpenAIClient(
            base_url=server.base_url,
            api_key=SecretStr("k"),
            structured_output="function_calling",
            max_output_tokens=30,
        ) as client:
            typed = await client.structured(VERDICT_PROMPT, Verdict)
            await client.complete(VERDICT_PROMPT)  # a draft: the client's own cap
        bodies = [r.body or {} for r in server.chat_requests()]
    assert typed.value.summary == summary
    assert [b["max_tokens"] for b in bodies] == [TYPED_MIN_CAP, 30]  # one verdict request


async def test_typed_fields_are_bounded_for_grammar_servers_and_not_for_openai() -> None:
    """A llama.cpp-like server gets the verdict's lists and texts bounded (its grammar then
    closes a summary that a small model would write on until the cap cut it, as Gemma 3 270M
    did); OpenAI's strict schema gets no length bounds, which it refuses."""
    with _llama() as server:
        async with OpenAIClient(
            base_url=server.base_url, api_key=SecretStr("k"), structured_output="function_calling"
        ) as client:
            typed = await client.structured(VERDICT_PROMPT, Verdict)
        [body] = [r.body or {} for r in server.chat_requests()]
    assert isinstance(typed.value, Verdict)
    sent = body["tools"][0]["function"]["parameters"]["properties"]
    assert sent["summary"]["maxLength"] == 200 and sent["issues"]["maxItems"] == 3
    assert sent["issues"]["items"]["properties"]["quote"]["maxLength"] == 100
    for schema in (Verdict, Ruling, choice_schema(("writer", "editor"))):
        unbounded = json.dumps(typed_tool(schema, bounded=False))
        assert "maxLength" not in unbounded and "maxItems" not in unbounded
        assert "maxLength" in json.dumps(typed_tool(schema, bounded=True))


async def test_no_usage_in_streams_is_estimated_and_the_token_budget_holds(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """A server that reports no usage: tokens are counted, so a tiny budget ends the run."""
    with _llama() as server:
        server.responder = TopologyResponder(approve_after=5)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            result = await manager.run("turn_taking", topic="Bridges", token_budget=50)
    assert (result.status, result.ended_by) == ("over_budget", "token_budget")
    assert _said(caplog, "reports no token usage") == 1


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


async def test_a_server_that_cuts_a_stream_for_the_next_request_gets_one_at_a_time(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """Parallel editors on one llama.cpp: the first stream cut by a second request teaches
    that the server serves one at a time (said once); the calls then take turns, streamed."""
    with _llama(chunk_delay=0.01) as server:
        server.responder = TopologyResponder(approve_after=1)
        settings = make_settings(
            checkpoint_url="memory:",
            openai_base_url=server.base_url,
            structured_output="function_calling",
        )
        async with ConversationManager(settings) as manager:
            result = await manager.run("review_panel", topic="Tides", max_rounds=3)
        requests = server.chat_requests()
    assert result.status == "approved"
    assert _said(caplog, "serves one request at a time") == 1
    assert all((r.body or {}).get("stream") for r in requests)  # typed replies still streamed
    # Only the first parallel round's cut calls were sent twice (two of its three editors at
    # most); every later call went through once.
    assert len(requests) - result.usage["total"]["calls"] <= 2


async def test_parallel_threads_on_a_one_at_a_time_server_all_finish(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """Three threads' drafts at once on a server that cuts a stream for the next request:
    learned from the first cut, the drafts queue instead of cutting each other in a loop."""
    with _llama(chunk_delay=0.01) as server:
        server.responder = TopologyResponder(approve_after=1)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            results = await asyncio.gather(
                *(manager.run("turn_taking", topic=f"Tides {n}", max_rounds=3) for n in range(3))
            )
        requests = server.chat_requests()
    assert [r.status for r in results] == ["approved"] * 3
    assert _said(caplog, "serves one request at a time") == 1
    calls = sum(r.usage["total"]["calls"] for r in results)
    refused = sum("response_format" in (r.body or {}) for r in requests)  # json_schema, 500
    assert len(requests) - refused - calls <= 2


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


async def test_moderator_choice_is_an_enum_matched_without_case(
    make_settings: Callable[..., Settings],
) -> None:
    """The schema lists the participants; "Writer" is taken as writer, not asked again."""
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(always_choose="Writer", approve_after=0)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            await manager.run("supervisor", topic="Gulls", max_rounds=1)
        requests = server.chat_requests()
    order = speakers(requests)
    assert order[:2] == ["moderator", "writer"]
    schema = (requests[0].body or {})["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["next_speaker"]["enum"] == ["writer", "editor", "fact_checker"]


async def test_a_moderator_naming_the_last_speaker_again_passes_to_the_next_in_turn(
    make_settings: Callable[..., Settings],
) -> None:
    """A small model's moderator names the writer every time: nobody speaks twice in a row,
    so the editor still judges and the run ends with a verdict."""
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(always_choose="writer", approve_after=0)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            result = await manager.run("supervisor", topic="Gulls", max_rounds=1)
        order = [s for s in speakers(server.chat_requests()) if s != "moderator"]
    assert order[:2] == ["writer", "editor"]
    assert all(a != b for a, b in itertools.pairwise(order))
    assert result.verdict is not None


async def test_every_role_sends_its_prompts_params(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Speaker, Judge and Moderator send their prompt's [params] like the writer does."""
    import shutil

    from copydesk import prompts

    folder = tmp_path / "prompts"
    shutil.copytree(Path(prompts.__file__).parent, folder, ignore=shutil.ignore_patterns("*.py"))
    for role in ("advocate", "skeptic", "judge"):
        path = folder / role / "v1.toml"
        text = path.read_text(encoding="utf-8")
        assert "[params]" not in text
        path.write_text(text + "\n[params]\ntemperature = 0.35\nmax_tokens = 77\n", "utf-8")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=0)
        settings = make_settings(
            checkpoint_url="memory:", openai_base_url=server.base_url, prompts_dir=folder
        )
        async with ConversationManager(settings) as manager:
            await manager.run("debate", topic="Kites", max_rounds=1)
        by_speaker = {
            s: r.body or {}
            for s, r in zip(speakers(server.chat_requests()), server.chat_requests(), strict=True)
        }
    for role in ("advocate", "skeptic", "judge"):
        assert by_speaker[role]["temperature"] == 0.35
        assert by_speaker[role]["max_tokens"] == 77
    assert by_speaker["writer"]["max_tokens"] == 1024  # the default cap


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


async def test_a_server_without_embeddings_gets_one_probe_and_local_recall(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """Embeddings refused: one request, no retries, recall on the local embedder, said once."""
    with _llama() as server:
        server.responder = TopologyResponder(approve_after=1)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        for topic in ("Lighthouses", "Ferries"):
            async with ConversationManager(settings) as manager:
                result = await manager.run("turn_taking", topic=topic, max_rounds=2)
                assert result.status == "approved"
        embeddings = [r for r in server.requests if r.path == "/v1/embeddings"]
    assert len(embeddings) == 1
    assert _said(caplog, "serves no embeddings") == 1
    assert "could not store" not in caplog.text and "recall failed" not in caplog.text


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


def test_a_failed_run_names_its_thread_and_json_prints_an_error_object(tmp_path: Path) -> None:
    """`run --json` against a server that refuses the key: an error object, exit 1."""
    import json
    import os
    import subprocess
    import sys

    with FakeOpenAIServer(api_key="sk-right") as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COPYDESK_"))}
        done = subprocess.run(
            [sys.executable, "-c", "from copydesk.graphs.cli import main; main()", "run",
             "turn_taking", "--topic", "Kelp", "--json"],
            capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
            env={**env, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-wrong",
                 "COPYDESK_HOME": str(tmp_path / "home"), "COPYDESK_LOCAL_EMBEDDER": "lexical"},
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    shown = json.loads(done.stdout)
    assert shown["status"] == "failed" and "rejected API key" in shown["error"]
    assert f"copydesk resume {shown['thread_id']}" in done.stderr
    assert "Traceback" not in done.stderr and "sk-wrong" not in done.stderr + done.stdout
