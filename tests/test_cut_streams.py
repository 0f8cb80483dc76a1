"""A stream the server ends before the reply is complete is a cut stream, never a reply.

The fake server's `end_stream` fault closes the HTTP body cleanly (no transport error) but
without a finish reason, without the `data: [DONE]` marker, or both, as llama.cpp does to a
running stream that a second request preempts. The client re-requests it within its retry
budget; a cut that persists is one error naming the server and the cut. From the CLI: the
saved draft is always the whole reply, and a persistent cut is one line, exit 1, and the
thread resumes.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.client.wire import ChatCompletionsWire, StreamCut
from copydesk.agents.errors import ModelUnavailableError
from copydesk.agents.verdict import Verdict
from tests._cli import cli_env, copydesk, ok_json, transcript
from tests._client import TokenListener
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.writing import verdict_json

PROMPT = [SystemMessage("You write."), HumanMessage("Topic: otters")]
WHOLE = "Otters hold hands while they sleep so the current never parts them."

CUTS = {
    "cut early, no finish reason, no [DONE]": Fault.end_stream(2),
    "every chunk, [DONE], no finish reason (llama.cpp)": Fault.end_stream(done=True),
    "every chunk with its finish reason, no [DONE]": Fault.end_stream(finish=True),
    "cut early, [DONE] after it": Fault.end_stream(1, done=True),
}


async def drain(stream: Any) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def drafts_then_approval(body: dict[str, Any]) -> Reply:
    """The same whole draft every time it is asked for; typed requests approve it."""
    if "response_format" in body or "tools" in body:
        return Reply(content=verdict_json("approve", 1))
    return Reply(content=WHOLE)


def client_for(server: FakeOpenAIServer, max_retries: int = 3) -> OpenAIClient:
    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    return OpenAIClient(
        model="m",
        api_key=SecretStr("k"),
        base_url=server.base_url,
        retry=RetryPolicy(max_retries=max_retries, rng=random.Random(0)),
        sleep=no_wait,
    )


@pytest.mark.parametrize("cut", CUTS.values(), ids=list(CUTS))
async def test_the_wire_raises_a_cut_stream(fake_server: FakeOpenAIServer, cut: Fault) -> None:
    fake_server.responder = lambda body: Reply(content=WHOLE)
    fake_server.faults.add(cut)
    async with httpx.AsyncClient() as http:
        wire = ChatCompletionsWire(http, fake_server.base_url, "k")
        stream = await wire.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                   stream=True)  # fmt: skip
        with pytest.raises(StreamCut) as caught:
            await drain(stream)
        whole = await wire.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                  stream=True)  # fmt: skip
        assert [c async for c in whole]  # the next stream is whole and raises nothing
    assert "no finish reason" in str(caught.value) or "no [DONE]" in str(caught.value)


@pytest.mark.parametrize("cut", CUTS.values(), ids=list(CUTS))
async def test_a_cut_draft_is_asked_again_and_the_reply_is_whole(
    fake_server: FakeOpenAIServer, cut: Fault
) -> None:
    fake_server.responder = lambda body: Reply(content=WHOLE)
    fake_server.faults.add(cut)
    listener = TokenListener()
    async with client_for(fake_server) as client:
        reply = await client.complete(PROMPT, config={"callbacks": [listener]}, agent="writer")

    assert reply.text == WHOLE
    requests = fake_server.chat_requests()
    assert [(r.body or {}).get("stream") for r in requests] == [True, True]
    assert [c.agent for c in client.ledger.calls] == ["writer"]  # the cut one is not counted


async def test_a_cut_that_persists_is_one_error_naming_the_server_and_the_cut(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.responder = lambda body: Reply(content=WHOLE)
    fake_server.always = Fault.end_stream(done=True)
    async with client_for(fake_server, max_retries=2) as client:
        with pytest.raises(ModelUnavailableError) as caught:
            await client.complete(PROMPT, config={"callbacks": [TokenListener()]})

    message = str(caught.value)
    assert f"the server at {fake_server.base_url}" in message
    assert "closed the stream before the reply ended (no finish reason)" in message
    assert "3 attempt(s)" in message and "resume" in message and "\n" not in message
    assert len(fake_server.chat_requests()) == 3
    assert client.ledger.calls == []


async def test_a_cut_typed_reply_is_asked_for_whole_not_read_as_an_invalid_verdict(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.responder = lambda body: Reply(content=verdict_json("approve", 1))
    fake_server.faults.add(Fault.end_stream(3))  # half a JSON object, then the body ends
    async with client_for(fake_server) as client:
        typed = await client.structured(
            PROMPT, Verdict, config={"callbacks": [TokenListener()]}, agent="editor"
        )

    assert typed.value.decision == "approve"
    streamed = [(r.body or {}).get("stream") for r in fake_server.chat_requests()]
    assert streamed == [True, False]  # asked again, whole
    assert typed.usage["calls"] == 1


# --- from the command line ------------------------------------------------------------------


def test_a_cut_draft_is_never_saved_the_whole_reply_is(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = drafts_then_approval
    fake_server.faults.add(Fault.end_stream(2))  # the writer's first draft is cut
    env = cli_env(home, fake_server, COPYDESK_MEMORY="0")  # no embeddings request first

    result = ok_json(
        copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Kelp", "--thread-id", "kelp",
                 "--json")
    )  # fmt: skip

    drafts = [(r.body or {}) for r in fake_server.chat_requests() if "response_format" not in
              (r.body or {})]  # fmt: skip
    assert len(drafts) == 2 and all(d.get("stream") for d in drafts)  # cut, then asked again
    assert result["status"] == "approved"
    assert result["final_draft"] == WHOLE
    written = [line["text"] for line in transcript(home, "kelp") if line["agent"] == "writer"]
    assert written == [WHOLE]


def test_a_cut_that_persists_is_one_line_exit_1_and_the_thread_resumes(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = drafts_then_approval
    fake_server.always = Fault.end_stream(done=True)
    env = cli_env(home, fake_server, COPYDESK_MAX_RETRIES="1")

    failed = copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Kelp", "--thread-id",
                      "kelp")  # fmt: skip

    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1, failed.stderr  # after the retry warnings, one error line
    line = errors[0]
    assert f"the server at {fake_server.base_url}" in line
    assert "closed the stream before the reply ended" in line
    assert "starting it over" in failed.stdout  # the live view dropped each cut reply
    assert not (home / "transcripts" / "kelp.jsonl").exists() or not [
        t for t in transcript(home, "kelp") if t["agent"] == "writer"
    ]

    fake_server.always = None
    result = ok_json(copydesk(tmp_path, env, "resume", "kelp", "--json"))

    assert result["status"] == "approved"
    assert result["final_draft"] == WHOLE
