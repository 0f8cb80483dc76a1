"""`lint`: everything that can be wrong with a prompt folder, found at once.

Problems fail the lint (and CI); notes do not. A released file that no longer matches its
recorded hash is a problem: released versions are immutable, a change is a new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import load_experiments
from copydesk.prompts.registry import PromptRegistry
from copydesk.prompts.released import LOCK_FILE, ReleaseLock, content_hash

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
                registry.get(ref)
            except PromptError as error:
                report.problems.append(str(error))
            recorded = released.get(name, {}).get(version)
            if recorded is None:
                report.notes.append(
                    f"{ref} is not released yet; release it with `copydesk prompts release "
                    f"{ref}` once final"
                )
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
