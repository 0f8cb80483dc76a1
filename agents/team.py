"""`Agents`: the cast of a topology, built from settings with one shared client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from copydesk.agents.chatbot import Chatbot, Editor, Writer
from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.agents.settings import Settings
from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.recall import RecallPolicy
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry

__all__ = ["Agents"]

C = TypeVar("C", bound=Chatbot)


@dataclass(frozen=True)
class Agents:
    """The agents a topology wires together."""

    writer: Writer
    editor: Editor
    client: OpenAIClient
    registry: PromptRegistry = field(default_factory=PromptRegistry)
    """Where the prompts of further roles (`chatbot`) are found."""
    window: WindowPolicy = field(default_factory=WindowPolicy)
    """How much history further roles see."""
    prompt_refs: Mapping[str, str] = field(default_factory=dict)
    """Prompt references per agent name that override `name@production`."""

    def chatbot(self, kind: type[C], name: str, role: str = "", *, prompt: str = "") -> C:
        """Another agent on the same client: `agents.chatbot(Editor, "style_editor")`.

        Args:
            kind: The role class (`Writer`, `Editor`, `Speaker`, `Judge`, `Moderator`, ...).
            name: Node and speaker name.
            role: A short description of its job.
            prompt: Prompt name (default: `name`); `prompt_refs[name]` wins when set.
        """
        ref = self.prompt_refs.get(name) or f"{prompt or name}@production"
        return kind(name, role or name, self.registry.get(ref), self.client, self.window)

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
            registry=registry,
            window=window,
            prompt_refs=dict(prompts or {}),
        )
