"""`copydesk worker` processes for tests and benchmarks, and the RabbitMQ they share.

`WorkerProcess` starts a real worker (`python -c "from copydesk.graphs.cli import main; main()"
worker`) with its stderr in a file, waits for its ready line, and stops it with SIGTERM or
kills it with SIGKILL. `rabbitmq_reachable` checks the broker; `delete_queues` removes a
test's queue and Dramatiq's delay and dead-letter queues beside it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import pika
import pika.exceptions

__all__ = ["DEFAULT_BROKER_URL", "WorkerProcess", "delete_queues", "rabbitmq_reachable"]

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
ENTRY = "from copydesk.graphs.cli import main; main()"


def _parameters(url: str) -> pika.URLParameters:
    from copydesk.graphs.queue.broker import pika_url

    parameters = pika.URLParameters(pika_url(url))
    parameters.socket_timeout = 3
    parameters.connection_attempts = 1
    return parameters


def rabbitmq_reachable(url: str) -> str | None:
    """None when RabbitMQ at `url` accepts a connection, else why not."""
    try:
        pika.BlockingConnection(_parameters(url)).close()
    except (pika.exceptions.AMQPError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def delete_queues(url: str, queue: str) -> None:
    """Delete `queue` and its `.DQ` / `.XQ` companions (missing ones are fine)."""
    with contextlib.closing(pika.BlockingConnection(_parameters(url))) as connection:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel = connection.channel()
            with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
                channel.queue_delete(name)


class WorkerProcess:
    """One `copydesk worker` child process.

    Args:
        cwd: Working directory of the child.
        env: Its whole environment (settings included).
        log: File its stderr goes to.
        concurrency: `--concurrency`.
        args: More `copydesk worker` flags.
    """

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        log: Path,
        concurrency: int = 4,
        args: tuple[str, ...] = (),
    ) -> None:
        self.cwd, self.env, self.log, self.concurrency = cwd, env, log, concurrency
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        """Start the worker and wait until it says it is ready."""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    ENTRY,
                    "worker",
                    "--concurrency",
                    str(self.concurrency),
                    *self.args,
                ],
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=sink,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready:" in self.text():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited early:\n{self.text()}")
            time.sleep(0.05)
        raise TimeoutError(f"the worker did not get ready:\n{self.text()}")

    def text(self) -> str:
        """What the worker has logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then wait; SIGKILL if it does not stop in `timeout` s."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
