"""Memories searchable when a run ends: embed what is still waiting, within a bound.

With an embedding server, a new memory waits for the next request (the next recall's) to
get its vector; a batch's last memories would wait for the next run. `settle` embeds them
before a batch (`run-many`) or a worker's job reports done, for at most `SETTLE_SECONDS`.
Whatever is still waiting then (the server is slow or down, or the process is killed) stays
waiting on disk and rides with the next run's first recall, as before: nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging

from langgraph.store.base import BaseStore

__all__ = ["SETTLE_SECONDS", "settle"]

log = logging.getLogger("copydesk.memory")

SETTLE_SECONDS = 30.0
"""How long a batch or a job waits, at most, for its memories' embeddings."""


async def settle(store: BaseStore | None, seconds: float = SETTLE_SECONDS) -> int:
    """Embed every memory still waiting for a vector, for at most `seconds`; return how many
    landed. A failure or the time running out is logged, never raised."""
    embed = getattr(store, "aembed_pending", None)
    if embed is None:
        return 0
    try:
        async with asyncio.timeout(seconds):
            return int(await embed())
    except TimeoutError:
        log.warning(
            "memories still wait for their embedding after %.0f s; the next run embeds them",
            seconds,
        )
    except Exception as error:  # the embedding server's failure: the memories wait
        log.warning("memories could not be embedded (%s); the next run embeds them", error)
    return 0
