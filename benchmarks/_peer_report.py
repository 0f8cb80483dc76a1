"""Tables and target checks of `benchmarks/peers.py`, from its `Sample`s.

Every cell is "median (min)" over the repeats. A client whose runs failed shows its error
instead of numbers. The performance targets compare copydesk on its default settings with
the peers measured in the same run: N conversations at once within 1.1x the wall time of the
fastest peer, in no more CPU and within 1.2x the peak RSS of bare LangGraph; CPU per extra
chat call within 10 % of the lowest peer's; the budget row using >= 95 % of the server's chat
budget with <= 1 % 429s. A target whose inputs are missing is reported as SKIP.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

from benchmarks._peer_run import Sample

__all__ = ["PEERS", "budget_table", "concurrent_table", "single_table", "targets"]

COPYDESK = "copydesk"
PEERS = ("langgraph", "autogen", "autogen-stream", "crewai")
"""The other frameworks (not copydesk's variants); AutoGen both ways, whole replies (its
default) and streamed: the faster is the one to beat."""


def _ok(samples: Sequence[Sample], client: str, conversations: int, rounds: int) -> list[Sample]:
    return [
        s
        for s in samples
        if s.client == client
        and s.conversations == conversations
        and s.rounds == rounds
        and s.error is None
    ]


def _errors(samples: Sequence[Sample], client: str) -> list[str]:
    return sorted({s.error for s in samples if s.client == client and s.error})


def _cell(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))})"


def _median(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def marginal(samples: Sequence[Sample], client: str, low: int, high: int) -> list[float]:
    """CPU seconds per extra chat call from `low` to `high` rounds, one value per repeat."""
    lows, highs = _ok(samples, client, 1, low), _ok(samples, client, 1, high)
    return [
        (b.cpu - a.cpu) / (b.chat - a.chat)
        for a, b in zip(lows, highs, strict=False)
        if b.chat > a.chat
    ]


def single_table(samples: Sequence[Sample], clients: Sequence[str], rounds: Sequence[int]) -> str:
    """One conversation at each R: calls, CPU, CPU per call, wall, RSS; then marginal CPU."""
    lines = [
        "| client | R | chat calls | embedding calls | CPU s | CPU ms/chat call | wall s | "
        "peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for client in clients:
        errors = _errors(samples, client)
        for r in rounds:
            got = _ok(samples, client, 1, r)
            if not got:
                why = f"failed: {'; '.join(errors)[:200]}" if errors else "not measured"
                lines.append(f"| {client} | {r} | {why} ||||||")
                continue
            lines.append(
                f"| {client} | {r} | {_cell([s.chat for s in got], '{:.0f}')} | "
                f"{_cell([s.embeddings for s in got], '{:.0f}')} | {_cell([s.cpu for s in got])} | "
                f"{_cell([1000 * s.cpu_per_call for s in got], '{:.0f}')} | "
                f"{_cell([s.wall for s in got])} | {_cell([s.rss_mib for s in got], '{:.0f}')} |"
            )
    if len(rounds) >= 2:
        low, high = rounds[-2], rounds[-1]
        lines += [
            "",
            f"| client | marginal CPU ms per chat call, R{low} -> R{high} |",
            "|---|---:|",
        ]
        for client in clients:
            values = [1000 * v for v in marginal(samples, client, low, high)]
            lines.append(f"| {client} | {_cell(values, '{:.1f}')} |")
    return "\n".join(lines)


def concurrent_table(
    samples: Sequence[Sample], clients: Sequence[str], conversations: int, rounds: int
) -> str:
    """N conversations at once: calls, wall, CPU, CPU per call, RSS."""
    lines = [
        "| client | chat calls | embedding calls | wall s | CPU s | CPU ms/chat call | "
        "peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for client in clients:
        got = _ok(samples, client, conversations, rounds)
        if not got:
            lines.append(f"| {client} | failed: {'; '.join(_errors(samples, client))[:200]} |||||")
            continue
        lines.append(
            f"| {client} | {_cell([s.chat for s in got], '{:.0f}')} | "
            f"{_cell([s.embeddings for s in got], '{:.0f}')} | {_cell([s.wall for s in got])} | "
            f"{_cell([s.cpu for s in got])} | "
            f"{_cell([1000 * s.cpu_per_call for s in got], '{:.0f}')} | "
            f"{_cell([s.rss_mib for s in got], '{:.0f}')} |"
        )
    return "\n".join(lines)


def budget_used(sample: Sample, rps: float) -> float:
    """Share of the chat budget used from the first chat request to the last: answered
    requests after the first, over what `rps` allows in that span."""
    answered = sample.chat - sample.chat_429
    return (answered - 1) / (rps * sample.chat_span) if sample.chat_span > 0 else math.nan


def _share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def budget_table(samples: Sequence[Sample], chat_rps: float) -> str:
    """The rate-budget rows: budget used, 429 shares, wall."""
    lines = [
        "| run | chat requests | chat 429 % | embedding requests | embedding 429 % | "
        "chat budget used % | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in samples:
        if s.error is not None:
            lines.append(f"| {s.client} | failed: {s.error[:200]} ||||||")
            continue
        lines.append(
            f"| {s.client} {s.conversations}xR{s.rounds} | {s.chat} | "
            f"{100 * _share(s.chat_429, s.chat):.1f} | {s.embeddings} | "
            f"{100 * _share(s.embeddings_429, s.embeddings):.1f} | "
            f"{100 * budget_used(s, chat_rps):.1f} | {s.wall:.1f} |"
        )
    return "\n".join(lines)


def _check(name: str, ours: float, limit: float, detail: str) -> str:
    if math.isnan(ours) or math.isnan(limit):
        return f"SKIP {name}: not measured in this run"
    verdict = "PASS" if ours <= limit else "FAIL"
    return f"{verdict} {name}: {detail} (ratio {ours / limit:.2f} of the limit)"


def targets(
    samples: Sequence[Sample],
    *,
    conversations: int,
    concurrent_rounds: int,
    marginal_rounds: tuple[int, int],
    budget: Sequence[Sample],
    chat_rps: float,
) -> list[str]:
    """The performance targets, from the medians of this run."""

    def med(client: str, metric: Callable[[Sample], float]) -> float:
        return _median([metric(s) for s in _ok(samples, client, conversations, concurrent_rounds)])

    wall = {c: med(c, lambda s: s.wall) for c in (COPYDESK, *PEERS)}
    fastest = min((wall[p] for p in PEERS if not math.isnan(wall[p])), default=math.nan)
    cpu, cpu_lg = med(COPYDESK, lambda s: s.cpu), med("langgraph", lambda s: s.cpu)
    rss, rss_lg = med(COPYDESK, lambda s: s.rss_mib), med("langgraph", lambda s: s.rss_mib)
    low, high = marginal_rounds
    ours = _median(marginal(samples, COPYDESK, low, high))
    lowest = min(
        (v for p in PEERS if not math.isnan(v := _median(marginal(samples, p, low, high)))),
        default=math.nan,
    )
    n = f"{conversations}xR{concurrent_rounds}"
    to_beat = min((p for p in PEERS if not math.isnan(wall[p])), key=wall.get, default=None)
    lines = [
        _check(
            f"{n} wall <= 1.1x fastest peer",
            wall[COPYDESK],
            1.1 * fastest,
            f"{wall[COPYDESK]:.1f} s vs 1.1 x {fastest:.1f} s",
        ),
        _check(
            f"{n} CPU <= bare LangGraph",
            cpu,
            cpu_lg,
            f"{cpu:.1f} s vs {cpu_lg:.1f} s",
        ),
        _check(
            f"marginal CPU/call (R{low}->R{high}) <= lowest peer + 10 %",
            ours,
            1.1 * lowest,
            f"{1000 * ours:.1f} ms vs 1.1 x {1000 * lowest:.1f} ms",
        ),
        _check(
            f"{n} peak RSS <= 1.2x bare LangGraph",
            rss,
            1.2 * rss_lg,
            f"{rss:.0f} MiB vs 1.2 x {rss_lg:.0f} MiB",
        ),
    ]
    done = [s for s in budget if s.error is None]
    used = _median([budget_used(s, chat_rps) for s in done])
    chat_429 = max((_share(s.chat_429, s.chat) for s in done), default=math.nan)
    emb_429 = max((_share(s.embeddings_429, s.embeddings) for s in done), default=math.nan)
    if math.isnan(used):
        lines.append("SKIP chat budget used >= 95 %: not measured in this run")
    else:
        verdict = "PASS" if used >= 0.95 else "FAIL"
        lines.append(f"{verdict} chat budget used >= 95 %: {100 * used:.1f} % (median)")
    for name, share in (("chat", chat_429), ("embedding", emb_429)):
        if math.isnan(share):
            lines.append(f"SKIP {name} 429s <= 1 %: not measured in this run")
        else:
            verdict = "PASS" if share <= 0.01 else "FAIL"
            lines.append(f"{verdict} {name} 429s <= 1 %: {100 * share:.1f} % (worst run)")
    lines.append(
        f"peer to beat at {n}: {to_beat} ({wall[to_beat]:.1f} s)"
        if to_beat
        else f"peer to beat at {n}: none measured"
    )
    return lines
