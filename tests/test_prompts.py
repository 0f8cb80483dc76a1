"""Prompt templates: loading by name, version or label, validation, strict rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from copydesk.prompts.overrides import prompt_overrides
from copydesk.prompts.registry import PromptRegistry
from copydesk.prompts.template import PromptError

GOOD = """
description = "d"
variables = ["topic", "round"]
system = "You write about {topic}."
first = "Round {round}."
revise = "Again, round {round}."
"""


def _registry(tmp_path: Path, body: str = GOOD, labels: str = "") -> PromptRegistry:
    (tmp_path / "writer").mkdir(parents=True)
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
    ("ref", "message"),
    [
        ("@v1", "prompt reference '@v1' has no prompt name before '@'; write NAME@VERSION with "
                "NAME one of: writer (`copydesk prompts list` shows every version)"),
        ("@", "prompt reference '@' has no prompt name before '@'"),
        ("writer@", "prompt reference 'writer@' has nothing after '@'; add a version or label "
                    "of 'writer': v1, v2, production"),
        ("writer@@v1", "prompt reference 'writer@@v1' has more than one '@'"),
        ("writer@v1@v2", "more than one '@'"),
        (" writer@v1", "prompt reference ' writer@v1' contains whitespace; write 'writer@v1'"),
        ("writer @v1", "contains whitespace; write 'writer@v1'"),
        ("writer@v1\n", "contains whitespace; write 'writer@v1'"),
        ("", "the prompt reference is empty; write NAME@VERSION or NAME@LABEL"),
        ("  ", "the prompt reference is empty"),
        ("../writer@v1", "unknown prompt '../writer'; known prompts: writer"),
        ("writer/..@v1", "unknown prompt 'writer/..'"),
        (".@v1", "unknown prompt '.'"),
    ],
)  # fmt: skip
def test_malformed_references_are_named(tmp_path: Path, ref: str, message: str) -> None:
    """Each malformed reference says what is wrong with it; none reads a file outside the
    prompt folders (the root's own TOML files are no prompt)."""
    registry = _registry(tmp_path)
    with pytest.raises(PromptError) as caught:
        registry.get(ref)
    assert message in str(caught.value)
    assert "labels" not in str(caught.value)


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


def test_shipped_editor_v2_is_the_candidate_with_params() -> None:
    """editor@candidate is v2, which carries a low temperature; v1 has no parameters."""
    registry = PromptRegistry()
    candidate = registry.get("editor@candidate")
    assert candidate.ref == "editor@v2"
    assert candidate.model_params == {"temperature": 0.2}
    assert registry.get("editor@v1").model_params == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("temperature = 0.3\nmax_tokens = 400\n", ""),
        ("temprature = 0.3\n", "unknown model parameter 'temprature'; allowed: frequency_pen"),
        ("temperature = 3.5\n", "model parameter temperature=3.5 is outside 0.0..2.0"),
        ('max_tokens = "many"\n', "model parameter max_tokens must be int"),
        ("max_tokens = 1.5\n", "model parameter max_tokens must be int"),
        ("top_p = true\n", "model parameter top_p must be float"),
    ],
)
def test_model_params_validated(tmp_path: Path, params: str, message: str) -> None:
    """Parameters are checked at load; errors name template, version and parameter."""
    registry = _registry(tmp_path, GOOD + "\n[params]\n" + params)
    if not message:
        assert registry.get("writer@v1").model_params == {"temperature": 0.3, "max_tokens": 400}
        return
    with pytest.raises(PromptError, match=message) as caught:
        registry.get("writer@v1")
    assert str(caught.value).startswith("prompt writer@v1: ")


def test_more_errors_name_template_version_and_variable(tmp_path: Path) -> None:
    """Bad variable lists, duplicates and a label pointing nowhere are named precisely."""
    bad = GOOD.replace('["topic", "round"]', '"topic"')
    with pytest.raises(PromptError, match="prompt writer@v1: variables must be a list"):
        _registry(tmp_path / "a", bad).get("writer@v1")
    twice = GOOD.replace('["topic", "round"]', '["topic", "round", "topic"]')
    with pytest.raises(PromptError, match=r"prompt writer@v1: variable.s. topic declared twice"):
        _registry(tmp_path / "b", twice).get("writer@v1")
    registry = _registry(tmp_path / "c", labels='[writer]\nproduction = "v7"\n')
    with pytest.raises(PromptError, match="label 'production' of prompt 'writer' points at 'v7'"):
        registry.get("writer")
    template = registry.get("writer@v2")
    with pytest.raises(PromptError, match=r"prompt writer@v2 \(first\): missing variable.s. round"):
        template.render("first", {"topic": "x"})


def test_prompt_overrides(tmp_path: Path) -> None:
    """--prompt values resolve labels to versions, keyed by agent; bad ones are named."""
    registry = PromptRegistry()
    assert prompt_overrides(["editor@candidate"], registry) == {"editor": "editor@v2"}
    assert prompt_overrides(["editor@v1", "writer@production"], registry) == {
        "editor": "editor@v1",
        "writer": "writer@v1",
    }
    with pytest.raises(PromptError, match="use NAME@VERSION or NAME@LABEL"):
        prompt_overrides(["editor"], registry)
    with pytest.raises(PromptError, match="given twice for 'editor'"):
        prompt_overrides(["editor@v1", "editor@v2"], registry)
    with pytest.raises(PromptError, match="unknown prompt 'critic'"):
        prompt_overrides(["critic@v1"], registry)
