"""The built wheel: every package and its data (prompt TOMLs, `*.pyi` stubs, web templates)
under the one import name `copydesk`, declared so that setuptools builds it without a warning,
and installable beside openai-agents (which installs a top-level `agents` of its own).

The wheel is built from a copy of the sources (a build writes `build/` and `*.egg-info`
next to `pyproject.toml`) with `pip wheel --no-deps --no-build-isolation`: no download, a
few seconds. `pip install .` builds the same wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "graphs", "memory", "prompts")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel and pip's verbose output while building it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "copydesk"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in (*PACKAGES, "copydesk"):  # copydesk/ as git checks it out: links kept
        shutil.copytree(
            ROOT / package,
            source / package,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    [wheel] = (work / "dist").glob("copydesk-*.whl")
    return wheel, output


def test_the_build_gives_no_package_data_warning(built: tuple[Path, str]) -> None:
    _, output = built
    assert "is absent from" not in output  # "Package 'prompts.writer' is absent from ..."
    assert "SetuptoolsDeprecationWarning" not in output


def test_the_wheel_carries_every_package_and_its_data(built: tuple[Path, str]) -> None:
    wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())

    def tracked(pattern: str) -> set[str]:
        return {
            "copydesk/" + p.relative_to(ROOT).as_posix()
            for package in PACKAGES
            for p in (ROOT / package).rglob(pattern)
            if "__pycache__" not in p.parts
        }

    for pattern in ("*.py", "*.pyi", "*.toml", "*.html", "*.css", "*.js"):
        wanted = tracked(pattern)
        assert wanted, pattern
        assert wanted <= names, sorted(wanted - names)
    assert "copydesk/__init__.py" in names
    assert "copydesk/prompts/writer/v1.toml" in names
    assert "copydesk/graphs/web/templates/base.html" in names
    assert "copydesk/graphs/topologies/turn_taking.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {n.split("/")[0] for n in names} == {"copydesk", wheel_info(wheel)}


def test_the_unpacked_wheel_loads_its_prompts_outside_the_source_tree(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """Installed as the wheel says (unpacked, no source tree on the path), the prompt
    registry finds every role's prompts and the web pages their templates."""
    wheel, _ = built
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import pathlib, sys\n"
        "from copydesk.graphs import web\n"
        "from copydesk.prompts.registry import PromptRegistry\n"
        "registry = PromptRegistry()\n"
        "assert str(registry.root).startswith(sys.argv[1]), registry.root\n"
        "assert 'writer' in registry.names() and registry.versions('writer'), registry.names()\n"
        "web = pathlib.Path(web.__file__).parent\n"
        "assert (web / 'templates' / 'base.html').is_file()\n"
        "assert (web / 'static' / 'style.css').is_file()\n"
        "print(len(registry.names()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == len([p for p in (ROOT / "prompts").iterdir() if p.is_dir()
                                    and p.name != "__pycache__"])  # fmt: skip


def wheel_info(wheel: Path) -> str:
    """The wheel's `.dist-info` folder name."""
    name, version = wheel.name.split("-")[:2]
    return f"{name}-{version}.dist-info"


OPENAI_AGENTS = "openai-agents==0.24.0"
"""A release whose wheel installs a top-level `agents/` (with `agents/memory/` and
`agents/prompts.py`): the names copydesk's folders have in the repository."""


@pytest.mark.slow
def test_the_wheel_installs_beside_openai_agents(built: tuple[Path, str], tmp_path: Path) -> None:
    """One fresh virtualenv, copydesk's wheel and the real openai-agents wheel: both import,
    each from its own files, and the `copydesk` command runs."""
    wheel, _ = built
    # Nothing of the repository on the path: only what the two wheels installed.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["COPYDESK_HOME"] = str(tmp_path / "home")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(wheel), OPENAI_AGENTS],
        capture_output=True, text=True, timeout=900, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    code = (
        "import agents, copydesk, pathlib, sys\n"
        "from agents import Agent\n"
        "from copydesk.agents import OpenAIClient\n"
        "from copydesk.graphs import ConversationManager, known\n"
        "from copydesk.memory import FaissStore\n"
        "from copydesk.prompts import PromptRegistry\n"
        "site = pathlib.Path(sys.argv[1])\n"
        "assert pathlib.Path(agents.__file__).parent == site / 'agents', agents.__file__\n"
        "assert pathlib.Path(copydesk.__file__).parent == site / 'copydesk', copydesk.__file__\n"
        "assert (site / 'agents' / 'prompts.py').is_file()\n"
        "print(Agent.__module__, len(known()), len(PromptRegistry().names()) > 0)\n"
    )
    [site] = (venv / "lib").glob("python3*/site-packages")
    shown = subprocess.run(
        [str(python), "-c", code, str(site)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert shown.stdout.split() == ["agents.agent", "7", "True"]
    graphs = subprocess.run(
        [str(venv / "bin" / "copydesk"), "graphs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert graphs.returncode == 0, graphs.stderr[-2000:]
    assert "turn_taking" in graphs.stdout and "review_panel" in graphs.stdout
