"""`lint`: everything that can be wrong with a prompt folder, found at once.

Problems fail the lint (and CI); notes do not. A released file that no longer matches its
recorded hash is a problem: released versions are immutable, a change is a new version. An
unreleased version the offline model would misread is a note: a topic or a draft without the
marker it finds them by (`copydesk.prompts.markers`), or a feedback heading that is not the
one before the feedback. A real model reads it fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import load_experiments
from copydesk.prompts.markers import DRAFT_CLOSE, DRAFT_OPEN, FEEDBACK_HEADING, TOPIC_FIELD
from copydesk.prompts.registry import PromptRegistry
from copydesk.prompts.released import LOCK_FILE, ReleaseLock, content_hash
from copydesk.prompts.template import PromptTemplate

__all__ = ["LintReport", "lint"]


@dataclass
class LintReport:
    """What `lint` found."""

    problems: list[str] = field(default_factory=list)
    """Failures, one line each naming the file or prompt and the fix."""
    notes: list[str] = field(default_factory=list)
    """Worth knowing, not failures (for example versions not released yet)."""

    @property
    def ok(self) -> bool:
        """True when there is no problem."""
        return not self.problems


def lint(registry: PromptRegistry) -> LintReport:
    """Check every version, the release hashes, the labels and the experiments."""
    report = LintReport()
    lock = ReleaseLock(registry)
    try:
        released = lock.hashes()
    except PromptError as error:
        report.problems.append(str(error))
        released = {}
    root = registry.root
    for name in registry.names():
        for version in registry.versions(name):
            ref, path = f"{name}@{version}", registry.path(name, version)
            try:
                template: PromptTemplate | None = registry.get(ref)
            except PromptError as error:
                report.problems.append(str(error))
                template = None
            recorded = released.get(name, {}).get(version)
            if recorded is None:
                report.notes.append(
                    f"{ref} is not released yet; release it with `copydesk prompts release "
                    f"{ref}` once final"
                )
                if template is not None:
                    report.notes.extend(_unmarked(template))
            elif recorded != content_hash(path):
                following = f"v{len(registry.versions(name)) + 1}"
                report.problems.append(
                    f"{path.relative_to(root)}: released {ref} was edited (its hash no longer "
                    f"matches {LOCK_FILE}); restore it (git checkout -- {path}) and make the "
                    f"change a new version: copy it to {name}/{following}.toml, edit that, then "
                    f"`copydesk prompts release {name}@{following}`"
                )
    for name, versions in released.items():
        for version in versions:
            if not registry.path(name, version).exists():
                report.problems.append(
                    f"released {name}@{version} was deleted; restore "
                    f"{registry.path(name, version)} (released versions are kept forever)"
                )
    try:
        labels = registry.labels()
    except PromptError as error:
        report.problems.append(str(error))
        labels = {}
    for name, table in labels.items():
        for label in table:
            try:
                _, version = registry.resolve(f"{name}@{label}")
            except PromptError as error:
                report.problems.append(str(error))
                continue
            if label == "production" and version not in released.get(name, {}):
                report.problems.append(
                    f"label production of {name!r} points at unreleased {name}@{version}; "
                    f"release it first with `copydesk prompts release {name}@{version}`"
                )
    try:
        load_experiments(registry)
    except PromptError as error:
        report.problems.append(str(error))
    return report


def _unmarked(template: PromptTemplate) -> list[str]:
    """What the offline model would misread in `template`'s task parts: a topic off its
    `Topic:` line, a draft outside its fences, a feedback heading that is not the first."""
    topic = f"{TOPIC_FIELD}: {{topic}}"
    fenced = f"{DRAFT_OPEN}\n{{draft}}\n{DRAFT_CLOSE}"
    notes = []
    for part in ("first", "revise"):
        text, where = getattr(template, part), f"{template.ref} ({part})"
        if "{topic}" in text and topic not in text.splitlines():
            notes.append(
                f"{where}: {{topic}} is not on a {topic!r} line; the offline model would take "
                f"the whole task as the topic"
            )
        if "{draft}" in text and fenced not in text:
            notes.append(
                f"{where}: {{draft}} is not fenced by {DRAFT_OPEN} and {DRAFT_CLOSE} lines; the "
                f"offline model would not see the draft"
            )
        heading = text.find(FEEDBACK_HEADING)
        if "{feedback}" in text and heading >= 0:
            after = text[heading + len(FEEDBACK_HEADING) :].lstrip()
            if not after.startswith("{feedback}"):
                notes.append(
                    f"{where}: the first {FEEDBACK_HEADING!r} is not right before {{feedback}}; "
                    f"the offline model would read what follows it as the feedback"
                )
    return notes
