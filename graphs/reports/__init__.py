"""What people read about a thread: redlines, issue tracking, the timeline of drafts,
word attribution, the Word export and the A/B report with its statistics.

These modules read finished checkpoints and transcripts; none of them runs a model.
"""

__all__: list[str] = []
