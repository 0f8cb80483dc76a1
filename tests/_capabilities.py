"""Servers that are not OpenAI, for the capability tests: a fake llama.cpp server, and a count
of what the client said it learned.

The fake server's llama.cpp mode copies what llama-cpp-python's server was seen doing with a
real model: json_schema refused with a 500, no usage in streams, no embeddings, only
`max_tokens` honoured, an empty stream for a prompt over the context, a running stream ended
by the next request, consecutive user turns rejected.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import FakeOpenAIServer
from tests.fakes.openai_server import LlamaCppQuirks


def _llama(**quirks: Any) -> FakeOpenAIServer:
    server = FakeOpenAIServer()
    server.llama_cpp = LlamaCppQuirks(**quirks)
    return server


def _said(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records)
