"""Find a topology by name (`turn_taking`) or by path (`path/to/file.py`)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from copydesk.agents.errors import CopydeskError

__all__ = ["TOPOLOGIES", "Topology", "TopologyError", "find", "known", "load"]

TOPOLOGIES: tuple[str, ...] = (
    "turn_taking",
    "debate",
    "round_robin",
    "supervisor",
    "review_panel",
    "pipeline",
    "document",
)
"""Topologies that ship with copydesk, each a module `copydesk.graphs.topologies.<name>`."""


class TopologyError(CopydeskError):
    """An unknown topology, or a file that does not provide one."""

    exit_code = 2


@dataclass(frozen=True)
class Topology:
    """A topology module: its name, description and factory."""

    name: str
    description: str
    module: ModuleType
    path: Path | None = None
    """The user's `.py` file it came from; None for a shipped topology."""

    def build(self, **options: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
        """Compile it with `options` (agents, checkpointer, store, ...).

        Raises:
            TopologyError: A user file's `build()` raised, or returned no compiled graph
                (a shipped topology's failure is a bug and keeps its traceback).
        """
        factory = getattr(self.module, "build", None)
        if callable(factory):
            if self.path is None:
                return factory(**options)  # type: ignore[no-any-return]
            return self._built_from_file(factory, options)
        compiled = getattr(self.module, "graph", None)
        update = {k: options[k] for k in ("checkpointer", "store") if options.get(k) is not None}
        if update and isinstance(compiled, CompiledStateGraph):
            return compiled.copy(update=update)
        if isinstance(compiled, CompiledStateGraph):
            return compiled
        raise TopologyError(f"{self.name}: exports neither build() nor a compiled graph")

    def _built_from_file(
        self, factory: Any, options: dict[str, Any]
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        try:
            compiled = factory(**options)
        except CopydeskError:
            raise
        except Exception as error:  # user code: its failure is reported in one line
            reason = " ".join(str(error).split())
            reason = reason if len(reason) <= 200 else reason[:197] + "..."
            raise TopologyError(
                f"graph file {self.path}: build() raised {type(error).__name__}"
                f"{': ' + reason if reason else ''}; fix build() in that file"
            ) from None
        if not isinstance(compiled, CompiledStateGraph):
            raise TopologyError(
                f"graph file {self.path}: build() returned {type(compiled).__name__}, not a "
                "LangGraph graph; return the compiled graph (`StateGraph(...).compile(...)`)"
            )
        return compiled

    def drawable(self) -> Any:
        """The topology's `langchain_core` drawable graph (nodes and edges)."""
        compiled = getattr(self.module, "graph", None)
        if not isinstance(compiled, CompiledStateGraph):
            compiled = self.build()
        return compiled.get_graph()

    def node_count(self) -> int:
        """Nodes in the diagram, without START and END."""
        return sum(1 for n in self.drawable().nodes if not n.startswith("__"))


def known() -> list[Topology]:
    """The shipped topologies."""
    return [find(name) for name in TOPOLOGIES]


def _from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise TopologyError(f"graph file {path} does not exist")
    name = f"copydesk_user_graph_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TopologyError(f"graph file {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # any import failure of user code is reported in one line
        sys.modules.pop(name, None)
        raise TopologyError(
            f"graph file {path} failed to import: {type(error).__name__}: {error}"
        ) from None
    return module


def find(name_or_path: str) -> Topology:
    """The topology `name_or_path` names.

    Raises:
        TopologyError: Unknown name, or a file that fails to import or exports no graph.
    """
    path: Path | None = None
    if name_or_path.endswith(".py") or "/" in name_or_path:
        path = Path(name_or_path)
        module = _from_file(path)
        if not callable(getattr(module, "build", None)) and not isinstance(
            getattr(module, "graph", None), CompiledStateGraph
        ):
            raise TopologyError(
                f"graph file {path} exports neither build() nor a compiled `graph`; add one"
            )
        name = path.stem
    elif name_or_path in TOPOLOGIES:
        module = importlib.import_module(f"copydesk.graphs.topologies.{name_or_path}")
        name = name_or_path
    else:
        raise TopologyError(
            f"unknown graph {name_or_path!r}; known graphs: {', '.join(TOPOLOGIES)} "
            "(or give a path to a .py file)"
        )
    doc = (module.__doc__ or "").strip().splitlines()
    description = str(getattr(module, "DESCRIPTION", doc[0] if doc else ""))
    return Topology(name=name, description=description, module=module, path=path)


def load(name_or_path: str) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The module-level compiled graph of a topology, as LangGraph Server would load it."""
    topology = find(name_or_path)
    compiled = getattr(topology.module, "graph", None)
    return compiled if isinstance(compiled, CompiledStateGraph) else topology.build()
