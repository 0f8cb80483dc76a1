"""The events a page is sent while a run goes on: a reply that starts over tells the page to drop
its tokens so far, and watching a thread with no run on this server ends at once."""

from __future__ import annotations

from copydesk.graphs.events import Restart, Token
from copydesk.graphs.web.live import RunHub, event_dict


def test_a_restart_tells_the_page_to_drop_the_agents_tokens() -> None:
    assert event_dict(Restart("editor", "the stream broke off")) == {
        "type": "restart",
        "agent": "editor",
        "reason": "the stream broke off",
    }
    assert event_dict(Token("editor", '{"approved"', structured=True)) is None


async def test_watching_a_thread_with_no_run_here_ends_at_once() -> None:
    assert [event async for event in RunHub().watch("no-such-thread")] == []
