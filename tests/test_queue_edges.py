"""The queue at its edges: a job whose model refuses is reported failed with its error, the
text forms of `submit`, `run-many --queue` and `resume --queue`, and the requests the
producer refuses before anything is queued (PostgreSQL only, no broker needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from copydesk.agents.config import Settings
from copydesk.agents.errors import ConfigError
from copydesk.graphs.errors import InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.queue import submit, submit_many, submit_resume
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers

pytestmark = pytest.mark.slow


async def _waiting_and_finished(given: Settings) -> None:
    async with ConversationManager(given) as manager:  # offline: no key in these settings
        await manager.run("turn_taking", topic="Buoys", thread_id="waiting", review=True)
        await manager.run("turn_taking", topic="Piers", thread_id="finished")


@pytest.fixture
def offline_settings(make_settings: Callable[..., Settings], postgres_url: str) -> Settings:
    """PostgreSQL checkpoints, the offline model, a broker nobody listens on."""
    return make_settings(
        checkpoint_url=postgres_url,
        broker_url="amqp://guest:guest@127.0.0.1:1//",
        memory=False,
    )


def test_the_producer_refuses_before_queueing(offline_settings: Settings) -> None:
    asyncio.run(_waiting_and_finished(offline_settings))

    with pytest.raises(InputError, match=r"'waiting' has not finished \(waiting_for_review\)"):
        asyncio.run(submit(offline_settings, "turn_taking", topic="x", thread_id="waiting"))
    with pytest.raises(InputError, match="the topic is empty"):
        asyncio.run(submit(offline_settings, "turn_taking", topic=" ", thread_id="brand-new"))
    with pytest.raises(InputError, match=r"'finished' is not waiting for review \(approved\)"):
        asyncio.run(submit_resume(offline_settings, "finished", answer={"action": "approve"}))
    with pytest.raises(InputError, match="a topic is empty; write one topic per line"):
        asyncio.run(submit_many(offline_settings, "turn_taking", ["Gulls", "  "]))


def test_an_unreachable_database_is_named(make_settings: Callable[..., Settings]) -> None:
    unreachable = make_settings(checkpoint_url="postgresql://postgres@127.0.0.1:1/x")

    with pytest.raises(ConfigError, match="cannot reach the PostgreSQL of COPYDESK_CHECKPOINT"):
        asyncio.run(submit_many(unreachable, "turn_taking", ["Gulls"]))
