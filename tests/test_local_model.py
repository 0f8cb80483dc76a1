"""`--local` when the local server misbehaves: a server that dies during the run is named in
the one error line (how it ended, where its log is), with no traceback; the child is gone.

The "venv" here holds a stand-in for llama.cpp's server: a small HTTP server that answers
the readiness probe and then crashes itself (SIGSEGV) on the first chat request, as the
native llama.cpp build did on a Xeon with AMX.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from copydesk.agents.client.local_paths import LLAMA_CPP_VERSION, MODEL_PACKAGE
from copydesk.agents.client.local_setup import build_flags
from tests._cli import cli_env, copydesk

CRASHING_SERVER = """
import http.server, os, signal, sys
port = int(sys.argv[sys.argv.index("--port") + 1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"object": "list", "data": [{"id": "gemma-3-270m", "object": "model"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        os.kill(os.getpid(), signal.SIGSEGV)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _crashing_venv(root: Path) -> Path:
    venv = root / "llama-venv"
    (venv / "bin").mkdir(parents=True)
    (root / "server.py").write_text(CRASHING_SERVER, encoding="utf-8")
    python = venv / "bin" / "python"
    # Called as `python -m llama_cpp.server --model ... --port N ...`: run the stand-in.
    python.write_text(
        f'#!/bin/sh\nshift 2\nexec {sys.executable} {root / "server.py"} "$@"\n', encoding="utf-8"
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    flavour, _ = build_flags()
    (venv / ".copydesk-ready").write_text(
        f"{LLAMA_CPP_VERSION} {MODEL_PACKAGE} {flavour}\n", encoding="utf-8"
    )
    return venv


def test_a_local_server_that_crashes_is_named_in_one_line(tmp_path: Path, home: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "gemma-3-270m-q4_k_m.gguf").write_bytes(b"GGUF")
    venv = _crashing_venv(tmp_path)
    env = cli_env(
        home, COPYDESK_CACHE=str(cache), COPYDESK_LLAMA_VENV=str(venv), COPYDESK_MAX_RETRIES="1"
    )
    done = copydesk(tmp_path, env, "run", "turn_taking", "-t", "Night trains", "--local")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1, done.stderr
    assert "the local llama.cpp server had stopped (killed by SIGSEGV)" in errors[0]
    assert str(cache / "llama-server.log") in errors[0]
    assert "copydesk resume" in errors[0]  # the thread is saved and named
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "server.py")], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout == ""
