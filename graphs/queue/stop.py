"""`copydesk stop` of a thread handed to the workers: one still waiting in the queue does not
start, and one a worker runs stops at its next step.

A stop of a queued thread means "do not run it": every job of the thread that no worker has
taken yet is withdrawn (`stopped` in the job table), and a worker that receives its message
later runs nothing (`JobTable.take` refuses a withdrawn job). A job a worker has just taken
may not be running yet (no row in `copydesk_runs`, or no checkpoint): the stop is asked
again for a few seconds, until the run can hear it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from copydesk.agents.settings import Settings
from copydesk.graphs.errors import InputError, UnknownThreadError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.queue.producer import withdraw
from copydesk.graphs.stopping import StopAnswer

__all__ = ["TAKEN_WAIT", "stop_queued"]

TAKEN_WAIT = 10.0
"""Seconds a stop keeps asking a thread whose job a worker has taken but not started."""


async def stop_queued(
    manager: ConversationManager,
    settings: Settings,
    thread_id: str,
    *,
    wait: float = TAKEN_WAIT,
    every: float = 0.5,
) -> StopAnswer:
    """Withdraw the queued jobs of `thread_id`, and stop its run if one is running.

    Raises:
        UnknownThreadError: No such thread, and nothing of it was queued.
        InputError: The thread is not running (and nothing of it was queued).
    """
    withdrawn, taken = await withdraw(settings, thread_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (wait if taken else 0.0)
    while True:
        try:
            answer = await manager.stop(thread_id)
        except (UnknownThreadError, InputError):
            if loop.time() < deadline:
                await asyncio.sleep(every)
                continue
            if withdrawn:
                return StopAnswer(thread_id, None, withdrawn=tuple(withdrawn))
            raise
        if answer.asked is None and loop.time() < deadline:  # its new run has not begun
            await asyncio.sleep(every)
            continue
        return replace(answer, withdrawn=tuple(withdrawn))
