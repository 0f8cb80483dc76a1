"""Prompt templates: loading by name, version or label, validation, strict rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts.registry import PromptRegistry
from prompts.template import PromptError

GOOD = """
description = "d"
variables = ["topic", "round"]
system = "You write about {topic}."
first = "Round {round}."
revise = "Again, round {round}."
"""


def _registry(tmp_path: Path, body: str = GOOD, labels: str = "") -> PromptRegistry:
    (tmp_path / "writer").mkdir()
    (tmp_path / "writer" / "v1.toml").write_text(body, encoding="utf-8")
    (tmp_path / "writer" / "v2.toml").write_text(body.replace("You write", "You draft"))
    (tmp_path / "labels.toml").write_text(labels or '[writer]\nproduction = "v1"\n')
    return PromptRegistry(tmp_path)


def test_shipped_prompts_load() -> None:
    """The writer and editor prompts that ship are valid and labelled production."""
    registry = PromptRegistry()
    assert {"writer", "editor"} <= set(registry.names())
    assert registry.get("writer").ref == "writer@v1"
    assert registry.get("editor@production").ref == "editor@v1"


def test_by_version_label_and_default(tmp_path: Path) -> None:
    """name@version, name@label and bare name (production label) resolve."""
    registry = _registry(tmp_path)
    assert registry.get("writer@v2").system == "You draft about {topic}."
    assert registry.get("writer@production").version == "v1"
    assert registry.get("writer").version == "v1"


def test_unknown_name_version_or_label(tmp_path: Path) -> None:
    """Unknown references name what exists."""
    registry = _registry(tmp_path)
    with pytest.raises(PromptError, match="unknown prompt 'editor'; known prompts: writer"):
        registry.get("editor")
    with pytest.raises(PromptError, match="no version or label 'v9'; use v1, v2, production"):
        registry.get("writer@v9")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD + 'tone = "x"\n', "unknown field"),
        (GOOD.replace('revise = "Again, round {round}."', ""), "missing text part"),
        (GOOD.replace('["topic", "round"]', '["topic"]'), "round used but not declared"),
        (GOOD.replace('["topic", "round"]', '["topic", "round", "x"]'), "x declared but never"),
    ],
)
def test_validation_at_load(tmp_path: Path, body: str, message: str) -> None:
    """Unknown fields, missing parts, undeclared or unused variables fail at load."""
    with pytest.raises(PromptError, match=message) as caught:
        _registry(tmp_path, body).get("writer@v1")
    assert "writer@v1" in str(caught.value)


def test_rendering_is_strict(tmp_path: Path) -> None:
    """A missing variable is an error, never an empty string."""
    template = _registry(tmp_path).get("writer")
    assert template.render("system", {"topic": "tides"}) == "You write about tides."
    with pytest.raises(PromptError, match="missing variable"):
        template.render("first", {"topic": "tides"})
    message = template.task_message("revise", {"round": 2})
    assert message.text == "Again, round 2."
