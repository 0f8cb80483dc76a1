"""Start-up cost of the `copydesk` command: CPU of `--help` and `threads`, whole process.

Each command runs as a child process, measured with `os.wait4` (user + sys CPU of that child
alone, so the load of other processes changes the numbers little); the median and minimum of
N runs are printed with a bare `python -c pass` as the baseline of the same run. The target:
import CPU of `copydesk --help` and `copydesk threads` <= 0.5 s.

    python benchmarks/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_S = 0.5
COPYDESK = [sys.executable, "-c", "from copydesk.graphs.cli import main; main()"]


def cpu_of(argv: list[str], env: dict[str, str]) -> float:
    """User + sys CPU seconds of one child running `argv`."""
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "COPYDESK_HOME": home, "COPYDESK_OFFLINE": "1"}
        # One finished thread, so `threads` reads a real checkpoint store.
        subprocess.run(
            [*COPYDESK, "run", "turn_taking", "--topic", "Trees", "--json"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rows = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "copydesk --help": [*COPYDESK, "--help"],
            "copydesk threads": [*COPYDESK, "threads"],
        }
        print(f"load average: {os.getloadavg()[0]:.2f}; {args.repeat} runs each")
        print("| command | median CPU s | min CPU s | target |\n|---|---:|---:|---|")
        verdicts = []
        for label, argv in rows.items():
            runs = [cpu_of(argv, env) for _ in range(args.repeat)]
            median, low = statistics.median(runs), min(runs)
            target = ""
            if label.startswith("copydesk"):
                ok = median <= TARGET_S
                verdicts.append(ok)
                target = f"<= {TARGET_S} s: {'PASS' if ok else 'FAIL'}"
            print(f"| {label} | {median:.3f} | {low:.3f} | {target} |")
    sys.exit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
