"""The release lock and `lint`: an edited released version fails, with the way out named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from copydesk.prompts.errors import PromptError
from copydesk.prompts.lint import lint
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from copydesk.prompts.released import ReleaseLock, content_hash


@pytest.fixture
def registry(tmp_path: Path) -> PromptRegistry:
    """A copy of the shipped prompt folder."""
    root = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    return PromptRegistry(root)


def test_shipped_prompts_lint_clean() -> None:
    """Every shipped version is released and matches its hash; labels and experiments resolve."""
    report = lint(PromptRegistry())
    assert report.ok, report.problems
    registry = PromptRegistry()
    released = ReleaseLock(registry).hashes()
    shipped = {name: set(registry.versions(name)) for name in registry.names()}
    assert {name: set(versions) for name, versions in released.items()} == shipped


def test_edited_released_version_fails_lint(registry: PromptRegistry) -> None:
    """Changing one character of a released file is caught, and the fix is spelled out."""
    path = registry.path("editor", "v1")
    path.write_text(path.read_text().replace("small editorial team", "tiny editorial team"))
    report = lint(registry)
    assert not report.ok
    [problem] = report.problems
    assert "editor/v1.toml: released editor@v1 was edited" in problem
    assert "copy it to editor/v4.toml" in problem
    assert "copydesk prompts release editor@v4" in problem


def test_line_endings_do_not_count_as_an_edit(registry: PromptRegistry) -> None:
    """A CRLF checkout of an unchanged file hashes the same."""
    path = registry.path("writer", "v1")
    before = content_hash(path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert content_hash(path) == before
    assert lint(registry).ok


def test_new_version_release_flow(registry: PromptRegistry) -> None:
    """A new version is a note until released; then it is locked like the others."""
    new = registry.path("editor", "v4")
    new.write_text(registry.path("editor", "v2").read_text().replace("0.2", "0.1"))
    report = lint(registry)
    assert report.ok
    assert any("editor@v4 is not released yet" in note for note in report.notes)
    lock = ReleaseLock(registry)
    assert lock.release("editor@v4") == "editor@v4"
    assert lock.is_released("editor", "v4") and lint(registry).notes == []
    assert lock.release("editor@v4") == "editor@v4"  # releasing again is harmless
    new.write_text(new.read_text() + "\n# tweak\n")
    assert not lint(registry).ok
    with pytest.raises(PromptError, match="released already and its file was edited"):
        lock.release("editor@v4")


def test_other_lint_problems(registry: PromptRegistry) -> None:
    """A deleted release, an invalid file, production on an unreleased version, a bad
    experiment: all reported at once."""
    registry.path("writer", "v1").unlink()
    (registry.root / "writer" / "v9.toml").write_text('description = "x"\n')
    (registry.root / "labels.toml").write_text('[writer]\nproduction = "v9"\n')
    (registry.root / "experiments.toml").write_text('[x]\nprompt = "critic"\nvariants = []\n')
    problems = "\n".join(lint(registry).problems)
    assert "prompt writer@v9: missing text part(s) system, first, revise" in problems
    assert "released writer@v1 was deleted" in problems
    assert "label production of 'writer' points at unreleased writer@v9" in problems
    assert "experiment 'x': needs at least two variants" in problems
