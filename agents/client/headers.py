"""The `x-ratelimit-*` headers of a response, as numbers."""

from __future__ import annotations

__all__ = ["header_int", "parse_reset"]


def parse_reset(text: str) -> float | None:
    """Seconds in an `x-ratelimit-reset-*` header (`1s`, `6m0s`, `120ms`, `0.5`)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number, index = "", index + len(unit)
    return total if not number else None


def header_int(value: str | None) -> int | None:
    """A count header's value (`"1000"`, `"1000.0"`); None when absent or not a number."""
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None
