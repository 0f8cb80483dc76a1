"""The stand-in OpenAI server of `benchmarks/peers.py`, run as its own process.

    python -m benchmarks._peer_server --latency 0.05 [--limit MODEL=RPS ...]

It is `tests.fakes.FakeOpenAIServer` with a responder that plays the writer <-> editor loop
the same way for every framework: a verdict request (a JSON-schema `response_format`, a forced
tool, or a prompt containing `VERDICT_MARKER`) is answered "revise" with one major issue, so
every client runs all its rounds; anything else gets a draft of fixed length. Request limits
are reported per minute in the `x-ratelimit-*` headers, as OpenAI does. It prints
`FAKE_OPENAI_BASE_URL=...`, then reads one command a line on stdin and answers one JSON line:

- `stats`: chat and embedding requests so far (all, and 429s), their first and last arrival,
  and the embedding inputs sent;
- `reset`: forget the requests and 429s (latency, limits and responder stay).

It exits when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes.openai_server import CHAT_PATH

__all__ = ["DRAFT", "VERDICT", "VERDICT_MARKER", "PeerResponder", "main", "stats_of"]

EMBEDDINGS_PATH = "/v1/embeddings"
VERDICT_MARKER = "Reply with the verdict as JSON"
VERDICT: dict[str, Any] = {
    "decision": "revise",
    "issues": [
        {
            "severity": "major",
            "quote": "every street should have a tree",
            "comment": "Support the claim with one concrete number and name the city.",
        }
    ],
    "summary": "A clear start; the main claim needs evidence before it can run.",
}
DRAFT = (
    "Trees cool the street they stand on by several degrees in summer, take up the water "
    "that would flood the drains after a storm, and slow the cars that pass under them. "
    "They cost less to plant than one parking space costs to pave, and they pay the city "
    "back in lower energy bills within a decade. A street without trees is a street people "
    "hurry through; a street with them is one they stay on, shop on and look after."
)


class PeerResponder:
    """Answers verdict requests with a "revise" verdict and every other request with a draft."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        """One chat completion's reply."""
        tool = _forced_tool(body)
        if tool is not None:
            return Reply(tool_calls=[{"name": tool, "arguments": json.dumps(VERDICT)}])
        response_format = body.get("response_format")
        wants_json = isinstance(response_format, Mapping) and response_format.get("type") in (
            "json_schema",
            "json_object",
        )
        if wants_json or VERDICT_MARKER in _text(body):
            return Reply(content=json.dumps(VERDICT))
        return Reply(content=DRAFT)


def _forced_tool(body: Mapping[str, Any]) -> str | None:
    """The name of the function a request forces (function-calling structured output)."""
    tools = [t.get("function") for t in body.get("tools") or [] if isinstance(t, Mapping)]
    names = [str(f.get("name")) for f in tools if isinstance(f, Mapping)]
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        named = choice.get("function")
        name = named.get("name") if isinstance(named, Mapping) else None
        return str(name) if name in names else None
    if choice == "required" and names:
        return names[0]
    return None


def _text(body: Mapping[str, Any]) -> str:
    """The text of every message of a request."""
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [str(p.get("text", "")) for p in content if isinstance(p, Mapping)]
    return "\n".join(parts)


def stats_of(server: FakeOpenAIServer) -> dict[str, Any]:
    """What the server saw since the last reset, by kind of request."""
    requests = server.requests
    rejected = server.rejected_429_by_model()
    result: dict[str, Any] = {}
    for kind, path in (("chat", CHAT_PATH), ("embeddings", EMBEDDINGS_PATH)):
        seen = [r for r in requests if r.method == "POST" and r.path == path]
        models = {str((r.body or {}).get("model", "")) for r in seen}
        result[kind] = {
            "requests": len(seen),
            "rejected_429": sum(rejected.get(model, 0) for model in models),
            "first": seen[0].time if seen else None,
            "last": seen[-1].time if seen else None,
        }
    inputs = 0
    for r in requests:
        if r.path == EMBEDDINGS_PATH and r.body is not None:
            value = r.body.get("input")
            inputs += len(value) if isinstance(value, list) else 1
    result["embeddings"]["inputs"] = inputs
    result["other"] = sum(1 for r in requests if r.path not in (CHAT_PATH, EMBEDDINGS_PATH))
    result["peak_in_flight"] = server.peak_in_flight
    return result


def _limit(text: str) -> tuple[str, float]:
    """Parse `MODEL=RPS`."""
    model, _, rps = text.partition("=")
    try:
        return model, float(rps)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL=RPS, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stdin closes, answering `stats` and `reset` commands."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._peer_server")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each answer")
    parser.add_argument(
        "--limit", type=_limit, action="append", default=[], help="MODEL=RPS (repeatable)"
    )
    args = parser.parse_args(argv)
    server = FakeOpenAIServer()

    def configure() -> None:
        server.latency = args.latency
        server.rpm_headers = True  # as OpenAI: copydesk learns its pace from these
        server.responder = PeerResponder()
        for model, rps in args.limit:
            server.enforce(rps, model=model)

    configure()
    with server:
        print(f"FAKE_OPENAI_BASE_URL={server.base_url}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(stats_of(server)), flush=True)
            elif command == "reset":
                server.reset()
                configure()
                print(json.dumps({"ok": True}), flush=True)
            elif command:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
