"""`copydesk export --format docx`: tracked changes (w:ins / w:del, author and date of the
draft that made them) since a round, and open issues as Word comments on their quotes; the
file re-opened with python-docx, and read by LibreOffice (headless) where it is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml.ns import qn

from copydesk.agents.client import OpenAIClient
from copydesk.graphs.events import RunResult
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.reports.docx_export import DocxExportError, export_docx, write_docx
from copydesk.graphs.reports.issue_tracking import summarize, track_issues
from copydesk.graphs.reports.timeline import Draft, Timeline, load_timeline
from tests._cli import cli_env, copydesk, ok, ok_json
from tests.fakes import FakeOpenAIServer
from tests.fakes.reviewing import ScriptedReview

W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def changes(path: Path) -> list[tuple[str, str, str, str]]:
    """(kind, text, author, date) of every tracked insertion and deletion, in order; changes
    split only by a comment's anchor marks count as one."""
    body = docx.Document(str(path)).element.body
    out: list[tuple[str, str, str, str]] = []
    last: Any = None
    for element in body.iter(qn("w:ins"), qn("w:del")):
        text = "".join(t.text or "" for t in element.iter(qn("w:t"), qn("w:delText")))
        if not text:  # an inserted paragraph mark has no text of its own
            continue
        kind = element.tag.removeprefix(W_NS)
        change = (kind, text, element.get(qn("w:author")), element.get(qn("w:date")))
        between = element.getprevious()
        while between is not None and between.tag.startswith(f"{W_NS}commentRange"):
            between = between.getprevious()
        if out and between is last and out[-1][::2] == change[::2] and out[-1][3] == change[3]:
            out[-1] = (kind, out[-1][1] + text, change[2], change[3])
        else:
            out.append(change)
        last = element
    return out


def final_text(path: Path) -> str:
    """The document as accepted: every paragraph's text, insertions in, deletions out."""
    body = docx.Document(str(path)).element.body
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))


def comments(path: Path, *, deleted: bool = False) -> list[tuple[str, str, str]]:
    """(author, comment text, anchored text) of every comment; `deleted`: tracked deletions
    inside a comment's range count as anchored text too."""
    texts = (qn("w:t"), qn("w:delText")) if deleted else (qn("w:t"),)
    document = docx.Document(str(path))
    anchored: dict[str, list[str]] = {}
    open_ids: set[str] = set()
    for element in document.element.body.iter():
        if element.tag == qn("w:commentRangeStart"):
            open_ids.add(element.get(qn("w:id")))
        elif element.tag == qn("w:commentRangeEnd"):
            open_ids.discard(element.get(qn("w:id")))
        elif element.tag in texts:
            for comment_id in open_ids:
                anchored.setdefault(comment_id, []).append(element.text or "")
    return [
        (c.author, c.text, "".join(anchored.get(str(c.comment_id), []))) for c in document.comments
    ]


async def test_tracked_changes_and_comments_from_a_real_thread(
    make_settings: Any, tmp_path: Path
) -> None:
    """Three drafts: changes since round 1 and since round 2, dated by their checkpoints."""
    with FakeOpenAIServer() as server:
        server.responder = ScriptedReview()
        client = OpenAIClient(base_url=server.base_url)
        async with client, ConversationManager(make_settings(), client=client) as manager:
            await manager.run("turn_taking", topic="Trams", thread_id="t1", max_rounds=3)
            timeline = await load_timeline(manager, "t1")
            since_first = await export_docx(manager, "t1", tmp_path / "first.docx")
            since_second = await export_docx(manager, "t1", tmp_path / "second.docx", against=2)
            with pytest.raises(DocxExportError, match="no draft of round 7; pass --against one"):
                await export_docx(manager, "t1", tmp_path / "none.docx", against=7)
    assert not (tmp_path / "none.docx").exists()
    made = {d.round: d.made_at for d in timeline.drafts}
    assert len(made) == 3 and all(made.values())

    def word_date(iso: str) -> str:
        return iso[:19] + "Z"  # checkpoints are stamped in UTC

    assert changes(tmp_path / "first.docx") == [
        ("ins", " and clean", "writer", word_date(made[2])),
        ("del", "many people", "writer", word_date(made[3])),
        ("ins", "crowds with ease", "writer", word_date(made[3])),
        ("del", "love them", "writer", word_date(made[2])),
        ("ins", "should build more", "writer", word_date(made[2])),
    ]
    assert (since_first.against_round, since_first.insertions, since_first.deletions) == (1, 3, 2)
    assert changes(tmp_path / "second.docx") == [
        ("del", "many people", "writer", word_date(made[3])),
        ("ins", "crowds with ease", "writer", word_date(made[3])),
    ]
    assert since_second.against_round == 2
    accepted = "Trams are quiet and clean. They carry crowds with ease.\nCities should build more."
    assert final_text(tmp_path / "first.docx") == accepted
    # The third verdict (the last repeats) stands against the final draft: one open issue.
    assert comments(tmp_path / "first.docx") == [
        ("editor", "[major] Which cities? Name one.", "Cities should build more.")
    ]
    assert since_first.comments == 1


