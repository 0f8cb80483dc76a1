"""The pages: the thread list, a thread (draft, redlines, issues, timeline; a long document's
outline and sections, `copydesk.graphs.web.document_page`), a checkpoint (with its fork
form) and the form that starts a run."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from copydesk.graphs.errors import UnknownThreadError
from copydesk.graphs.reports.redline import redline
from copydesk.graphs.reports.timeline import Timeline, load_timeline
from copydesk.graphs.web.app import page, runtime
from copydesk.graphs.web.render import highlight

__all__ = ["checkpoint_page", "new_page", "thread_page", "threads_page"]

WAITING = "waiting_for_review"
DOCUMENT = "document"
"""The long-document topology, whose threads have a page of their own."""


async def threads_page(request: Request) -> Response:
    """Every thread, those waiting for review first, then the most recently updated."""
    from copydesk.graphs.threads import list_threads

    state = runtime(request)
    manager = await state.manager()
    threads = await list_threads(manager.checkpointer)
    rows = []
    for info in threads:
        row = info.as_json()
        if state.hub.running(info.thread_id):
            row["status"] = "running"
        rows.append(row)
    statuses = sorted({row["status"] for row in rows})
    wanted = request.query_params.get("status", "")
    if wanted:
        rows = [row for row in rows if row["status"] == wanted]
    rows.sort(key=lambda row: row["updated_at"], reverse=True)
    rows.sort(key=lambda row: row["status"] != WAITING)  # stable: waiting first, newest first
    return await page(
        request, "threads.html", rows=rows, statuses=statuses, wanted=wanted, waiting=WAITING
    )


def _index(value: str | None, default: int, last: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        raise HTTPException(400, f"not a draft number: {value!r}") from None
    if not 0 <= number <= last:
        raise HTTPException(404, f"no draft {number}; this thread has drafts 0 to {last}")
    return number


def _compare(request: Request, timeline: Timeline) -> dict[str, Any]:
    """The redline the page opens with: `?to=N&against=M` (draft numbers), by default the
    latest draft against the one before."""
    last = len(timeline.drafts) - 1
    if last < 0:
        return {}
    to = _index(request.query_params.get("to"), last, last)
    against = _index(request.query_params.get("against"), max(to - 1, 0), last)
    old, new = timeline.drafts[against], timeline.drafts[to]
    return {"to": to, "against": against, "segments": redline(old.text, new.text)}


async def thread_page(request: Request) -> Response:
    """A thread: status, draft with its open issues, redline, timeline, usage, review."""
    thread_id = request.path_params["thread_id"]
    state = runtime(request)
    live = state.hub.latest(thread_id)
    try:
        timeline = await load_timeline(await state.manager(), thread_id)
    except UnknownThreadError:
        if live is None:
            raise
        return await page(request, "starting.html", thread_id=thread_id, live=live)
    running = state.hub.running(thread_id)
    context: dict[str, Any] = {
        "live": live,  # the latest run from these pages, followed (or replayed) over SSE
        "last_error": live.error if live is not None and live.done else "",
        "status": "running" if running else timeline.result.status,
        "waiting": timeline.result.status == WAITING and running is None,
    }
    if timeline.result.graph == DOCUMENT:
        from copydesk.graphs.reports.document_view import load_document
        from copydesk.graphs.web.document_page import document_page

        document = await load_document(await state.manager(), thread_id)
        assert document is not None  # a document thread
        return await document_page(request, timeline, document, **context)
    issues_by_verdict: dict[int, list[Any]] = {}
    for issue in timeline.issues:
        issues_by_verdict.setdefault(issue.verdict, []).append(issue)
    entries = []
    for draft in timeline.drafts:
        judged = [
            (verdict, issues_by_verdict.get(number, []), timeline.verdict_times[number])
            for number, verdict in enumerate(timeline.verdicts)
            if timeline.draft_of_round(int(verdict.get("round", 0))) == draft
        ]
        quoted = [issue for _, issues, _ in judged for issue in issues]
        previous = timeline.drafts[draft.index - 1].text if draft.index else None
        entries.append(
            {
                "draft": draft,
                "verdicts": judged,
                "highlighted": highlight(draft.text, quoted),
                "segments": redline(previous, draft.text) if previous is not None else None,
            }
        )
    current = entries[-1] if entries else None
    return await page(
        request,
        "thread.html",
        timeline=timeline,
        result=timeline.result,
        entries=entries,
        current=current,
        compare=_compare(request, timeline),
        **context,
    )


async def checkpoint_page(request: Request) -> Response:
    """One checkpoint: where the thread stood, and the form that forks a new thread from it."""
    thread_id = request.path_params["thread_id"]
    checkpoint_id = request.path_params["checkpoint_id"]
    state = runtime(request)
    manager = await state.manager()
    result = await manager.result(thread_id)  # unknown thread -> 404
    config = {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": checkpoint_id,
        }
    }
    if await manager.checkpointer.aget_tuple(config) is None:  # type: ignore[arg-type]
        raise HTTPException(404, f"thread {thread_id!r} has no checkpoint {checkpoint_id!r}")
    snapshot = await manager.graph(result.graph).aget_state(config)  # type: ignore[arg-type]
    prompts = await asyncio.to_thread(_prompt_refs, manager.registry)
    return await page(
        request,
        "checkpoint.html",
        result=result,
        checkpoint_id=checkpoint_id,
        values=snapshot.values,
        next=list(snapshot.next),
        created_at=str(snapshot.created_at or ""),
        prompts=prompts,
    )


def _prompt_refs(registry: Any) -> list[str]:
    return [f"{name}@{version}" for name in registry.names() for version in registry.versions(name)]


async def new_page(request: Request) -> Response:
    """The form that starts a run."""
    from copydesk.graphs.registry import known

    topologies = await asyncio.to_thread(lambda: [t.name for t in known()])
    manager = await runtime(request).manager()
    return await page(
        request,
        "new.html",
        topologies=topologies,
        max_rounds=manager.settings.max_rounds,
        values={},
        problem="",
    )
