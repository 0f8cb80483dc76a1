"""copydesk: writer, editor and other agents that talk to each other on LangGraph.

Everything installs under this one name:

    copydesk.prompts   what the agents are told          (imports none of ours)
    copydesk.memory    what they remember                (imports none of ours)
    copydesk.agents    who speaks, and through what      (imports prompts, memory)
    copydesk.graphs    how they talk: topologies, the conversation manager, the CLI

In the repository the four packages are the top-level folders `agents/`, `graphs/`,
`memory/` and `prompts/`; `copydesk/` holds this file and a link to each of them, so the
source tree, an editable install and the wheel all import the same names.
"""

__all__ = ["__version__"]

__version__ = "0.2.0"
