"""A long document's style sheet and fact ledger: built from the verdicts that approve its
sections, kept per section in the thread, shown (bounded) to later section prompts and to
the consistency editor, which checks terminology against it; and shown to people."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client.offline.notes import (
    fix_terminology,
    section_notes,
    terminology_findings,
)
from copydesk.agents.document import merge_by_section
from copydesk.agents.style_sheet import facts_for, still_stated, style_rules, style_sheet_text
from copydesk.graphs.manager import ConversationManager
from tests._cli import in_process_cli
from tests.fakes.documents import DocumentResponder, chat_texts, document_values, served

HARBOURS = "Harbour staff send an e-mail to every crane driver. The port opened in 1998."
CRANES = "Crane drivers read their email at night. The port has 40 cranes on the quay."


def _script(heading: str, n: int, task: str) -> str | None:
    """Section 1 writes `e-mail`, section 2 `email` until a finding asks for `e-mail`."""
    if heading == "Harbours":
        return HARBOURS
    if heading == "Cranes":
        asked = 'Write "e-mail" as the style sheet does' in task
        return CRANES.replace("email", "e-mail") if asked else CRANES
    return None


async def test_the_ledger_and_style_sheet_reach_later_prompts_and_fix_drift(
    make_settings: Any,
) -> None:
    """Through a server: approving verdicts give each section's terms and facts; the first
    drafts see none yet; the consistency editor gets the style sheet and finds `email`
    drifting from section 1's `e-mail`; section 2's revision is shown the style sheet and
    the ledger entry of section 1 that concerns it, and writes `e-mail`; section 1 is
    untouched; the run shows the style sheet and the ledger."""
    settings = make_settings(checkpoint_url="memory:")
    async with served(settings, DocumentResponder(reviews=0, script=_script)) as (server, manager):
        result = await manager.run(
            "document", topic="ports", thread_id="l", inputs={"sections_wanted": 2}
        )
        values = await document_values(manager, "l")
        requests = chat_texts(server)
        bodies = [
            "\n".join(str(m.get("content", "")) for m in (r.body or {}).get("messages") or [])
            for r in server.chat_requests()
        ]
    first = [text for heading, text in requests if "Style sheet:\n(none yet)" in text]
    assert len(first) == 4  # each section's first draft and its verdict
    consistency = [b for b in bodies if "consistency editor" in b]
    assert consistency and "- spelling: e-mail (section 1)" in consistency[0]
    revise = [text for heading, text in requests if heading == "Cranes"][-1]
    assert "- spelling: e-mail (section 1)" in revise
    assert "- section 1: The port opened in 1998. (date: 1998)" in revise
    assert "Crane drivers" not in "".join(t for h, t in requests if h == "Harbours")
    sections = values["sections"]
    assert sections[0]["text"] == HARBOURS and sections[1]["text"] == CRANES.replace(
        "email", "e-mail"
    )
    assert values["findings"][0]["kind"] == "terminology"
    assert {"section": 1, "kind": "spelling", "rule": "e-mail"} in result.style_sheet
    ledger = {(f["section"], f["value"]) for f in result.fact_ledger}
    assert ledger == {(1, "1998"), (2, "40")}
    assert result.as_json()["fact_ledger"] == result.fact_ledger
    assert result.issues_addressed["addressed"] == 1


def test_style_sheet_and_ledger_rules() -> None:
    """The first section to set a term wins; a section's new entries replace its old ones;
    only other sections' facts that share words are shown, at most eight; a revised
    section keeps only the entries its text still holds."""
    sheet = merge_by_section(
        {"2": [{"section": 2, "kind": "term", "rule": "Email"}]},
        {"1": [{"section": 1, "kind": "spelling", "rule": "e-mail"},
               {"section": 1, "kind": "tense", "rule": "past"}]},
    )  # fmt: skip
    assert [r["rule"] for r in style_rules(sheet)] == ["e-mail", "past", "Email"]
    assert style_sheet_text({}) == "(none yet)"
    assert merge_by_section(sheet, {"2": []})["2"] == []
    ledger = {
        "1": [{"section": 1, "claim": f"Port {n} opened", "value": str(n), "kind": "number",
               "source": 0} for n in range(12)],
        "3": [{"section": 3, "claim": "Tides rise", "value": "Tides", "kind": "name",
               "source": 0}],
    }  # fmt: skip
    brief = {"index": 2, "heading": "Cranes", "purpose": "", "key_points": ["the port"], "words": 9}
    shown = facts_for(ledger, brief)  # type: ignore[arg-type]
    assert len(shown) == 8 and {f["section"] for f in shown} == {1}
    kept = still_stated(
        "The port opened in 1998.",
        [{"section": 1, "kind": "term", "rule": "Harbour"}, {"section": 1, "kind": "voice",
                                                             "rule": "active"}],
        [{"section": 1, "claim": "c", "value": "1998", "kind": "date", "source": 0},
         {"section": 1, "claim": "c", "value": "1996", "kind": "date", "source": 0}],
    )  # fmt: skip
    assert ([s["kind"] for s in kept[0]], [f["value"] for f in kept[1]]) == (["voice"], ["1998"])


def test_offline_notes_findings_and_fixes() -> None:
    """The offline model's notes on a section, the terminology it finds drifting, and the
    revision that answers it."""
    notes = section_notes("In 1998, Anna Berg wrote to the port. It was organised by hand [2].")
    assert notes["spellings"] == ["organised"] and notes["tense"] == "past"
    assert notes["terms"] == ["Anna Berg"] and notes["numbers"] == "numerals"
    assert notes["facts"][0] == {
        "claim": "In 1998, Anna Berg wrote to the port.",
        "value": "1998",
        "kind": "date",
        "source": 0,
    }
    task = (
        "Style sheet:\n- spelling: e-mail (section 1)\n\nSection 2: Cranes\n<<<\n"
        "Drivers read E-Mail late. They like email.\n>>>\n"
    )
    found = terminology_findings(task)
    assert [f["quotes"][0]["text"] for f in found] == ["They like email."]
    line = '- [major] "x": terminology: Write "e-mail" as the style sheet does, not "email".'
    assert fix_terminology("They like email.", line) == "They like e-mail."
    assert fix_terminology("Text.", '- [major] "x": more detail') is None


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`copydesk ARGS` in this process, home under tmp_path, offline."""
    yield from in_process_cli(home, monkeypatch)


