"""The shared graph state. Defined in `copydesk.agents.state` (the agents read and write it, and
dependencies point from graphs to agents); re-exported here where topologies look for it."""

from copydesk.agents.state import DraftState, DraftUpdate, Revision, UsageTotals, VerdictRecord

__all__ = ["DraftState", "DraftUpdate", "Revision", "UsageTotals", "VerdictRecord"]
