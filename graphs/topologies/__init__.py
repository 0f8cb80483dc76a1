"""The conversation shapes that ship with copydesk, one module per topology.

Each module reads like its diagram and exports `build(*, agents=None, checkpointer=None,
store=None, **options)` and a module-level compiled `graph` (what `langgraph.json` points
at). `copydesk.graphs.find(name)` is the way in by name.
"""

__all__: list[str] = []
