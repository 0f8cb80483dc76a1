"""Traces and metrics in process: what the spans of a run, a resume and a fork say, what a
model call's span and metrics count (attempts, 429s, the limiter's wait, cost), content only
when asked for, and nothing at all while tracing is off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.agents.telemetry import QUIET, Telemetry, traces_wanted
from copydesk.agents.telemetry.checkpoints import trace_checkpoints
from copydesk.agents.verdict import Verdict
from copydesk.graphs.manager import ConversationManager
from copydesk.memory.checkpoint import open_checkpointer
from tests._client import MESSAGES, VERDICT_PROMPT, ClientFactory
from tests._client import make_client as make_client
from tests._client import sleep as sleep
from tests._traces import recorded
from tests.fakes import FakeOpenAIServer, Fault


@pytest.mark.parametrize(
    ("traces", "environ", "wanted"),
    [
        (False, {}, False),
        (True, {}, True),
        (False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        (False, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"}, True),
        (True, {"OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_traces_are_wanted_when_asked_for_or_an_endpoint_is_set(
    traces: bool, environ: dict[str, str], wanted: bool
) -> None:
    assert traces_wanted(traces, environ) is wanted


async def test_off_records_nothing_and_hands_the_events_through() -> None:
    off = Telemetry()

    async def events(traceparent: str | None) -> Any:
        assert traceparent is None
        yield 1

    source = events(None)
    assert off.within("run", {}, lambda _: source) is source
    with off.span("x", {"a": 1}) as span:
        assert span is QUIET
        span.set_attribute("b", 2)
        span.set_attributes({"c": 3})
    assert off.traceparent() is None
    with off.joined("00-" + "1" * 32 + "-" + "2" * 16 + "-01"):
        off.annotate({"d": 4})
    off.flush()
    assert not off.on and off.meters is None and not Telemetry(content=True).content


async def test_a_call_span_counts_attempts_429s_and_the_limiters_wait(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    fake_server.faults.add(Fault.status(429, retry_after=0.01))
    seen = recorded()
    client = make_client(telemetry=seen.telemetry, max_retries=2)
    with seen.telemetry.span("turn"):
        reply = await client.complete(MESSAGES, agent="writer", params={"temperature": 0.5})
    call = seen.attributes("chat gpt-4o-mini")
    (turn,) = seen.named("turn")
    assert seen.named("chat gpt-4o-mini")[0].parent.span_id == turn.context.span_id
    assert call["gen_ai.operation.name"] == "chat"
    assert call["gen_ai.request.temperature"] == 0.5
    assert call["gen_ai.output.type"] == "text"
    assert call["server.port"] == fake_server.port
    assert (call["copydesk.attempts"], call["copydesk.retries"]) == (2, 1)
    assert call["copydesk.rate_limited"] == 1
    assert call["copydesk.limiter_wait_s"] >= 0
    assert call["gen_ai.usage.output_tokens"] == reply.usage["completion_tokens"]
    assert "gen_ai.input.messages" not in call and "gen_ai.output.messages" not in call
    who = 'gen_ai_agent_name="writer",gen_ai_request_model="gpt-4o-mini"'
    assert seen.metric(f'copydesk_model_calls_total{{{who},outcome="ok"') == 1
    assert seen.metric(f"copydesk_model_rate_limited_total{{{who}") == 1
    assert seen.metric(f"copydesk_model_retries_total{{{who}") == 1
    assert (
        seen.metric("copydesk_model_tokens_total{")
        == reply.usage["prompt_tokens"] + (reply.usage["completion_tokens"])
    )
    assert seen.metric("copydesk_breaker_open{") == 0


async def test_content_is_in_the_span_only_when_asked_for(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    seen = recorded(content=True)
    client = make_client(telemetry=seen.telemetry)
    result = await client.structured(VERDICT_PROMPT, Verdict, agent="editor")
    call = seen.attributes("chat gpt-4o-mini")
    asked = json.loads(call["gen_ai.input.messages"])
    assert [m["role"] for m in asked] == ["system", "user"]
    answered = json.loads(call["gen_ai.output.messages"])
    assert answered[0]["role"] == "assistant" and answered[0]["parts"]
    assert call["copydesk.structured_mode"] == "json_schema"
    assert call["gen_ai.output.type"] == "json"
    assert call["copydesk.cost_usd"] == result.usage["cost_usd"]


async def test_a_call_that_fails_for_good_is_an_error_span_and_counted(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    fake_server.always = Fault.status(400)
    seen = recorded()
    client = make_client(telemetry=seen.telemetry, max_retries=0)
    with pytest.raises(Exception, match=r"400|rejected|request"):
        await client.complete(MESSAGES, agent="writer")
    (span,) = seen.named("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    assert seen.metric('copydesk_model_calls_total{gen_ai_agent_name="writer"') == 1
    assert 'outcome="error"' in seen.meters.prometheus_text()


async def test_an_embedding_call_is_a_span(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    seen = recorded()
    embedder = ClientEmbedder(make_client(telemetry=seen.telemetry), dimensions=8)
    await embedder.aembed(["a tide clock", "a harbour"])
    span = seen.attributes("embeddings text-embedding-3-small")
    assert span["gen_ai.operation.name"] == "embeddings"
    assert span["copydesk.texts"] == 2 and span["copydesk.attempts"] == 1
    assert span["gen_ai.usage.input_tokens"] > 0


async def test_a_run_resume_and_fork_are_traces_linked_to_the_thread(
    make_settings: Any,
) -> None:
    seen = recorded()
    settings = make_settings(offline=True)
    client = OpenAIClient.from_settings(settings, telemetry=seen.telemetry)
    async with ConversationManager(settings, client=client) as manager:
        await manager.run("turn_taking", topic="tide clocks", thread_id="t", review=True)
        await manager.resume("t", answer={"action": "approve"})
        checkpoint = (await manager.history("t"))[-1].checkpoint_id
        async for _ in manager.fork("t", checkpoint, new_thread_id="t2"):
            pass
        metadata = await manager.checkpointer.aget_tuple({"configurable": {"thread_id": "t"}})
    (run,) = seen.named("run turn_taking")
    (resume,) = seen.named("resume turn_taking")
    (fork,) = seen.named("fork turn_taking")
    assert [link.context.trace_id for link in resume.links] == [run.context.trace_id]
    assert [link.context.trace_id for link in fork.links] == [resume.context.trace_id]
    assert f"{resume.context.trace_id:032x}" in metadata.metadata["traceparent"]
    assert run.attributes["copydesk.status"] == "waiting_for_review"
    turns = [s.name for s in seen.children(run) if s.name.startswith("invoke_agent")]
    assert turns == ["invoke_agent writer", "invoke_agent editor"] * 2
    writer = next(s for s in seen.children(run) if s.name == "invoke_agent writer")
    assert writer.attributes["copydesk.node"] == "writer"
    assert writer.attributes["gen_ai.conversation.id"] == "t"
    assert {s.name for s in seen.children(writer)} >= {"recall", "chat gpt-4o-mini"}
    assert any(s.name == "remember" for s in seen.spans)


async def test_checkpoint_writes_are_traced_once_and_untouched_while_off(tmp_path: Path) -> None:
    seen = recorded()
    async with open_checkpointer("memory:") as saver:
        plain = saver.aput
        trace_checkpoints(saver, Telemetry())
        assert saver.aput == plain
        trace_checkpoints(saver, seen.telemetry)
        traced = saver.aput
        trace_checkpoints(saver, seen.telemetry)
        assert saver.aput is traced and traced != plain


async def test_serve_answers_metrics_behind_its_token(
    make_settings: Any, fake_server: FakeOpenAIServer
) -> None:
    import httpx

    from copydesk.graphs.web import create_app

    settings = make_settings(openai_base_url=fake_server.base_url, openai_api_key="sk-test")
    app = create_app(settings, token="a-long-serve-token-0123")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/metrics")).status_code == 401
        manager = await app.state.runtime.manager()
        await manager.run("turn_taking", topic="Tide clocks", max_rounds=1)
        page = await http.get(
            "/metrics", headers={"Authorization": "Bearer a-long-serve-token-0123"}
        )
        await app.state.runtime.aclose()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    assert 'copydesk_model_calls_total{gen_ai_agent_name="writer"' in page.text
    assert "sk-test" not in page.text
