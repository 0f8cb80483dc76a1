"""The documentation holds to what it says: the site builds with `mkdocs build --strict`, its
API reference documents exactly each package's `__all__`, the examples of the README and the
pages run offline as written, and the README stays a front door.

How examples run (also stated on the Tests page, docs/tests.md): every fenced `console` block
of README.md and of each page under docs/ runs in order, one page at a time, in a fresh folder
with its own COPYDESK_HOME and COPYDESK_OFFLINE=1. A line starting with `$ ` is a command that
must exit 0, or the code a trailing `# exit N` states; the lines after it are output it must
print, in order, `...` standing for anything. `$ copydesk ...` lines run in process (the
whole app, inside its error boundary, as tests/test_bad_input_table.py does); lines that need a
shell (`$(...)`, a pipe, a redirection, a variable set before the command, other programs)
run with `bash -c`, `copydesk` and `python` on PATH being this interpreter and this tree. A
block that needs a server, a key, PostgreSQL/RabbitMQ or the local model is fenced
```console {.no-run title="why"} and is not run. The `python` blocks of README.md and of
docs/getting-started.md are complete programs and run too.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shlex
import stat
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import griffe
import pytest
import typer
from typer.testing import CliRunner

from copydesk.graphs.cli.app import build

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
PYTHON_PAGES = (README, DOCS / "getting-started.md")
PACKAGES = (
    "copydesk.agents",
    "copydesk.graphs",
    "copydesk.graphs.queue",
    "copydesk.memory",
    "copydesk.prompts",
)
MIN_COMMANDS = 80
"""Fewer runnable commands than this means the convention broke and examples went unchecked."""
README_MAX_LINES = 250
WORK_ITEM = re.compile(r"\bissues? #?[0-9]+", re.IGNORECASE)
SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?]|^\w+=")
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
FENCE = re.compile(r"^(\s*)```(.*)$")
TIMEOUT = 180


# --- the examples, parsed -------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced block: its info string (`console {.no-run ...}`) and its lines."""

    page: Path
    line: int
    info: str
    lines: tuple[str, ...]

    @property
    def language(self) -> str:
        return self.info.split("{", 1)[0].strip()

    @property
    def attributes(self) -> str:
        return self.info.partition("{")[2].rstrip("}").strip()


@dataclass(frozen=True)
class Command:
    """One `$ ...` line of a console block, with the exit code and output it promises."""

    where: str
    text: str
    code: int
    output: tuple[str, ...]

    @property
    def in_process(self) -> bool:
        return self.text.startswith("copydesk ") and not SHELL_SYNTAX.search(self.text)


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, info = opening.groups()
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i].removeprefix(indent))
            i += 1
        found.append(Block(page, i - len(body) + 1, info.strip(), tuple(body)))
        i += 1
    return found


def console_blocks(page: Path) -> list[Block]:
    """The page's console blocks that run (a `.no-run` one must say why, in its title)."""
    runnable = []
    for block in blocks(page):
        if block.language != "console":
            continue
        where = f"{page.relative_to(ROOT)}:{block.line}"
        if not block.attributes:
            runnable.append(block)
            continue
        assert ".no-run" in block.attributes.split(), f"{where}: unknown marker {block.info!r}"
        assert 'title="' in block.attributes, f"{where}: a .no-run block says why in its title"
    return runnable


def commands(page: Path) -> list[Command]:
    """The commands of a page's runnable console blocks, in order."""
    found: list[Command] = []
    for block in console_blocks(page):
        assert block.lines and block.lines[0].startswith("$ "), (
            f"{page.relative_to(ROOT)}:{block.line}: a console block starts with a `$ ` command"
        )
        for number, line in enumerate(block.lines):
            if line.startswith("$ "):
                text, code = line[2:].strip(), 0
                if (stated := EXIT.search(text)) is not None:
                    text, code = text[: stated.start()], int(stated.group(1))
                where = f"{page.relative_to(ROOT)}:{block.line + number}"
                found.append(Command(where, text, code, ()))
            elif line.strip():
                last = found[-1]
                found[-1] = Command(last.where, last.text, last.code, (*last.output, line))
    return found


def python_examples(page: Path) -> list[Block]:
    return [block for block in blocks(page) if block.language == "python"]


# --- running them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def shims(tmp_path: Path) -> Path:
    """A bin folder whose `copydesk` and `python` are this interpreter on this tree."""
    folder = tmp_path / "bin"
    folder.mkdir()
    entry = "from copydesk.graphs.cli import main; main()"
    scripts = {
        "copydesk": f'exec "{sys.executable}" -c "{entry}" "$@"',
        "python": f'exec "{sys.executable}" "$@"',
    }
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh folder with its own COPYDESK_HOME, offline (conftest strips other settings)."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("COPYDESK_HOME", str(folder / ".copydesk"))
    monkeypatch.setenv("COPYDESK_OFFLINE", "1")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield folder
    root.handlers, root.level = handlers, level


