"""The state of a long document: its outline, its sections and the state one section's
writer <-> editor loop runs on.

A long document is one thread whose state is `DocumentState`: the outline, and each
section's text as its own loop left it. Each section's loop runs on a `SectionState`: the
shared `DraftState` plus the few things its prompts carry (the outline, its neighbours'
briefs, its own brief), never the whole document. Everything here is plain data (str, int,
dict, list), which the strict checkpoint serializer revives without an allowlist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict, TypeVar

from copydesk.agents.state import DraftState, IssueRecord, Revision, UsageTotals, VerdictRecord
from copydesk.memory.sources import SourceRecord

__all__ = [
    "REVIEW_POINTS",
    "DocumentState",
    "FactRecord",
    "FindingRecord",
    "OutlineRecord",
    "QuoteRecord",
    "SectionBrief",
    "SectionRecord",
    "SectionState",
    "StyleRecord",
    "brief_text",
    "by_section",
    "merge_by_section",
    "merge_sections",
    "neighbours_text",
    "outline_markdown",
    "outline_text",
]


class SectionBrief(TypedDict):
    """One section as the outline plans it."""

    index: int
    """Its place in the document, from 1."""
    heading: str
    purpose: str
    key_points: list[str]
    words: int
    """Target length in words."""


class OutlineRecord(TypedDict):
    """The outline of a document, as stored."""

    title: str
    sections: list[SectionBrief]


class SectionRecord(TypedDict):
    """One section as its loop left it."""

    index: int
    heading: str
    text: str
    rounds: int
    status: str
    """How its loop ended (`approved`, `out_of_rounds`, ...)."""
    issues: list[IssueRecord]
    """The issues of its last verdict still open (none when approved)."""
    revisions: NotRequired[list[Revision]]
    """Its drafts, oldest first: its loop's, then a revision for consistency or a human's
    feedback (absent in threads from before they were kept)."""
    verdicts: NotRequired[list[VerdictRecord]]
    """The verdicts on it, oldest first: its editor's, a human's, the consistency pass's."""
    ended_by: NotRequired[str]
    """Which budget ran out, when its status is `over_budget`."""


class QuoteRecord(TypedDict):
    """A passage quoted from one section, as stored."""

    section: int
    text: str


class FindingRecord(TypedDict):
    """One consistency finding, as stored: anchored to passages of named sections."""

    kind: str
    """contradiction, terminology, repetition, transition or omission (an outline point no
    section covers: its one quote names the section, with no text)."""
    quotes: list[QuoteRecord]
    comment: str


class StyleRecord(TypedDict):
    """One rule of the style sheet, as the section that set it stated it."""

    section: int
    kind: Literal["term", "spelling", "voice", "tense", "numbers"]
    rule: str
    """A term or spelling as written (`e-mail`), or the rule (`active voice`)."""


class FactRecord(TypedDict):
    """One entry of the fact ledger: a claim with a number, name or date."""

    section: int
    claim: str
    """The claim, as the section states it."""
    value: str
    """The number, name or date it turns on, as written."""
    kind: Literal["number", "name", "date"]
    source: int
    """The source it cites (`[n]`), 0 when it cites none."""


REVIEW_POINTS = ("outline", "sections", "final")
"""Where a long document may pause for a human (`--review outline|sections|final`)."""

_Entry = TypeVar("_Entry", StyleRecord, FactRecord)


def merge_by_section(
    left: dict[str, list[_Entry]] | None, right: dict[str, list[_Entry]] | None
) -> dict[str, list[_Entry]]:
    """Reducer: entries kept per section (its index as text); a section's new entries
    replace its earlier ones, an empty list clears them."""
    return {**(left or {}), **(right or {})}


def by_section(entries: dict[str, list[_Entry]] | None) -> list[_Entry]:
    """Every section's entries in one list, in section order."""
    ordered = sorted((entries or {}).items(), key=lambda item: int(item[0]))
    return [entry for _, listed in ordered for entry in listed]


def merge_sections(
    left: list[SectionRecord] | None, right: list[SectionRecord] | None
) -> list[SectionRecord]:
    """Reducer: sections by index, a later record of a section replacing the earlier one."""
    merged = {s["index"]: s for s in left or []}
    merged.update({s["index"]: s for s in right or []})
    return [merged[i] for i in sorted(merged)]


