"""One released version of a prompt: a system message and the task messages it renders."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from copydesk.prompts.errors import PromptError
from copydesk.prompts.params import ModelParams, validate_params

if TYPE_CHECKING:  # langchain-core loads when a message is rendered, not on import
    from langchain_core.messages import HumanMessage, SystemMessage

__all__ = ["PART_NAMES", "PromptError", "PromptTemplate"]

PART_NAMES = ("system", "first", "revise")
"""The message parts of a prompt version: the system message, the first task, a revision."""
_FIELDS = frozenset({"description", "variables", "params", *PART_NAMES})


def _placeholders(text: str) -> set[str]:
    names = set()
    for _, field, _, _ in string.Formatter().parse(text):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return names


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt.

    Attributes:
        name: Prompt name, e.g. `editor`.
        version: Version, e.g. `v1`. A released version is never edited.
        description: What the prompt is for.
        variables: The variables the parts may use; every one must be used by some part.
        system: The system message.
        first: The task message for the first turn.
        revise: The task message for later turns.
        params: Model parameters (temperature, max_tokens, ...) as sorted pairs; the
            chatbot sends them with every call made with this prompt.
    """

    name: str
    version: str
    description: str
    variables: tuple[str, ...]
    system: str
    first: str
    revise: str
    params: ModelParams = ()

    @property
    def ref(self) -> str:
        """`name@version`, as recorded in checkpoints and transcripts."""
        return f"{self.name}@{self.version}"

    @property
    def model_params(self) -> dict[str, float | int]:
        """The model parameters as keyword arguments for the chat model."""
        return dict(self.params)

    @classmethod
    def from_mapping(cls, name: str, version: str, data: Mapping[str, Any]) -> PromptTemplate:
        """Build and validate a template from a parsed file.

        Raises:
            PromptError: Unknown fields, a missing part, variables that are used but not
                declared or declared but never used, or invalid model parameters. The
                message names the template, version and field or variable.
        """
        where = f"prompt {name}@{version}"
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            allowed = ", ".join(sorted(_FIELDS))
            raise PromptError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
        missing = [part for part in PART_NAMES if not isinstance(data.get(part), str)]
        if missing:
            raise PromptError(f"{where}: missing text part(s) {', '.join(missing)}")
        variables = data.get("variables", ())
        if not isinstance(variables, list | tuple) or not all(
            isinstance(v, str) for v in variables
        ):
            raise PromptError(f'{where}: variables must be a list of names, e.g. ["topic"]')
        declared = tuple(variables)
        duplicated = sorted({v for v in declared if declared.count(v) > 1})
        if duplicated:
            raise PromptError(f"{where}: variable(s) {', '.join(duplicated)} declared twice")
        used = set().union(*(_placeholders(str(data[part])) for part in PART_NAMES))
        undeclared = sorted(used - set(declared))
        if undeclared:
            raise PromptError(f"{where}: variable(s) {', '.join(undeclared)} used but not declared")
        unused = sorted(set(declared) - used)
        if unused:
            raise PromptError(f"{where}: variable(s) {', '.join(unused)} declared but never used")
        return cls(
            name=name,
            version=version,
            description=str(data.get("description", "")),
            variables=declared,
            system=str(data["system"]).strip(),
            first=str(data["first"]).strip(),
            revise=str(data["revise"]).strip(),
            params=validate_params(where, data.get("params")),
        )

    def render(self, part: str, values: Mapping[str, object]) -> str:
        """Render one part. Every variable it uses must be in `values`; none defaults to ''.

        Raises:
            PromptError: A variable the part uses is missing from `values`.
        """
        text = getattr(self, part) if part in PART_NAMES else None
        if text is None:
            raise PromptError(f"prompt {self.ref} has no part {part!r}")
        missing = sorted(_placeholders(text) - set(values))
        if missing:
            raise PromptError(
                f"prompt {self.ref} ({part}): missing variable(s) {', '.join(missing)}"
            )
        return str(text).format_map(values)

    def system_message(self, values: Mapping[str, object]) -> SystemMessage:
        """The system message, rendered."""
        from langchain_core.messages import SystemMessage

        return SystemMessage(self.render("system", values))

    def task_message(self, part: str, values: Mapping[str, object]) -> HumanMessage:
        """A task message (`first` or `revise`), rendered."""
        from langchain_core.messages import HumanMessage

        return HumanMessage(self.render(part, values), name="copydesk")
