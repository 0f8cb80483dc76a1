"""The prompt markers: every shipped prompt writes the topic, draft, feedback and speakers the
way the offline model reads them, the offline model reads them from `prompts/markers.py`, and
`lint` notes an unreleased version that drops one."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from copydesk.agents.chatbot import feedback_text
from copydesk.agents.client.offline import OfflineChatModel
from copydesk.agents.roles import SpeakerChoice
from copydesk.prompts import markers
from copydesk.prompts.lint import lint
from copydesk.prompts.markers import (
    DRAFT_CLOSE,
    DRAFT_OPEN,
    FEEDBACK_HEADING,
    LAST_SPEAKER_FIELD,
    PARTICIPANTS_FIELD,
    PERSONA_FIELD,
    TOPIC_FIELD,
)
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from copydesk.prompts.template import PromptTemplate

FOR_REAL_MODELS_ONLY = {"writer@v2"}
"""Released versions written for small real models, without the topic line and draft fences
(they read better to a 270M model); the offline model answers them with a first draft."""
REVISERS = {"writer", "proofreader", "section_writer", "document_outliner"}
"""Prompts the offline model revises from the feedback under its heading (the outliner's
revision is a typed outline, changed line by line from the feedback)."""
TYPED = {
    "editor", "fact_checker", "structure_editor", "style_editor", "moderator", "section_editor"
}  # fmt: skip
"""Prompts answered with a typed reply: the offline model judges the draft, not the feedback."""
DEBATERS = {"advocate", "skeptic", "reader"}
"""Prompts that name a persona: the offline model argues about the draft instead of writing."""

TOPIC = "Why cities plant trees"
DRAFT = "# Trees\n\nTrees cool streets. They cost little to plant."
VERDICT = {
    "decision": "revise",
    "issues": [
        {"severity": "major", "quote": "Trees cool streets.", "comment": "Add an example."},
        {"severity": "major", "quote": "They cost little.", "comment": "Add a takeaway."},
    ],
    "summary": "Two issues.",
}
VALUES = {
    "topic": TOPIC,
    "draft": DRAFT,
    "feedback": feedback_text(VERDICT),
    "round": 2,
    "max_rounds": 3,
    "participants": "writer, editor, proofreader",
    "last_speaker": "editor",
}


def shipped() -> list[PromptTemplate]:
    """Every version of every shipped prompt."""
    registry = PromptRegistry()
    return [registry.get(f"{n}@{v}") for n in registry.names() for v in registry.versions(n)]


def task_parts(template: PromptTemplate) -> list[str]:
    """The parts the offline model reads: the task messages."""
    return [template.first, template.revise]


def unmarked(template: PromptTemplate) -> list[str]:
    """The topic, draft and feedback `template` carries without their markers."""
    missing = []
    for text in task_parts(template):
        lines = text.splitlines()
        if "{topic}" in text and f"{TOPIC_FIELD}: {{topic}}" not in lines:
            missing.append("topic")
        if "{draft}" in text and f"{DRAFT_OPEN}\n{{draft}}\n{DRAFT_CLOSE}" not in text:
            missing.append("draft")
        if "{feedback}" in text and template.name in REVISERS:
            at = lines.index("{feedback}")
            if at == 0 or not lines[at - 1].endswith(FEEDBACK_HEADING):
                missing.append("feedback")
            if text.count(FEEDBACK_HEADING) != 1:
                missing.append("feedback heading twice")
    return missing


def test_markers_module_is_a_leaf() -> None:
    """prompts/markers.py imports nothing (of ours or anyone's): everyone can read it."""
    tree = ast.parse(Path(markers.__file__).read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(n) for n in imports] == ["from __future__ import annotations"]


def test_shipped_prompts_carry_the_topic_draft_and_feedback_markers() -> None:
    """Each shipped prompt carrying a topic, draft or feedback writes it with its marker; the
    only exceptions are the released versions written for real models alone."""
    found = {t.ref: unmarked(t) for t in shipped()}
    assert {ref for ref, missing in found.items() if missing} == FOR_REAL_MODELS_ONLY
    assert set(found["writer@v2"]) == {"topic", "draft"}  # its feedback heading is there
    carrying = {t.ref for t in shipped() if any("{draft}" in p for p in task_parts(t))}
    assert len(carrying - FOR_REAL_MODELS_ONLY) >= 12  # the check covered the shipped set


def test_every_prompt_with_feedback_is_classified() -> None:
    """A new prompt that carries feedback must say whether the offline model revises from it
    (and so needs the heading) or answers it with a typed reply."""
    with_feedback = {t.name for t in shipped() if any("{feedback}" in p for p in task_parts(t))}
    assert with_feedback <= REVISERS | TYPED
    assert with_feedback >= REVISERS


def test_speaker_fields() -> None:
    """Debaters name their persona, the moderator lists participants and the last speaker,
    and no other prompt has a persona line (the offline model would argue instead)."""
    for template in shipped():
        for text in task_parts(template):
            lines = text.splitlines()
            if template.name in DEBATERS:
                assert f"{PERSONA_FIELD}: {template.name}" in lines, template.ref
            else:
                assert not any(ln.startswith(f"{PERSONA_FIELD}:") for ln in lines), template.ref
            if template.name == "moderator":
                assert f"{PARTICIPANTS_FIELD}: {{participants}}" in lines
                assert f"{LAST_SPEAKER_FIELD}: {{last_speaker}}" in lines


def ask(ref: str, part: str) -> list[BaseMessage]:
    """The messages a role sends with the shipped prompt `ref`."""
    template = PromptRegistry().get(ref)
    return [template.system_message(VALUES), template.task_message(part, VALUES)]


def test_offline_model_reads_the_rendered_markers() -> None:
    """Rendered, the markers reach the offline model: the writer revises the fenced draft from
    the feedback, a debater argues as its persona, the moderator picks the next participant."""
    model = OfflineChatModel()
    revised = model.invoke(ask("writer@v1", "revise")).text
    assert revised.startswith(DRAFT)
    assert "For example," in revised and "In short, cities plant trees" in revised
    assert model.invoke(ask("skeptic@v1", "first")).text.startswith("As the skeptic:")
    first = model.invoke(ask("writer@v1", "first")).text
    assert first.startswith(f"# {TOPIC}\n")
    choice = model.with_structured_output(SpeakerChoice, method="json_schema")
    picked = choice.invoke(ask("moderator@v1", "first"))
    assert isinstance(picked, SpeakerChoice) and picked.next_speaker == "proofreader"


@pytest.fixture
def registry(tmp_path: Path) -> PromptRegistry:
    """A copy of the shipped prompt folder."""
    root = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    return PromptRegistry(root)


def test_lint_notes_a_new_version_without_markers(registry: PromptRegistry) -> None:
    """An unreleased version that drops the topic line and the fences, or puts the feedback
    heading elsewhere, is noted (not failed); one that keeps them is not."""
    kept = registry.path("writer", "v3")
    kept.write_text(registry.path("writer", "v1").read_text(encoding="utf-8"), encoding="utf-8")
    report = lint(registry)
    assert report.ok
    assert report.notes == ["writer@v3 is not released yet; release it with `copydesk prompts "
                            "release writer@v3` once final"]  # fmt: skip
    text = registry.path("writer", "v1").read_text(encoding="utf-8")
    text = text.replace("Topic: {topic}", "Subject: {topic}").replace("<<<\n", "")
    text = text.replace("Your current draft:", "Read the changes: below.\nYour current draft:")
    kept.write_text(text, encoding="utf-8")
    report = lint(registry)
    assert report.ok
    notes = "\n".join(report.notes)
    assert "writer@v3 (first): {topic} is not on a 'Topic: {topic}' line" in notes
    assert "writer@v3 (revise): {draft} is not fenced by <<< and >>> lines" in notes
    assert "writer@v3 (revise): the first 'changes:' is not right before {feedback}" in notes
