"""Whole runs, watched (streamed), on a llama.cpp-like server: every topology ends normally,
usage missing from streams is estimated, a server that serves one request at a time gets
them in turn, one without embeddings gets local recall, and a failed run says which thread
to resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents import Settings
from copydesk.graphs.events import RunResult
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.registry import TOPOLOGIES
from copydesk.graphs.streaming import last_result
from tests._capabilities import _llama, _said
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder, speakers


async def _watched(manager: ConversationManager, graph: str, **options: Any) -> RunResult:
    """A run somebody watches (the live CLI, the review page): its replies are streamed."""
    return await last_result(manager.stream(graph, **options))


ENDED = {
    "turn_taking": "approved",
    "debate": "approved",
    "round_robin": "approved",
    "supervisor": "approved",
    "review_panel": "approved",
    "pipeline": "completed",
}


@pytest.mark.parametrize("mode", ["json_schema", "function_calling"])
# The document topology's typed outline is answered by tests/fakes/documents.py instead.
@pytest.mark.parametrize("name", sorted(set(TOPOLOGIES) - {"document"}))
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
            result = await _watched(manager, name, topic="Harbour cranes", max_rounds=3)
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


async def test_no_usage_in_streams_is_estimated_and_the_token_budget_holds(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """A server that reports no usage: tokens are counted, so a tiny budget ends the run."""
    with _llama() as server:
        server.responder = TopologyResponder(approve_after=5)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            result = await _watched(manager, "turn_taking", topic="Bridges", token_budget=400)
    total = result.usage["total"]
    assert (result.status, result.ended_by) == ("over_budget", "token_budget")
    assert 0 < total["prompt_tokens"] + total["completion_tokens"] <= 400
    assert _said(caplog, "reports no token usage") == 1


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
            result = await _watched(manager, "review_panel", topic="Tides", max_rounds=3)
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
                *(
                    _watched(manager, "turn_taking", topic=f"Tides {n}", max_rounds=3)
                    for n in range(3)
                )
            )
        requests = server.chat_requests()
    assert [r.status for r in results] == ["approved"] * 3
    assert _said(caplog, "serves one request at a time") == 1
    calls = sum(r.usage["total"]["calls"] for r in results)
    refused = sum("response_format" in (r.body or {}) for r in requests)  # json_schema, 500
    assert len(requests) - refused - calls <= 2


async def test_a_server_without_embeddings_gets_one_probe_per_client_and_local_recall(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """Embeddings refused: one request per client (its capability book keeps the answer, no
    module does), no retries, recall on the local embedder, said once per client."""

    def probes() -> int:
        return sum(r.path == "/v1/embeddings" for r in server.requests)

    with _llama() as server:
        server.responder = TopologyResponder(approve_after=1)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            for topic in ("Lighthouses", "Ferries"):
                result = await _watched(manager, "turn_taking", topic=topic, max_rounds=2)
                assert result.status == "approved"
        assert probes() == 1
        assert _said(caplog, "serves no embeddings") == 1
        async with ConversationManager(settings) as manager:  # a new client asks again
            result = await _watched(manager, "turn_taking", topic="Canals", max_rounds=2)
            assert result.status == "approved"
        assert probes() == 2
    assert _said(caplog, "serves no embeddings") == 2
    assert "could not store" not in caplog.text and "recall failed" not in caplog.text


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
