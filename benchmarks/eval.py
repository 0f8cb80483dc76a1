"""`copydesk eval` measured: regression found where it was planted, and replay against live.

1. **Planted regression.** A scripted writer on the stand-in server writes four paragraphs
   of words no other paragraph uses, and in each revision fixes the paragraph the editor
   quoted and rewrites one paragraph nobody asked about. The planted rate is the rewritten
   words over the earlier drafts' words; the eval reports its `regression_rate`.
2. **Replay against live.** An eval of N conversations (cases x 2 variants, turn_taking)
   recorded through the stand-in server answering after `--latency` seconds, then replayed
   from the cassette with no server: the wall-time ratio, and copydesk's CPU per model call
   (the child process's user+system time over the calls it made) live and replayed.

    python benchmarks/eval.py [--cases 25] [--latency 0.2] [--planted 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeOpenAIServer  # noqa: E402
from tests.fakes._replies import Reply, last_user_text  # noqa: E402
from tests.fakes.topologies import JudgingResponder, _schema_name  # noqa: E402

ENTRY = "from copydesk.graphs.cli import main; main()"
WORDS = 12  # per paragraph


class ScriptedWriter:
    """Writer: four paragraphs of unique words; each revision fixes the quoted paragraph and
    rewrites one untouched paragraph. Editor: quotes paragraph 1's first words, approves at
    round `rounds`. Both keyed by topic, so runs of different topics do not mix."""

    def __init__(self, rounds: int = 3) -> None:
        self.rounds = rounds
        self.drafts: dict[str, list[list[str]]] = {}
        self.fresh = 0
        self.lock = threading.Lock()

    def _words(self) -> list[str]:
        self.fresh += WORDS
        return [f"w{self.fresh - WORDS + i}x" for i in range(WORDS)]

    def __call__(self, body: dict[str, Any]) -> Reply:
        task = last_user_text(body)
        topic = (re.search(r"^Topic:\s*(.+)$", task, re.M) or [None, "?"])[1]
        with self.lock:
            drafts = self.drafts.setdefault(topic, [])
            if _schema_name(body) == "Verdict":
                n = len(drafts)
                if n >= self.rounds:
                    return Reply(
                        content=json.dumps({"decision": "approve", "issues": [], "summary": "ok"})
                    )
                quote = " ".join(drafts[-1][0][:3])
                issue = {"severity": "major", "quote": quote, "comment": "fix this"}
                return Reply(
                    content=json.dumps(
                        {"decision": "revise", "issues": [issue], "summary": "revise"}
                    )
                )
            if not drafts:
                paragraphs = [self._words() for _ in range(4)]
            else:
                paragraphs = [list(p) for p in drafts[-1]]
                paragraphs[0] = self._words()  # the quoted paragraph, fixed
                paragraphs[1 + (len(drafts) - 1) % 3] = self._words()  # one nobody asked about
            drafts.append(paragraphs)
            return Reply(content="\n\n".join(" ".join(p) + "." for p in paragraphs))

    def planted(self) -> float:
        """Rewritten unasked words over the earlier drafts' words, over every topic."""
        changed = total = 0
        for drafts in self.drafts.values():
            for _ in drafts[1:]:
                changed += WORDS
            total += sum(4 * WORDS for _ in drafts[:-1])
        return changed / total


def suite(folder: Path, cases: int, variants: int = 1, rubric: bool = False) -> Path:
    lines = ['name = "bench"', "max_rounds = 4", "concurrency = 8"]
    if rubric:
        (folder / "rubric.toml").write_text(
            '[[criterion]]\nname = "clarity"\nquestion = "Clear?"\n'
            'anchors = { 1 = "a", 2 = "b", 3 = "c", 4 = "d", 5 = "e" }\n'
        )
        lines.append('rubric = "rubric.toml"')
    for n in range(cases):
        lines += ["[[case]]", f'topic = "Bench topic number {n}"']
    for v in range(1, variants + 1):
        lines += [
            "[[variant]]",
            f'name = "editor-v{v}"',
            'graph = "turn_taking"',
            f'prompts = ["editor@v{v}"]',
        ]
    path = folder / "suite.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def copydesk(home: Path, server: FakeOpenAIServer | None, *args: str) -> tuple[float, float, str]:
    """Run the CLI; (wall seconds, child CPU seconds, stdout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COPYDESK_"))}
    env.update(COPYDESK_HOME=str(home), LANGSMITH_TRACING="false", PYTHONPATH=str(ROOT))
    if server is not None:
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-bench")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"copydesk {' '.join(args)} failed:\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def planted_regression(cases: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as server:
        writer = ScriptedWriter()
        server.responder = writer
        path = suite(Path(tmp), cases)
        _, _, out = copydesk(Path(tmp) / "home", server, "eval", str(path), "--json")
        report = json.loads(out)
    reported = report["variants"]["editor-v1"]["regression_rate"]
    runs = [r["scores"]["regression_rate"] for r in report["runs"]]
    print("| cases | revisions | planted rate | reported rate (mean) | per run, min-max |")
    print("|---|---|---|---|---|")
    revisions = sum(len(d) - 1 for d in writer.drafts.values())
    spread = f"{min(runs):.4f}-{max(runs):.4f}"
    print(f"| {cases} | {revisions} | {writer.planted():.4f} | {reported['mean']:.4f} | {spread} |")


def _live_then_replay(
    folder: Path, cases: int, latency: float
) -> tuple[int, float, float, float, float]:
    """(calls, live wall, live CPU, replay wall, replay CPU) of an eval of `cases` x 2."""
    path = suite(folder, cases, variants=2)
    cassette = folder / "eval.json"
    with FakeOpenAIServer() as server:
        server.responder = JudgingResponder(approve_after=1)
        server.latency = latency
        live_wall, live_cpu, _ = copydesk(
            folder / "live", server, "eval", str(path), "--json", "--record", str(cassette)
        )
        calls = len(server.chat_requests())
    replay_wall, replay_cpu, _ = copydesk(
        folder / "replay", None, "eval", str(path), "--json", "--replay", str(cassette)
    )
    return calls, live_wall, live_cpu, replay_wall, replay_cpu


def replay_against_live(cases: int, latency: float) -> None:
    """The whole eval's wall and CPU, and the marginal CPU per call: the CPU of `cases`
    less that of a one-case eval (start-up, imports, the cassette's load), per extra call."""
    with tempfile.TemporaryDirectory() as big, tempfile.TemporaryDirectory() as small:
        n, lw, lc, rw, rc = _live_then_replay(Path(big), cases, latency)
        n1, _, lc1, _, rc1 = _live_then_replay(Path(small), 1, latency)
    print(
        "| conversations | calls | latency | live wall | replay wall | ratio | "
        "CPU/call live | CPU/call replay | marginal CPU/call live | marginal replay |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {2 * cases} | {n} | {latency * 1000:.0f} ms | {lw:.1f} s | {rw:.1f} s | {rw / lw:.2f} "
        f"| {lc / n * 1000:.1f} ms | {rc / n * 1000:.1f} ms "
        f"| {(lc - lc1) / (n - n1) * 1000:.1f} ms | {(rc - rc1) / (n - n1) * 1000:.1f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", type=int, default=25, help="cases of the replay eval (x 2 variants)"
    )
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in server latency (s)")
    parser.add_argument(
        "--planted", type=int, default=5, help="cases of the planted-regression eval"
    )
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}")
    planted_regression(args.planted)
    replay_against_live(args.cases, args.latency)
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
