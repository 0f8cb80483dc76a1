"""`copydesk graphs`: the topologies you can run, or one drawn as Mermaid."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from copydesk.graphs.cli.common import JsonFlag, err, out

__all__ = ["register"]


def list_graphs(
    name: Annotated[
        str | None, typer.Argument(help="Show one topology (name or .py path).")
    ] = None,
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print the topology's diagram as Mermaid.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List the topologies you can run (name, nodes, description), or draw one."""
    from copydesk.graphs.registry import find, known

    topologies = [find(name)] if name else known()
    if mermaid:
        if name is None:
            err.print(
                "copydesk: error: --mermaid needs a graph name: copydesk graphs NAME --mermaid"
            )
            raise typer.Exit(2)
        sys.stdout.write(topologies[0].drawable().draw_mermaid())
        return
    rows = [
        {"name": t.name, "nodes": t.node_count(), "description": t.description} for t in topologies
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['name']:<14} {row['nodes']:>2} nodes  {row['description']}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `copydesk graphs` to `app`."""
    app.command("graphs")(list_graphs)
