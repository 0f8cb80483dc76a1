"""The API key from the command line: asked for on every request, rotated mid-run, audited.

`OPENAI_API_KEY_FILE` names the key's file; the fake server replaces that file (a rename
into place, as secret managers do) while it answers a request in the middle of a run. Every
later request must carry the new key, with no restart; every request (chats, embeddings and
the embeddings probe alike) leaves exactly one line in `COPYDESK_HOME/audit.log` naming the
key by its fingerprint; and neither key appears in any file under `COPYDESK_HOME` or in the
command's output.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from copydesk.agents.errors import fingerprint
from tests._cli import cli_env, copydesk, files_under, ok_json
from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes.openai_server import CHAT_PATH
from tests.fakes.writing import EditorialResponder

OLD = "sk-old-rotation-canary-1111"
NEW = "sk-new-rotation-canary-22222222"


@dataclass
class RotatingResponder:
    """Answers as `EditorialResponder`; while answering chat request number `at`, replaces
    the key file with `NEW` (written aside, then renamed over it)."""

    key_file: Path
    at: int
    inner: EditorialResponder = field(
        default_factory=lambda: EditorialResponder(decisions=("revise", "revise", "approve"))
    )
    seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.seen += 1
            if self.seen == self.at:
                aside = self.key_file.with_suffix(".new")
                aside.write_text(NEW + "\n", encoding="utf-8")
                os.replace(aside, self.key_file)
        return self.inner(body)


def audit_lines(home: Path) -> list[dict[str, Any]]:
    text = (home / "audit.log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def assert_no_key_anywhere(home: Path, *outputs: str) -> None:
    for path in files_under(home):
        data = path.read_bytes()
        assert OLD.encode() not in data and NEW.encode() not in data, path
    for text in outputs:
        assert OLD not in text and NEW not in text


def test_a_key_file_rotated_mid_run_is_used_from_the_next_request_and_every_use_audited(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    key_file = tmp_path / "secrets" / "openai"
    key_file.parent.mkdir()
    key_file.write_text(OLD + "\n", encoding="utf-8")
    fake_server.responder = RotatingResponder(key_file, at=2)
    env = cli_env(home, fake_server, OPENAI_API_KEY_FILE=str(key_file))
    del env["OPENAI_API_KEY"]  # the key comes from the file only

    done = copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Salt marshes",
                    "--thread-id", "marsh", "--json")  # fmt: skip
    result = ok_json(done)

    assert result["status"] == "approved" and result["rounds"] == 3
    requests = fake_server.requests
    sent = [r.headers.get("authorization") for r in requests]
    chats = [i for i, r in enumerate(requests) if r.path == CHAT_PATH]
    rotated_at = chats[1]  # the file was replaced while this request was answered
    assert set(sent[: rotated_at + 1]) == {f"Bearer {OLD}"}
    assert set(sent[rotated_at + 1 :]) == {f"Bearer {NEW}"}
    assert len(chats) == 6 and chats[-1] > rotated_at  # four chats after the rotation
    assert any(r.path.endswith("/embeddings") for r in requests)  # memory's requests too

    lines = audit_lines(home)
    assert len(lines) == len(requests)  # one audit line per request, whatever its endpoint
    assert [line["id"] for line in lines] == [
        fingerprint(OLD if s == f"Bearer {OLD}" else NEW) for s in sent
    ]
    assert Counter(line["use"] for line in lines) == Counter(
        f"{r.method} {r.path}" for r in requests
    )
    assert {line["source"] for line in lines} == {"OPENAI_API_KEY_FILE"}
    assert {line["secret"] for line in lines} == {"OPENAI_API_KEY"}
    assert_no_key_anywhere(home, done.stdout, done.stderr)


def test_a_key_from_the_environment_is_audited_on_every_request(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    env = cli_env(home, fake_server, OPENAI_API_KEY=OLD, COPYDESK_LOG_LEVEL="DEBUG")

    done = copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Dunes", "--json")
    ok_json(done)

    requests = fake_server.requests
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {OLD}"}
    lines = audit_lines(home)
    assert len(lines) == len(requests) >= 4
    assert {(line["source"], line["id"]) for line in lines} == {
        ("OPENAI_API_KEY", fingerprint(OLD))
    }
    assert_no_key_anywhere(home, done.stdout, done.stderr)


def test_an_offline_run_uses_no_key_and_audits_nothing(tmp_path: Path, home: Path) -> None:
    env = cli_env(home, COPYDESK_OFFLINE="1")
    ok_json(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Heath", "--json"))
    assert not (home / "audit.log").exists()


def test_the_local_model_server_is_never_sent_the_key(make_settings: Any) -> None:
    """`--local` points the run at a llama.cpp server copydesk starts itself: it needs no key,
    so the user's key is not used (nor audited) for it."""
    from copydesk.agents.client.local_server import local_settings

    settings = make_settings(openai_api_key=OLD)
    local = local_settings(settings, "http://127.0.0.1:9/v1", 4096)

    assert local.openai_api_key is None and local.is_offline is False
    assert local.openai_base_url == "http://127.0.0.1:9/v1"
