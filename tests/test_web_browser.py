"""The review pages in a real browser: Playwright drives Debian's Chromium against `copydesk
serve` (a subprocess on a free port) with the fake OpenAI server behind it.

Chromium comes from the system (`make system-deps`), never a browser download. Where it is
missing the tests skip, except under COPYDESK_REQUIRE_SERVICES=1 (CI), where they fail. A
screenshot of a thread page is saved under `artifacts/` (ignored by git).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.graphs.manager import ConversationManager
from tests._cli import cli_env
from tests.fakes import FakeOpenAIServer
from tests.fakes.harbour_report import HarbourReport, run_report
from tests.fakes.reviewing import DRAFTS, ScriptedReview

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANARY = "sk-canary-browser-1b7c5f3e9a"
TOKEN = "browser-token-" + "k" * 20
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
ENTRY = "from copydesk.graphs.cli import main; main()"


def _chromium() -> str:
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if found is None:
        reason = "Chromium is not installed (Debian: apt-get install chromium; make system-deps)"
        if os.environ.get("COPYDESK_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (COPYDESK_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAIServer]:
    """Drafts that start with their topic; an editor that quotes them."""
    with FakeOpenAIServer() as server:
        server.responder = ScriptedReview(drafts=tuple(f"{{topic}}: {d}" for d in DRAFTS))
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, model: FakeOpenAIServer) -> Path:
    """A COPYDESK_HOME with a finished thread, an XSS thread, two waiting for review and a
    long document."""
    home = tmp_path_factory.mktemp("desk") / "home"

    async def seed() -> None:
        settings = ConfigManager(flags={"home": home, "openai_base_url": model.base_url}).settings
        async with (
            OpenAIClient(base_url=model.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            await manager.run("turn_taking", topic="Trams", thread_id="trams", max_rounds=2)
            await manager.run("turn_taking", topic=XSS, thread_id="xss", max_rounds=1)
            for thread_id in ("approve-me", "feedback-me"):
                await manager.run(
                    "turn_taking", topic=thread_id, thread_id=thread_id, max_rounds=1, review=True
                )
            scripted, model.responder = model.responder, HarbourReport()
            try:
                await run_report(manager, home.parent)
            finally:
                model.responder = scripted

    asyncio.run(seed())
    return home


@contextlib.contextmanager
def _serve(home: Path, model: FakeOpenAIServer, **extra: str) -> Iterator[str]:
    port = _free_port()
    env = cli_env(home, model, OPENAI_API_KEY=CANARY, **extra)
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "serve", "--port", str(port)],
        env=env,
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{url}/desk/static/style.css", timeout=2)
                break
            if process.poll() is not None:
                raise AssertionError(f"copydesk serve exited: {process.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.1)
        else:
            raise AssertionError("copydesk serve did not answer")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="module")
def desk(home: Path, model: FakeOpenAIServer) -> Iterator[str]:
    """`copydesk serve` on 127.0.0.1 and a free port, without a token."""
    with _serve(home, model) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    executable = _chromium()

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(120_000)  # a loaded CI machine; nothing here measures time
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    yield opened
    context.close()


def test_list_thread_and_redline(desk: str, page: Any) -> None:
    page.goto(f"{desk}/desk/")
    rows = page.locator("#threads tbody tr")
    assert rows.first.get_attribute("data-status") == "waiting_for_review"
    assert {r.get_attribute("data-thread") for r in rows.all()} == {
        "trams", "xss", "approve-me", "feedback-me", "report"
    }  # fmt: skip
    page.click("a[href='/desk/t/trams']")
    page.wait_for_url("**/desk/t/trams")
    compare = page.locator("#compare .redline")
    assert "should build more" in compare.locator("ins").all_inner_texts()
    assert "love them" in compare.locator("del").all_inner_texts()
    mark = page.locator("#draft mark")
    assert mark.first.inner_text().startswith("Cities should build more.")
    assert page.locator("#timeline [data-state=addressed]").count() == 1
    assert CANARY not in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "thread-page.png"), full_page=True)
    assert (ARTIFACTS / "thread-page.png").stat().st_size > 10_000


def test_approve_a_waiting_thread(desk: str, page: Any, home: Path) -> None:
    page.goto(f"{desk}/desk/t/approve-me")
    assert page.inner_text("#status") == "waiting for review"
    page.click("#approve")
    page.wait_for_url("**/desk/t/approve-me")
    expect(page.locator("#status")).to_have_text("approved", timeout=120_000)
    listed = subprocess.run(
        [sys.executable, "-c", ENTRY, "threads", "--json"],
        env=cli_env(home), capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    statuses = {row["thread_id"]: row["status"] for row in json.loads(listed.stdout)}
    assert statuses["approve-me"] == "approved"


def test_feedback_brings_the_new_revision_live(
    desk: str, page: Any, model: FakeOpenAIServer
) -> None:
    page.goto(f"{desk}/desk/t/feedback-me")
    page.fill("#feedback", "Say what makes trams clean.")
    model.latency = 0.5  # the writer and editor take a moment: the page is up before they end
    try:
        page.click("#send-feedback")
        page.wait_for_url("**/desk/t/feedback-me")
        page.evaluate("window.__same_page = true")
        new_draft = page.locator("#live-drafts .live-draft")
        new_draft.first.wait_for(timeout=120_000)
        assert new_draft.first.inner_text() == f"feedback-me: {DRAFTS[1]}"
        expect(page.locator("#live-notice")).to_contain_text("The run ended", timeout=120_000)
        expect(page.locator("#status")).to_have_text("waiting for review")
        assert page.evaluate("window.__same_page") is True  # arrived over SSE, no reload
    finally:
        model.latency = 0.0
    page.reload()
    assert "<ins>" in page.inner_html("#compare")


def test_start_a_run_and_watch_it(desk: str, page: Any, model: FakeOpenAIServer) -> None:
    page.goto(f"{desk}/desk/new")
    page.fill("textarea[name=topic]", "Canal boats")
    page.fill("input[name=max_rounds]", "1")
    model.latency = 0.5
    try:
        page.click("#new-run button[type=submit]")
        page.wait_for_url("**/desk/t/*")
        expect(page.locator("#live-drafts .live-draft").first).to_have_text(
            f"Canal boats: {DRAFTS[0]}", timeout=120_000
        )
        expect(page.locator("#status")).to_have_text("out of rounds", timeout=120_000)
    finally:
        model.latency = 0.0
    streamed = page.inner_text("#tokens")  # each agent's words as they came (no verdict JSON)
    assert f"[writer]\nCanal boats: {DRAFTS[0]}" in streamed and "[editor]" in streamed


def test_model_output_is_inert(desk: str, page: Any) -> None:
    page.goto(f"{desk}/desk/t/xss")
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    assert page.inner_text("h1.topic") == XSS
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 1  # the app's own, nothing from the model


def test_a_document_page_links_each_finding_between_sections(desk: str, page: Any) -> None:
    page.goto(f"{desk}/desk/t/report")
    outline = page.locator("#outline li[data-section]")
    assert [li.get_attribute("data-state") for li in outline.all()] == [
        "revised", "revised", "out_of_rounds"
    ]  # fmt: skip
    assert page.evaluate("window.__xss") is None and page.dialogs == []
    assert "<script>window.__xss=1</script>" in page.inner_text("#section-3 .section-text")
    ARTIFACTS.mkdir(exist_ok=True)
    findings = page.locator("#findings").bounding_box()  # the picture ends below them
    assert findings is not None
    bottom = findings["y"] + findings["height"] + 16
    clip = {"x": 0, "y": 0, "width": 1200, "height": bottom}
    page.screenshot(path=str(ARTIFACTS / "document-page.png"), full_page=True, clip=clip)
    assert (ARTIFACTS / "document-page.png").stat().st_size > 10_000
    page.click("#f1-s1-note .also a")  # from section 1's note on F1 to its passage in section 2
    page.wait_for_url("**/desk/t/report#f1-s2")
    expect(page.locator("#f1-s2")).to_be_in_viewport()
    assert page.inner_text("#f1-s2").strip() == "The night shift starts at"
    struck = page.locator("#section-2 del mark.finding").all_inner_texts()
    assert [text.removesuffix("F2").strip() for text in struck] == ["box", "23"]
    page.click("#finding-2 a[href='#f2-s1']")  # from the list of findings to section 1
    expect(page.locator("#f2-s1")).to_be_in_viewport()


def test_a_token_is_needed_when_set(home: Path, model: FakeOpenAIServer, page: Any) -> None:
    with _serve(home, model, COPYDESK_SERVE_TOKEN=TOKEN) as url:
        refused = page.goto(f"{url}/desk/")
        assert refused.status == 401 and "needs its token" in page.content()
        entered = page.goto(f"{url}/desk/?token={TOKEN}")
        assert entered.status == 200 and page.url == f"{url}/desk/"
        assert page.locator("#threads").count() == 1
        thread = page.goto(f"{url}/desk/t/trams")
        assert thread.status == 200 and TOKEN not in page.content()
