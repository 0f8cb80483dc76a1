"""Model parameters a prompt version may carry (temperature, max_tokens, ...), validated.

They belong to the prompt because a prompt is tuned together with them: a version that
needs a low temperature says so in its own file, and changing it is a new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from copydesk.prompts.errors import PromptError

__all__ = ["PARAM_RULES", "ModelParams", "validate_params"]

ModelParams = tuple[tuple[str, float | int], ...]
"""Parameters as sorted `(name, value)` pairs: immutable and hashable."""

PARAM_RULES: Mapping[str, tuple[type, float | None, float | None]] = MappingProxyType(
    {
        "temperature": (float, 0.0, 2.0),
        "top_p": (float, 0.0, 1.0),
        "max_tokens": (int, 1, None),
        "presence_penalty": (float, -2.0, 2.0),
        "frequency_penalty": (float, -2.0, 2.0),
        "seed": (int, None, None),
    }
)
"""Allowed parameters: (type, minimum, maximum); None means unbounded."""


def validate_params(where: str, data: Any) -> ModelParams:
    """Check a `[params]` table and return it as sorted pairs.

    Args:
        where: `prompt NAME@VERSION`, for the error message.
        data: The parsed table (or None when the file has none).

    Raises:
        PromptError: Not a table, an unknown parameter, a wrong type or a value out of range;
            the message names the template, version and parameter.
    """
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise PromptError(f"{where}: params must be a table such as [params] temperature = 0.2")
    pairs: list[tuple[str, float | int]] = []
    for key, value in sorted(data.items()):
        rule = PARAM_RULES.get(str(key))
        if rule is None:
            allowed = ", ".join(sorted(PARAM_RULES))
            raise PromptError(f"{where}: unknown model parameter {key!r}; allowed: {allowed}")
        kind, low, high = rule
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (kind is int and not isinstance(value, int)):
            raise PromptError(f"{where}: model parameter {key} must be {kind.__name__}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{'-inf' if low is None else low}..{'inf' if high is None else high}"
            raise PromptError(f"{where}: model parameter {key}={value} is outside {bounds}")
        pairs.append((str(key), kind(value)))
    return tuple(pairs)
