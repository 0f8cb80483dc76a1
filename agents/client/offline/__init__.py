"""The offline model: a deterministic chat model used when no API key or base URL is set.

It is a real LangChain chat model (`model.py`), so it streams tokens through LangGraph like a
remote model does, reports token usage and answers structured-output requests with valid
JSON. Its writing is built from the task in front of it (`roles.py`), so different topics and
different editor feedback give visibly different drafts. It says what it is: its model name
is `copydesk-offline`.

How it plays the roles, so a writer <-> editor thread behaves like a real one:
- writer, first draft: a title, an opening and a body, built from the topic's words;
- editor: asks for a concrete example and a closing takeaway when the draft lacks them
  (major issues, quoting the draft), otherwise approves;
- writer, revision: answers each issue it was given, in order;
- debater (a task with a `Persona:` line): argues for the changes the editor would ask for;
- long documents (`documents.py`): a typed outline of `Sections:` sections sharing `Words:`
  words, and a section's body (a task with a `Section:` line) built from its key points,
  citing a given source passage as `[n]`;
- any other typed reply: a valid instance of the requested JSON schema, with the fields it
  knows filled sensibly: `decision`/`changes`/`summary` as the editor would judge the draft,
  `next_speaker` as the participant after the `Last speaker:` in the `Participants:` line.

It finds the topic, draft, feedback and speakers by the markers the prompt files write, named
once in `copydesk.prompts.markers` (read in `_task.py`); what a call asks beyond its messages
(output cap, JSON format, tools) is decoded in `_calls.py`.
"""

from __future__ import annotations

from copydesk.agents.client.offline.model import OFFLINE_MODEL_NAME, OfflineChatModel

__all__ = ["OFFLINE_MODEL_NAME", "OfflineChatModel"]
