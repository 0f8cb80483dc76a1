"""The layout shows the architecture, and stays that way.

- Every module of the four packages says what it is for (a module docstring) and holds one
  job: none is over 400 lines.
- Dependencies lean one way: `prompts` and `memory` import nothing of ours but the base of
  every error (`copydesk.errors`); `agents` imports no `graphs`.
- Nothing imports the repository's folders by their own names (`import agents`): installed,
  they exist only as `copydesk.agents`, and a second name would load a second copy.
- The topologies are `graphs/topologies/*.py`, each listed by the registry and langgraph.json.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from copydesk.graphs.registry import TOPOLOGIES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "graphs", "memory", "prompts")
MAX_LINES = 400
MAY_IMPORT = {
    "prompts": {"prompts"},
    "memory": {"memory"},
    "agents": {"agents", "memory", "prompts"},
    "graphs": {"graphs", "agents", "memory", "prompts"},
}


def modules() -> list[Path]:
    return sorted(
        p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )  # fmt: skip


def imported(path: Path) -> set[str]:
    """Every module name `path` imports, at any depth (functions, TYPE_CHECKING blocks)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_module_says_what_it_is_for_and_holds_one_job(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert ast.get_docstring(ast.parse(text)), "no module docstring"
    assert text.count("\n") <= MAX_LINES


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_lean_one_way(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imported(path)
        if name.startswith("copydesk.")
        and name != "copydesk.errors"
        and name.split(".")[1] not in MAY_IMPORT[package]
    }
    assert sorted(wrong) == []


def test_nothing_imports_a_folder_by_its_own_name() -> None:
    sources = [*modules(), *(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources
        if "__pycache__" not in path.parts and "fixtures" not in path.parts
        for name in imported(path)
        if name.split(".")[0] in PACKAGES
    )
    assert wrong == []


def test_the_topologies_are_their_own_package_listed_everywhere() -> None:
    files = {p.stem for p in (ROOT / "graphs" / "topologies").glob("*.py")} - {"__init__"}
    assert files == set(TOPOLOGIES)
    served = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))["graphs"]
    assert served == {name: f"./graphs/topologies/{name}.py:graph" for name in TOPOLOGIES}
