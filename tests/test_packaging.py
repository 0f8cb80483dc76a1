"""The built wheel: every package and its data (prompt TOMLs, `*.pyi` stubs, web templates),
declared so that setuptools builds it without a warning.

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
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            source / package,
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
            p.relative_to(ROOT).as_posix()
            for package in PACKAGES
            for p in (ROOT / package).rglob(pattern)
            if "__pycache__" not in p.parts
        }

    for pattern in ("*.py", "*.pyi", "*.toml", "*.html", "*.css", "*.js"):
        wanted = tracked(pattern)
        assert wanted, pattern
        assert wanted <= names, sorted(wanted - names)
    assert "prompts/writer/v1.toml" in names
    assert "graphs/web/templates/base.html" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] not in {*PACKAGES, wheel_info(wheel)}]


def test_the_unpacked_wheel_loads_its_prompts_outside_the_source_tree(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """Installed as the wheel says (unpacked, no source tree on the path), the prompt
    registry finds every role's prompts and the web pages their templates."""
    wheel, _ = built
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import prompts, graphs.web, pathlib, sys\n"
        "from prompts.registry import PromptRegistry\n"
        "registry = PromptRegistry()\n"
        "assert str(registry.root).startswith(sys.argv[1]), registry.root\n"
        "assert 'writer' in registry.names() and registry.versions('writer'), registry.names()\n"
        "web = pathlib.Path(graphs.web.__file__).parent\n"
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