def _timeline(texts: list[tuple[str, str, str]], verdicts: list[dict[str, Any]]) -> Timeline:
    drafts = [
        Draft(index=i, round=i + 1, author=a, text=t, made_at=m, checkpoint_id=f"c{i}")
        for i, (a, t, m) in enumerate(texts)
    ]
    revisions = [{"round": d.round, "author": d.author, "text": d.text} for d in drafts]
    result = RunResult("t", "pipeline", "completed", len(drafts), drafts[-1].text, None, {}, "m")
    return Timeline(
        result=result,
        topic="Canals",
        drafts=drafts,
        verdicts=verdicts,
        verdict_times=[""] * len(verdicts),
        issues=track_issues(revisions, verdicts),
        checkpoints=[],
        summary=summarize(revisions, verdicts),
    )


def test_each_change_is_credited_to_the_draft_that_made_it(tmp_path: Path) -> None:
    """A word the writer added and a word the proofreader removed, a quote that is gone."""
    timeline = _timeline(
        [
            ("writer", "Canals are old.", "2026-01-01T10:00:00+00:00"),
            ("writer", "Canals are very old.\nBoats pass.", "2026-01-01T11:00:00+01:00"),
            ("proofreader", "Canals are old.\nBoats pass slowly.", "2026-01-01T12:30:00+00:00"),
        ],
        [
            {"round": 3, "agent": "fact_checker", "decision": "revise", "summary": "", "issues": [
                {"severity": "minor", "quote": "pass slowly", "comment": "How slowly?"},
                {"severity": "major", "quote": "Ships sink.", "comment": "Not in the text."},
            ]},
        ],
    )  # fmt: skip
    summary = write_docx(timeline, tmp_path / "c.docx")
    assert changes(tmp_path / "c.docx") == [
        ("ins", "Boats pass", "writer", "2026-01-01T10:00:00Z"),
        ("ins", " slowly", "proofreader", "2026-01-01T12:30:00Z"),
        ("ins", ".", "writer", "2026-01-01T10:00:00Z"),  # the writer's full stop, kept
    ]
    assert final_text(tmp_path / "c.docx") == "Canals are old.\nBoats pass slowly."
    assert comments(tmp_path / "c.docx") == [
        ("fact_checker", "[minor] How slowly?", "pass slowly"),
        ("fact_checker", '[major] Not in the text. (quote not found: "Ships sink.")',
         "Canals are old."),
    ]  # fmt: skip
    assert summary.comments == 2


