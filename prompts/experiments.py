"""A/B experiments on prompt versions, declared in `experiments.toml`, assigned per thread.

A thread's variant is a pure function of the experiment name and the thread id (a SHA-256
of both, read as a point in [0, 1) and placed on the cumulative weights), so it is the same
on every machine, in every process and on every resume, with no assignment table to keep.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from copydesk.prompts.errors import PromptError
from copydesk.prompts.registry import PromptRegistry

__all__ = ["EXPERIMENTS_FILE", "Experiment", "Variant", "load_experiments"]

EXPERIMENTS_FILE = "experiments.toml"
_FIELDS = frozenset({"description", "prompt", "variants"})
_VARIANT_FIELDS = frozenset({"name", "version", "weight"})


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    Attributes:
        name: Variant name, e.g. `control`.
        version: The prompt version or label it uses, as written in the file.
        ref: The resolved `name@version` (what threads record).
        weight: Relative share of threads.
    """

    name: str
    version: str
    ref: str
    weight: float


@dataclass(frozen=True)
class Experiment:
    """An A/B test of one prompt's versions.

    Attributes:
        name: Experiment name, as passed to `--experiment`.
        prompt: The prompt it varies (which is also the agent that speaks with it).
        description: What it tests.
        variants: The arms, in file order; the first is the control the others are
            compared with.
    """

    name: str
    prompt: str
    description: str
    variants: tuple[Variant, ...]

    def bucket(self, thread_id: str) -> float:
        """The thread's point in [0, 1): deterministic in (experiment, thread id)."""
        digest = hashlib.sha256(f"{self.name}\x00{thread_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def assign(self, thread_id: str) -> Variant:
        """The variant of `thread_id`: sticky, and spread in proportion to the weights."""
        point = self.bucket(thread_id) * sum(v.weight for v in self.variants)
        running = 0.0
        for variant in self.variants:
            running += variant.weight
            if point < running:
                return variant
        return self.variants[-1]  # pragma: no cover - float rounding at the very top

    def as_json(self) -> dict[str, Any]:
        """JSON form, as `copydesk prompts experiments --json` prints it."""
        total = sum(v.weight for v in self.variants)
        return {
            "name": self.name,
            "prompt": self.prompt,
            "description": self.description,
            "variants": [
                {"name": v.name, "ref": v.ref, "weight": v.weight, "share": v.weight / total}
                for v in self.variants
            ],
        }


def load_experiments(registry: PromptRegistry) -> dict[str, Experiment]:
    """Every experiment in the registry's `experiments.toml`, validated and resolved.

    Raises:
        PromptError: Unreadable file, unknown fields, fewer than two variants, duplicate
            variant names, weights that are not positive, or a prompt version that does not
            exist; the message names the experiment and the variant.
    """
    path = registry.root / EXPERIMENTS_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PromptError(f"cannot read experiments {path}: {error}") from error
    return {str(name): _experiment(str(name), body, registry) for name, body in data.items()}


def _experiment(name: str, body: Any, registry: PromptRegistry) -> Experiment:
    where = f"experiment {name!r}"
    if not isinstance(body, Mapping):
        raise PromptError(f"{where}: must be a table [{name}] with prompt and variants")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise PromptError(f"{where}: unknown field(s) {', '.join(unknown)}")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or "@" in prompt:
        raise PromptError(f'{where}: prompt must be a prompt name such as "editor"')
    raw = body.get("variants")
    if not isinstance(raw, list) or len(raw) < 2:
        raise PromptError(f"{where}: needs at least two variants")
    variants = tuple(_variant(where, prompt, item, registry) for item in raw)
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise PromptError(f"{where}: variant names must be unique, got {', '.join(names)}")
    return Experiment(name, prompt, str(body.get("description", "")), variants)


def _variant(where: str, prompt: str, item: Any, registry: PromptRegistry) -> Variant:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise PromptError(
            f"{where}: each variant needs name, version and weight, e.g. "
            '{ name = "control", version = "v1", weight = 50 }'
        )
    label = f"{where} variant {item['name']!r}"
    unknown = sorted(set(item) - _VARIANT_FIELDS)
    if unknown:
        raise PromptError(f"{label}: unknown field(s) {', '.join(unknown)}")
    version, weight = item.get("version"), item.get("weight")
    if not isinstance(version, str):
        raise PromptError(f'{label}: version must be a version or label such as "v2"')
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise PromptError(f"{label}: weight must be a positive number, got {weight!r}")
    try:
        resolved = registry.resolve(f"{prompt}@{version}")
    except PromptError as error:
        raise PromptError(f"{label}: {error}") from error
    return Variant(str(item["name"]), version, "@".join(resolved), float(weight))
