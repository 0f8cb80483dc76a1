"""The deterministic scores of a thread and the statistics that compare variants: regression
found exactly where it was planted, readability, length, repetition, citations, approved text
removed; bootstrap intervals, the sign test and when a winner is named."""

from __future__ import annotations

import pytest

from copydesk.graphs.reports.eval_scores import readability, regression, score_thread
from copydesk.graphs.reports.eval_stats import bootstrap_ci, compare, sign_test
from copydesk.memory.sources import source_record

PARAGRAPHS = [
    "Tide pools hold water when the sea goes out twice a day.",
    "Anemones close their arms to keep moisture during low tide.",
    "Crabs hide under rocks from gulls and from the afternoon sun.",
    "Visitors should step only on bare rock and never lift stones.",
]
REWRITE = "Zebra giraffe ostrich lemur quokka wombat platypus."


def draft(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def revise(paragraphs: list[str], fixed: int, rewritten: int) -> list[str]:
    """What a scripted writer does: fixes the paragraph the editor quoted, and rewrites one
    nobody asked about."""
    out = list(paragraphs)
    out[fixed] = "Plainly: " + " ".join(out[fixed].split()[3:])  # its first three words go
    out[rewritten] = REWRITE
    return out


def test_a_rewritten_untouched_paragraph_is_the_regression_exactly() -> None:
    before = draft(PARAGRAPHS)
    after = draft(revise(PARAGRAPHS, fixed=0, rewritten=2))
    issue = {"quote": "Tide pools hold", "comment": "say it plainly"}

    changed, total = regression(before, after, [issue])

    assert (changed, total) == (len(PARAGRAPHS[2].split()), len(before.split()))
    assert regression(before, after, [issue, {"quote": "Crabs hide under rocks"}])[0] == 0


def test_a_comment_that_names_a_paragraph_asks_for_its_change() -> None:
    before, after = draft(PARAGRAPHS), draft(revise(PARAGRAPHS, fixed=0, rewritten=2))
    asked = {"quote": "", "comment": "The crabs and the gulls: say where they hide."}

    assert regression(before, after, [asked])[0] == 3  # the first paragraph's three words


def test_a_thread_over_three_rounds() -> None:
    second = revise(PARAGRAPHS, fixed=0, rewritten=2)
    third = revise(second, fixed=1, rewritten=3)
    revisions = [
        {"round": r, "author": "writer", "text": draft(t)}
        for r, t in ((1, PARAGRAPHS), (2, second), (3, third))
    ]
    verdicts = [
        {
            "round": 1,
            "decision": "revise",
            "issues": [{"quote": "Tide pools hold", "comment": "x"}],
        },
        {
            "round": 2,
            "decision": "approve",
            "issues": [{"quote": "Anemones close their", "comment": "y"}],
        },
    ]
    values = {"revisions": revisions, "verdicts": verdicts, "draft": draft(third)}

    scores = score_thread(values, words=40)

    planted = len(PARAGRAPHS[2].split()) + len(PARAGRAPHS[3].split())
    words = len(draft(PARAGRAPHS).split()) + len(draft(second).split())
    assert scores.regression_rate == round(planted / words, 4)
    assert scores.issues_addressed == 1.0  # both quotes changed in the next draft
    assert scores.approved_removed == 0.5  # the approved draft lost 2 of its 4 sentences
    assert scores.length_error == round(abs(len(draft(third).split()) - 40) / 40, 4)
    assert set(scores.by_round) == {1, 2, 3}
    assert score_thread({"revisions": revisions[:1]}).regression_rate is None


def test_readability_repetition_and_citations() -> None:
    easy, _ = readability("The cat sat. The dog ran. We had fun.")
    hard, grade = readability(
        "Notwithstanding considerable institutional heterogeneity, comparative "
        "constitutional jurisprudence demonstrates remarkable convergence."
    )
    assert easy > 90 > 0 > hard and grade > 18
    assert readability("") == (0.0, 0.0)

    sources = [source_record(1, "tides.md", "Tide pools fill twice a day as the sea retreats.")]
    text = "Tide pools fill twice a day [1]. Whales sing at dawn [1]. Moons are cheese [2]."
    scores = score_thread({"draft": text + " the sea the sea the sea"}, sources=sources)
    assert scores.citation_validity == round(1 / 3, 4)
    assert scores.repeated_ngrams > 0
    assert score_thread({"draft": "No citations here."}, sources=sources).citation_validity is None
    assert score_thread({"draft": "x"}).citation_validity is None


def test_bootstrap_and_sign_test_are_fixed_numbers() -> None:
    values = [0.1, 0.4, 0.35, 0.8, 0.2, 0.5]
    first, again = bootstrap_ci(values), bootstrap_ci(values)

    assert first == again  # seeded: the same scores, the same interval
    assert first.ci is not None and first.ci[0] < first.mean < first.ci[1]  # type: ignore[operator]
    assert bootstrap_ci([]).mean is None and bootstrap_ci([2.0]).ci == (2.0, 2.0)
    assert sign_test([1.0] * 10) == pytest.approx(2 / 1024)
    assert sign_test([1, -1, 1, -1]) == 1.0 and sign_test([0, 0]) == 1.0


def test_a_winner_only_when_the_interval_excludes_zero() -> None:
    base = {(c, 1): 0.5 + c / 100 for c in range(8)}
    better = {k: v + 0.2 + (k[0] % 3) / 100 for k, v in base.items()}
    mixed = {k: v + (0.1 if k[0] % 2 else -0.1) for k, v in base.items()}

    assert compare("judge", {"a": base, "b": better})[0] == "b"
    assert compare("regression_rate", {"a": base, "b": better})[0] == "a"  # lower wins
    assert compare("judge", {"a": base, "b": mixed})[0] is None
    winner, pairs = compare("judge", {"a": base, "b": better, "c": mixed})
    assert winner == "b" and len(pairs) == 3
    assert pairs[0].as_json()["pairs"] == 8


def test_too_few_pairs_name_no_winner() -> None:
    base = {(c, 1): 0.5 for c in range(4)}
    better = {k: v + 0.3 + k[0] / 100 for k, v in base.items()}

    winner, pairs = compare("judge", {"a": base, "b": better})

    assert pairs[0].difference.ci is not None and pairs[0].difference.ci[0] > 0
    assert winner is None  # four pairs: the interval excludes zero, but on too little