def test_cli_export_docx_and_its_errors(tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.responder = ScriptedReview()
    home = tmp_path / "home"
    env = cli_env(home, fake_server)
    ran = ok_json(copydesk(tmp_path, env, "run", "turn_taking", "-t", "Trams", "--max-rounds",
                           "2", "--thread-id", "t1", "--json"))  # fmt: skip
    assert ran["issues_addressed"]["share"] == 0.5
    done = ok(copydesk(tmp_path, env, "export", "t1", "--format", "docx", "-o", "out.docx"))
    assert "tracked changes since round 1 (2 inserted, 1 deleted), 1 open issue(s)" in done.stderr
    assert changes(tmp_path / "out.docx")[0][:3] == ("ins", " and clean", "writer")
    for args, message in (
        (["--format", "docx"], "--format docx writes a file; pass -o FILE.docx"),
        (["--format", "docx", "-o", "x.docx", "--against", "9"], "no draft of round 9"),
        (["--format", "md", "-o", "x.docx"], "--format md contradicts -o x.docx"),
        (["--format", "json", "-o", "x.DOCX"], "whose suffix means docx"),
        (["--format", "docx", "-o", "x.json"], "pass --format json"),
        (["--against", "1"], "--against applies to Word export only, not --format md"),
        (["--against", "1", "-o", "x.json"], "--against applies to Word export only"),
        (["--against", "1", "-o", "x.md", "--format", "md"], "--against applies"),
    ):
        proc = copydesk(tmp_path, env, "export", "t1", *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == "", proc.stderr
        assert not {"x.docx", "x.DOCX", "x.json", "x.md"} & {p.name for p in tmp_path.iterdir()}


def test_cli_export_format_follows_the_output_suffix(
    tmp_path: Path, fake_server: FakeOpenAIServer
) -> None:
    """Without --format, `-o` decides: .docx is a Word file, .json the result, else Markdown."""
    fake_server.responder = ScriptedReview()
    env = cli_env(tmp_path / "home", fake_server)
    ok(copydesk(tmp_path, env, "run", "turn_taking", "-t", "Trams", "--max-rounds", "2",
                "--thread-id", "t1", "--json"))  # fmt: skip

    word = ok(copydesk(tmp_path, env, "export", "t1", "-o", "a.docx", "--against", "1"))
    assert "tracked changes since round 1" in word.stderr
    assert changes(tmp_path / "a.docx")[0][:3] == ("ins", " and clean", "writer")
    ok(copydesk(tmp_path, env, "export", "t1", "-o", "b.JSON"))
    exported = json.loads((tmp_path / "b.JSON").read_text(encoding="utf-8"))
    assert exported["thread_id"] == "t1" and exported["transcript"]
    for name in ("c.md", "d.markdown", "e.txt", "f"):
        ok(copydesk(tmp_path, env, "export", "t1", "-o", name))
        assert (tmp_path / name).read_text(encoding="utf-8").startswith("# Trams\n")
    ok(copydesk(tmp_path, env, "export", "t1", "--format", "docx", "-o", "g.txt"))
    assert final_text(tmp_path / "g.txt") == final_text(tmp_path / "a.docx")
    unknown = copydesk(tmp_path, env, "export", "nope", "--format", "docx", "-o", "y.docx")
    assert unknown.returncode == 2 and "unknown thread 'nope'" in unknown.stderr


@pytest.fixture
def soffice() -> str:
    """LibreOffice's command; the test fails instead of skipping in CI."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("COPYDESK_REQUIRE_SERVICES") == "1":
            pytest.fail("LibreOffice is not installed (COPYDESK_REQUIRE_SERVICES=1)")
        pytest.skip("LibreOffice is not installed (Debian: apt-get install libreoffice-writer)")
    return found


def libreoffice_reads(soffice: str, path: Path) -> str:
    """Convert the Word file `path` with LibreOffice to PDF (checked to be one) and to flat
    ODF beside it; the flat ODF's text."""
    folder = path.parent
    for target in ("pdf", "fodt"):
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{folder / 'lo-profile'}", "--headless",
             "--norestore", "--convert-to", target, "--outdir", str(folder), str(path)],
            check=True, capture_output=True, timeout=180, env={**os.environ, "HOME": str(folder)},
        )  # fmt: skip
    assert path.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    return path.with_suffix(".fodt").read_text(encoding="utf-8")


@pytest.mark.libreoffice
def test_libreoffice_reads_the_tracked_changes_and_comments(soffice: str, tmp_path: Path) -> None:
    """LibreOffice converts the file to PDF, and to flat ODF with the changes and comments."""
    timeline = _timeline(
        [
            ("writer", "Canals are old.", "2026-01-01T10:00:00+00:00"),
            ("writer", "Canals are quiet.\nBoats pass slowly.", "2026-01-01T11:00:00+00:00"),
        ],
        [{"round": 2, "agent": "editor", "decision": "revise", "summary": "",
          "issues": [{"severity": "minor", "quote": "pass slowly", "comment": "How slowly?"}]}],
    )  # fmt: skip
    write_docx(timeline, tmp_path / "c.docx")
    flat = libreoffice_reads(soffice, tmp_path / "c.docx")
    assert flat.count("<text:changed-region") == 4  # 2 insertions, 1 deletion, 1 paragraph mark
    assert "<text:deletion>" in flat and "<text:insertion>" in flat
    assert "<dc:creator>writer</dc:creator>" in flat
    assert "How slowly?" in flat and "<office:annotation" in flat
