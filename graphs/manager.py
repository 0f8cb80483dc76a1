"""`ConversationManager`: run, stream, resume and inspect threads of any topology.

It owns the checkpointer (opened from `COPYDESK_CHECKPOINT_URL`) and the memory store,
compiles topologies with them and answers for every thread. Its jobs live beside it: what a
run starts from (`starts`), the stream as events with the transcript in step (`streaming`),
timeouts and stops (`stopping`), results and checkpoints read (`history`), forks (`fork`),
the thread list (`threads`), the Markdown export. Many threads may run at once on one
manager: all per-thread state is in checkpoints, never on the manager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import RunControl
from langgraph.store.base import BaseStore
from langgraph.types import StateSnapshot

from copydesk.agents.client import OpenAIClient
from copydesk.agents.settings import Settings
from copydesk.agents.team import Agents
from copydesk.agents.telemetry import Telemetry
from copydesk.agents.telemetry.checkpoints import trace_checkpoints
from copydesk.graphs.errors import InputError, UnknownThreadError
from copydesk.graphs.events import CheckpointInfo, Event, RunResult, ThreadInfo
from copydesk.graphs.fork import make_fork
from copydesk.graphs.history import read_history, run_result
from copydesk.graphs.prompting import PromptChoice
from copydesk.graphs.registry import find
from copydesk.graphs.reports.markdown_export import render_markdown
from copydesk.graphs.starts import (
    check_finished,
    continuation,
    new_thread,
    resume_command,
    run_options,
)
from copydesk.graphs.stopping import StopAnswer, Stops, answer_stop
from copydesk.graphs.streaming import last_result
from copydesk.graphs.threads import list_threads
from copydesk.graphs.traced_run import earlier_trace, traced_run
from copydesk.graphs.transcript import Transcript, check_thread_id, make_thread_id
from copydesk.memory.checkpoint import open_checkpointer
from copydesk.memory.embeddings import EmbedderMismatchError
from copydesk.memory.runs import RunTable, open_run_table
from copydesk.memory.store import open_store
from copydesk.prompts.errors import PromptError
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry

__all__ = ["ConversationManager", "InputError", "UnknownThreadError"]

_log = logging.getLogger("copydesk.manager")

Compiled = CompiledStateGraph[Any, Any, Any, Any]


class ConversationManager:
    """The facade over compiled topologies and their checkpoints.

    Use as an async context manager: it opens the checkpointer on entry and closes it on exit.

    Args:
        settings: Settings (home, checkpoint URL, model, default rounds).
        client: The model client to share; made from settings (and closed on exit) when None.
        checkpointer: An open checkpointer to use instead of the settings' URL.
        store: A long-term memory store to use instead of the one under `home/memory`.
        telemetry: Where the spans and metrics of the client made from settings go (as the
            settings say when None).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client: OpenAIClient | None = None,
        checkpointer: BaseCheckpointSaver[str] | None = None,
        store: BaseStore | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings
        self._owns_client = client is None
        self.client = client or OpenAIClient.from_settings(settings, telemetry=telemetry)
        self._checkpointer = checkpointer
        url = settings.resolved_checkpoint_url  # stops travel through the checkpoint store
        self.stops = Stops(RunTable() if checkpointer else open_run_table(url))
        self.store = store
        self._stack = AsyncExitStack()
        self.registry = PromptRegistry(settings.prompts_dir or DEFAULT_PROMPTS_DIR)
        self._agents: dict[tuple[tuple[str, str], ...], Agents] = {}
        self._graphs: dict[tuple[str, tuple[tuple[str, str], ...]], Compiled] = {}

    async def __aenter__(self) -> ConversationManager:
        # A memory store on a server opens first: if it is down, no local file was made yet.
        if not self.settings.store_url:
            await self._open_checkpointer()
        if self.store is None and self.settings.memory:
            from copydesk.agents.client.embeddings import embedder_for  # loaded only with memory on

            embedder = embedder_for(self.settings, self.client)
            try:
                self.store = self._stack.enter_context(open_store(self.settings, embedder))
            except EmbedderMismatchError as error:  # memory helps; it never stops a run
                _log.warning("%s; this run goes on without memory", error)
        await self._open_checkpointer()
        trace_checkpoints(self.checkpointer, self.client.telemetry)
        return self

    async def _open_checkpointer(self) -> None:
        if self._checkpointer is None:
            url = self.settings.resolved_checkpoint_url
            self._checkpointer = await self._stack.enter_async_context(open_checkpointer(url))

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()
        await self.stops.table.aclose()
        if self._owns_client:
            await self.client.aclose()

    @property
    def checkpointer(self) -> BaseCheckpointSaver[str]:
        """The open checkpointer."""
        if self._checkpointer is None:
            raise RuntimeError("use `async with ConversationManager(...)` before running threads")
        return self._checkpointer

    @property
    def agents(self) -> Agents:
        """The agents with the default (`production`) prompts."""
        return self.agents_for()

    def agents_for(self, prompts: Mapping[str, str] | None = None) -> Agents:
        """The agents speaking with `prompts` (agent -> `name@version`; built once per set)."""
        key = tuple(sorted((prompts or {}).items()))
        if key not in self._agents:
            self._agents[key] = Agents.default(
                self.settings, client=self.client, registry=self.registry, prompts=dict(key)
            )
        return self._agents[key]

    def graph(self, name: str, prompts: Mapping[str, str] | None = None) -> Compiled:
        """The topology `name` (or path) compiled with this manager's checkpointer, its
        agents speaking with `prompts` (agent -> `name@version`; the defaults when None)."""
        key = (name, tuple(sorted((prompts or {}).items())))
        if key not in self._graphs:
            agents, saver, store = self.agents_for(prompts), self.checkpointer, self.store
            self._graphs[key] = find(name).build(agents=agents, checkpointer=saver, store=store)
        return self._graphs[key]

    def transcript(self, thread_id: str) -> Transcript:
        """The transcript of a thread."""
        return Transcript.of(self.settings.home, thread_id)

    @staticmethod
    def _config(thread_id: str, graph: str, choice: PromptChoice | None = None) -> RunnableConfig:
        # LangGraph copies scalar `metadata` into every checkpoint it writes for this call.
        metadata = {"graph": graph, **(choice.metadata() if choice else {})}
        return {"configurable": {"thread_id": thread_id}, "metadata": metadata}

    async def _metadata_of(self, thread_id: str) -> Mapping[str, Any]:
        latest = await self.checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}})
        if latest is None:
            raise UnknownThreadError.of(thread_id)
        return latest.metadata

    async def _graph_of(self, thread_id: str) -> str:
        return str((await self._metadata_of(thread_id)).get("graph", "turn_taking"))

    async def _latest(self, thread_id: str) -> tuple[str, StateSnapshot]:
        """The thread's topology and its latest state, read with that topology."""
        graph = await self._graph_of(thread_id)
        return graph, await self.graph(graph).aget_state(self._config(thread_id, graph))

    async def stream(
        self,
        graph: str,
        *,
        topic: str = "",
        thread_id: str | None = None,
        max_rounds: int | None = None,
        prompts: Mapping[str, str] | None = None,
        experiment: str | None = None,
        max_cost: float | None = None,
        review: bool = False,
        token_budget: int = 0,
        inputs: Mapping[str, Any] | None = None,
        live: bool = True,
        until: str = "",
        time_limit: float | None = None,
    ) -> AsyncIterator[Event]:
        """Start a thread, or continue a finished one with this topology; yield its events.

        A thread that exists already continues where it stands (its topic, draft, revisions,
        verdicts and usage carry over, whichever topology wrote them), with `max_rounds`
        more drafts allowed. The last event is the `RunResult`.

        Args:
            graph: Topology name or path.
            topic: What to write about; optional when continuing a thread.
            thread_id: The thread to start or continue (generated when None).
            max_rounds: Drafts allowed in this run (settings' default when None).
            review: Pause for a human's approval before the draft is accepted.
            token_budget: End the run (`over_budget`) once the thread has used this many
                tokens; 0 for no budget.
            prompts: Prompt overrides, agent -> `name@version` or `name@label`
                (see `prompts.prompt_overrides`).
            experiment: An A/B experiment to run the thread in; its variant is assigned from
                the thread id and recorded in the state and every checkpoint.
            max_cost: USD; the run ends with status `over_budget` once the thread spent it.
            inputs: Further state values the topology reads (the document topology's
                `outline`, `sections_wanted`, `words`), checked by the caller.
            live: Stream the replies token by token (`Token` events). False asks for whole
                replies, with the same checks, checkpoints and transcript: cheaper in a batch.
            until: Endings instead of the topology's (`approved | rounds>=5 & tokens>=20000`).
            time_limit: Seconds; the run then stops at its next step (`ended_by: timeout`).

        Raises:
            InputError: Empty topic for a new thread, invalid thread id, a topic that differs
                from the thread's, a thread that has not finished, or an unknown prompt,
                version, label or experiment.
            EndingError: An `until` expression that cannot be read.
        """
        topic = topic.strip()
        thread_id = thread_id or make_thread_id()
        check_thread_id(thread_id)
        choice = await PromptChoice.for_run(
            self.registry, thread_id, overrides=prompts, experiment=experiment
        )
        compiled = self.graph(graph, choice.prompts)
        config = self._config(thread_id, compiled.name, choice)
        rounds = max_rounds or self.settings.max_rounds
        start = run_options(
            choice, review=review, token_budget=token_budget, max_cost=max_cost, until=until
        )
        start |= dict(inputs or {})
        if await self.checkpointer.aget_tuple(config) is None:
            start |= new_thread(thread_id, topic, rounds)
        else:  # a finished thread continues, under this topology
            check_finished(thread_id, await self.result(thread_id))
            _, latest = await self._latest(thread_id)
            start |= continuation(thread_id, topic, rounds, latest.values, graph=compiled.name)
        run = self._drive(compiled, start, config, thread_id, "run", live=live, limit=time_limit)
        async for event in run:
            yield event

    async def run(self, graph: str, *, topic: str = "", **options: Any) -> RunResult:
        """Start a thread and run it to its end (or to the first pause)."""
        return await last_result(self.stream(graph, topic=topic, live=False, **options))

    async def stream_resume(
        self,
        thread_id: str,
        *,
        answer: Any = None,
        live: bool = True,
        time_limit: float | None = None,
    ) -> AsyncIterator[Event]:
        """Continue an interrupted (or stopped) thread from its last checkpoint.

        Args:
            thread_id: The thread.
            answer: For a thread waiting for review: `{"action": "approve"}` or
                `{"action": "feedback", "text": "..."}`.
            live: Stream replies token by token (see `stream`).
            time_limit: Seconds this run may take (an earlier run's limit is not kept).

        Raises:
            UnknownThreadError: No such thread.
            InputError: A review answer is missing, or given to a thread not waiting for one.
        """
        metadata = await self._metadata_of(thread_id)
        graph = str(metadata.get("graph", "turn_taking"))
        choice = PromptChoice.from_metadata(metadata)  # the versions the thread started with
        try:
            compiled = self.graph(graph, choice.prompts)
        except PromptError as error:
            raise InputError(f"thread {thread_id!r} used a prompt that is gone: {error}") from None
        config = self._config(thread_id, graph, choice)
        snapshot = await compiled.aget_state(config)
        ids = {str(m.id) for m in snapshot.values.get("messages", [])}
        await asyncio.to_thread(self.transcript(thread_id).reconcile, ids)  # off the loop
        start = resume_command(thread_id, interrupts=snapshot.interrupts, answer=answer)
        # A kill after a step's writes were saved but before its checkpoint leaves no `next`
        # yet a task with writes: that thread is not finished, LangGraph applies the writes.
        if not snapshot.next and not snapshot.tasks:
            yield await self.result(thread_id)
            return
        earlier = earlier_trace(metadata)
        run = self._drive(
            compiled, start, config, thread_id, "resume", earlier, live=live, limit=time_limit
        )
        async for event in run:
            yield event

    async def resume(self, thread_id: str, **options: Any) -> RunResult:
        """Continue a thread to its end (or its next pause), asking for whole replies;
        options as `stream_resume`'s."""
        return await last_result(self.stream_resume(thread_id, live=False, **options))

    async def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        *,
        values: Mapping[str, Any] | None = None,
        new_thread_id: str | None = None,
        agents: Agents | None = None,
        prompts: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Event]:
        """Start a new thread from a checkpoint of `thread_id` and run it on.

        Args:
            thread_id: The thread to fork.
            checkpoint_id: Any of its checkpoints (`copydesk history` lists them).
            values: State values to write over the checkpoint's (`SETTABLE` keys).
            new_thread_id: Id of the new thread (generated when None).
            agents: Run the fork with these agents instead of the manager's.
            prompts: Prompt overrides for the fork, agent -> `name@version` (see
                `prompts.prompt_overrides`): replay the same history with another prompt
                version. Other agents keep the versions the thread used.

        Raises:
            UnknownThreadError: No such thread.
            ForkError: No such checkpoint, or a value that cannot be set.
            InputError: An invalid or existing new thread id.
        """
        source = await self._metadata_of(thread_id)  # unknown thread -> UnknownThreadError
        made = await make_fork(
            self.checkpointer,
            self.settings.home,
            thread_id,
            checkpoint_id,
            values=values or {},
            new_thread_id=new_thread_id,
            prompts=prompts,
        )
        compiled = (
            self.graph(made.graph, made.choice.prompts)
            if agents is None
            else find(made.graph).build(agents=agents, checkpointer=self.checkpointer)
        )
        config = self._config(made.thread_id, made.graph, made.choice)
        snapshot = await compiled.aget_state(config)
        if not snapshot.next or snapshot.interrupts:
            yield await self.result(made.thread_id)
            return
        earlier = earlier_trace(source)
        async for event in self._drive(compiled, None, config, made.thread_id, "fork", earlier):
            yield event

    def _drive(
        self, compiled: Compiled, start: Any, config: RunnableConfig, thread_id: str, kind: str,
        earlier: list[str] | None = None, *, live: bool = True, limit: float | None = None,
    ) -> AsyncIterator[Event]:  # fmt: skip
        self.client.spending.book.forget(thread_id)  # its budget counts from its state again

        def events(control: RunControl) -> AsyncIterator[Event]:
            return traced_run(
                self.client.telemetry, kind, compiled, start, config, self.transcript(thread_id),
                lambda: self.result(thread_id), earlier=earlier or (), live=live, control=control,
            )  # fmt: skip

        return self.stops.run(thread_id, limit, events, self.checkpointer, self.result)

    async def result(self, thread_id: str) -> RunResult:
        """Where a thread stands now."""
        graph, snapshot = await self._latest(thread_id)
        how, label = await self.stops.stopped_at(thread_id, snapshot), self.client.model_label
        return run_result(snapshot, thread_id=thread_id, graph=graph, model=label, stopped_by=how)

    async def stop(self, thread_id: str) -> StopAnswer:
        """Ask a running thread, in any process, to stop after its step: `ended_by: stopped`."""
        await self._graph_of(thread_id)  # unknown thread -> UnknownThreadError
        return await answer_stop(thread_id, await self.stops.stop(thread_id), self.result)

    async def values(self, thread_id: str) -> Mapping[str, Any]:
        """The thread's latest state values (its drafts, revisions, verdicts, usage, ...)."""
        return (await self._latest(thread_id))[1].values

    async def history(self, thread_id: str) -> list[CheckpointInfo]:
        """Every checkpoint of a thread, newest first."""
        await self._graph_of(thread_id)  # unknown thread -> UnknownThreadError
        # Each checkpoint is read with the topology that wrote it: a thread may have moved.
        return await read_history(self.checkpointer, thread_id, self.graph)

    async def threads(self) -> list[ThreadInfo]:
        """Every thread with a checkpoint, most recently updated first."""
        return await list_threads(self.checkpointer, await self.stops.table.stopped())

    async def export_markdown(self, thread_id: str) -> str:
        """The final draft and its revision history, as Markdown."""
        graph, latest = await self._latest(thread_id)
        done = await self.result(thread_id)
        return render_markdown(latest.values, thread_id=thread_id, graph=graph, result=done)