def run_in_process(app: typer.Typer, command: Command) -> Ran:
    result = CliRunner().invoke(app, shlex.split(command.text, comments=True)[1:])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def run_in_shell(command: Command, folder: Path, shims: Path) -> Ran:
    env = dict(os.environ)
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        ["bash", "-c", command.text],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def shows(output: tuple[str, ...], printed: str) -> str | None:
    """The first promised output line missing from `printed` (in order), or None."""
    flat, position = " ".join(printed.split()), 0
    for line in output:
        if line.strip() == "...":
            continue
        parts = [re.escape(" ".join(part.split())) for part in line.split("...")]
        found = re.compile(".*?".join(parts)).search(flat, position)
        if found is None:
            return line
        position = found.end()
    return None


def runnable_pages() -> list[Path]:
    return [page for page in PAGES if commands(page)]


@pytest.mark.parametrize("page", runnable_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_console_examples_run(page: Path, workdir: Path, shims: Path) -> None:
    """Each command of the page exits as promised and prints what the page shows."""
    app = build()
    ran = 0
    for command in commands(page):
        if command.in_process:
            result = run_in_process(app, command)
        else:
            result = run_in_shell(command, workdir, shims)
        shown = (
            f"{command.where}: $ {command.text}\nexit {result.code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        assert result.code == command.code, shown
        assert "Traceback" not in result.stdout + result.stderr, shown
        missing = shows(command.output, result.stdout + "\n" + result.stderr)
        assert missing is None, f"does not print {missing!r}\n{shown}"
        ran += 1
    assert ran == len(commands(page))


def test_a_fair_number_of_examples_run() -> None:
    """The convention finds the examples: most pages have some, and they add up."""
    counts = {str(page.relative_to(ROOT)): len(commands(page)) for page in PAGES}
    assert sum(counts.values()) >= MIN_COMMANDS, counts
    assert counts["README.md"] > 0
    assert counts["docs/cli.md"] >= 25, counts


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_python_example_runs(page: Path, workdir: Path) -> None:
    """The page's Python program runs offline as written and ends with a result."""
    (example,) = python_examples(page)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", "\n".join(example.lines)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "turn: writer" in proc.stdout, proc.stdout
    assert re.search(r"^(approved|out_of_rounds) after \d+ round", proc.stdout, re.M), proc.stdout


# --- the site -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with --strict (a broken link or anchor, or a page off the nav, fails)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_site_builds_strictly(site: Path) -> None:
    """Every page under docs/ is built (the nav reaches them all: --strict checks that)."""
    for page in DOCS.rglob("*.md"):
        built = site / page.relative_to(DOCS).with_suffix(".html")
        assert built.is_file(), built


def inventory(site: Path) -> dict[str, str]:
    """The built site's Sphinx inventory: object name -> role (`py:class`, `py:module`, ...)."""
    data = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four header lines, then zlib
        header_end = data.index(b"\n", header_end) + 1
    body = zlib.decompress(data[header_end:]).decode("utf-8")
    entries = {}
    for line in body.splitlines():
        name, role, _rest = line.split(" ", 2)
        entries[name] = role
    return entries


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_documented(site: Path, package: str) -> None:
    """The package's page documents exactly its `__all__`, and each name has a docstring."""
    public = set(importlib.import_module(package).__all__)
    documented = {
        name.removeprefix(f"{package}.")
        for name, role in inventory(site).items()
        if name.startswith(f"{package}.")
        and "." not in name.removeprefix(f"{package}.")
        and role != "py:module"
    }
    assert documented == public
    loaded = griffe.load(package, search_paths=[ROOT], allow_inspection=False)
    undocumented = sorted(
        name for name in public if not (loaded[name].docstring and loaded[name].docstring.value)
    )
    assert not undocumented, f"{package}: no docstring on {undocumented}"


# --- the README and the words ---------------------------------------------------------------


def test_the_readme_is_a_front_door() -> None:
    """At most 250 lines, the newcomer commands first, and it links into the site."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "make demo" in text
    assert "make test" in text
    assert text.index("make demo") < text.index("## From a terminal")
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link


def test_no_page_names_an_internal_work_item() -> None:
    """A reader cannot look up an internal work item by its number: say what the work was."""
    files = [*PAGES, *(p for p in (ROOT / "benchmarks").rglob("*") if p.is_file())]
    hits = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in files
        if path.suffix in {".md", ".py", ".txt", ".toml"}
        for match in WORK_ITEM.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not hits
