"""A long document's style sheet and fact ledger: what an approved section settles for the
rest, and how later prompts and people are shown it.

A section's editor returns them with the verdict that approves it (`SectionNotes`, part of
`copydesk.agents.sections.SectionVerdict`), so building them costs no call of its own: the
terms and spellings the section uses, its voice, tense and number style, and each claim it
makes with a number, name or date, with the source it cites. The thread keeps them per
section (`DocumentState.style_sheet`, `fact_ledger`).

- The style sheet is read in section order: the first section to use a term, or to state a
  voice, tense or number style, sets it.
- A section's prompts get the whole style sheet and, of the ledger, only the entries of
  other sections that concern it (sharing most content words with its brief and draft),
  at most `FACTS`; both are short, whatever the document's length.
- After a section is revised (a consistency finding, a human's feedback), its entries whose
  term or value the new text no longer holds are dropped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.document import FactRecord, SectionBrief, StyleRecord, by_section
from copydesk.memory.sources import content_words

__all__ = [
    "FACTS",
    "NONE_YET",
    "RULES",
    "Fact",
    "SectionNotes",
    "facts_for",
    "facts_text",
    "notes_records",
    "still_stated",
    "style_rules",
    "style_sheet_text",
]

FACTS = 8
"""Ledger entries a section's prompt shows at most."""
RULES = 24
"""Style-sheet lines a prompt shows at most."""
NONE_YET = "(none yet)"
"""What a prompt shows where the style sheet or the ledger has nothing yet."""


class Fact(BaseModel):
    """One claim of the section that turns on a number, a name or a date."""

    model_config = ConfigDict(extra="forbid")

    claim: str = Field(
        description="the claim, quoted from the section", json_schema_extra={"maxLength": 160}
    )
    value: str = Field(
        description="the number, name or date, as written", json_schema_extra={"maxLength": 60}
    )
    kind: Literal["number", "name", "date"] = Field(description="what the value is")
    source: int = Field(description="the source number it cites as [n]; 0 when none")


class SectionNotes(BaseModel):
    """What an approved section settles for the others: its style and its facts."""

    model_config = ConfigDict(extra="forbid")

    terms: list[str] = Field(
        default_factory=list,
        description="key terms and names as the section writes them (empty unless approving)",
        json_schema_extra={"maxItems": 8, "items": {"type": "string", "maxLength": 40}},
    )
    spellings: list[str] = Field(
        default_factory=list,
        description="words with more than one accepted spelling, as written (e-mail, organise)",
        json_schema_extra={"maxItems": 6, "items": {"type": "string", "maxLength": 40}},
    )
    voice: str = Field(
        default="", description="active or passive, or empty", json_schema_extra={"maxLength": 40}
    )
    tense: str = Field(
        default="", description="present or past, or empty", json_schema_extra={"maxLength": 40}
    )
    numbers: str = Field(
        default="",
        description="how numbers are written (numerals, words up to ten), or empty",
        json_schema_extra={"maxLength": 60},
    )
    facts: list[Fact] = Field(
        default_factory=list,
        description="claims with a number, name or date (empty unless approving)",
        json_schema_extra={"maxItems": 8},
    )


def notes_records(notes: SectionNotes, section: int) -> tuple[list[StyleRecord], list[FactRecord]]:
    """`notes` as the thread keeps them for `section`: style rules and ledger entries."""
    style: list[StyleRecord] = [
        {"section": section, "kind": "term", "rule": t.strip()} for t in notes.terms if t.strip()
    ]
    style += [
        {"section": section, "kind": "spelling", "rule": s.strip()}
        for s in notes.spellings
        if s.strip()
    ]
    for kind, rule in (("voice", notes.voice), ("tense", notes.tense), ("numbers", notes.numbers)):
        if rule.strip():
            style.append({"section": section, "kind": kind, "rule": rule.strip()})  # type: ignore[typeddict-item]
    facts: list[FactRecord] = [
        {
            "section": section,
            "claim": f.claim.strip(),
            "value": f.value.strip(),
            "kind": f.kind,
            "source": max(0, f.source),
        }
        for f in notes.facts
        if f.claim.strip() and f.value.strip()
    ]
    return style, facts


def _key(term: str) -> str:
    """A term without case, hyphens or spaces: `E-mail`, `email` and `e mail` are one."""
    return "".join(ch for ch in term.lower() if ch.isalnum())


def style_rules(entries: dict[str, list[StyleRecord]] | None) -> list[StyleRecord]:
    """The style sheet: for each term or spelling, and for voice, tense and numbers, the
    entry of the first section that set it."""
    chosen: dict[tuple[str, str], StyleRecord] = {}
    for entry in by_section(entries):
        single = entry["kind"] in ("voice", "tense", "numbers")
        key = (entry["kind"], "" if single else _key(entry["rule"]))
        chosen.setdefault(key, entry)
    return list(chosen.values())


def style_sheet_text(entries: dict[str, list[StyleRecord]] | None) -> str:
    """The style sheet as prompts show it, one rule a line (`- term: e-mail (section 1)`)."""
    rules = style_rules(entries)[:RULES]
    lines = [f"- {r['kind']}: {r['rule']} (section {r['section']})" for r in rules]
    return "\n".join(lines) or NONE_YET


def facts_for(
    ledger: dict[str, list[FactRecord]] | None, brief: SectionBrief, text: str = ""
) -> list[FactRecord]:
    """The ledger entries of other sections that concern section `brief`: those sharing
    content words with its brief and `text` (its draft), most shared first, at most `FACTS`."""
    mine = content_words(" ".join([brief["heading"], brief["purpose"], *brief["key_points"], text]))
    scored = []
    for n, entry in enumerate(by_section(ledger)):
        if entry["section"] == brief["index"]:
            continue
        shared = len(mine & content_words(f"{entry['claim']} {entry['value']}"))
        if shared:
            scored.append((-shared, n, entry))
    return [entry for *_, entry in sorted(scored, key=lambda s: s[:2])[:FACTS]]


def facts_text(facts: list[FactRecord]) -> str:
    """Ledger entries as prompts show them, one a line."""
    lines = [
        f"- section {f['section']}: {f['claim']} ({f['kind']}: {f['value']}"
        + (f"; source [{f['source']}])" if f["source"] else ")")
        for f in facts
    ]
    return "\n".join(lines) or NONE_YET


def still_stated(
    text: str, style: list[StyleRecord], facts: list[FactRecord]
) -> tuple[list[StyleRecord], list[FactRecord]]:
    """A revised section's entries that its new `text` still holds (terms and values found
    in it, case aside; voice, tense and numbers kept)."""
    lowered = text.lower()
    kept_style = [
        s for s in style if s["kind"] not in ("term", "spelling") or s["rule"].lower() in lowered
    ]
    kept_facts = [f for f in facts if f["value"].lower() in lowered]
    return kept_style, kept_facts
