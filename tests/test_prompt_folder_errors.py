"""A prompt folder's other mistakes, each named with its fix: experiment entries of the wrong
shape, unreadable lock and label files, a label pointing nowhere, a release asked for without
a version or with a name that cannot be a file, a params entry that is not a table; and what
a folder without experiments, releases or labels means."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import load_experiments
from copydesk.prompts.lint import lint
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from copydesk.prompts.released import ReleaseLock

BODY = """
description = "d"
variables = ["topic", "round"]
system = "You write about {topic}."
first = "Round {round}."
revise = "Again, round {round}."
"""


@pytest.fixture
def registry(tmp_path: Path) -> PromptRegistry:
    """A copy of the shipped prompt folder."""
    root = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    return PromptRegistry(root)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('x = "editor"\n', r"experiment 'x': must be a table \[x\] with prompt and variants"),
        ('[x]\nprompt = "editor"\nvariants = ["control", "rubric"]\n',
         "experiment 'x': each variant needs name, version and weight"),
        ('[x]\nprompt = "editor"\nvariants = [{ name = "a", version = "v1", weight = 1, '
         'colour = "red" }, { name = "b", version = "v2", weight = 1 }]\n',
         r"experiment 'x' variant 'a': unknown field\(s\) colour"),
        ('[x]\nprompt = "editor"\nvariants = [{ name = "a", version = 1, weight = 1 }, '
         '{ name = "b", version = "v2", weight = 1 }]\n',
         "experiment 'x' variant 'a': version must be a version or label"),
        ("[x\n", "cannot read experiments"),
    ],
    ids=["not-a-table", "variant-not-a-table", "variant-field", "version-number", "not-toml"],
)  # fmt: skip
def test_experiment_entries_of_the_wrong_shape(
    registry: PromptRegistry, body: str, message: str
) -> None:
    (registry.root / "experiments.toml").write_text(body, encoding="utf-8")

    with pytest.raises(PromptError, match=message):
        load_experiments(registry)


def test_a_folder_without_experiments_releases_or_labels(tmp_path: Path) -> None:
    (tmp_path / "writer").mkdir()
    for version in ("v1", "v2"):
        (tmp_path / "writer" / f"{version}.toml").write_text(BODY, encoding="utf-8")
    registry = PromptRegistry(tmp_path)

    assert load_experiments(registry) == {}
    assert ReleaseLock(registry).hashes() == {}
    assert registry.resolve("writer") == ("writer", "v2")  # no production label: the newest
    report = lint(registry)
    assert report.ok and len(report.notes) == 2  # two versions to release one day


def test_unreadable_lock_and_labels_and_a_label_pointing_nowhere_are_all_reported(
    registry: PromptRegistry,
) -> None:
    (registry.root / "released.toml").write_text("[editor\n", encoding="utf-8")
    report = lint(registry)
    assert any(
        p.startswith(f"cannot read {registry.root / 'released.toml'}") for p in report.problems
    )

    shutil.copy(DEFAULT_PROMPTS_DIR / "released.toml", registry.root / "released.toml")
    (registry.root / "labels.toml").write_text('[editor\nproduction = "v1"\n', encoding="utf-8")
    assert any("labels.toml" in p for p in lint(registry).problems)

    (registry.root / "labels.toml").write_text('[editor]\nproduction = "v7"\n', encoding="utf-8")
    [problem] = lint(registry).problems
    assert problem.startswith("label 'production' of prompt 'editor' points at 'v7', which does")


def test_release_needs_a_version_and_a_name_that_can_be_a_file(registry: PromptRegistry) -> None:
    lock = ReleaseLock(registry)
    (registry.root / "writer" / "v3+.toml").write_text(BODY, encoding="utf-8")

    with pytest.raises(PromptError, match=r"release needs NAME@VERSION, e\.g\. editor@v3, not 'w'"):
        lock.release("w")
    with pytest.raises(PromptError, match=r"prompt writer@v3\+: use letters, digits"):
        lock.release("writer@v3+")


def test_params_that_are_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "writer").mkdir()
    (tmp_path / "writer" / "v1.toml").write_text(BODY + "params = 0.2\n", encoding="utf-8")

    with pytest.raises(PromptError, match=r"prompt writer@v1: params must be a table such as"):
        PromptRegistry(tmp_path).get("writer@v1")


def test_rendering_a_part_that_does_not_exist(registry: PromptRegistry) -> None:
    with pytest.raises(PromptError, match="prompt writer@v1 has no part 'closing'"):
        registry.get("writer@v1").render("closing", {"topic": "Kelp"})


def test_a_version_file_that_is_not_toml_or_points_nowhere(tmp_path: Path) -> None:
    (tmp_path / "writer").mkdir()
    (tmp_path / "writer" / "v1.toml").write_text("[system\n", encoding="utf-8")
    (tmp_path / "writer" / "v2.toml").symlink_to(tmp_path / "gone.toml")
    registry = PromptRegistry(tmp_path)

    with pytest.raises(PromptError, match="prompt writer@v1: cannot read "):
        registry.get("writer@v1")
    with pytest.raises(PromptError, match="prompt writer@v2: no file "):
        registry.get("writer@v2")
