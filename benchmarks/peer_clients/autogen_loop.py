"""AutoGen AgentChat writer <-> editor loop: RoundRobinGroupChat + OpenAIChatCompletionClient.

    python autogen_loop.py --rounds R --conversations N --workdir DIR

Two `AssistantAgent`s take turns in a `RoundRobinGroupChat`; the editor's replies are typed
(`output_content_type=Verdict`, sent as a JSON-schema response format) and the writer sees
them as the conversation's next message. The team stops after 2 x R turns (the fake server
never approves). One model client is shared by every conversation, as an application would.
"""

from __future__ import annotations

import asyncio

from _common import (
    EDITOR_PROMPT,
    MODEL,
    WRITER_PROMPT,
    Verdict,
    api_settings,
    parse_args,
    report,
    topics,
)
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import StructuredMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient


async def converse(client: OpenAIChatCompletionClient, topic: str, rounds: int) -> bool:
    """One conversation; True when the editor gave a verdict in every round."""
    writer = AssistantAgent(
        "writer", model_client=client, system_message=WRITER_PROMPT, model_client_stream=True
    )
    editor = AssistantAgent(
        "editor",
        model_client=client,
        system_message=EDITOR_PROMPT,
        output_content_type=Verdict,
        model_client_stream=True,
    )
    team = RoundRobinGroupChat(
        [writer, editor],
        max_turns=2 * rounds,
        custom_message_types=[StructuredMessage[Verdict]],  # the editor's typed replies
    )
    result = await team.run(task=f"Topic: {topic}")
    verdicts = [m for m in result.messages if isinstance(m, StructuredMessage)]
    return len(verdicts) == rounds


async def main() -> None:
    args = parse_args("autogen_loop")
    base_url, api_key = api_settings()
    client = OpenAIChatCompletionClient(model=MODEL, base_url=base_url, api_key=api_key)
    try:
        done = await asyncio.gather(
            *(converse(client, topic, args.rounds) for topic in topics(args.conversations))
        )
    finally:
        await client.close()
    report(args.conversations, args.rounds, sum(done))


if __name__ == "__main__":
    asyncio.run(main())