def test_run_shows_the_style_sheet_and_ledger(cli: Any) -> None:
    """`run document` prints the style sheet and the fact ledger after the document."""
    done = cli("run", "document", "-t", "Night trains", "--sections", "2", "--words", "200")
    assert done.exit_code == 0, done.output
    assert "style sheet" in done.output and "voice: active (section 1)" in done.output


def test_offline_notes_of_names_and_tasks_without_a_style_sheet() -> None:
    """A sentence with a name and no number is a name fact; a task without a style sheet, or
    whose style sheet ends the task, finds no terminology."""
    notes = section_notes("Night trains matter. We met Anna Berg at the quay.")
    assert [(f["value"], f["kind"]) for f in notes["facts"]] == [("Anna Berg", "name")]
    assert terminology_findings("Section 1: A\n<<<\nemail\n>>>\n") == []
    assert terminology_findings("Style sheet:\n- term: Anna Berg (section 1)") == []


async def test_a_section_out_of_rounds_settles_nothing(make_settings: Any) -> None:
    """Offline, one round: the editor never approves, so no section adds to the style sheet
    or the ledger, and the run shows neither."""
    async with ConversationManager(make_settings()) as manager:
        result = await manager.run(
            "document", topic="Night trains", max_rounds=1, inputs={"sections_wanted": 1}
        )
    assert result.style_sheet == result.fact_ledger == []
    assert "style_sheet" not in result.as_json()
