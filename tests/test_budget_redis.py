"""A thread's budget book in a real Redis: books of "processes" (separate `SharedSpendBook`s)
holding from one remainder, holds that lapse, and what happens when Redis is away (a TCP
proxy in front of Redis is cut; the real server keeps running)."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from typing import Any

import pytest
import redis

from copydesk.agents.client.budget import Allowance, SpendBook
from copydesk.agents.client.budget_redis import SharedSpendBook, book_scope, thread_key
from copydesk.agents.config import Settings
from copydesk.agents.errors import BudgetSpentError
from copydesk.agents.state import UsageTotals
from tests.fakes.tcp_proxy import TcpProxy

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests.test_limiter_redis import prefix as prefix
from tests.test_limiter_redis import proxy as proxy
from tests.test_limiter_redis import redis_url as redis_url
from tests.test_limiter_redis import via


def used(tokens: int, cost: float = 0.0) -> UsageTotals:
    return {"prompt_tokens": tokens // 2, "completion_tokens": tokens - tokens // 2,
            "calls": 1, "cost_usd": cost}  # fmt: skip


def book(url: str, prefix: str, **options: Any) -> SharedSpendBook:
    return SharedSpendBook(url, "scope", prefix=prefix, **options)


async def test_books_of_two_processes_hold_from_one_remainder(redis_url: str, prefix: str) -> None:
    """What one process holds and spent leaves the other only the rest; a call that would get
    less than alone waits for the other's settle, then gets the room the settle left."""
    a, b = book(redis_url, prefix), book(redis_url, prefix)
    budget = Allowance("t", tokens=300)
    first = await a.hold(budget, 50, 100)
    second = await b.hold(budget, 50, 100)
    assert (first.cap, second.cap, first.tokens) == (100, 100, 150)
    assert first.ident and first.ident != second.ident  # held in Redis, not locally
    third = asyncio.create_task(b.hold(budget, 50, 100))
    await asyncio.sleep(0.2)
    assert not third.done()  # 0 left while both are held: it waits, it is not cut
    a.settle(first, used(70))
    b.settle(second, used(60))
    held = await asyncio.wait_for(third, 30)
    assert (held.cap, held.reduced) == (100, False)  # 300 - 130 spent - 50 prompt = 120 alone
    with pytest.raises(BudgetSpentError, match="300 token budget"):
        await a.hold(budget, 200, 100)  # 130 spent + 150 held + 200: the prompt alone is over
    b.settle(held, None)  # not billed: the hold goes and nothing is added
    await b.aclose()
    spent = redis.Redis.from_url(redis_url).hgetall(a.keys("t")[0])
    assert int(spent[b"tokens"]) == 130
    last = await a.hold(budget, 50, 200)
    assert (last.cap, last.reduced) == (120, True)  # the budget, not the call, set the cap
    await a.aclose()


async def test_the_state_counts_where_it_says_more_and_costs_are_held_too(
    redis_url: str, prefix: str
) -> None:
    """The state's spend (a resumed thread) is trusted where it says more than Redis knows; a
    cost budget holds in USD and names itself when it refuses."""
    shared = book(redis_url, prefix)
    with pytest.raises(BudgetSpentError):
        await shared.hold(Allowance("t", tokens=1000, spent_tokens=990), 20, 100)
    price = (2.5e-6, 10e-6)
    costly = Allowance("c", cost=0.01, spent_cost=0.002)
    hold = await shared.hold(costly, 100, None, price)
    assert hold.ending == "cost_budget" and hold.reduced
    assert 770 <= (hold.cap or 0) <= 775 and hold.cost == pytest.approx(0.008, abs=1e-5)
    shared.settle(hold, used(500, 0.004))
    await shared.aclose()
    with pytest.raises(BudgetSpentError, match="budget \\(--max-cost\\)") as refused:
        await shared.hold(costly, 2000, None, price)  # 0.006 spent and 0.005 of prompt
    assert refused.value.ending == "cost_budget"
    with pytest.raises(BudgetSpentError):  # a state already over budget: Redis is not asked
        await shared.hold(Allowance("t", tokens=10, closed="token_budget"), 1, 1)
    unlimited = await shared.hold(Allowance("u", cost=1.0), 10, None, (0.0, 0.0))
    assert unlimited.cap is None and unlimited.tokens == 10  # no price: nothing to cap by
    assert not unlimited.reduced  # and a reply it cuts is not the budget's doing
    shared.settle(unlimited, used(20))
    await shared.aclose()


async def test_a_hold_lives_while_renewed_and_lapses_when_not(redis_url: str, prefix: str) -> None:
    """A hold of a running call is renewed past its expiry; one nobody renews (its process
    died) lapses, and its tokens come back to the others."""
    alive = book(redis_url, prefix, hold_ttl=1.5)
    budget = Allowance("t", tokens=200)
    kept = await alive.hold(budget, 50, 100)
    await asyncio.sleep(3.5)  # two expiries: only renewals keep it
    client = redis.Redis.from_url(redis_url)
    assert client.hget(alive.keys("t")[2], kept.ident) is not None
    alive.settle(kept, None)
    await alive.aclose()
    assert client.hlen(alive.keys("t")[2]) == 0

    dead = book(redis_url, prefix, hold_ttl=0.3)
    await dead.hold(budget, 50, 100)
    for task in list(dead._loop()._renewals.values()):
        task.cancel()  # what a killed process does: no more renewals
    other = book(redis_url, prefix)
    back = await asyncio.wait_for(other.hold(budget, 50, 150), 30)
    assert back.cap == 150  # the lapsed hold's 150 tokens came back
    other.settle(back, None)
    for shared in (dead, other):
        await shared.aclose()


