"""An evaluation suite and its rubric, read from TOML and checked before any run.

    name = "editor prompts"         # optional (default: the file's name)
    repeats = 3                     # runs of each case x variant (default 1)
    rubric = "rubric.toml"          # optional: the judge's rubric, relative to the suite
    max_rounds = 3                  # optional
    concurrency = 4                 # optional: runs at once (default 4)

    [[case]]
    topic = "Why tide pools matter"
    words = 300                     # optional: the target length
    sources = ["tides.md"]          # optional: files a document cites, relative to the suite
    outline = "outline.md"          # optional: the document topology's outline

    [[variant]]
    name = "v1"
    graph = "turn_taking"
    prompts = ["editor@v1"]         # NAME@VERSION (or NAME@LABEL), each checked
    model = "gpt-4o-mini"           # optional (default: the settings' model)

A rubric file is `[[criterion]]` tables: `name`, `question`, and `anchors` with a text for
every score from 1 to 5. Every mistake is one `InputError` naming the file and the fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copydesk.agents.rubric import Criterion
from copydesk.graphs.errors import InputError

__all__ = ["Case", "Suite", "Variant", "load_rubric", "load_suite"]


@dataclass(frozen=True)
class Case:
    """One thing to write."""

    topic: str
    words: int | None = None
    sources: tuple[Path, ...] = ()
    outline: Path | None = None


@dataclass(frozen=True)
class Variant:
    """One way of writing it."""

    name: str
    graph: str
    prompts: tuple[str, ...] = ()
    model: str | None = None


@dataclass(frozen=True)
class Suite:
    """Cases x variants x repeats, and the rubric they are judged by."""

    name: str
    path: Path
    cases: tuple[Case, ...]
    variants: tuple[Variant, ...]
    repeats: int = 1
    rubric: tuple[Criterion, ...] = ()
    max_rounds: int | None = None
    concurrency: int = 4


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist; check the path")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{what} {path} is not TOML ({error}); fix the file") from None


def _positive(data: Mapping[str, Any], key: str, where: str, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InputError(f"{where}: {key} must be a whole number of 1 or more, not {value!r}")
    return value


def _file(base: Path, name: Any, where: str, key: str) -> Path:
    path = base / str(name)
    if not isinstance(name, str) or not path.is_file():
        raise InputError(f"{where}: {key} {name!r} is not a file next to the suite; fix the path")
    return path


def _case(data: Any, n: int, base: Path, where: str) -> Case:
    at = f"{where}: case {n}"
    if not isinstance(data, dict) or not str(data.get("topic", "")).strip():
        raise InputError(f'{at} has no topic; give each [[case]] a topic = "..."')
    unknown = sorted(set(data) - {"topic", "words", "sources", "outline"})
    if unknown:
        raise InputError(
            f"{at}: unknown key(s) {', '.join(unknown)}; use topic, words, sources, outline"
        )
    sources = data.get("sources", [])
    if not isinstance(sources, list):
        raise InputError(f'{at}: sources must be a list of files, e.g. ["notes.md"]')
    outline = data.get("outline")
    return Case(
        topic=str(data["topic"]).strip(),
        words=_positive(data, "words", at, None),
        sources=tuple(_file(base, s, at, "source") for s in sources),
        outline=_file(base, outline, at, "outline") if outline is not None else None,
    )


def _variant(data: Any, n: int, where: str) -> Variant:
    at = f"{where}: variant {n}"
    if not isinstance(data, dict) or not str(data.get("name", "")).strip():
        raise InputError(f'{at} has no name; give each [[variant]] a name = "..."')
    if not str(data.get("graph", "")).strip():
        raise InputError(f'{at} ({data["name"]}) has no graph; add graph = "turn_taking"')
    prompts = data.get("prompts", [])
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise InputError(f'{at}: prompts must be a list of NAME@VERSION, e.g. ["editor@v2"]')
    model = data.get("model")
    return Variant(str(data["name"]).strip(), str(data["graph"]).strip(), tuple(prompts), model)


def load_rubric(path: Path) -> tuple[Criterion, ...]:
    """The criteria of the rubric at `path`, each with anchors for 1 to 5."""
    data = _read_toml(path, "rubric")
    criteria = data.get("criterion")
    if not isinstance(criteria, list) or not criteria:
        raise InputError(
            f"rubric {path} has no [[criterion]]; add one with name, question, anchors"
        )
    found: list[Criterion] = []
    for n, item in enumerate(criteria, 1):
        name = str(item.get("name", "")).strip() if isinstance(item, dict) else ""
        if not name:
            raise InputError(f'rubric {path}: criterion {n} has no name; add name = "..."')
        anchors = item.get("anchors")
        given = (
            {int(k): str(v) for k, v in anchors.items() if str(k) in "12345" and str(v).strip()}
            if isinstance(anchors, dict)
            else {}
        )
        missing = [str(s) for s in range(1, 6) if s not in given]
        if missing:
            raise InputError(
                f"rubric {path}: criterion {name} has no anchors for {', '.join(missing)}; "
                'give [criterion.anchors] a text for each score, "1" to "5"'
            )
        found.append(Criterion(name, str(item.get("question", name)), given))
    return tuple(found)


def load_suite(path: Path) -> Suite:
    """The suite at `path`, checked: cases, variants, repeats and the rubric it names."""
    data = _read_toml(path, "suite")
    where, base = f"suite {path}", path.parent
    cases, variants = data.get("case"), data.get("variant")
    if not isinstance(cases, list) or not cases:
        raise InputError(f'{where} has no cases; add a [[case]] with topic = "..."')
    if not isinstance(variants, list) or not variants:
        raise InputError(f"{where} has no variants; add a [[variant]] with name and graph")
    checked = tuple(_variant(v, n, where) for n, v in enumerate(variants, 1))
    names = [v.name for v in checked]
    if len(set(names)) != len(names):
        raise InputError(f"{where}: two variants share a name; give each its own name")
    rubric = data.get("rubric")
    return Suite(
        name=str(data.get("name") or path.stem),
        path=path,
        cases=tuple(_case(c, n, base, where) for n, c in enumerate(cases, 1)),
        variants=checked,
        repeats=_positive(data, "repeats", where, 1) or 1,
        rubric=load_rubric(_file(base, rubric, where, "rubric")) if rubric is not None else (),
        max_rounds=_positive(data, "max_rounds", where, None),
        concurrency=_positive(data, "concurrency", where, 4) or 4,
    )
