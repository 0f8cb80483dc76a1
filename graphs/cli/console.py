"""How a conversation looks in the terminal: speaker headers, live tokens, verdicts, result."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from copydesk.graphs.events import Event, Restart, RunResult, Token, Turn, TurnStarted

__all__ = ["LiveView", "RedactingFilter", "configure_logging"]

_ICONS = {"approve": "[green]✔ approve[/]", "revise": "[yellow]✎ revise[/]"}


@dataclass
class LiveView:
    """Prints a stream of events as they arrive."""

    console: Console
    _round: int = 0
    _open_line: bool = field(default=False)

    def __post_init__(self) -> None:
        global _LIVE
        _LIVE = self  # log lines end a half-printed line of tokens first (`_LineEndingHandler`)

    def show(self, event: Event) -> None:
        """Print one event."""
        if isinstance(event, TurnStarted):
            self._end_line()
            label = (
                f"round {self._round + 1}" if event.agent == "writer" else f"round {self._round}"
            )
            self.console.rule(f"[bold]{escape(event.agent)}[/] · {label}", align="left")
        elif isinstance(event, Token) and not event.structured:
            self.console.out(event.text, end="", highlight=False)
            self._open_line = not event.text.endswith("\n")
        elif isinstance(event, Restart):
            self._end_line()
            self.console.print(
                f"[yellow]↻ {escape(event.agent)}'s reply broke off ({escape(event.reason)}); "
                "starting it over[/]"
            )
        elif isinstance(event, Turn):
            self._end_line()
            self._round = int(event.update.get("round", self._round))
            for verdict in event.update.get("verdicts") or []:
                self._verdict(verdict)
            if "sections" in event.update or "findings" in event.update:
                # A long document's steps stream no tokens of their own: say what they did.
                for message in event.update.get("messages") or []:
                    self.console.print(escape(message.text))

    def _end_line(self) -> None:
        if self._open_line:
            self.console.out("")
            self._open_line = False

    def _verdict(self, verdict: dict[str, Any]) -> None:
        icon = _ICONS.get(verdict["decision"], verdict["decision"])
        self.console.print(f"{icon} — {escape(verdict['summary'])}")
        for issue in verdict["issues"]:
            self.console.print(
                f"  • \\[{issue['severity']}] “{escape(issue['quote'])}” — "
                f"{escape(issue['comment'])}"
            )

    def _notes(self, result: RunResult) -> None:
        """A long document's style sheet and fact ledger, one entry a line."""
        if result.style_sheet:
            self.console.rule("[bold]style sheet[/]", align="left")
            for r in result.style_sheet:
                self.console.print(escape(f"{r['kind']}: {r['rule']} (section {r['section']})"))
        if result.fact_ledger:
            self.console.rule("[bold]fact ledger[/]", align="left")
            for f in result.fact_ledger:
                cited = f" [{f['source']}]" if f["source"] else ""
                line = f"section {f['section']}: {f['claim']} ({f['kind']}: {f['value']}){cited}"
                self.console.print(escape(line))

    def finish(self, result: RunResult) -> None:
        """Print the final draft and how the run ended."""
        self._end_line()
        self.console.rule("[bold]final draft[/]", align="left")
        self.console.out(result.final_draft, highlight=False)
        asked = result.review if isinstance(result.review, dict) else {}
        if asked.get("stage") and asked.get("draft") != result.final_draft:
            self.console.rule(f"[bold]for review: {escape(_reviewed(asked))}[/]", align="left")
            self.console.out(str(asked.get("draft", "")), highlight=False)
        self._notes(result)
        self.console.rule()
        usage = result.usage.get("total", {})
        self.console.print(
            f"status: [bold]{result.status}[/]"
            + (
                f" ({result.ended_by})"
                if result.status == "interrupted" and result.ended_by
                else ""
            )
            + f" · rounds: {result.rounds} · "
            f"tokens: {usage.get('prompt_tokens', 0)} in / {usage.get('completion_tokens', 0)} out"
            f"{' (estimated)' if usage.get('estimated_calls') else ''}"
            f" · thread: {result.thread_id}"
        )
        if result.status == "out_of_rounds" and result.verdict:
            open_issues = len(result.verdict.get("issues", []))
            self.console.print(f"the editor did not approve: {open_issues} issue(s) still open")
        if result.status == "over_budget":
            flag = "--max-cost" if result.ended_by == "cost_budget" else "--token-budget"
            self.console.print(
                f"the thread spent its budget (${usage.get('cost_usd', 0):.4f}); continue it "
                f"with a larger one: copydesk run {result.graph} --thread-id {result.thread_id} "
                f"{flag} ..."
            )
        if result.status == "interrupted":
            why = {"timeout": "the run took its --timeout; ", "stopped": "the run was stopped; "}
            self.console.print(
                f"{why.get(result.ended_by, '')}continue with: copydesk resume {result.thread_id}"
            )
        if asked.get("stage"):  # a long document's pause: say what waits and how to answer
            waiting = asked.get("waiting") or []
            if len(waiting) > 1:
                listed = ", ".join(map(str, waiting))
                self.console.print(f"sections waiting for review: {listed}")
            section = f" --section {asked['section']['index']}" if "section" in asked else ""
            self.console.print(
                f"answer with: copydesk resume {result.thread_id}{section} --approve, or "
                f'--feedback "what to change"'
            )


def _reviewed(asked: dict[str, Any]) -> str:
    """What a long document's pause shows: `outline`, `section 2 (Cranes)`, `document`."""
    if "section" in asked:
        return f"section {asked['section']['index']} ({asked['section']['heading']})"
    return "document" if asked.get("stage") == "final" else str(asked.get("stage"))


class RedactingFilter(logging.Filter):
    """Replaces secret values in log records with a placeholder, whatever logged them."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "[REDACTED]")
            record.msg, record.args = message, None
        return True


_LIVE: LiveView | None = None
"""The live view printing tokens in this process, if any."""


class _LineEndingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that first ends the live view's half-printed line of tokens, so a
    warning never lands inside the streamed text."""

    def emit(self, record: logging.LogRecord) -> None:
        if _LIVE is not None:
            _LIVE._end_line()
        super().emit(record)


def configure_logging(level: str, secrets: list[str]) -> None:
    """Send copydesk's logs (and, at DEBUG, its libraries') to stderr, with secrets redacted."""
    handler = _LineEndingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    logging.getLogger("copydesk").setLevel(level)
