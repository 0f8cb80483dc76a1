"""AutoGen AgentChat writer <-> editor loop: RoundRobinGroupChat + OpenAIChatCompletionClient.

    [AUTOGEN_STREAM=1] python autogen_loop.py --rounds R --conversations N --workdir DIR

Two `AssistantAgent`s take turns in a `RoundRobinGroupChat`; the editor's replies are typed
(`output_content_type=Verdict`, sent as a JSON-schema response format) and the writer sees
them as the conversation's next message. The team stops after 2 x R turns (the fake server
never approves). One model client is shared by every conversation, as an application would.
After every message the team's state is saved to a file under `--workdir` (AutoGen's way to
resume a team; copydesk and LangGraph checkpoint every step too).

AutoGen's default asks for whole replies; `AUTOGEN_STREAM=1` turns token streaming on
(`model_client_stream=True`): `benchmarks/peers.py` runs both and races the faster.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

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
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import StructuredMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient

STREAM = os.environ.get("AUTOGEN_STREAM") == "1"


async def converse(
    client: OpenAIChatCompletionClient, topic: str, rounds: int, state: Path
) -> bool:
    """One conversation, its team state saved to `state` after every message; True when the
    editor gave a verdict in every round."""
    writer = AssistantAgent(
        "writer", model_client=client, system_message=WRITER_PROMPT, model_client_stream=STREAM
    )
    editor = AssistantAgent(
        "editor",
        model_client=client,
        system_message=EDITOR_PROMPT,
        output_content_type=Verdict,
        model_client_stream=STREAM,
    )
    team = RoundRobinGroupChat(
        [writer, editor],
        max_turns=2 * rounds,
        custom_message_types=[StructuredMessage[Verdict]],  # the editor's typed replies
    )
    verdicts = 0
    async for message in team.run_stream(task=f"Topic: {topic}"):
        verdicts += isinstance(message, StructuredMessage)
        if not isinstance(message, TaskResult):
            # As AutoGen's guide saves a team: a plain file write, on the loop.
            state.write_text(json.dumps(await team.save_state()))  # noqa: ASYNC240
    return verdicts == rounds


async def main() -> None:
    args = parse_args("autogen_loop")
    base_url, api_key = api_settings()
    client = OpenAIChatCompletionClient(model=MODEL, base_url=base_url, api_key=api_key)
    try:
        states = Path(args.workdir)
        done = await asyncio.gather(
            *(
                converse(client, topic, args.rounds, states / f"team-{n}.json")
                for n, topic in enumerate(topics(args.conversations))
            )
        )
    finally:
        await client.close()
    report(args.conversations, args.rounds, sum(done))


if __name__ == "__main__":
    asyncio.run(main())
