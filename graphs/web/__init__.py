"""`copydesk serve`: review pages over the same `ConversationManager` and checkpoints as the
CLI (threads, redlines, anchored issues, review, live runs, forks)."""

from copydesk.graphs.web.app import PREFIX, create_app

__all__ = ["PREFIX", "create_app"]
