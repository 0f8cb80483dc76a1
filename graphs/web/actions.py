"""What the pages' forms do, and the live event stream.

Each POST is checked against cross-site requests (`security.csrf_ok`), validated, then
started as a background run (`live.RunHub`) doing exactly what the CLI does: `start` is
`copydesk run`, `review` is `copydesk resume --approve` / `--feedback` (with `--section N`
when a long document's form names one), `resume` is `copydesk resume`, `stop` is `copydesk
stop` (the run ends after its current step), `fork` is `copydesk fork --checkpoint ...
[--set topic=...] [--prompt ...]`. The browser is sent (303) to the thread's page, which
follows the run over server-sent events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from copydesk.graphs.errors import InputError
from copydesk.graphs.run_values import check_value
from copydesk.graphs.transcript import make_thread_id, thread_id_problem
from copydesk.graphs.web.app import PREFIX, page, runtime
from copydesk.graphs.web.security import csrf_ok

__all__ = ["events", "fork", "resume", "review", "start", "stop"]

MAX_TEXT = 20_000


async def _form(request: Request) -> FormData:
    form = await request.form()
    if not csrf_ok(request, str(form.get("csrf", ""))):
        raise HTTPException(403, "cross-site request refused: reload the page and try again")
    return form


def _text(form: FormData, name: str) -> str:
    value = str(form.get(name, "") or "").strip()
    if len(value) > MAX_TEXT:
        raise HTTPException(400, f"{name} is longer than {MAX_TEXT} characters")
    return value


def _to_thread(thread_id: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/t/{thread_id}", status_code=303)


def _not_running(request: Request, thread_id: str) -> None:
    if runtime(request).hub.running(thread_id):
        raise HTTPException(409, f"thread {thread_id!r} is running; wait for it to finish")


async def start(request: Request) -> Response:
    """Start a thread from the form (topology, topic, max rounds, review)."""
    from copydesk.graphs.registry import find

    form = await _form(request)
    manager = await runtime(request).manager()
    graph, topic = _text(form, "graph"), _text(form, "topic")
    problem = ""
    try:  # the CLI's rules for --max-rounds and --topic (graphs.run_values)
        rounds = int(_text(form, "max_rounds") or manager.settings.max_rounds)
        check_value("max_rounds", rounds, named="max rounds")
        check_value("topic", topic, named="topic")
    except ValueError:
        rounds, problem = 0, "max rounds must be a whole number"
    except InputError as error:
        problem = str(error)
    try:
        await asyncio.to_thread(find, graph)
    except Exception as error:  # InputError, TopologyError and kin: one line for the form
        problem = problem or str(error)
    if problem:
        from copydesk.graphs.registry import known

        names = await asyncio.to_thread(lambda: [t.name for t in known()])
        values = {"graph": graph, "topic": topic, "review": bool(form.get("review"))}
        return await page(
            request,
            "new.html",
            status_code=400,
            topologies=names,
            max_rounds=rounds or manager.settings.max_rounds,
            values=values,
            problem=problem,
        )
    thread_id = make_thread_id()
    stream = manager.stream(
        graph, topic=topic, thread_id=thread_id, max_rounds=rounds, review=bool(form.get("review"))
    )
    runtime(request).hub.start(thread_id, "run", stream)
    return _to_thread(thread_id)


async def review(request: Request) -> Response:
    """Approve the draft, or send feedback: `copydesk resume --approve / --feedback`."""
    thread_id = request.path_params["thread_id"]
    form = await _form(request)
    manager = await runtime(request).manager()
    result = await manager.result(thread_id)  # unknown thread -> 404
    _not_running(request, thread_id)
    if result.status != "waiting_for_review":
        raise HTTPException(409, f"thread {thread_id!r} is not waiting for review")
    answer: dict[str, Any]
    if form.get("action") == "approve":
        answer = {"action": "approve"}
    else:
        feedback = _text(form, "feedback")
        if not feedback:
            raise HTTPException(400, "the feedback is empty: say what to change")
        answer = {"action": "feedback", "text": feedback}
    if _text(form, "section"):  # a long document: the section the answer is about
        answer["section"] = _section(_text(form, "section"), result.review)
    runtime(request).hub.start(thread_id, "review", manager.stream_resume(thread_id, answer=answer))
    return _to_thread(thread_id)


def _section(value: str, asked: Any) -> int:
    """The section number a review form names, checked against what waits (`copydesk resume
    --section`): a section's pause answers only a waiting section."""
    if not value.isdigit():
        raise HTTPException(400, f"section {value!r} is not a section number")
    number = int(value)
    asked = asked if isinstance(asked, dict) else {}
    if asked.get("stage") == "section":
        waiting = asked.get("waiting") or [asked["section"]["index"]]
        if number not in waiting:
            listed = ", ".join(map(str, waiting))
            raise HTTPException(
                409, f"section {number} is not waiting for review (waiting: {listed})"
            )
    return number


