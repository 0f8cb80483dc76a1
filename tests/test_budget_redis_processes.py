"""One thread's budget spent by two real processes at once through one Redis, read from the
fake server's own log of what it served; and a hold whose process was killed mid-call."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from copydesk.agents.client.budget import Allowance
from copydesk.agents.client.budget_redis import SharedSpendBook, book_scope
from tests._cli import ENTRY, cli_env
from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes.topologies import TopologyResponder

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests.test_limiter_redis import prefix as prefix
from tests.test_limiter_redis import redis_url as redis_url

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

SPENDER = """
import asyncio, json, sys
from langchain_core.messages import HumanMessage, SystemMessage
from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.budget import Allowance, allowance_scope
from copydesk.agents.client.budget_redis import SharedSpendBook
from copydesk.agents.errors import BudgetSpentError
from copydesk.memory.tokens import vocabulary_for_model

spec = json.loads(sys.argv[1])
PROMPT = [SystemMessage("You are terse."), HumanMessage("Say something long.")]

async def spender(client, calls):
    while True:
        try:
            await client.complete(PROMPT)
        except BudgetSpentError as spent:  # sent and cut at what was left, or not sent
            calls.extend([1] * (spent.usage["calls"] if spent.usage else 0))
            return
        calls.append(1)

async def main():
    async with OpenAIClient(model=spec["model"], base_url=spec["base_url"],
                            max_output_tokens=spec["cap"]) as client:
        if spec["redis_url"]:
            client.spending.book = SharedSpendBook(spec["redis_url"], "spenders",
                                                   prefix=spec["prefix"])
        calls = []
        vocabulary_for_model(spec["model"])  # loaded now, not while the other one spends
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start spending at once
        with allowance_scope(Allowance("t", tokens=spec["tokens"], cost=spec["cost"])):
            await asyncio.gather(*(spender(client, calls) for _ in range(3)))
    print(json.dumps({"calls": len(calls)}), flush=True)

asyncio.run(main())
"""

HOLDER = """
import asyncio, sys
from copydesk.agents.client.budget import Allowance
from copydesk.agents.client.budget_redis import SharedSpendBook

async def main():
    book = SharedSpendBook(sys.argv[1], "spenders", prefix=sys.argv[2], hold_ttl=2.0)
    await book.hold(Allowance("t", tokens=1000), 100, 500)
    print("held", flush=True)
    await asyncio.sleep(3600)  # a call that never ends: the test kills this process

asyncio.run(main())
"""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COPYDESK_")}
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}


def spend_from_two_processes(spec: dict[str, object]) -> list[int]:
    """Start two spenders, let them go at once, and return the calls each made."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SPENDER, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert all(proc.returncode == 0 for proc in procs), outs
    return [json.loads(out.strip().splitlines()[-1])["calls"] for out in outs]


@pytest.mark.parametrize("where", ["redis", "each process alone"])
def test_two_processes_spend_one_token_budget_and_never_pass_it(
    redis_url: str, prefix: str, fake_server: FakeOpenAIServer, where: str
) -> None:
    """Two processes, three calls at once in each, on one thread with a 900-token budget: with
    the book in Redis the server serves at most 900 tokens in all, both processes spending;
    with a book in each process (the control) they pass it."""
    fake_server.cap_replies = True
    fake_server.latency = 0.2
    fake_server.responder = lambda body: Reply(content="word " * 400)
    budget = 900
    spec = {"model": "gpt-4o-mini", "base_url": fake_server.base_url, "cap": 60,
            "redis_url": redis_url if where == "redis" else "", "prefix": prefix,
            "tokens": budget, "cost": 0.0}  # fmt: skip
    calls = spend_from_two_processes(spec)
    served = sum(u["prompt_tokens"] + u["completion_tokens"] for u in fake_server.served)
    assert sum(calls) == len(fake_server.served)
    if where == "redis":
        assert min(calls) > 0 and budget * 2 // 3 < served <= budget
    else:
        assert served > budget  # each process gave itself the whole remainder


def test_two_processes_spend_one_cost_budget_and_never_pass_it(
    redis_url: str, prefix: str, fake_server: FakeOpenAIServer
) -> None:
    """The same with `--max-cost` at gpt-4o's prices: USD served stays within the budget."""
    fake_server.cap_replies = True
    fake_server.latency = 0.2
    fake_server.responder = lambda body: Reply(content="word " * 400)
    budget = 0.004
    spec = {"model": "gpt-4o", "base_url": fake_server.base_url, "cap": 60,
            "redis_url": redis_url, "prefix": prefix, "tokens": 0, "cost": budget}  # fmt: skip
    calls = spend_from_two_processes(spec)
    cost = sum(
        u["prompt_tokens"] * 2.5e-6 + u["completion_tokens"] * 10e-6 for u in fake_server.served
    )
    assert min(calls) > 0 and budget / 2 < cost <= budget


async def test_a_killed_process_hold_lapses_and_its_tokens_come_back(
    redis_url: str, prefix: str
) -> None:
    """A process holding 600 of a thread's 1,000 tokens is killed mid-call: while it lived
    its hold stood (renewed past its two-second expiry); once dead, the hold lapses and
    another process gets the whole remainder."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, redis_url, prefix,
        stdout=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    book = SharedSpendBook(redis_url, "spenders", prefix=prefix)
    try:
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"held"
        await asyncio.sleep(4.5)  # past two expiries: renewals keep it
        holds = redis.Redis.from_url(redis_url).hvals(book.keys("t")[2])
        assert [h.split()[0] for h in holds] == [b"600"]
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    hold = await asyncio.wait_for(book.hold(Allowance("t", tokens=1000), 100, 900), 60)
    assert hold.cap == 900  # 1,000 - 100 of prompt: nothing held by the dead process
    book.settle(hold, None)
    await book.aclose()


async def test_copydesk_run_holds_from_what_another_process_left(
    redis_url: str, tmp_path: Path
) -> None:
    """`copydesk run` with `COPYDESK_REDIS_URL` shares its thread's book: another process's
    call holds 700 of the thread's 1,500 tokens and then spends them; the run waits for it
    rather than take the whole remainder, and ends over budget with the server having served
    at most the 800 left."""
    scope = book_scope(f"sqlite:///{tmp_path / 'checkpoints.sqlite'}")
    other = SharedSpendBook(redis_url, scope)  # the CLI's own prefix: the keys are this test's
    held = await other.hold(Allowance("kites", tokens=1500), 200, 500)
    with FakeOpenAIServer() as server:
        server.cap_replies = True
        server.responder = TopologyResponder(approve_after=99)
        env = cli_env(tmp_path, server, COPYDESK_REDIS_URL=redis_url, COPYDESK_MEMORY="false")
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ENTRY, "run", "turn_taking", "--topic", "Kites",
            "--thread-id", "kites", "--max-rounds", "30", "--token-budget", "1500", "--json",
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        spent = {"prompt_tokens": 200, "completion_tokens": 500, "calls": 1, "cost_usd": 0.0}
        asyncio.get_running_loop().call_later(1.0, other.settle, held, spent)
        out, err = await asyncio.wait_for(run.communicate(), 120)
    await other.aclose()
    client = redis.Redis.from_url(redis_url)
    client.delete(*other.keys("kites"))
    result = json.loads(out)
    served = sum(u["prompt_tokens"] + u["completion_tokens"] for u in server.served)
    assert (result["status"], run.returncode) == ("over_budget", 0), err
    assert 0 < served <= 800 and len(server.served) >= 2
