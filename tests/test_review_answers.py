"""What a resume value means to a paused review: LangGraph Studio and the SDK resume with
whatever a person typed or clicked, the CLI and the pages with `{"action": ...}`."""

from __future__ import annotations

from typing import Any

import pytest

from copydesk.graphs.review import answer_of


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        (True, ("approve", "")),
        ("  Approve ", ("approve", "")),
        ({"action": "approve"}, ("approve", "")),
        ({"action": "feedback", "text": " Shorter. "}, ("revise", "Shorter.")),
        ({"feedback": "Name one city."}, ("revise", "Name one city.")),
        ("Cut the last paragraph", ("revise", "Cut the last paragraph")),
        (None, ("revise", "")),
        (False, ("revise", "")),
    ],
)
def test_a_resume_value_is_approval_or_feedback(value: Any, meant: tuple[str, str]) -> None:
    assert answer_of(value) == meant
