"""The consistency pass over an assembled long document, read in pieces that fit the window.

- **Pairs.** Every two neighbouring sections, all pairs at once (transitions, repetition
  and contradictions between neighbours), each pair whose prompt fits the window.
- **Map-reduce**, when the whole document does not fit in one prompt: each section read
  alone into a digest of its claims, then the digests compared, as many as fit in one
  prompt, every two groups once (`copydesk.agents.digests`), so sections far apart are
  compared too.
- **Outline points no section covers**, checked without a model (`copydesk.agents.coverage`).

The window is the model's context (`COPYDESK_CONTEXT_TOKENS`, or what the server taught the
client), else the agents' history window (`COPYDESK_WINDOW_TOKENS`), less the reply's cap.
Every finding is anchored to text of the sections it names, and each distinct one is kept
once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig

from copydesk.agents.budgets import within_budget
from copydesk.agents.chatbot import message_id
from copydesk.agents.consistency import ConsistencyEditor, Findings, anchored
from copydesk.agents.coverage import omissions
from copydesk.agents.digests import DigestComparer, SectionDigester, digest_text, groups
from copydesk.agents.document import DocumentState, FindingRecord, SectionRecord
from copydesk.agents.state import UsageTotals, add_usage
from copydesk.memory.tokens import TokenCounter

__all__ = ["ConsistencyPass", "input_budget"]

_MARGIN = 64


def input_budget(editor: ConsistencyEditor) -> int:
    """Tokens a consistency prompt may hold: the model's context (else the history window)
    less the reply's cap and a margin."""
    client = editor.client
    known = client.capabilities.of(client.endpoint, client.model).context_tokens
    context = known or editor.window.max_tokens
    reply = min(client.max_output_tokens or 1024, max(64, context // 2))
    return max(_MARGIN, context - reply - _MARGIN)


@dataclass(frozen=True)
class ConsistencyPass:
    """The graph's consistency node: pairs, map-reduce when needed, and outline coverage.

    Attributes:
        editor: Reads pairs of neighbouring sections.
        digester: Reads one section into its digest.
        comparer: Compares digests.
    """

    editor: ConsistencyEditor
    digester: SectionDigester
    comparer: DigestComparer

    @property
    def name(self) -> str:
        """The consistency editor's name (whose usage a refused pass records)."""
        return self.editor.name

    @within_budget
    async def __call__(self, state: DocumentState, config: RunnableConfig) -> DocumentState:
        """The findings on the assembled document, anchored and each kept once."""
        sections = state.get("sections") or []
        budget = input_budget(self.editor)
        counter = TokenCounter(self.editor.client.model)

        def fits(messages: list[BaseMessage]) -> bool:
            return counter.messages(messages) <= budget

        whole = await asyncio.to_thread(fits, self.editor.messages(state, sections))
        pairs = [tuple(sections[i : i + 2]) for i in range(len(sections) - 1)]
        pairs = [p for p in pairs if fits(self.editor.messages(state, p))]
        replies = list(await asyncio.gather(*(self.editor.pair(state, p, config) for p in pairs)))
        usage = _usage(self.editor.name, (r for _, r in replies))
        compared = ""
        if not whole and len(sections) > 1:
            found, used, compared = await self._map_reduce(state, sections, budget, counter, config)
            replies += found
            usage = add_usage(usage, used)
        by_index = {s["index"]: s for s in sections}
        findings: list[FindingRecord] = []
        for reply, _ in replies:
            for finding in reply.findings:
                record = anchored(finding, by_index)
                if record is not None and not _seen(record, findings):
                    findings.append(record)
        missing = omissions(state["outline"], sections)
        findings += missing
        said = _summary(findings, len(pairs), compared, len(missing))
        update: DocumentState = {
            "messages": [
                AIMessage(said, name=self.editor.name, id=message_id(config, 0, self.editor.name))
            ],
            "findings": findings,
            "prompts": {self.editor.name: self.editor.prompt.ref},
            "usage": usage,
        }
        if not whole:
            update["prompts"] = {
                **update["prompts"],
                self.digester.name: self.digester.prompt.ref,
                self.comparer.name: self.comparer.prompt.ref,
            }
        return update

    async def _map_reduce(
        self,
        state: DocumentState,
        sections: Sequence[SectionRecord],
        budget: int,
        counter: TokenCounter,
        config: RunnableConfig,
    ) -> tuple[list[tuple[Findings, UsageTotals]], dict[str, UsageTotals], str]:
        """Digest every section, compare the digests group by group: the replies, the usage
        and a few words on what was compared."""
        digests = await asyncio.gather(*(self.digester.digest(state, s, config) for s in sections))
        texts = [digest_text(s, d) for s, (d, _) in zip(sections, digests, strict=True)]
        room = budget - counter.messages(self.comparer.messages(state, []))
        parts = groups(texts, max(1, room // 2), counter.text)
        batches = [[texts[n] for n in g] for g in parts] if len(parts) == 1 else [
            [texts[n] for n in parts[a] + parts[b]]
            for a in range(len(parts))
            for b in range(a + 1, len(parts))
        ]  # fmt: skip
        found = list(
            await asyncio.gather(*(self.comparer.compare(state, b, config) for b in batches))
        )
        usage = add_usage(
            _usage(self.digester.name, (u for _, u in digests)),
            _usage(self.comparer.name, (u for _, u in found)),
        )
        said = f"{len(texts)} section digest(s) compared in {len(batches)} call(s)"
        return found, usage, said


def _usage(agent: str, usages: Iterable[UsageTotals]) -> dict[str, UsageTotals]:
    """The usage of `agent`'s calls, summed."""
    total: dict[str, UsageTotals] = {}
    for used in usages:
        total = add_usage(total, {agent: used})
    return total


def _seen(record: FindingRecord, findings: list[FindingRecord]) -> bool:
    """True when a finding of the same kind on the same quotes is already kept."""
    return any((f["kind"], f["quotes"]) == (record["kind"], record["quotes"]) for f in findings)


def _summary(findings: list[FindingRecord], pairs: int, compared: str, missing: int) -> str:
    head = f"{len(findings)} finding(s) across {pairs} pair(s) of sections"
    head += f" and {compared}" if compared else ""
    head += f"; {missing} outline point(s) no section covers" if missing else ""
    lines = [head + "."]
    lines += [
        f"- {f['kind']} in section {', '.join(str(q['section']) for q in f['quotes'])}: "
        f"{f['comment']}"
        for f in findings
    ]
    return "\n".join(lines)