async def test_keys_name_no_secret_and_expire_after_the_last_use(
    redis_url: str, prefix: str
) -> None:
    """A thread's keys are a hash of where its checkpoints live and its id (a password in a
    checkpoint URL never reaches Redis), and expire `idle_ttl` after the last use."""
    url = "postgresql://writer:s3cret@db.example/copydesk"
    shared = SharedSpendBook(redis_url, book_scope(url), prefix=prefix, idle_ttl=120)
    hold = await shared.hold(Allowance("t", tokens=100), 10, 10)
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(f"{prefix}*"))
    assert keys == sorted(shared.keys("t")) and not any("s3cret" in k for k in keys)
    assert all(0 < client.ttl(key) <= 120 for key in keys)
    shared.settle(hold, used(15))
    await shared.aclose()
    assert [k.decode() for k in client.scan_iter(f"{prefix}*")] == shared.keys("t")[:1]
    assert 0 < client.ttl(shared.keys("t")[0]) <= 120  # what was spent, no holds
    assert thread_key(prefix, book_scope(url), "t") != thread_key(prefix, book_scope(url), "u")
    assert book_scope("sqlite:///a/../b.sqlite") == book_scope("sqlite:///b.sqlite")
    assert book_scope("memory:") != book_scope("memory:")  # a memory thread is one process's


async def test_redis_away_falls_back_to_this_process_and_says_so_once(
    redis_url: str, prefix: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stops between a hold and its settle: the settle, the renewals and the next holds
    go to this process's own book (which knows what this process spent), said once; when
    Redis is back, the books are shared again, said once."""
    shared = book(via(proxy, redis_url), prefix, hold_ttl=0.3, retry_every=0.05)
    budget = Allowance("t", tokens=300)
    with caplog.at_level(logging.WARNING, logger="copydesk.budget"):
        hold = await shared.hold(budget, 50, 100)
        assert hold.ident and shared.shared
        proxy.cut()
        await asyncio.sleep(0.3)  # a renewal fails
        shared.settle(hold, used(100))
        local = await shared.hold(budget, 50, 100)
        assert not local.ident and not shared.shared  # held in this process's own book
        assert local.cap == 100
        shared.settle(local, used(100))
        with pytest.raises(BudgetSpentError):
            await shared.hold(budget, 100, 100)  # 200 spent here: the prompt alone fills it
        proxy.restore()
        await asyncio.sleep(0.1)
        again = await shared.hold(budget, 20, 10)
        assert again.ident and shared.shared
        shared.settle(again, None)
        await shared.aclose()
    notes = [r.getMessage() for r in caplog.records if r.name == "copydesk.budget"]
    assert len(notes) == 2
    assert "unreachable" in notes[0] and "own" in notes[0] and "back" in notes[1]


async def test_a_redis_that_never_answers_costs_the_run_nothing(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No Redis at the address at all: every hold is this process's own, one warning."""
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    shared = book(f"redis://127.0.0.1:{port}/0", prefix, timeout=0.5)
    budget = Allowance("t", tokens=340)
    with caplog.at_level(logging.WARNING, logger="copydesk.budget"):
        for _ in range(3):
            hold = await shared.hold(budget, 50, 50)
            shared.settle(hold, used(100))
        with pytest.raises(BudgetSpentError):
            await shared.hold(budget, 50, 50)
        shared.forget("t")  # a run starts: this process counts from the state again
        assert (await shared.hold(budget, 50, 50)).cap == 50
        await shared.aclose()
    assert len([r for r in caplog.records if r.name == "copydesk.budget"]) == 1


def test_the_limiter_setting_shares_the_books_and_no_setting_loads_no_redis(
    redis_url: str, tmp_path: Any
) -> None:
    """`COPYDESK_REDIS_URL` (the limiter's) puts the books in Redis; without it a whole run
    loads no Redis client at all."""
    from copydesk.agents.client import OpenAIClient

    shared = OpenAIClient.from_settings(Settings(home=tmp_path, redis_url=redis_url))
    assert isinstance(shared.spending.book, SharedSpendBook)
    assert isinstance(OpenAIClient.from_settings(Settings(home=tmp_path)).spending.book, SpendBook)
    script = (
        "import asyncio, sys\n"
        "from copydesk.agents.config import Settings\n"
        "from copydesk.graphs.manager import ConversationManager\n"
        "async def main():\n"
        f"    settings = Settings(home={str(tmp_path)!r}, checkpoint_url='memory:', memory=False)\n"
        "    async with ConversationManager(settings) as manager:\n"
        "        result = await manager.run('turn_taking', topic='Kites', token_budget=3000)\n"
        "    print(result.status, 'redis' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("COPYDESK_")}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split()[-1] == "False", out.stdout
