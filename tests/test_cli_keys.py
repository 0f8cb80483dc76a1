"""End-to-end: the API key is never written or printed, and a rejected key is named by its
fingerprint."""

from __future__ import annotations

from pathlib import Path

from copydesk.agents.errors import fingerprint
from tests._cli import cli_env, copydesk, files_under, ok
from tests.fakes import FakeOpenAIServer
from tests.fakes.writing import EditorialResponder

CANARY = "sk-canary-5f3e9a1b7c"


def test_api_key_never_written_or_printed(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    env = cli_env(home, fake_server, OPENAI_API_KEY=CANARY, COPYDESK_LOG_LEVEL="DEBUG")

    outputs = []
    for extra in ([], ["--json"]):
        proc = ok(
            copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Salt", *extra,
                     "--thread-id", f"salt{len(outputs)}")
        )  # fmt: skip
        outputs.append(proc.stdout + proc.stderr)
    assert "DEBUG" in outputs[0], "DEBUG logging was on, so the run logged something"
    exported = ok(copydesk(tmp_path, env, "export", "salt0", "--format", "json"))
    outputs.append(exported.stdout + exported.stderr)

    # The key was really used, so its absence below means something.
    assert {c.headers.get("authorization") for c in fake_server.chat_requests()} == {
        f"Bearer {CANARY}"
    }
    for text in outputs:
        assert CANARY not in text
    stored = files_under(home)
    assert any(p.name.endswith(".jsonl") for p in stored)
    for path in stored:
        assert CANARY.encode() not in path.read_bytes(), path


def test_rejected_key_is_named_by_fingerprint(tmp_path: Path, home: Path) -> None:
    with FakeOpenAIServer(api_key="sk-other") as server:
        env = cli_env(home, server, OPENAI_API_KEY=CANARY, COPYDESK_LOG_LEVEL="DEBUG")
        proc = copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Salt")

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1, proc.stderr
    assert fingerprint(CANARY) in errors[0]
    assert fingerprint(CANARY).startswith("key#")
    assert CANARY not in proc.stdout + proc.stderr
    for path in files_under(home):
        assert CANARY.encode() not in path.read_bytes(), path
