"""The `copydesk` command, one module per command group (`graphs/cli/<area>.py`).

`app` is the typer application with every command registered by `main`; `main` is the
console-script entry point.
"""

from copydesk.graphs.cli.app import app, main

__all__ = ["app", "main"]
