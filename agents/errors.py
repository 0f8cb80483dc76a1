"""Errors of the agents and their model client (the whole tree: `copydesk.errors`).

Each message is one line naming the problem and the fix. `CopydeskError`, the base of them all,
is re-exported here for the `copydesk.agents` surface.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from copydesk.agents.client.budget import Allowance
    from copydesk.agents.state import UsageTotals

from copydesk.errors import CopydeskError

__all__ = [
    "BudgetSpentError",
    "CassetteError",
    "ConfigError",
    "CopydeskError",
    "LocalModelError",
    "ModelAuthError",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelUnavailableError",
    "ReplayMismatchError",
    "fingerprint",
]


def fingerprint(secret: str) -> str:
    """A short, non-reversible name for a secret: `key#` plus 8 hex digits of its SHA-256.

    No character of the secret itself appears, so a fingerprint is safe to print and log.
    """
    return "key#" + hashlib.sha256(secret.encode()).hexdigest()[:8]


class ConfigError(CopydeskError):
    """A setting has an invalid value, or a config file cannot be read."""

    exit_code = 2


class ModelError(CopydeskError):
    """A model call failed for good (after any retries)."""


class ModelAuthError(ModelError):
    """The API rejected the key. The key is named only by its fingerprint."""


class ModelUnavailableError(ModelError):
    """The API could not be reached or kept failing; the thread can be resumed later."""


class ModelRequestError(ModelError):
    """The API refused the request itself (unknown model, bad parameter)."""


class ModelOutputError(ModelError):
    """The model's reply did not match the required structure, even after repair attempts."""


class LocalModelError(CopydeskError):
    """The local model (llama.cpp's server with Gemma 3 270M) could not be set up or started."""


class CassetteError(CopydeskError):
    """A cassette (`--record`, `--replay`) is not one, cannot be read or written, or was
    recorded for another topology."""

    exit_code = 2


class ReplayMismatchError(CassetteError):
    """A replayed run sent a request the cassette did not record; names the agent, the round
    and the first field that differs. The thread is saved."""


class BudgetSpentError(CopydeskError):
    """A thread's token or cost budget has no room for the next call: it was not sent (or its
    reply was cut where the budget ran out). A node that meets it ends the run `over_budget`.

    Attributes:
        ending: `token_budget` or `cost_budget`: which budget ran out.
        usage: What the call that met it used before it did (None when nothing was sent).
    """

    def __init__(self, message: str, ending: str, usage: UsageTotals | None = None) -> None:
        super().__init__(message)
        self.ending = ending
        self.usage = usage

    @classmethod
    def of(
        cls, allowance: Allowance, ending: str, usage: UsageTotals | None = None
    ) -> BudgetSpentError:
        """The error of `allowance`'s thread running out of its `ending` budget."""
        if ending == "cost_budget":
            what = f"its ${allowance.cost:g} budget (--max-cost)"
        else:
            what = f"its {allowance.tokens} token budget (--token-budget)"
        return cls(
            f"thread {allowance.thread!r} has spent {what}; the run ends over_budget, "
            "continue it with a larger budget",
            ending,
            usage,
        )
