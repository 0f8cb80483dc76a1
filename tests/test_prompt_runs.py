"""Prompt versions in real runs: overrides and A/B variants are sent to the model, recorded in
every checkpoint's metadata and transcript line, survive a resume, and the A/B report
computes the right numbers from threads whose outcome per variant is known."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.errors import ModelUnavailableError
from copydesk.graphs.manager import ConversationManager, InputError
from copydesk.graphs.prompting import find_experiment
from copydesk.graphs.reports.ab_report import build_report, cost_of, outcomes
from copydesk.prompts.registry import PromptRegistry
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.writing import verdict_json

ROUND = re.compile(r"round (\d+) of \d+")
TOPIC = re.compile(r"^Topic:\s*(.+)$", re.MULTILINE)
DRAFT_TOKENS, VERDICT_TOKENS = (100, 20), (50, 10)


def rubric_responder(body: dict[str, Any]) -> Reply:
    """Editor v1 approves at once. Editor v2 (the rubric) approves "good" topics on round 2
    and never approves the others. Fixed token counts make the usage predictable."""
    messages = body["messages"]
    last = str(messages[-1]["content"])
    if "response_format" not in body and "tools" not in body:
        return Reply(f"Draft on {TOPIC.search(last).group(1)}.", None, *DRAFT_TOKENS)  # type: ignore[union-attr]
    rubric = "rubric" in str(messages[0]["content"])
    round_ = int(ROUND.search(last).group(1))  # type: ignore[union-attr]
    topic = TOPIC.search(last)
    good = topic is not None and "good" in topic.group(1)  # not in recalled memories
    decision = "approve" if not rubric or (good and round_ == 2) else "revise"
    return Reply(verdict_json(decision, round_), None, *VERDICT_TOKENS)


def _editor_requests(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests() if r.body and "response_format" in r.body]


async def test_prompt_override_is_sent_recorded_and_kept_on_resume(make_settings: Any) -> None:
    """editor@candidate: v2's text and temperature reach the server; every checkpoint and
    transcript line records editor@v2, also after a crash and resume in a new manager."""
    settings = make_settings()
    with FakeOpenAIServer() as server:
        server.responder = rubric_responder
        client = OpenAIClient(base_url=server.base_url, retry=RetryPolicy(max_retries=0))
        async with client:
            async with ConversationManager(settings, client=client) as manager:
                server.faults.add(
                    Fault.delay(0), Fault.delay(0), Fault.status(503)
                )  # 3rd call fails
                with pytest.raises(ModelUnavailableError):
                    await manager.run(
                        "turn_taking",
                        topic="good tides",
                        thread_id="p1",
                        max_rounds=2,
                        prompts={"editor": "editor@candidate"},
                    )
            # A new manager (a new process, in effect) resumes with the recorded versions.
            async with ConversationManager(settings, client=client) as manager:
                result = await manager.resume("p1")
                metadata = [
                    item.metadata
                    async for item in manager.checkpointer.alist(
                        {"configurable": {"thread_id": "p1"}}
                    )
                ]
                history = await manager.history("p1")
                lines = manager.transcript("p1").lines()
    assert result.status == "approved" and result.rounds == 2
    assert result.prompts == {"writer": "writer@v1", "editor": "editor@v2"}
    editor_calls = _editor_requests(server)
    assert len(editor_calls) == 2
    assert all(b["temperature"] == 0.2 and "rubric" in b["messages"][0]["content"]
               for b in editor_calls)  # fmt: skip
    drafts = [r.body for r in server.chat_requests() if r.body and "response_format" not in r.body]
    assert drafts and all("temperature" not in b for b in drafts)  # writer v1 has no params
    assert len(metadata) >= 5
    for meta in metadata:
        assert meta["prompt:editor"] == "editor@v2" and meta["prompt:writer"] == "writer@v1"
    assert all(h.prompts == {"writer": "writer@v1", "editor": "editor@v2"} for h in history)
    assert [(x["agent"], x["prompt"]) for x in lines] == [
        ("writer", "writer@v1"),
        ("editor", "editor@v2"),
        ("writer", "writer@v1"),
        ("editor", "editor@v2"),
    ]


async def test_unknown_prompt_or_experiment_writes_nothing(make_settings: Any) -> None:
    """The manager refuses a bad prompt or experiment before any checkpoint is written."""
    async with ConversationManager(make_settings(checkpoint_url="memory:")) as manager:
        with pytest.raises(InputError, match="no version or label 'v9'"):
            await manager.run("turn_taking", topic="t", thread_id="x", prompts={"e": "editor@v9"})
        with pytest.raises(InputError, match="unknown experiment 'nope'"):
            await manager.run("turn_taking", topic="t", thread_id="x", experiment="nope")
        assert [t async for t in manager.checkpointer.alist(None)] == []


async def test_ab_report_numbers_from_recorded_threads(make_settings: Any) -> None:
    """Twelve threads in the shipped experiment; the report matches the known outcomes."""
    experiment = find_experiment(PromptRegistry(), "editor-rubric")
    ids = [f"ab-{i}" for i in range(12)]
    topics = {t: f"{'good' if i % 2 == 0 else 'plain'} harbour {i}" for i, t in enumerate(ids)}
    variant = {t: experiment.assign(t).name for t in ids}
    assert set(variant.values()) == {"control", "rubric"}  # both arms are exercised
    with FakeOpenAIServer() as server:
        server.responder = rubric_responder
        client = OpenAIClient(base_url=server.base_url)
        async with client, ConversationManager(make_settings(), client=client) as manager:
            for thread_id in ids:
                result = await manager.run(
                    "turn_taking",
                    topic=topics[thread_id],
                    thread_id=thread_id,
                    max_rounds=2,
                    experiment="editor-rubric",
                )
                assert result.experiment["variant"] == variant[thread_id]
            # a thread outside the experiment is not counted
            await manager.run("turn_taking", topic="good other", thread_id="other")
            found = await outcomes(manager.checkpointer, "editor-rubric")
            metadata = [
                item.metadata
                async for item in manager.checkpointer.alist(
                    {"configurable": {"thread_id": "ab-0"}}
                )
            ]
    assert sorted(o.thread_id for o in found) == sorted(ids)
    assert {m["variant"] for m in metadata} == {variant["ab-0"]}
    assert {m["experiment"] for m in metadata} == {"editor-rubric"}

    report = build_report(experiment, found, price_per_1k_tokens=2.0)
    control, rubric = report.variants
    per_round = sum(DRAFT_TOKENS) + sum(VERDICT_TOKENS)
    n_control = sum(v == "control" for v in variant.values())
    rubric_ids = [t for t in ids if variant[t] == "rubric"]
    rubric_good = sum("good" in topics[t] for t in rubric_ids)
    assert (control.variant, control.prompt) == ("control", "editor@v1")
    assert (control.threads, control.finished, control.approved) == (n_control,) * 3
    assert control.approval_rate == 1.0 and control.mean_rounds_to_approval == 1.0
    assert control.tokens == n_control * per_round
    assert control.cost == pytest.approx(n_control * per_round / 1000 * 2.0)
    assert (rubric.variant, rubric.prompt) == ("rubric", "editor@v2")
    assert (rubric.threads, rubric.finished) == (len(rubric_ids),) * 2
    assert rubric.approved == rubric_good
    assert rubric.approval_rate == pytest.approx(rubric_good / len(rubric_ids))
    assert rubric.mean_rounds_to_approval == 2.0
    assert rubric.tokens == len(rubric_ids) * 2 * per_round
    assert control.p_value is None and rubric.p_value is not None
    assert rubric.significant == (rubric.p_value < 0.05)
    assert "Fisher's exact test" in report.test
    assert not any("no price" in note for note in report.notes)
    # Without a flat price, the cost is what the client priced each call at (its price table).
    table_priced = build_report(experiment, found)
    recorded = sum(o.cost_usd for o in found if variant[o.thread_id] == "control")
    assert recorded > 0
    assert table_priced.variants[0].cost == pytest.approx(recorded)
    assert any("priced by the price table" in note for note in table_priced.notes)
    offline = [replace(o, cost_usd=0.0) for o in found]
    unpriced = build_report(experiment, offline)
    assert unpriced.variants[0].cost == 0.0
    assert any("cost is 0: no call was priced" in note for note in unpriced.notes)


def test_significance_on_a_built_set_of_outcomes() -> None:
    """20 of 20 approved against 5 of 20: significant; 5 vs 4 of 10: not."""
    from copydesk.graphs.reports.ab_report import ThreadOutcome

    experiment = find_experiment(PromptRegistry(), "editor-rubric")

    def threads(variant: str, approved: int, total: int) -> list[ThreadOutcome]:
        return [
            ThreadOutcome(f"{variant}{i}", variant, "approved" if i < approved else
                          "out_of_rounds", 1, 10)
            for i in range(total)
        ]  # fmt: skip

    strong = build_report(experiment, threads("control", 5, 20) + threads("rubric", 20, 20))
    assert strong.variants[1].significant is True
    assert strong.variants[1].p_value == pytest.approx(1.5e-06, rel=0.5)
    weak = build_report(experiment, threads("control", 4, 10) + threads("rubric", 5, 10))
    assert weak.variants[1].significant is False
    assert cost_of(1500, 0.5) == 0.75 and cost_of(1500, None) == 0.0


async def test_prompts_dir_setting_moves_the_production_label(
    make_settings: Any, tmp_path: Any
) -> None:
    """COPYDESK_PROMPTS_DIR points at another folder: its labels decide the defaults."""
    import shutil

    from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR

    root = tmp_path / "team-prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    (root / "labels.toml").write_text('[writer]\nproduction = "v1"\n[editor]\nproduction = "v2"\n')
    settings = make_settings(checkpoint_url="memory:", prompts_dir=root)
    async with ConversationManager(settings) as manager:
        result = await manager.run("turn_taking", topic="tides", thread_id="d1")
        pinned = await manager.run(
            "turn_taking", topic="tides", thread_id="d2", prompts={"editor": "editor@v1"}
        )
    assert result.prompts == {"writer": "writer@v1", "editor": "editor@v2"}
    assert pinned.prompts == {"writer": "writer@v1", "editor": "editor@v1"}


async def test_fork_replays_the_same_history_with_another_prompt(make_settings: Any) -> None:
    """Counterfactual replay: fork a v1 thread from its first draft with editor@v2; the fork's
    editor speaks v2 on the same draft, its checkpoints record v2, the original is untouched."""
    settings = make_settings()
    with FakeOpenAIServer() as server:
        server.responder = rubric_responder
        client = OpenAIClient(base_url=server.base_url, retry=RetryPolicy(max_retries=0))
        async with client, ConversationManager(settings, client=client) as manager:
            original = await manager.run(
                "turn_taking", topic="plain tides", thread_id="base", max_rounds=2
            )
            after_draft = next(h for h in await manager.history("base") if h.node == "writer")
            server.reset()
            server.responder = rubric_responder
            events = [
                e
                async for e in manager.fork(
                    "base",
                    after_draft.checkpoint_id,
                    new_thread_id="replay",
                    prompts={"editor": "editor@v2"},
                )
            ]
            forked = events[-1]
            fork_metadata = [
                item.metadata
                async for item in manager.checkpointer.alist(
                    {"configurable": {"thread_id": "replay"}}
                )
            ]
            again = await manager.result("base")
    assert original.status == "approved" and original.prompts["editor"] == "editor@v1"
    editor_calls = _editor_requests(server)
    assert editor_calls, "the fork's editor was never asked"
    assert all("rubric" in b["messages"][0]["content"] for b in editor_calls)  # v2's system text
    assert all("Draft on plain tides." in b["messages"][-1]["content"] for b in editor_calls[:1])
    assert forked.prompts["editor"] == "editor@v2"
    assert forked.status == "out_of_rounds"  # v2 never approves a topic that is not "good"
    written = [m for m in fork_metadata if m.get("source") == "loop"]
    assert written and all(m.get("prompt:editor") == "editor@v2" for m in written)
    assert again.prompts["editor"] == "editor@v1" and again.final_draft == original.final_draft
