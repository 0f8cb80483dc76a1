"""What model calls cost: a price table per model, overridable from a TOML file.

`COPYDESK_PRICES` names a TOML file of USD per million tokens::

    [models."gpt-4o"]
    input = 2.50
    output = 10.00

A model not in the table costs 0 (and is named once in the log). Dated snapshots such as
`gpt-4o-2024-08-06` take the price of the longest known name they start with.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from copydesk.agents.errors import ConfigError

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable"]

log = logging.getLogger("copydesk.usage")


_UNPRICED: set[str] = set()
"""Models already reported as having no price in this process."""


@dataclass(frozen=True)
class Price:
    """USD per million prompt (input) and completion (output) tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one call."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o4-mini": Price(1.10, 4.40),
    "copydesk-offline": Price(0.0, 0.0),
}
"""List prices (USD per 1M tokens) when this table was written; override with a file."""


@dataclass
class PriceTable:
    """Prices per model."""

    prices: dict[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    _unknown: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """The default table, with the models in the TOML file at `path` added or replaced.

        Raises:
            ConfigError: The file cannot be read or a price is not a number.
        """
        table = cls()
        if path is None:
            return table
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            for model, price in data.get("models", {}).items():
                table.prices[model] = Price(float(price["input"]), float(price["output"]))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"COPYDESK_PRICES: cannot read {path}: {error}; fix it") from None
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ConfigError(
                f'COPYDESK_PRICES: {path} needs [models."NAME"] tables with numeric input '
                "and output (USD per million tokens)"
            ) from None
        return table

    def price(self, model: str) -> Price | None:
        """The price of `model`, or of the longest known name it starts with."""
        if model in self.prices:
            return self.prices[model]
        known = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(known, key=len)] if known else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one call of `model` (0 for a model with no price)."""
        price = self.price(model)
        if price is None:
            if model not in self._unknown and model not in _UNPRICED:
                self._unknown.add(model)
                _UNPRICED.add(model)  # said once per process, however many tables exist
                log.warning("no price for model %s; its calls count as $0", model)
            return 0.0
        return price.cost(prompt_tokens, completion_tokens)
