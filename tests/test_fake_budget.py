"""The fake server's request window counts requests when they arrived, exactly at capacity."""

from __future__ import annotations

import time

import httpx

from tests.fakes import FakeOpenAIServer
from tests.fakes._budget import RateBudget


def test_window_holds_exactly_capacity_and_frees_a_slot_after_one_second() -> None:
    budget = RateBudget()
    budget.configure(rps=10)
    start = time.monotonic() - 1.0
    stamps = [start + i * 0.1 for i in range(10)]  # 10 requests in [start, start + 0.9]

    assert [budget.admit(1, at) for at in stamps] == [None] * 10
    assert budget.admit(1, start + 0.95) is not None  # an 11th inside the same second
    assert budget.admit(1, start + 1.0) is None  # the first has just left its window


def test_a_late_checked_request_counts_at_its_arrival() -> None:
    budget = RateBudget()
    budget.configure(rps=3)
    now = time.monotonic()

    # Arrived evenly 0.4 s apart, but checked in a bunch (a handler thread woke up late).
    assert [budget.admit(1, now - 2.0 + 0.4 * i) for i in range(5)] == [None] * 5


def test_an_earlier_stamp_is_refused_if_it_overfills_a_later_window() -> None:
    budget = RateBudget()
    budget.configure(rps=3)
    now = time.monotonic()
    for at in (now - 0.9, now - 0.5, now - 0.1):
        assert budget.admit(1, at) is None

    # Looking back one second from `now - 0.7` there is room, but the window ending at
    # `now - 0.1` would hold four.
    assert budget.admit(1, now - 0.7) is not None
    assert budget.admit(1, now - 1.95) is None  # alone with `now - 0.9` in every window
    assert budget.headers()["x-ratelimit-remaining-requests"] == "0"


def test_each_model_has_its_own_budget() -> None:
    with FakeOpenAIServer() as server:
        server.enforce(rps=1)
        with httpx.Client(base_url=server.base_url) as client:

            def chat(model: str) -> int:
                body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
                return client.post("/chat/completions", json=body).status_code

            codes = [chat("gpt-4o"), chat("gpt-4o"), chat("gpt-4o-mini")]
            embedded = client.post(
                "/embeddings", json={"model": "text-embedding-3-small", "input": "x"}
            )
    assert codes == [200, 429, 200]  # the second gpt-4o call is over gpt-4o's budget only
    assert embedded.status_code == 200
    assert server.rejected_429 == 1


def test_headers_per_minute_report_the_request_limit_as_openai_does() -> None:
    budget = RateBudget()
    budget.configure(rps=5)
    now = time.monotonic()
    for i in range(4):
        assert budget.admit(1, now - 0.1 * i) is None

    per_window, per_minute = budget.headers(), budget.headers(per_minute=True)

    assert per_window["x-ratelimit-limit-requests"] == "5"
    assert per_window["x-ratelimit-remaining-requests"] == "1"
    assert per_minute["x-ratelimit-limit-requests"] == "300"
    assert per_minute["x-ratelimit-remaining-requests"] == "60"
    assert budget.admit(1, now) is None
    assert budget.headers(per_minute=True)["x-ratelimit-remaining-requests"] == "0"
