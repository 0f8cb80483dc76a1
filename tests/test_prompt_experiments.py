"""A/B experiments: the file format, sticky assignment by thread id, the split, the stats."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from copydesk.graphs.prompting import PromptChoice, find_experiment
from copydesk.graphs.reports._stats import fisher_exact
from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import load_experiments
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry


def _registry(tmp_path: Path, experiments: str) -> PromptRegistry:
    root = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    (root / "experiments.toml").write_text(experiments, encoding="utf-8")
    return PromptRegistry(root)


SPLIT_70_30 = """
[tone]
prompt = "editor"
variants = [
    { name = "control", version = "production", weight = 7 },
    { name = "rubric", version = "candidate", weight = 3 },
]
"""


def test_shipped_example_experiment() -> None:
    """The project ships one experiment: editor v1 against the candidate v2, half and half."""
    experiment = find_experiment(PromptRegistry(), "editor-rubric")
    assert [(v.name, v.ref, v.weight) for v in experiment.variants] == [
        ("control", "editor@v1", 50.0),
        ("rubric", "editor@v2", 50.0),
    ]


def test_assignment_is_sticky_and_deterministic(tmp_path: Path) -> None:
    """The same thread always gets the same variant, in a fresh load of the file too."""
    first = find_experiment(_registry(tmp_path, SPLIT_70_30), "tone")
    again = load_experiments(PromptRegistry(tmp_path / "prompts"))["tone"]
    ids = [f"thread-{i}" for i in range(200)]
    assert [first.assign(t).name for t in ids] == [again.assign(t).name for t in ids]
    assert {first.assign(t).name for t in ids} == {"control", "rubric"}
    # The hash is pinned: changing it would reshuffle every running experiment.
    digest = hashlib.sha256(b"tone\x00thread-0").digest()
    assert first.bucket("thread-0") == int.from_bytes(digest[:8], "big") / 2**64
    expected = "control" if first.bucket("thread-0") < 0.7 else "rubric"
    assert first.assign("thread-0").name == expected


@pytest.mark.parametrize("weights", [(50, 50), (70, 30), (10, 30, 60)])
def test_split_over_10000_threads_follows_the_weights(tmp_path: Path, weights: tuple) -> None:
    """Over 10,000 thread ids each variant's share is within 2 points of its weight."""
    arms = ", ".join(
        f'{{ name = "arm{i}", version = "v{1 + i % 2}", weight = {w} }}'
        for i, w in enumerate(weights)
    )
    body = f'[split]\nprompt = "editor"\nvariants = [{arms}]\n'
    experiment = find_experiment(_registry(tmp_path, body), "split")
    counts: dict[str, int] = {}
    for i in range(10_000):
        name = experiment.assign(f"20261124-{i:06d}").name
        counts[name] = counts.get(name, 0) + 1
    total = sum(weights)
    for i, weight in enumerate(weights):
        assert abs(counts[f"arm{i}"] / 10_000 - weight / total) < 0.02


def test_choice_applies_the_variant_and_records_it(tmp_path: Path) -> None:
    """The variant's version replaces the agent's prompt and is recorded as metadata."""
    registry = _registry(tmp_path, SPLIT_70_30)
    experiment = find_experiment(registry, "tone")
    thread = next(f"t{i}" for i in range(100) if experiment.assign(f"t{i}").name == "rubric")
    choice = PromptChoice.choose(registry, thread, experiment="tone")
    assert choice.prompts == {"writer": "writer@v1", "editor": "editor@v2"}
    assert choice.metadata() == {
        "prompt:editor": "editor@v2",
        "prompt:writer": "writer@v1",
        "experiment": "tone",
        "variant": "rubric",
        "experiment_prompt": "editor@v2",
    }
    assert PromptChoice.from_metadata(choice.metadata()) == choice
    with pytest.raises(PromptError, match="both set the editor prompt"):
        PromptChoice.choose(registry, thread, overrides={"editor": "editor@v1"}, experiment="tone")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[x]\nprompt = "editor"\nvariants = [{ name = "a", version = "v1", weight = 1 }]\n',
         "experiment 'x': needs at least two variants"),
        ('[x]\nprompt = "editor"\nowner = "me"\nvariants = []\n',
         "experiment 'x': unknown field.s. owner"),
        ('[x]\nprompt = "editor@v1"\nvariants = []\n', "prompt must be a prompt name"),
        ('[x]\nprompt = "editor"\nvariants = [{ name = "a", version = "v1", weight = 1 },'
         ' { name = "a", version = "v2", weight = 1 }]\n', "variant names must be unique"),
        ('[x]\nprompt = "editor"\nvariants = [{ name = "a", version = "v1", weight = 0 },'
         ' { name = "b", version = "v2", weight = 1 }]\n',
         "experiment 'x' variant 'a': weight must be a positive number"),
        ('[x]\nprompt = "editor"\nvariants = [{ name = "a", version = "v1", weight = 1 },'
         ' { name = "b", version = "v9", weight = 1 }]\n',
         "experiment 'x' variant 'b': prompt 'editor' has no version or label 'v9'"),
    ],
)  # fmt: skip
def test_invalid_experiments_are_named(tmp_path: Path, body: str, message: str) -> None:
    """Each mistake in the experiments file names the experiment and variant."""
    with pytest.raises(PromptError, match=message):
        load_experiments(_registry(tmp_path, body))


def test_unknown_experiment_lists_known_ones() -> None:
    """An unknown name says which experiments exist."""
    with pytest.raises(PromptError, match="unknown experiment 'nope'; known experiments: editor"):
        find_experiment(PromptRegistry(), "nope")


def test_fisher_exact_matches_reference_values() -> None:
    """Two-sided p-values agree with the published ones (R's fisher.test, scipy)."""
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857142857)  # the tea-tasting lady
    assert fisher_exact(6, 2, 1, 4) == pytest.approx(0.1025641026)
    assert fisher_exact(8, 2, 1, 5) == pytest.approx(0.0349650350)
    assert fisher_exact(5, 0, 5, 0) == 1.0  # nobody failed: nothing to compare
    assert fisher_exact(0, 0, 3, 1) == 1.0