async def resume(request: Request) -> Response:
    """Continue an interrupted thread: `copydesk resume THREAD`."""
    thread_id = request.path_params["thread_id"]
    await _form(request)
    manager = await runtime(request).manager()
    result = await manager.result(thread_id)
    _not_running(request, thread_id)
    if result.status != "interrupted":
        raise HTTPException(409, f"thread {thread_id!r} is {result.status}, not interrupted")
    runtime(request).hub.start(thread_id, "resume", manager.stream_resume(thread_id))
    return _to_thread(thread_id)


async def stop(request: Request) -> Response:
    """Stop a running thread after its current step: `copydesk stop THREAD`."""
    thread_id = request.path_params["thread_id"]
    await _form(request)
    manager = await runtime(request).manager()
    try:
        await manager.stop(thread_id)  # unknown thread -> 404
    except InputError as error:
        raise HTTPException(409, str(error)) from None
    return _to_thread(thread_id)


async def fork(request: Request) -> Response:
    """A new thread from a checkpoint, with a changed topic or prompt version."""
    from copydesk.prompts.errors import PromptError
    from copydesk.prompts.overrides import prompt_overrides

    thread_id = request.path_params["thread_id"]
    form = await _form(request)
    manager = await runtime(request).manager()
    await manager.result(thread_id)  # unknown thread -> 404
    checkpoint_id = _text(form, "checkpoint_id")
    config = {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": checkpoint_id,
        }
    }
    if not checkpoint_id or await manager.checkpointer.aget_tuple(config) is None:  # type: ignore[arg-type]
        raise HTTPException(404, f"thread {thread_id!r} has no checkpoint {checkpoint_id!r}")
    new_id = _text(form, "new_thread_id") or make_thread_id()
    problem = thread_id_problem(new_id)
    if problem is not None:
        raise HTTPException(400, problem)
    values: dict[str, Any] = {}
    topic = _text(form, "topic")
    if topic and topic != _text(form, "old_topic"):
        try:
            values["topic"] = check_value("topic", topic, named="topic")
        except InputError as error:
            raise HTTPException(400, str(error)) from None
    refs = [_text(form, "prompt")] if _text(form, "prompt") else []
    try:
        prompts = await asyncio.to_thread(prompt_overrides, refs, manager.registry)
    except PromptError as error:
        raise HTTPException(400, str(error)) from None
    stream = manager.fork(
        thread_id, checkpoint_id, values=values, new_thread_id=new_id, prompts=prompts
    )
    first = await anext(stream)  # the fork is made (or refused) before the redirect
    runtime(request).hub.start(new_id, "fork", _prepend(first, stream))
    return _to_thread(new_id)


async def _prepend(first: Any, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in stream:
        yield item


async def events(request: Request) -> Response:
    """The thread's run as server-sent events: what happened so far, then live, then `end`."""
    thread_id = request.path_params["thread_id"]
    hub = runtime(request).hub

    async def stream() -> AsyncIterator[str]:
        if hub.latest(thread_id) is None:
            yield "event: idle\ndata: {}\n\n"
            return
        async for item in hub.watch(thread_id):
            yield f"event: {item['type']}\ndata: {json.dumps(item)}\n\n"
        yield "event: close\ndata: {}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
