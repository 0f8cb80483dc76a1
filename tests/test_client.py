"""OpenAIClient against the fake OpenAI server: replies, usage, typed output, retries, errors."""

from __future__ import annotations

import asyncio
import email.utils
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import openai
import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from copydesk.agents.client import STRUCTURED_TAG, OpenAIClient
from copydesk.agents.client.offline import OFFLINE_MODEL_NAME
from copydesk.agents.client.retry import RetryPolicy, retry_after
from copydesk.agents.errors import (
    ModelAuthError,
    ModelOutputError,
    ModelRequestError,
    ModelUnavailableError,
    fingerprint,
)
from copydesk.agents.verdict import Verdict
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.writing import EditorialResponder

MESSAGES: list[BaseMessage] = [
    SystemMessage("You are a careful writer."),
    HumanMessage("Topic: why cities plant trees"),
]
VERDICT_PROMPT: list[BaseMessage] = [
    SystemMessage("You are the editor. Judge the draft."),
    HumanMessage("Draft:\n<<<\nTrees shade streets.\n>>>"),
]


class RecordingSleep:
    """An injectable sleep that records each requested delay and yields without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class TokenListener(AsyncCallbackHandler):
    """Listens for tokens the way a LangGraph `messages` stream does, so the model streams."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.tokens.append(str(token))

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


ClientFactory = Callable[..., OpenAIClient]


