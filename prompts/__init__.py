"""What the agents are told: versioned prompt templates, their registry, release lock and
A/B experiments."""

from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import Experiment, Variant, load_experiments
from copydesk.prompts.lint import LintReport, lint
from copydesk.prompts.overrides import prompt_overrides
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from copydesk.prompts.released import ReleaseLock, content_hash
from copydesk.prompts.template import PART_NAMES, PromptTemplate

__all__ = [
    "DEFAULT_PROMPTS_DIR",
    "PART_NAMES",
    "Experiment",
    "LintReport",
    "PromptError",
    "PromptRegistry",
    "PromptTemplate",
    "ReleaseLock",
    "Variant",
    "content_hash",
    "lint",
    "load_experiments",
    "prompt_overrides",
]
