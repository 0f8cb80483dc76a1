"""The rate limiter: pacing, token window, priorities, fairness, header adaptation, and the
client keeping an enforced budget of the fake server with no failed call."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.limiter import (
    LATE_CAP,
    LimiterRegistry,
    Permit,
    Priority,
    RateLimiter,
    parse_reset,
)
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.client.windows import CATCH_UP, LocalWindows
from tests._client import MESSAGES
from tests.fakes import FakeOpenAIServer, Fault, Reply


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pacing_spaces_requests_by_interval() -> None:
    clock = Clock()
    windows = LocalWindows(clock=clock)
    assert windows.spend_now(0, 0.5, None, 0)[0] == 0
    wait, ident = windows.spend_now(0, 0.5, None, 0)
    assert wait == pytest.approx(0.5 - CATCH_UP)  # the first took a slot just missed
    assert ident == ""
    clock.now += 0.5
    assert windows.spend_now(0, 0.5, None, 0)[0] == 0
    delay, ident = windows.spend_now(0, 0.5, None, 0, horizon=1.0)  # reserved ahead
    assert ident and delay == pytest.approx(0.5 - CATCH_UP)


def test_token_window_and_settling() -> None:
    clock = Clock()
    windows = LocalWindows(clock=clock)
    _, first = windows.spend_now(60, 0, 100, 0)
    wait, _ = windows.spend_now(60, 0, 100, 0)
    assert wait == pytest.approx(60.0)  # only when the first spend leaves the window
    windows.settle_now(first, -50)  # the server said the call used 10 tokens, not 60
    assert windows.used_now() == 10
    assert windows.spend_now(60, 0, 100, 0)[0] == 0
    assert windows.spend_now(10, 0, 100, 30)[0] > 0  # 30 tokens used by others of the key


def test_parse_reset_formats() -> None:
    assert parse_reset("1s") == 1
    assert parse_reset("6m0s") == 360
    assert parse_reset("120ms") == pytest.approx(0.12)
    assert parse_reset("0.5") == 0.5
    assert parse_reset("soon") is None


async def _order(limiter: RateLimiter, calls: list[tuple[str, Priority, str]]) -> list[str]:
    """Queue the calls in order (the first is granted at once), return the grant order."""
    granted: list[str] = []

    async def one(name: str, priority: Priority, thread: str) -> None:
        await limiter.acquire(0, priority=priority, thread=thread)
        granted.append(name)

    tasks = []
    for call in calls:
        tasks.append(asyncio.create_task(one(*call)))
        await asyncio.sleep(0)  # enqueue in this order
    await asyncio.gather(*tasks)
    return granted


async def test_verdicts_go_before_background_work() -> None:
    limiter = RateLimiter("test", rpm=60 * 20 / 0.97, horizon=0)  # one call every 50 ms
    calls = [(f"summary{i}", Priority.BACKGROUND, "t") for i in range(4)]
    calls += [("verdict", Priority.VERDICT, "t"), ("draft", Priority.DRAFT, "t")]
    order = await _order(limiter, calls)
    assert order[:3] == ["summary0", "verdict", "draft"]


async def test_threads_take_turns() -> None:
    limiter = RateLimiter("test", rpm=60 * 20 / 0.97, horizon=0)
    calls = [(f"a{i}", Priority.DRAFT, "a") for i in range(6)] + [("b0", Priority.DRAFT, "b")]
    order = await _order(limiter, calls)
    assert order.index("b0") <= 2  # not behind all of thread a's queue


async def test_long_waiters_are_not_starved() -> None:
    limiter = RateLimiter("test", rpm=60 * 20 / 0.97, max_wait_unfair=0.0, horizon=0)
    calls = [("summary", Priority.BACKGROUND, "x"), ("summary2", Priority.BACKGROUND, "x")]
    calls += [(f"verdict{i}", Priority.VERDICT, "t") for i in range(3)]
    order = await _order(limiter, calls)
    assert order[1] == "summary2"  # it had waited longest; priority could not hold it back


async def test_cancelled_waiter_leaves_the_queue() -> None:
    limiter = RateLimiter("test", rpm=60 * 10 / 0.97, horizon=0)
    await limiter.acquire(0)
    waiting = asyncio.create_task(limiter.acquire(0))
    await asyncio.sleep(0.01)
    assert limiter.waiting == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter.waiting == 0


async def test_headers_lower_limits_and_count_other_clients() -> None:
    limiter = RateLimiter("test", tpm=10_000)
    await limiter.observe(
        {"x-ratelimit-limit-tokens": "5000", "x-ratelimit-remaining-tokens": "4000"}
    )
    assert limiter.tpm == 5000
    assert (await limiter.windows.spend(3000, 0, limiter.tpm, limiter._foreign_tokens))[0] == 0
    assert (await limiter.windows.spend(1500, 0, limiter.tpm, limiter._foreign_tokens))[0] > 0
    await limiter.observe({"x-ratelimit-limit-requests": "600"})
    assert limiter.rpm == 600  # learnt when no COPYDESK_RPM was set


def test_registry_shares_one_limiter_per_endpoint_model_and_key() -> None:
    registry = LimiterRegistry(rpm=60)
    one = registry.get("http://a/v1", "gpt-4o", "key#1")
    assert registry.get("http://a/v1", "gpt-4o", "key#1") is one
    assert registry.get("http://a/v1", "gpt-4o-mini", "key#1") is not one
    assert registry.get("http://a/v1", "gpt-4o", "key#2") is not one


def make_client(server: FakeOpenAIServer, registry: LimiterRegistry, **kwargs: Any) -> OpenAIClient:
    return OpenAIClient(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-test"),
        base_url=server.base_url,
        retry=RetryPolicy(max_retries=6, rng=random.Random(0)),
        limiters=registry,
        # No output cap: the fake server would count a cap against its token budget as OpenAI
        # does, and these budgets are sized for the completions the server reports.
        **{"max_output_tokens": None, **kwargs},
    )


async def test_many_conversations_keep_the_servers_request_budget(
    fake_server: FakeOpenAIServer,
) -> None:
    """60 calls at once against 40 requests/s: every call succeeds, almost no 429s."""
    fake_server.enforce(rps=40)
    registry = LimiterRegistry(rpm=40 * 60)
    async with make_client(fake_server, registry) as client:
        replies = await asyncio.gather(
            *(client.complete(MESSAGES, config=_thread(f"t{i}")) for i in range(60))
        )
    assert len(replies) == 60
    assert fake_server.rejected_429 <= 1
    assert len(fake_server.chat_requests()) - fake_server.rejected_429 == 60


async def test_token_budget_is_kept_and_estimates_reconciled(fake_server: FakeOpenAIServer) -> None:
    """A budget of tokens per minute the calls would overrun: they wait instead of 429s."""
    fake_server.responder = lambda body: Reply(content="ok", prompt_tokens=40, completion_tokens=10)
    fake_server.enforce(tpm=300)  # five calls of 50 tokens fit, the sixth would not
    registry = LimiterRegistry(tpm=300)
    async with make_client(fake_server, registry) as client:
        await asyncio.gather(*(client.complete(MESSAGES) for _ in range(5)))
        limiter = registry.get(client.endpoint, "gpt-4o-mini", client._key_id)
        assert await limiter.windows.used_tokens() == 250  # estimates replaced by reported usage
        sixth = asyncio.create_task(client.complete(MESSAGES))
        await asyncio.sleep(0.3)
        assert not sixth.done()  # held back by the limiter, not sent to get a 429
        assert limiter.waiting == 1
        sixth.cancel()
    assert fake_server.rejected_429 == 0


async def test_429_storm_pauses_everyone_and_no_call_fails(fake_server: FakeOpenAIServer) -> None:
    fake_server.faults.add(*[Fault.status(429, retry_after=0.05)] * 10)
    registry = LimiterRegistry(rpm=6000)
    async with make_client(fake_server, registry) as client:
        replies = await asyncio.gather(*(client.complete(MESSAGES) for _ in range(12)))
    assert all(r.text.startswith("Fake reply") for r in replies)
    assert len(fake_server.chat_requests()) == 22


def _thread(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def test_permit_is_plain_data() -> None:
    assert Permit("1", 5) == Permit("1", 5)


async def test_client_learns_limits_from_response_headers(fake_server: FakeOpenAIServer) -> None:
    """With no COPYDESK_RPM/TPM set, the x-ratelimit-* headers of replies set the limits."""
    fake_server.enforce(rps=50, tpm=40_000)
    registry = LimiterRegistry()
    async with make_client(fake_server, registry) as client:
        await client.complete(MESSAGES)
    limiter = registry.get(client.endpoint, "gpt-4o-mini", client._key_id)
    assert limiter.tpm == 40_000
    assert limiter.rpm == 50  # the fake reports its one-second capacity as the limit


async def test_a_reserved_slot_reached_late_is_given_up_not_sent_in_a_bunch() -> None:
    """Slots reserved ahead, then the event loop is busy past them: the calls take new slots
    (their tokens given back) instead of all going at once when the loop is free."""
    limiter = RateLimiter("test", rpm=600, tpm=1000, safety=1.0, horizon=0.5)  # 0.1 s apart
    await limiter.acquire(10)
    later = [asyncio.create_task(limiter.acquire(10)) for _ in range(3)]
    await asyncio.sleep(0.01)  # the pump reserves the next three slots
    assert limiter.waiting == 0
    time.sleep(0.45)  # noqa: ASYNC251 - the loop is busy past all three (what is tested)
    permits = await asyncio.gather(*later)

    # At least the three reserved slots were missed (a loaded machine may miss a re-taken one
    # too); every call went out on a new slot, never on a missed one.
    assert limiter.missed >= 3
    spent = sorted(int(p.spend_id) for p in permits)
    assert len(set(spent)) == 3
    assert min(spent) >= 5
    assert await limiter.windows.used_tokens() == 40  # the missed slots' tokens came back


async def test_with_no_known_limit_one_call_goes_first_and_its_headers_set_the_pace() -> None:
    """A cold limiter sends one call; the rest wait for its response headers instead of
    bursting past a limit the server has not told yet, then go at the pace it tells."""
    limiter = RateLimiter("cold", probe_wait=30.0)
    first = await limiter.acquire(10)
    rest = [asyncio.create_task(limiter.acquire(10)) for _ in range(3)]
    await asyncio.sleep(0.2)
    assert first.spend_id and not any(task.done() for task in rest)  # held, not sent
    await limiter.observe({"x-ratelimit-limit-requests": "600"})  # the probe's answer
    permits = await asyncio.gather(*rest)
    assert len({p.spend_id for p in permits}) == 3
    assert limiter.rpm == 600.0 and limiter.interval > 0  # paced from now on


async def test_a_probe_that_never_answers_holds_the_others_only_briefly() -> None:
    limiter = RateLimiter("cold", probe_wait=0.2)
    await limiter.acquire(10)
    permits = await asyncio.wait_for(
        asyncio.gather(*(limiter.acquire(10) for _ in range(3))), timeout=10
    )
    assert len(permits) == 3 and limiter.rpm is None


async def test_the_offline_model_and_configured_limits_are_not_probed() -> None:
    """Only an HTTP server with no configured limit is probed: no call of the offline model
    or of a configured limiter is ever held (checked by the limiter's own setting, not time)."""
    registry = LimiterRegistry()
    assert registry.get("offline", "m", "(none)").probe_wait == 0
    assert registry.get("http://127.0.0.1:9/v1", "m", "k").probe_wait > 0
    offline = registry.get("offline", "m", "(none)")
    permits = await asyncio.gather(*(offline.acquire(1) for _ in range(5)))
    assert len(permits) == 5 and offline.waiting == 0
    configured = LimiterRegistry(rpm=6000).get("http://127.0.0.1:9/v1", "m", "k")
    first = await configured.acquire(1)
    assert first.spend_id and configured.rpm == 6000  # a known limit: paced, never probed


def test_requests_that_reach_the_wire_late_wait_to_keep_the_providers_window() -> None:
    """Ten requests a second allowed: ten sent within 0.5 s (each later than its slot, the
    last bunched up), the eleventh waits until the window and margin have passed since the
    first; once the window has moved on, requests go at once again."""
    now = [100.0]
    windows = LocalWindows(clock=lambda: now[0])
    window = 1 / 0.97
    for n in range(10):
        now[0] = 100.0 + n * 0.05
        assert windows.sent_now(10, window) == 0.0
    now[0] = 100.5
    wait = windows.sent_now(10, window)
    assert wait == pytest.approx(100.0 + window - 100.5)
    now[0] += wait
    assert windows.sent_now(10, window) == 0.0  # the first has left the window: this one goes
    assert windows.sent_now(10, window) > 0  # the second has not


async def test_requests_sent_at_the_pace_never_wait_on_the_wire() -> None:
    now = [0.0]
    limiter = RateLimiter("paced", rpm=300, clock=lambda: now[0])
    for n in range(50):
        now[0] = n * limiter.interval
        assert isinstance(limiter.windows, LocalWindows)
        assert limiter.windows.sent_now(5, 5 / (5 * limiter.safety)) == 0.0  # as `sending`
    assert limiter.windows.sent_now(5, limiter.interval * 5) > 0  # the window is full now


async def test_a_refused_paced_request_leaves_more_room_on_the_wire() -> None:
    """Ten requests a second: sends spaced just over the margin pass the check; after the
    server refused one anyway (they reached it later than they left), the same spacing
    waits, and the room grows no further than its cap."""
    now = [0.0]
    limiter = RateLimiter("jittery", rpm=600, clock=lambda: now[0])
    check = limiter.send_check
    assert check is not None
    count, window = check
    assert (count, window) == (10, pytest.approx(1 / 0.97))
    spacing = (window + 0.01) / count
    windows = limiter.windows
    assert isinstance(windows, LocalWindows)
    for n in range(count + 1):
        now[0] = n * spacing
        assert windows.sent_now(count, window) == 0.0  # at this spacing nothing waits

    await limiter.refused(0.0)
    check = limiter.send_check
    assert check is not None and check[1] > window + 0.01
    waits = []
    for n in range(count + 1, 2 * count + 2):
        now[0] = n * spacing
        waits.append(windows.sent_now(*check))
    assert any(wait > 0 for wait in waits)  # the same spacing is now held back

    for _ in range(50):
        await limiter.refused(0.0)
    widest = limiter.send_check
    assert widest is not None and widest[1] == pytest.approx(window + LATE_CAP)


async def test_the_probes_request_counts_toward_the_pace_it_tells() -> None:
    """The first slot after a probe's answer is one interval after the answer: the probe
    reached the server before it answered, so a second request at once could be the
    sixth of a five-a-second window."""
    limiter = RateLimiter("cold", probe_wait=30.0)
    await limiter.acquire(0)
    await limiter.observe({"x-ratelimit-limit-requests": "300"})
    wait, _ = (
        limiter.windows.spend_now(0, limiter.interval, None, 0)
        if isinstance(limiter.windows, LocalWindows)
        else (0.0, "")
    )
    assert wait > 0  # not at once: the probe's request counts
