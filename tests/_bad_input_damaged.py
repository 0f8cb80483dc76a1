"""Bad-input cases of a home that is damaged or in the way: a checkpoint database that is
not one, and files or folders where the other kind belongs."""

from __future__ import annotations

from tests._bad_input import RUN, THREAD, c

DAMAGED = [
    c(f"{form}-{'-'.join(args[:1])}", *args, home=form, says="checkpoints.sqlite")
    for form, commands in {
        "random": [
            ("threads",),
            ("history", THREAD),
            ("resume", THREAD),
            RUN,
            ("prune",),
            ("serve",),
        ],
        "truncated": [
            ("threads",),
            ("export", THREAD),
            ("run", "turn_taking", "--thread-id", THREAD),
        ],
        "unknown-type": [("history", THREAD), ("resume", THREAD), ("threads",)],
        "not-checkpoint": [
            ("threads",),
            ("export", THREAD),
            ("fork", THREAD, "--checkpoint", "{checkpoint}"),
        ],
        "bad-metadata": [("history", THREAD), ("threads",)],
        "db-folder": [("threads",), RUN],
    }.items()
    for args in commands
]

USAGE_FOLDER = [  # every model call appends to it: refused when settings load, like the home
    c(f"usage-folder-{args[0]}", *args, home="usage-folder", says="usage.jsonl is a folder")
    for args in [RUN, ("usage",), ("resume", THREAD)]
] + [  # a run would fail after its first checkpoint: refused when settings load too
    c(f"{form}-{args[0]}", *args, home=form, says=says)
    for form, says in [
        ("transcripts-file", "transcripts is a file"),
        ("memory-file", "memory is a file"),
        ("audit-folder", "audit.log is a folder"),
    ]
    for args in [RUN, ("resume", THREAD)]
]
