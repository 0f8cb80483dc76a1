"""`copydesk memory search|stats|forget` and `copydesk prune`: look into and trim what
copydesk remembers (the store under `COPYDESK_HOME/memory`) and keeps (checkpoints)."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Annotated, Any

import typer

from copydesk.agents.errors import ModelError
from copydesk.graphs.cli.common import (
    JsonFlag,
    err,
    execute,
    out,
    require_existing_store,
    settings_from_flags,
)
from copydesk.graphs.errors import UnknownThreadError
from copydesk.memory.checkpoint import open_checkpointer, sqlite_path
from copydesk.memory.store import memory_path

if TYPE_CHECKING:  # FAISS, NumPy and LangGraph load when a command needs them
    from langchain_core.runnables import RunnableConfig

    from copydesk.memory.prune import PruneReport
    from copydesk.memory.vector import FaissStore

__all__ = ["register"]

ThreadFlag = Annotated[str | None, typer.Option("--thread", help="Only this thread's memories.")]
memory_app = typer.Typer(help="Search, count and forget what the agents remember.")


def _fail(message: str) -> typer.Exit:
    err.print(f"copydesk: error: {message}", markup=False)
    return typer.Exit(2)


def _open(settings: Any) -> FaissStore | None:
    """The store, or None when nothing was ever remembered (nothing is created)."""
    from copydesk.memory.embeddings import EmbedderMismatchError
    from copydesk.memory.store import DamagedMemoryError, make_store

    if not settings.store_url and not memory_path(settings).exists():
        return None
    try:
        from copydesk.agents.client.embeddings import (
            embedder_for,  # loads the client only when used
        )

        return make_store(settings, embedder_for(settings))
    except (EmbedderMismatchError, DamagedMemoryError) as error:  # never mended from here
        raise _fail(str(error)) from None


@memory_app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    thread: ThreadFlag = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Results.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Memories closest in meaning to QUERY, best first."""

    from copydesk.memory.recall import thread_namespace

    if not query.strip():
        raise _fail('the query is empty; pass what to look for: copydesk memory search "trees"')
    settings = settings_from_flags()
    store = _open(settings)
    found = []
    if store is not None:
        prefix = thread_namespace(thread) if thread else ("copydesk",)
        try:
            found = store.search(prefix, query=query, limit=limit)
        except ModelError as error:  # the client's messages name a key only by fingerprint
            raise _fail(
                f"embedding the query failed: {error}; check OPENAI_API_KEY and "
                "OPENAI_BASE_URL, or set COPYDESK_OFFLINE=1"
            ) from None
        finally:
            store.close()
    rows = [
        {
            "score": None if i.score is None else round(i.score, 4),
            "namespace": "/".join(i.namespace),
            "key": i.key,
            **i.value,
        }
        for i in found
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("no memories match" if store else "no memories yet")
    for row in rows:
        out.print(
            f"{row['score'] or 0:.3f}  {row.get('kind', '?'):<8} {row['namespace']:<36} "
            f"round={row.get('round', '?')}  {' '.join(str(row.get('text', '')).split())[:80]}",
            markup=False,
        )


@memory_app.command()
def stats(as_json: JsonFlag = False) -> None:
    """Items, vectors, namespaces, index kind and embedder of the memory store."""
    settings = settings_from_flags()
    store = _open(settings)
    if store is None:
        facts = _no_store_stats(settings)
    else:
        facts = store.stats()
        store.close()
    if as_json:
        out.print_json(json.dumps(facts))
        return
    for name, value in facts.items():
        out.print(f"{name:<11} {value}", markup=False)


def _no_store_stats(settings: Any) -> dict[str, Any]:
    """`FaissStore.stats()` of a store not made yet (or deleted by `forget --all`): every key,
    nothing counted, and the embedder a run would index with. Nothing is created."""
    from copydesk.agents.client.embeddings import embedder_for

    embedder = embedder_for(settings)
    return {
        "items": 0,
        "vectors": 0,
        "pending": 0,
        "namespaces": 0,
        "index": "flat",  # what an empty index starts as
        "index_size": 0,
        "embedder": embedder.name,
        "dims": embedder.dims,
        "path": str(memory_path(settings)),
    }


@memory_app.command()
def forget(
    thread: ThreadFlag = None,
    project: Annotated[str | None, typer.Option("--project", help="A project's memories.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="One memory (with --thread).")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Delete the whole store.")] = False,
) -> None:
    """Delete memories: of a thread, of a project, one by key, or all of them."""
    settings = settings_from_flags()
    chosen = [x for x in (thread or project, everything) if x]
    if len(chosen) != 1 or (thread and project) or (key and not (thread or project)):
        raise _fail(
            "say what to forget: --thread ID [--key KEY], --project NAME [--key KEY] or --all"
        )
    if everything and settings.store_url:
        from copydesk.memory.store import forget_all

        forget_all(settings)
        out.print("forgot everything in the store at COPYDESK_STORE_URL")
        return
    if everything:
        path = memory_path(settings)
        existed = path.exists()
        shutil.rmtree(path, ignore_errors=True)
        out.print(f"forgot everything under {path}" if existed else "no memories yet")
        return
    store = _open(settings)
    if store is None:
        out.print("no memories yet")
        return
    from copydesk.memory.recall import project_namespace, thread_namespace

    namespace = thread_namespace(thread) if thread else project_namespace(str(project))
    keys = [key] if key else [i.key for i in store.search(namespace, limit=1_000_000)]
    present = [k for k in keys if store.get(namespace, k) is not None]
    from langgraph.store.base import PutOp

    store.batch([PutOp(namespace, k, None) for k in present])
    store.close()
    out.print(f"forgot {len(present)} memories from {'/'.join(namespace)}")


def prune(
    keep_last: Annotated[
        int, typer.Option("--keep-last", min=0, help="Newest checkpoints to keep per thread.")
    ] = 10,
    thread: ThreadFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete old checkpoints; never one a pending review, a fork or a kept one needs."""
    settings = settings_from_flags()
    url = settings.resolved_checkpoint_url
    if url.startswith("memory:"):
        raise _fail("checkpoints in memory: are not stored; nothing to prune")

    from copydesk.memory.prune import PruneReport, prune_checkpoints

    async def work() -> PruneReport:
        if thread is not None:
            require_existing_store(settings, thread)
        if url.startswith("sqlite:") and not sqlite_path(url).exists():
            return PruneReport(0, 0, 0, 0)
        async with open_checkpointer(url) as saver:
            if thread is not None and await saver.aget_tuple(_latest(thread)) is None:
                raise UnknownThreadError.of(thread)
            return await prune_checkpoints(saver, keep_last=keep_last, thread_id=thread)

    report = execute(work)
    if as_json:
        out.print_json(json.dumps(report.as_json()))
        return
    out.print(
        f"pruned {report.removed} checkpoint(s) from {report.threads} thread(s), kept "
        f"{report.kept}; freed {report.bytes_freed} bytes ({report.bytes_freed / 1e6:.2f} MB)"
    )


def _latest(thread: str) -> RunnableConfig:
    """The config that reads `thread`'s newest checkpoint."""
    return {"configurable": {"thread_id": thread}}


def register(app: typer.Typer) -> None:
    """Add `memory ...` and `prune` to the `copydesk` command."""
    app.add_typer(memory_app, name="memory")
    app.command("prune")(prune)
