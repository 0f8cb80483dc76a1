"""`Agents`: the cast of a topology, built from settings with one shared client."""

from __future__ import annotations

from dataclasses import dataclass

from agents.chatbot import Editor, Writer
from agents.client import OpenAIClient
from agents.config import ConfigManager, Settings
from memory.buffer import WindowPolicy
from memory.recall import RecallPolicy
from prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry

__all__ = ["Agents"]


@dataclass(frozen=True)
class Agents:
    """The agents a topology wires together."""

    writer: Writer
    editor: Editor
    client: OpenAIClient

    @classmethod
    def default(
        cls,
        settings: Settings | None = None,
        *,
        client: OpenAIClient | None = None,
        registry: PromptRegistry | None = None,
        prompts: dict[str, str] | None = None,
    ) -> Agents:
        """Writer and editor from settings (read from the environment when None).

        Args:
            settings: Settings; loaded by `ConfigManager` when None.
            client: The client to share; one is made from settings when None.
            registry: Where prompts are found; `settings.prompts_dir` (or the shipped
                `prompts/`) when None.
            prompts: Prompt references per agent (`{"editor": "editor@v2"}`); default
                `name@production`.
        """
        settings = settings or ConfigManager().settings
        client = client or OpenAIClient.from_settings(settings)
        registry = registry or PromptRegistry(settings.prompts_dir or DEFAULT_PROMPTS_DIR)
        chosen = {"writer": "writer@production", "editor": "editor@production", **(prompts or {})}
        window = WindowPolicy(
            max_tokens=settings.window_tokens,
            model=settings.model,
            summary_tokens=min(settings.summary_tokens, settings.window_tokens // 2),
        )
        recall = (
            RecallPolicy(
                k=settings.recall_k,
                max_tokens=settings.recall_tokens,
                project=settings.project,
                model=settings.model,
            )
            if settings.memory
            else None
        )
        return cls(
            writer=Writer(
                "writer",
                "drafts and revises",
                registry.get(chosen["writer"]),
                client,
                window,
                recall,
            ),
            editor=Editor(
                "editor",
                "reviews and decides",
                registry.get(chosen["editor"]),
                client,
                window,
                recall,
            ),
            client=client,
        )
