"""`Gathering`: embedding requests asked for close together go out as one request.

Every recall embeds what an agent is working on, and fifty conversations at once recall at
nearly the same moments: one HTTP request per recall made the embeddings cost as much client
CPU as the chat calls themselves. Texts asked for within `window` seconds of the first one of
a batch (on the same event loop) are sent together, each text once however many callers asked
for it, and every caller gets its own rows. The request runs in the context of the caller
that opened the batch (its span, its agent on a cassette); a failure reaches every caller of
the batch, as it would have reached each of their own requests.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from copydesk.memory.embeddings import Vectors

__all__ = ["Gathering"]


class _Batch:
    """The texts of one request-to-be and the callers waiting for them."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}  # text -> its row in the reply
        self.waiters: list[asyncio.Future[Vectors]] = []


class Gathering:
    """Batches `send` calls that start within `window` seconds of each other.

    Args:
        send: Embeds a list of distinct texts in one request: one row per text, in order.
        window: Seconds a batch stays open after its first text (0: every call alone).
        limit: Texts per request at most; a full batch closes and the next text opens another.
    """

    def __init__(
        self,
        send: Callable[[list[str]], Awaitable[Vectors]],
        *,
        window: float,
        limit: int = 256,
    ) -> None:
        self._send = send
        self.window = window
        self.limit = limit
        self._open: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch] = (
            weakref.WeakKeyDictionary()
        )
        self._running: set[asyncio.Task[None]] = set()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text of `texts`, from the request of the batch they joined."""
        if self.window <= 0:
            return await self._send(list(texts))
        loop = asyncio.get_running_loop()
        batch = self._open.get(loop)
        fresh = [t for t in dict.fromkeys(texts) if batch is None or t not in batch.texts]
        if batch is None or len(batch.texts) + len(fresh) > self.limit:
            batch = self._open[loop] = _Batch()
            context = contextvars.copy_context()  # the opener's span and agent
            loop.call_later(self.window, self._close, loop, batch, context)
        rows = [batch.texts.setdefault(text, len(batch.texts)) for text in texts]
        waiter: asyncio.Future[Vectors] = loop.create_future()
        batch.waiters.append(waiter)
        matrix = await waiter
        return np.asarray(matrix[rows])

    def _close(
        self, loop: asyncio.AbstractEventLoop, batch: _Batch, context: contextvars.Context
    ) -> None:
        if self._open.get(loop) is batch:
            del self._open[loop]
        task = loop.create_task(self._request(batch), context=context)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _request(self, batch: _Batch) -> None:
        if all(waiter.done() for waiter in batch.waiters):
            return  # every caller gave up (cancelled) before the batch went out
        try:
            matrix = await self._send(list(batch.texts))
        except asyncio.CancelledError:
            for waiter in batch.waiters:
                waiter.cancel()
            raise
        except Exception as error:  # each caller's own request would have raised it
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(matrix)
