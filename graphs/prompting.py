"""Which prompt versions a thread speaks with: defaults, `--prompt` overrides, an A/B variant.

The choice is made once, when a thread starts, with every label resolved to a version. It
is recorded in the thread's state and in the metadata of each of its checkpoints (flat
`prompt:<agent>`, `experiment` and `variant` keys: LangGraph keeps only scalar metadata), and
read back from there on resume, so a thread never changes prompt versions mid-way, even if
a label moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copydesk.graphs.errors import InputError
from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import Experiment, load_experiments
from copydesk.prompts.overrides import prompt_overrides
from copydesk.prompts.registry import PromptRegistry

if TYPE_CHECKING:  # agents.state loads LangGraph; the CLI checks prompt flags without it
    from copydesk.agents.state import ExperimentRecord

__all__ = ["AGENT_PROMPTS", "PromptChoice", "find_experiment"]

AGENT_PROMPTS = ("writer", "editor")
"""Agents that speak with a prompt of their own name, as `Agents.default` builds them."""
_PREFIX = "prompt:"


def find_experiment(registry: PromptRegistry, name: str) -> Experiment:
    """The experiment `name`.

    Raises:
        PromptError: No such experiment (the message lists the known ones) or an invalid file.
    """
    experiments = load_experiments(registry)
    if name not in experiments:
        known = ", ".join(sorted(experiments)) or "none"
        raise PromptError(
            f"unknown experiment {name!r}; known experiments: {known} "
            f"(declared in {registry.root / 'experiments.toml'})"
        )
    return experiments[name]


@dataclass(frozen=True)
class PromptChoice:
    """The resolved prompts of one thread.

    Attributes:
        prompts: Agent -> `name@version`, for every agent.
        experiment: The experiment and variant, when the thread runs in one.
    """

    prompts: dict[str, str]
    experiment: ExperimentRecord | None = field(default=None)

    @classmethod
    def choose(
        cls,
        registry: PromptRegistry,
        thread_id: str,
        *,
        overrides: Mapping[str, str] | None = None,
        experiment: str | None = None,
    ) -> PromptChoice:
        """Resolve defaults (`production`), then overrides, then the experiment's variant.

        Raises:
            PromptError: Unknown prompt, version, label or experiment, or an override and the
                experiment both setting the same agent's prompt.
        """
        overrides = dict(overrides or {})
        refs = [f"{agent}@production" for agent in AGENT_PROMPTS]
        prompts = prompt_overrides(refs, registry)
        prompts.update(prompt_overrides(overrides.values(), registry))
        record: ExperimentRecord | None = None
        if experiment is not None:
            found = find_experiment(registry, experiment)
            if found.prompt in overrides:
                raise PromptError(
                    f"--prompt {overrides[found.prompt]} and --experiment {experiment} both "
                    f"set the {found.prompt} prompt; drop one"
                )
            variant = found.assign(thread_id)
            prompts[found.prompt] = variant.ref
            record = {"name": found.name, "variant": variant.name, "prompt": variant.ref}
        return cls(prompts, record)

    @classmethod
    async def for_run(
        cls, registry: PromptRegistry, thread_id: str, **options: Any
    ) -> PromptChoice:
        """`choose` (with its `overrides` and `experiment`), off the event loop: it reads
        prompt files. What it refuses is an `InputError` of the run."""
        try:
            return await asyncio.to_thread(cls.choose, registry, thread_id, **options)
        except PromptError as error:
            raise InputError(str(error)) from None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> PromptChoice:
        """The choice recorded in a checkpoint's metadata (empty for older threads)."""
        prompts = {
            key.removeprefix(_PREFIX): str(value)
            for key, value in metadata.items()
            if key.startswith(_PREFIX)
        }
        record: ExperimentRecord | None = None
        if metadata.get("experiment"):
            record = {
                "name": str(metadata["experiment"]),
                "variant": str(metadata.get("variant", "")),
                "prompt": str(metadata.get("experiment_prompt", "")),
            }
        return cls(prompts, record)

    def metadata(self) -> dict[str, str]:
        """Flat checkpoint metadata recording this choice."""
        out = {f"{_PREFIX}{agent}": ref for agent, ref in sorted(self.prompts.items())}
        if self.experiment is not None:
            out["experiment"] = self.experiment["name"]
            out["variant"] = self.experiment["variant"]
            out["experiment_prompt"] = self.experiment["prompt"]
        return out
