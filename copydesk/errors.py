"""The one error hierarchy: every error copydesk raises for a person to read.

Each is one line naming the problem and the fix. The `copydesk` command's boundary
(`copydesk.graphs.cli.boundary`) catches `CopydeskError` alone and exits with the class's
`exit_code`: 2 for bad input and broken files, 1 for a server or model that cannot be reached
or keeps failing (run the command again later; the thread is saved). Python callers catch
`CopydeskError`, or the branch they can act on:

    CopydeskError                                                    1  (this module)
    ├── ConfigError                   a setting, config or key file  2  agents.errors
    ├── ModelError                    a model call failed for good   1  agents.errors
    │   ├── ModelAuthError            the key was refused            1  agents.errors
    │   ├── ModelUnavailableError     unreachable, kept failing      1  agents.errors
    │   ├── ModelRequestError         the request was refused        1  agents.errors
    │   └── ModelOutputError          no valid typed reply           1  agents.errors
    ├── LocalModelError               the local llama.cpp model      1  agents.errors
    ├── BudgetSpentError              a thread's budget has no room  1  agents.errors
    ├── CassetteError                 a cassette cannot be used      2  agents.errors
    │   └── ReplayMismatchError       a replay that went astray      2  agents.errors
    ├── OutlineError                  an outline file, no headings   2  agents.outline
    ├── StoreError                    a store cannot be used         2  memory.errors
    │   ├── DamagedStoreError         unreadable file or rows        2  memory.errors
    │   │   └── DamagedMemoryError    the memory database            2  memory.store
    │   ├── StoreUnavailableError     a storage server is down       1  memory.errors
    │   ├── CheckpointURLError        a checkpoint URL               2  memory.checkpoint
    │   └── EmbedderMismatchError     another embedder's index       2  memory.embeddings
    ├── PromptError                   a prompt or its reference      2  prompts.errors
    ├── InputError                    a value a run refuses          2  graphs.errors
    │   └── EndingError               an --until or --timeout        2  graphs.errors
    ├── UnknownThreadError            no such thread                 2  graphs.errors
    ├── TopologyError                 no such graph, bad file        2  graphs.registry
    ├── ForkError                     a fork that cannot start       2  graphs.fork
    ├── DocxExportError               a Word file not written        2  graphs.reports.docx_export
    ├── ServeError                    the pages cannot start         2  graphs.cli.serve
    ├── TracesError                   Phoenix cannot start           2  graphs.cli.traces
    ├── QueuedRunError                an eval run failed on a worker 1  graphs.eval_queue
    ├── BrokerUnavailableError        RabbitMQ unreachable           1  graphs.queue.broker
    └── DatabaseLostError             a worker lost its database     1  graphs.queue.worker

CheckpointURLError, EmbedderMismatchError and PromptError are also `ValueError`s.

Each package defines its own errors beside the code that raises them and imports only this
base from here, so `memory` and `prompts` stay leaves (they import nothing else of ours).
`tests/test_errors.py` checks this drawing against the classes the packages define.
"""

from __future__ import annotations

__all__ = ["CopydeskError"]


class CopydeskError(Exception):
    """Base of every error shown to a person as one line, with no traceback.

    Attributes:
        exit_code: What the `copydesk` command exits with when this error ends it.
    """

    exit_code = 1
