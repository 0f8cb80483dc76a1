"""Turn `--prompt` references (`editor@v2`, `editor@candidate`) into validated overrides.

One function so that every command that picks prompts (`copydesk run`, and later `fork`)
validates them the same way: `Agents.default(prompts=prompt_overrides(refs, registry))`.
"""

from __future__ import annotations

from collections.abc import Iterable

from copydesk.prompts.errors import PromptError
from copydesk.prompts.registry import PromptRegistry

__all__ = ["prompt_overrides"]


def prompt_overrides(refs: Iterable[str], registry: PromptRegistry) -> dict[str, str]:
    """`{agent: "name@version"}` for each reference, resolved and loaded (so validated).

    The agent a prompt overrides is the one named like the prompt (`editor@v2` sets the
    editor's prompt). Labels are resolved now, so the thread records a fixed version.

    Raises:
        PromptError: A reference without `@`, an unknown prompt, version or label, an
            invalid template, or two references for the same prompt.
    """
    chosen: dict[str, str] = {}
    for ref in refs:
        name, at, selector = ref.strip().partition("@")
        if not at or not name or not selector:
            raise PromptError(
                f"--prompt {ref!r}: use NAME@VERSION or NAME@LABEL, e.g. editor@v2 or "
                "editor@candidate"
            )
        template = registry.get(f"{name}@{selector}")
        if name in chosen and chosen[name] != template.ref:
            raise PromptError(
                f"--prompt given twice for {name!r} ({chosen[name]} and {template.ref}); keep one"
            )
        chosen[name] = template.ref
    return chosen
