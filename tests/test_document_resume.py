"""A long document killed with SIGKILL and resumed with `copydesk resume`: every section's
rounds happen exactly once (none redrafted, none lost), at kill points during the fan-out,
the consistency pass and the targeted round.

The kill is deterministic: from the request that marks the kill point on, the fake server
holds every request unanswered; once each call still to come is held (so every answered call
has been checkpointed: the run writes each step before the next begins), the child is
killed. A held call was never answered, so resume sends it again: the server's log then has
exactly the answered calls a run needs, plus the held ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests._cli import ENTRY, TIMEOUT, cli_env, copydesk, ok_json
from tests.fakes import FakeOpenAIServer
from tests.fakes._replies import Reply, messages_text
from tests.fakes.documents import DocumentResponder, headings, section_of

pytestmark = pytest.mark.slow

Key = tuple[str, str]
"""(section heading or "", the typed reply asked: Verdict, Findings, ... or "" for text)."""
SECTIONS = ("Harbours", "Cranes", "Tides")
PLANTED = "PLANTED: the harbour opening hours differ."


def key_of(body: dict[str, Any]) -> Key:
    """What a request is: its section and the typed reply it asks for."""
    text = json.dumps(body.get("response_format") or body.get("tools") or "")
    schema = next((s for s in ("Findings", "Verdict", "Outline", "Digest") if s in text), "")
    return section_of(body), schema


@dataclass
class Freezer:
    """Answers through `inner` until `trigger` matches a request; from then on holds every
    request, unanswered, until `thaw`; after that answers every request."""

    inner: DocumentResponder
    trigger: Callable[[dict[str, Any]], bool]
    answered: Counter[Key] = field(default_factory=Counter)
    held: list[Key] = field(default_factory=list)
    frozen: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _thawed: threading.Event = field(default_factory=threading.Event)

    def __call__(self, body: dict[str, Any]) -> Reply:
        key = key_of(body)
        with self._changed:
            hold = not self._thawed.is_set() and (self.frozen or self.trigger(body))
            if hold:
                self.frozen = True
                self.held.append(key)
                self._changed.notify_all()
        if hold:
            self._thawed.wait(TIMEOUT)
            return Reply(content="")  # to a process that no longer exists
        reply = self.inner(body)
        with self._changed:
            self.answered[key] += 1
        return reply

    def wait_until(self, done: Callable[[Freezer], bool]) -> None:
        """Block until `done(self)` holds (the child's calls still to come are held)."""
        with self._changed:
            assert self._changed.wait_for(lambda: done(self), TIMEOUT), (self.held, self.answered)

    def thaw(self) -> None:
        """Answer from now on, through `inner`."""
        self._thawed.set()


def kill_and_resume(
    tmp_path: Path, home: Path, server: FakeOpenAIServer, freezer: Freezer, ready: Callable[
        [Freezer], bool]
) -> dict[str, Any]:  # fmt: skip
    """Run a 3-section document, SIGKILL it once `ready`, then `copydesk resume` it."""
    server.responder = freezer
    env = cli_env(home, server, COPYDESK_LOCAL_EMBEDDER="lexical")
    child = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "document", "--topic", "Ports", "--sections", "3",
         "--thread-id", "D"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        freezer.wait_until(lambda f: child.poll() is not None or ready(f))
        assert child.poll() is None, child.communicate()[1]
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    freezer.thaw()
    return dict(ok_json(copydesk(tmp_path, env, "resume", "D", "--json")))


def requests_by_key(server: FakeOpenAIServer) -> Counter[Key]:
    """Every chat request the server saw, by what it was."""
    return Counter(key_of(r.body or {}) for r in server.chat_requests())


def a_finding_on_sections_1_and_2(responder: DocumentResponder) -> None:
    """Seed one contradiction quoting the approved drafts of sections 1 and 2 (reported on
    the pair of them)."""
    quotes = [{"section": n, "text": responder.text_of(SECTIONS[n - 1], 2).split(". ")[0]}
              for n in (1, 2)]  # fmt: skip
    responder.findings = [{"kind": "contradiction", "quotes": quotes, "comment": PLANTED}]


def sections_done(freezer: Freezer) -> int:
    return sum(freezer.answered[(s, "Verdict")] == 2 for s in SECTIONS)


def test_killed_during_the_fan_out(tmp_path: Path, home: Path) -> None:
    """Killed as the first section asks for its second draft: every section resumes at its
    second draft; no first draft or first review is asked for again."""
    inner = DocumentResponder(reviews=1)
    freezer = Freezer(inner, lambda b: key_of(b)[1] == "" and "Your current draft" in str(b))
    with FakeOpenAIServer() as server:
        result = kill_and_resume(
            tmp_path, home, server, freezer, lambda f: {k[0] for k in f.held} == set(SECTIONS)
        )
        seen = requests_by_key(server)
    assert result["status"] == "approved"
    assert headings(result["final_draft"]) == list(SECTIONS)
    assert all(inner.text_of(s, 2) in result["final_draft"] for s in SECTIONS)
    for section in SECTIONS:
        held = freezer.held.count((section, ""))
        assert held == 1
        assert seen[(section, "")] == 2 + held  # two drafts answered, the held one again
        assert seen[(section, "Verdict")] == 2  # each review once
    assert seen[("", "Outline")] == 1


def test_killed_during_the_consistency_pass(tmp_path: Path, home: Path) -> None:
    """Killed while the consistency editor reads the pairs: no section is written or
    reviewed again; the pass runs once more, whole."""
    inner = DocumentResponder(reviews=1)
    freezer = Freezer(inner, lambda b: key_of(b)[1] == "Findings")
    with FakeOpenAIServer() as server:
        result = kill_and_resume(tmp_path, home, server, freezer, lambda f: len(f.held) == 2)
        seen = requests_by_key(server)
    assert result["status"] == "approved" and sections_done(freezer) == 3
    assert headings(result["final_draft"]) == list(SECTIONS)
    for section in SECTIONS:
        assert (seen[(section, "")], seen[(section, "Verdict")]) == (2, 2)
    assert seen[("", "Findings")] == 2 + 2 and freezer.answered[("", "Findings")] == 2


def test_killed_during_the_targeted_round(tmp_path: Path, home: Path) -> None:
    """Killed as the sections a finding quotes revise: they revise once after resume; the
    section without a finding is not written again, and its text is unchanged."""
    inner = DocumentResponder(reviews=1)
    a_finding_on_sections_1_and_2(inner)
    freezer = Freezer(inner, lambda b: key_of(b)[1] == "" and PLANTED in messages_text(b))
    with FakeOpenAIServer() as server:
        result = kill_and_resume(tmp_path, home, server, freezer, lambda f: len(f.held) == 2)
        seen = requests_by_key(server)
    assert sorted(freezer.held) == [("Cranes", ""), ("Harbours", "")]
    for section, drafts in (("Harbours", 3), ("Cranes", 3), ("Tides", 2)):
        assert seen[(section, "")] == drafts + freezer.held.count((section, ""))
        assert seen[(section, "Verdict")] == 2
    assert inner.text_of("Tides", 2) in result["final_draft"]
    assert inner.text_of("Harbours", 3) in result["final_draft"]
    assert inner.text_of("Cranes", 3) in result["final_draft"]
