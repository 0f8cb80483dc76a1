"""What the agents are told: versioned prompt templates and the registry that finds them."""

from prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from prompts.template import PART_NAMES, PromptError, PromptTemplate

__all__ = ["DEFAULT_PROMPTS_DIR", "PART_NAMES", "PromptError", "PromptRegistry", "PromptTemplate"]
