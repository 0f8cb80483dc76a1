"""The markers in a task message that the offline model reads, named in one place.

The prompt files write them; the offline model (`copydesk.agents.client.offline`) finds the
topic, the draft, the editor's feedback and who is speaking by them and by nothing else, so a
prompt's wording can change freely as long as these stay. A version that drops one still
works with a real model, but the offline model then misreads the task: it takes the whole
task as the topic, or writes a first draft where a revision was asked for.
`tests/test_prompt_markers.py` checks the shipped prompts carry them, and `lint` notes an
unreleased version that carries a topic or a draft without its marker.

Imports nothing: the prompt files, the lint and the offline model all read it.
"""

from __future__ import annotations

__all__ = [
    "DRAFT_CLOSE",
    "DRAFT_OPEN",
    "FEEDBACK_HEADING",
    "FEEDBACK_ITEM",
    "KEY_POINTS_FIELD",
    "LAST_SPEAKER_FIELD",
    "NUMBERED_SECTION",
    "PARTICIPANTS_FIELD",
    "PERSONA_FIELD",
    "SECTIONS_FIELD",
    "SECTION_FIELD",
    "SOURCES_HEADING",
    "STYLE_SHEET_HEADING",
    "TOPIC_FIELD",
    "WORDS_FIELD",
]

TOPIC_FIELD = "Topic"
"""Label of the line that carries the topic: `Topic: {topic}`."""

PERSONA_FIELD = "Persona"
"""Label of the line that names a debater: `Persona: advocate`. A task with it asks for an
argument about the draft, not a draft."""

PARTICIPANTS_FIELD = "Participants"
"""Label of the moderator's line listing who may speak, in turn order: `Participants: ...`."""

LAST_SPEAKER_FIELD = "Last speaker"
"""Label of the moderator's line naming who spoke last: `Last speaker: {last_speaker}`."""

DRAFT_OPEN = "<<<"
"""The line before the draft: the draft is fenced as `<<<`, `{draft}`, `>>>`, one a line."""

DRAFT_CLOSE = ">>>"
"""The line after the draft."""

FEEDBACK_HEADING = "changes:"
"""How the line before the editor's feedback ends (`The editor asked for these changes:`);
the feedback is everything after its first occurrence."""

FEEDBACK_ITEM = "-"
"""How each feedback line starts (as `copydesk.agents.chatbot.feedback_text` and the judge's
ruling write them); a revision answers these lines one by one."""

SECTION_FIELD = "Section"
"""Label of the line naming the section a long document's writer writes: `Section: {heading}`.
A task with it asks for that section's body, not a whole piece."""

KEY_POINTS_FIELD = "Key points"
"""Label of the line listing a section's key points, separated by `; `."""

WORDS_FIELD = "Words"
"""Label of the line giving a target length in words (a section's, or a whole document's)."""

SECTIONS_FIELD = "Sections"
"""Label of the outliner's line giving how many sections to plan: `Sections: {sections}`."""

SOURCES_HEADING = "Sources you may cite:"
"""The line before a section's source passages, one a line as `[n] passage`."""

NUMBERED_SECTION = "Section {index}: {heading}"
"""How the consistency editor's task names each section it reads, on the line before that
section's text fenced by `DRAFT_OPEN` and `DRAFT_CLOSE`."""

STYLE_SHEET_HEADING = "Style sheet:"
"""The line before a long document's style sheet, one rule a line as `- kind: rule (section
n)` (`- term: e-mail (section 1)`)."""