class DocumentState(DraftState, total=False):
    """The state of a long-document thread: `DraftState`, whose `draft` is the assembled
    document in Markdown, plus its plan and its sections."""

    outline: OutlineRecord
    """The plan: given (`--outline`) or written by the outliner."""
    sections_wanted: int
    """How many sections the outliner plans (`--sections`)."""
    words: int
    """The document's target length in words (`--words`)."""
    sections: Annotated[list[SectionRecord], merge_sections]
    """Every section written so far, in document order."""
    sources: list[SourceRecord]
    """The sources writers may cite (`--source`), numbered from 1, split into passages."""
    findings: list[FindingRecord]
    """The consistency pass's findings on the assembled document."""
    review_points: list[str]
    """Where the run pauses for a human (`REVIEW_POINTS`); `review: true` alone means
    `final`."""
    outline_feedback: str
    """A human's feedback on the outline, for the outliner to answer (then cleared)."""
    style_sheet: Annotated[dict[str, list[StyleRecord]], merge_by_section]
    """Terms, spellings, voice, tense and number style, as each approved section (by its
    index as text) states them; `by_section` lists them in order."""
    fact_ledger: Annotated[dict[str, list[FactRecord]], merge_by_section]
    """Every claim with a number, name or date in each approved section, with its source."""


class SectionState(DraftState, total=False):
    """The state one section's writer <-> editor loop runs on: its prompts' inputs."""

    section: SectionBrief
    """The section's own brief."""
    outline_text: str
    """The whole outline, as `outline_text` writes it."""
    neighbours: str
    """Short summaries of the sections before and after it."""
    passages: str
    """The source passages relevant to it, one a line as `[n] passage` (empty: none)."""
    sources: list[SourceRecord]
    """Every source, to check the section's citations against."""
    review_about: dict[str, Any]
    """What a human reviewing the section is shown besides its draft (`stage`, `section`)."""
    style_sheet_text: str
    """The document's style sheet so far, one rule a line."""
    facts_text: str
    """The fact-ledger entries of other sections that concern this one, one a line."""
    section_notes: dict[str, Any]
    """What its approving verdict settled: `{"style": [StyleRecord], "facts": [FactRecord]}`."""
    spent_before: UsageTotals
    """What the document had spent when the section began (its budget counts it)."""


def outline_text(outline: OutlineRecord) -> str:
    """The outline as prompts show it: the title, then one numbered line per section."""
    lines = [f"Title: {outline['title']}"]
    lines += [
        f"{s['index']}. {s['heading']}: {s['purpose']}".rstrip(": ") for s in outline["sections"]
    ]
    return "\n".join(lines)


def brief_text(section: SectionBrief) -> str:
    """A section's brief as prompts show it: purpose, key points and length."""
    points = "\n".join(f"- {p}" for p in section["key_points"]) or "- (none given)"
    return (
        f"Purpose: {section['purpose'] or '(none given)'}\n"
        f"Key points:\n{points}\n"
        f"Length: about {section['words']} words"
    )


def neighbours_text(outline: OutlineRecord, index: int) -> str:
    """Short summaries of the sections just before and after section `index`."""
    sections = {s["index"]: s for s in outline["sections"]}
    lines = []
    for where, other in (("Before", index - 1), ("After", index + 1)):
        if other in sections:
            s = sections[other]
            points = "; ".join(s["key_points"])
            lines.append(f"{where} yours: {s['heading']} ({s['purpose']} {points})".strip())
    return "\n".join(lines) or "(it stands alone)"


def outline_markdown(outline: OutlineRecord) -> str:
    """The outline as a Markdown file would give it (`--outline`): the title, a heading per
    section, its purpose, its key points as bullets and its length."""
    parts = [f"# {outline['title']}"]
    for s in outline["sections"]:
        lines = [f"## {s['heading']}"]
        lines += [s["purpose"]] if s["purpose"] else []
        lines += [f"- {p}" for p in s["key_points"]]
        lines += [f"({s['words']} words)"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