@pytest.fixture
async def make_client(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep
) -> AsyncIterator[ClientFactory]:
    """Builds clients for the fake server (or `base_url`) and closes their HTTP pools after."""
    made: list[OpenAIClient] = []

    def make(
        *,
        max_retries: int = 3,
        budget: float = 300.0,
        api_key: str = "sk-test",
        base_url: str | None = None,
        **kwargs: Any,
    ) -> OpenAIClient:
        client = OpenAIClient(
            model="gpt-4o-mini",
            api_key=SecretStr(api_key),
            base_url=base_url or fake_server.base_url,
            retry=RetryPolicy(max_retries=max_retries, budget=budget, rng=random.Random(0)),
            sleep=sleep,
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def message_texts(body: dict[str, Any] | None) -> list[str]:
    assert body is not None
    return [str(m.get("content") or "") for m in body["messages"]]


# --- plain completions and usage -----------------------------------------------------------


async def test_complete_returns_server_text_and_records_usage(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A plain call returns the server's text; usage lands in the Reply and the ledger."""
    fake_server.responder = lambda body: Reply(
        content="Trees cool the street.", prompt_tokens=42, completion_tokens=7
    )
    client = make_client()

    reply = await client.complete(
        MESSAGES, config={"configurable": {"thread_id": "t-1"}}, agent="writer"
    )

    assert reply.text == "Trees cool the street."
    assert reply.usage == {
        "calls": 1,
        "prompt_tokens": 42,
        "completion_tokens": 7,
        "cost_usd": pytest.approx((42 * 0.15 + 7 * 0.60) / 1e6),  # gpt-4o-mini list price
    }
    [call] = client.ledger.calls
    assert (call.thread_id, call.agent, call.model) == ("t-1", "writer", "gpt-4o-mini")
    assert (call.prompt_tokens, call.completion_tokens, call.attempts) == (42, 7, 1)
    assert client.ledger.totals(thread_id="t-1")["writer"] == reply.usage
    assert client.ledger.totals(thread_id="other") == {}
    assert sleep.delays == []


async def test_complete_sends_model_key_and_messages(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """The request goes to /v1/chat/completions with the model, bearer key and the messages."""
    client = make_client()

    await client.complete(MESSAGES)

    [request] = fake_server.chat_requests()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body is not None
    assert request.body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert message_texts(request.body)[-1] == "Topic: why cities plant trees"
    assert client.endpoint == fake_server.base_url
    assert client.model_label == "gpt-4o-mini"


async def test_ledger_accumulates_across_calls_and_agents(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """Totals add up per agent and overall across several calls."""
    fake_server.responder = lambda body: Reply(content="ok", prompt_tokens=10, completion_tokens=3)
    client = make_client()

    await client.complete(MESSAGES, agent="writer")
    await client.complete(MESSAGES, agent="writer")
    await client.complete(MESSAGES, agent="editor")

    totals = client.ledger.totals()

    def tokens(usage):
        return {k: v for k, v in usage.items() if k != "cost_usd"}

    assert tokens(totals["writer"]) == {"calls": 2, "prompt_tokens": 20, "completion_tokens": 6}
    assert tokens(totals["editor"]) == {"calls": 1, "prompt_tokens": 10, "completion_tokens": 3}
    assert tokens(totals["total"]) == {"calls": 3, "prompt_tokens": 30, "completion_tokens": 9}
    assert totals["total"]["cost_usd"] == pytest.approx((30 * 0.15 + 9 * 0.60) / 1e6)


# --- structured output ---------------------------------------------------------------------


async def test_structured_json_schema_sends_strict_response_format(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """json_schema mode sends a strict response_format for Verdict and parses the reply."""
    fake_server.responder = EditorialResponder(decisions=("revise",))
    client = make_client(structured_output="json_schema")

    result = await client.structured(VERDICT_PROMPT, Verdict, agent="editor")

    assert isinstance(result.value, Verdict)
    assert result.value.decision == "revise"
    assert result.value.issues[0].severity == "major"
    assert result.usage["calls"] == 1
    [request] = fake_server.chat_requests()
    body = request.body
    assert body is not None
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["name"] == "Verdict"
    schema = response_format["json_schema"]["schema"]
    assert set(schema["properties"]) == {"decision", "issues", "summary"}
    assert schema["additionalProperties"] is False
    assert "tools" not in body
    assert client.ledger.calls[0].agent == "editor"


async def test_structured_function_calling_forces_tool_and_parses_call(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """function_calling mode sends the Verdict tool with a forced tool_choice, parses the call."""
    fake_server.responder = EditorialResponder(decisions=("approve",))
    client = make_client(structured_output="function_calling")

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert result.value.decision == "approve"
    assert result.value.issues == []
    assert result.message.tool_calls[0]["name"] == "Verdict"
    [request] = fake_server.chat_requests()
    body = request.body
    assert body is not None
    assert "response_format" not in body
    [tool] = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "Verdict"
    assert tool["function"]["strict"] is True
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}


async def test_structured_calls_are_tagged(make_client: ClientFactory) -> None:
    """Typed calls carry STRUCTURED_TAG (plus the caller's tags); plain calls do not."""
    seen: list[list[str]] = []

    class TagSpy(AsyncCallbackHandler):
        async def on_chat_model_start(
            self, serialized: Any, messages: Any, *, tags: list[str] | None = None, **kw: Any
        ) -> None:
            seen.append(list(tags or []))

    client = make_client()
    config: Any = {"callbacks": [TagSpy()], "tags": ["mine"]}

    await client.structured(VERDICT_PROMPT, Verdict, config=config)
    await client.complete(MESSAGES, config=config)

    assert STRUCTURED_TAG in seen[0]
    assert "mine" in seen[0]
    assert STRUCTURED_TAG not in seen[1]
    assert config["tags"] == ["mine"]  # the caller's config is not mutated


# --- repair of invalid typed replies -------------------------------------------------------


async def test_invalid_json_is_repaired_on_second_request(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """An invalid first reply is answered with a repair request; the valid second one wins."""
    fake_server.responder = EditorialResponder(decisions=("approve",))
    fake_server.faults.add(Fault.bad_content("not json"))
    client = make_client(max_repairs=2)

    result = await client.structured(VERDICT_PROMPT, Verdict, agent="editor")

    assert result.value.decision == "approve"
    assert result.usage["calls"] == 2
    assert len(client.ledger.calls) == 2
    first, second = fake_server.chat_requests()
    assert len(message_texts(first.body)) == len(VERDICT_PROMPT)
    texts = message_texts(second.body)
    assert texts[: len(VERDICT_PROMPT)] == message_texts(first.body)
    assert texts[-2] == "not json"  # the bad reply is shown back to the model
    assert "not a valid Verdict" in texts[-1]
    assert second.body is not None
    assert second.body["messages"][-2]["role"] == "assistant"
    assert second.body["messages"][-1]["role"] == "user"
    assert sleep.delays == []  # a repair is not a retry


async def test_always_invalid_raises_model_output_error(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """A reply that never validates ends in ModelOutputError after max_repairs + 1 requests."""
    fake_server.always = Fault.bad_content("not json")
    client = make_client(max_repairs=2)

    with pytest.raises(ModelOutputError, match=r"not a valid Verdict after 3 attempts") as info:
        await client.structured(VERDICT_PROMPT, Verdict, agent="editor")

    assert str(info.value).startswith("editor:")
    assert len(fake_server.chat_requests()) == 3
    assert len(client.ledger.calls) == 3  # the failed attempts still cost tokens


async def test_schema_violation_is_repaired(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """Valid JSON that breaks the schema is repaired too, and the repair names the problem."""
    fake_server.faults.add(
        Fault.bad_content('{"decision": "maybe", "issues": [], "summary": "hm"}')
    )
    fake_server.responder = EditorialResponder(decisions=("revise",))
    client = make_client()

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert result.value.decision == "revise"
    repair = message_texts(fake_server.chat_requests()[1].body)[-1]
    assert "decision" in repair


# --- retries -------------------------------------------------------------------------------


async def test_429_burst_honours_retry_after(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """Three 429s with Retry-After 0.2 are retried, each wait at least the asked 0.2 s."""
    fake_server.faults.add(*[Fault.status(429, retry_after=0.2)] * 3)
    client = make_client(max_retries=3)

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 4
    assert len(sleep.delays) == 3
    assert all(0.2 <= d <= 0.2 + 0.25 for d in sleep.delays), sleep.delays
    assert client.ledger.calls[0].attempts == 4


async def test_retry_after_ms_is_honoured(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A retry-after-ms header sets the wait (and wins over Retry-After)."""
    fake_server.faults.add(Fault.status(429, retry_after=9, retry_after_ms=1500))
    client = make_client()

    await client.complete(MESSAGES)

    [delay] = sleep.delays
    assert 1.5 <= delay <= 1.75


@pytest.mark.parametrize("code", [408, 409, 500, 502, 503])
async def test_transient_statuses_are_retried_with_backoff(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory, code: int
) -> None:
    """408/409/5xx are retried; without Retry-After the waits stay under the backoff ceiling."""
    fake_server.faults.add(Fault.status(code), Fault.status(code))
    client = make_client(max_retries=3)

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 3
    assert len(sleep.delays) == 2
    policy = RetryPolicy()
    for attempt, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= policy.base * 2 ** (attempt - 1)


@pytest.mark.parametrize(
    "fault",
    [Fault.drop(), Fault.cut_stream(0), Fault.malformed()],
    ids=["dropped-connection", "cut-body", "malformed-body"],
)
async def test_broken_responses_are_retried(
    fake_server: FakeOpenAIServer,
    sleep: RecordingSleep,
    make_client: ClientFactory,
    fault: Fault,
) -> None:
    """A dropped connection, a body cut halfway and a non-JSON body are all retried."""
    fake_server.faults.add(fault)
    client = make_client()

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 2
    assert len(sleep.delays) == 1


async def test_cut_stream_is_retried_while_streaming(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """With a token listener the call streams; a stream cut mid-answer is retried in full."""
    fake_server.responder = lambda body: Reply(
        content="Street trees cool the city in summer and calm the traffic.",
        prompt_tokens=12,
        completion_tokens=11,
    )
    fake_server.faults.add(Fault.cut_stream(after_chunks=2))
    listener = TokenListener()
    client = make_client()

    reply = await client.complete(MESSAGES, config={"callbacks": [listener]})

    assert reply.text == "Street trees cool the city in summer and calm the traffic."
    requests = fake_server.chat_requests()
    assert len(requests) == 2
    assert all(r.body is not None and r.body.get("stream") is True for r in requests)
    assert len(sleep.delays) == 1
    assert listener.tokens  # tokens were streamed
    assert reply.usage["prompt_tokens"] == 12
    assert reply.usage["completion_tokens"] == 11


async def test_structured_call_retries_before_repairing(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """A 503 during a typed call is retried, not counted as a repair attempt."""
    fake_server.faults.add(Fault.status(503))
    client = make_client(max_repairs=0)

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert isinstance(result.value, Verdict)
    assert len(fake_server.chat_requests()) == 2
    assert client.ledger.calls[0].attempts == 2


async def test_timeout_is_retried(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A request that outlives the client's timeout is abandoned and retried."""
    fake_server.faults.add(Fault.hang(5.0))
    client = make_client(timeout=0.3)

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 2
    assert len(sleep.delays) == 1


def rate_limited(headers: dict[str, str], http: Any = httpx) -> openai.RateLimitError:
    """A real 429 error as the SDK raises it, its response built with `http` (httpx or httpx2:
    openai's own HTTP client is httpx2, a client passed to it may be httpx)."""
    request = http.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = http.Response(429, headers=headers, request=request)
    return openai.RateLimitError("rate limited", response=response, body=None)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"retry-after-ms": "750", "Retry-After": "9"}, 0.75),
        ({"retry-after-ms": "soon", "Retry-After": "2"}, 2.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_header_parsing(headers: dict[str, str], expected: float | None) -> None:
    """Seconds and milliseconds headers are read; a value that is neither is ignored."""
    assert retry_after(rate_limited(headers)) == expected


def test_retry_after_read_from_httpx2_responses() -> None:
    """Retry-After is honoured on responses of openai's own HTTP stack (httpx2) too."""
    httpx2 = pytest.importorskip("httpx2")

    assert retry_after(rate_limited({"Retry-After": "3"}, httpx2)) == 3.0
    assert retry_after(rate_limited({"retry-after-ms": "250"}, httpx2)) == 0.25


async def test_retry_after_honoured_with_sdk_default_http_client(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A chat model on the openai SDK's default HTTP client still gets Retry-After honoured."""
    http = openai.DefaultAsyncHttpxClient()
    model = ChatOpenAI(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-test"),
        base_url=fake_server.base_url,
        max_retries=0,
        http_async_client=http,
    )
    fake_server.faults.add(Fault.status(429, retry_after=2))
    client = make_client(chat_model=model)
    try:
        reply = await client.complete(MESSAGES)
    finally:
        await http.aclose()

    assert reply.text.startswith("Fake reply")
    [delay] = sleep.delays
    assert 2.0 <= delay <= 2.25


def test_retry_after_http_date() -> None:
    """An HTTP-date Retry-After becomes the seconds until that time."""
    start = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)  # a fixed clock: no wall-time window
    when = email.utils.format_datetime(start + timedelta(seconds=30), usegmt=True)

    seconds = retry_after(rate_limited({"Retry-After": when}), now=start.timestamp)

    assert seconds == 30.0


def test_unparseable_retry_after_falls_back_to_backoff() -> None:
    """A garbage Retry-After does not break the policy: it backs off as if none was sent."""
    policy = RetryPolicy(base=0.5, rng=random.Random(0))

    delays = [policy.delay(n, rate_limited({"Retry-After": "soon"})) for n in (1, 2, 3)]

    assert all(0 <= d <= 0.5 * 2 ** (n - 1) for n, d in zip((1, 2, 3), delays, strict=True))


# --- giving up -----------------------------------------------------------------------------


async def test_exhausted_retries_raise_unavailable_then_recover(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """Persistent 500s end in ModelUnavailableError after max_retries + 1 requests; the same
    client works again once the server recovers."""
    fake_server.always = Fault.status(500)
    client = make_client(max_retries=2)

    with pytest.raises(ModelUnavailableError) as info:
        await client.complete(MESSAGES)

    message = str(info.value)
    assert fake_server.base_url in message
    assert "HTTP 500" in message
    assert "resume" in message
    assert "3 attempt(s)" in message
    assert "\n" not in message
    assert len(fake_server.chat_requests()) == 3
    assert len(sleep.delays) == 2
    assert client.ledger.calls == []

    fake_server.always = None
    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 4


async def test_retry_budget_stops_long_waits(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """No wait starts past the total budget: a Retry-After beyond it fails at once."""
    fake_server.faults.add(Fault.status(429, retry_after=30))
    client = make_client(max_retries=5, budget=5.0)

    with pytest.raises(ModelUnavailableError, match="HTTP 429"):
        await client.complete(MESSAGES)

    assert len(fake_server.chat_requests()) == 1
    assert sleep.delays == []


async def test_unreachable_server_names_the_url(
    sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A closed port gives ModelUnavailableError saying it cannot reach the URL."""
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    client = make_client(base_url=base_url, max_retries=2)

    with pytest.raises(ModelUnavailableError) as info:
        await client.complete(MESSAGES)

    assert f"cannot reach {base_url}" in str(info.value)
    assert "resume" in str(info.value)
    assert len(sleep.delays) == 2


async def test_rejected_key_is_named_by_fingerprint_only(
    sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A 401 gives ModelAuthError naming the key's fingerprint, never the key; no retries."""
    key = "sk-wrong-canary-123"
    with FakeOpenAIServer(api_key="sk-right") as server:
        client = make_client(base_url=server.base_url, api_key=key)
        try:
            with pytest.raises(ModelAuthError) as info:
                await client.complete(MESSAGES)
        finally:
            await client.aclose()
        requests = server.chat_requests()

    message = str(info.value)
    assert fingerprint(key) in message
    assert "HTTP 401" in message
    assert "OPENAI_API_KEY" in message
    leaks = [key[i : i + 6] for i in range(len(key) - 5) if key[i : i + 6] in message]
    assert leaks == []
    assert len(requests) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    ("code", "error", "needle"),
    [
        (400, ModelRequestError, "HTTP 400"),
        (422, ModelRequestError, "HTTP 422"),
        (404, ModelRequestError, "'gpt-4o-mini' not found"),
        (403, ModelAuthError, "HTTP 403"),
    ],
)
async def test_client_errors_are_not_retried(
    fake_server: FakeOpenAIServer,
    sleep: RecordingSleep,
    make_client: ClientFactory,
    code: int,
    error: type[Exception],
    needle: str,
) -> None:
    """4xx other than 408/409/429 fail at once with a one-line error naming the endpoint."""
    fake_server.always = Fault.status(code)
    client = make_client()

    with pytest.raises(error) as info:
        await client.complete(MESSAGES)

    assert needle in str(info.value)
    assert fake_server.base_url in str(info.value)
    assert len(fake_server.chat_requests()) == 1
    assert sleep.delays == []


# --- event loops ---------------------------------------------------------------------------


def test_one_client_serves_consecutive_event_loops(fake_server: FakeOpenAIServer) -> None:
    """The same client works in two consecutive asyncio.run calls (one HTTP pool per loop)."""
    client = OpenAIClient(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-test"),
        base_url=fake_server.base_url,
        retry=RetryPolicy(max_retries=0),
        sleep=RecordingSleep(),
    )

    async def session() -> list[str]:
        async with client:
            return [(await client.complete(MESSAGES)).text for _ in range(2)]

    first = asyncio.run(session())
    second = asyncio.run(session())

    assert [t[: len("Fake reply 1")] for t in first] == ["Fake reply 1", "Fake reply 2"]
    assert [t[: len("Fake reply 3")] for t in second] == ["Fake reply 3", "Fake reply 4"]
    assert len(fake_server.chat_requests()) == 4
    assert len(client.ledger.calls) == 4


# --- offline -------------------------------------------------------------------------------


async def test_offline_client_is_deterministic_and_local(
    fake_server: FakeOpenAIServer,
) -> None:
    """With no key and no base URL the client is offline: no HTTP, same text twice, usage."""
    client = OpenAIClient()

    first = await client.complete(MESSAGES)
    second = await client.complete(MESSAGES)

    assert client.offline is True
    assert client.endpoint == "offline"
    assert client.model_label == OFFLINE_MODEL_NAME == "copydesk-offline"
    assert first.text == second.text
    assert "trees" in first.text.lower()
    assert first.usage["prompt_tokens"] > 0
    assert first.usage["completion_tokens"] > 0
    assert [c.model for c in client.ledger.calls] == ["copydesk-offline"] * 2
    assert fake_server.requests == []


@pytest.mark.parametrize("mode", ["json_schema", "function_calling"])
async def test_offline_structured_returns_valid_verdict(
    fake_server: FakeOpenAIServer, mode: Any
) -> None:
    """The offline model answers a typed request with a Verdict that validates."""
    client = OpenAIClient(structured_output=mode)

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert isinstance(result.value, Verdict)
    assert result.value.decision == "revise"  # the draft has no example and no takeaway
    assert {i.severity for i in result.value.issues} == {"major"}
    assert result.usage["calls"] == 1
    assert fake_server.requests == []


def test_offline_flag_overrides_key() -> None:
    """offline=True wins over a key and base URL; a key alone makes the client online."""
    forced = OpenAIClient(
        api_key=SecretStr("sk-test"), base_url="http://127.0.0.1:9/v1", offline=True
    )
    keyed = OpenAIClient(api_key=SecretStr("sk-test"))

    assert forced.offline is True
    assert forced.model_label == "copydesk-offline"
    assert keyed.offline is False
    assert keyed.endpoint == "https://api.openai.com/v1"
