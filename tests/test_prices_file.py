"""`COPYDESK_PRICES`: a TOML file of USD per million tokens that adds or replaces models'
prices (costs follow it, a model matched by its longest known prefix), or, when its prices
are not numbers, stops the command with one line saying the expected shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from copydesk.graphs.cli.app import build
from tests.fakes import FakeOpenAIServer
from tests.fakes.writing import EditorialResponder

PRICES = """
[models."gpt-4o-mini"]
input = 1000.0
output = 3000.0
"""


@pytest.fixture
def app() -> Iterator[Any]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield build()
    root.handlers, root.level = handlers, level


def _env(home: Path, server: FakeOpenAIServer, prices: Path) -> dict[str, str]:
    return {
        "COPYDESK_HOME": str(home),
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "COPYDESK_PRICES": str(prices),
    }


def test_costs_follow_the_prices_file(
    app: Any, home: Path, tmp_path: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("approve",))
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")

    done = CliRunner().invoke(
        app, ["run", "turn_taking", "-t", "Kelp", "--json"], env=_env(home, fake_server, prices)
    )

    assert done.exit_code == 0, done.output
    total = json.loads(done.stdout)["usage"]["total"]
    expected = (total["prompt_tokens"] * 1000.0 + total["completion_tokens"] * 3000.0) / 1e6
    assert total["cost_usd"] == pytest.approx(expected, rel=1e-6)


def test_prices_that_are_not_numbers_are_one_line(
    app: Any, home: Path, tmp_path: Path, fake_server: FakeOpenAIServer
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."gpt-4o-mini"]\ninput = "cheap"\noutput = 1\n', encoding="utf-8")

    done = CliRunner().invoke(
        app, ["run", "turn_taking", "-t", "Kelp"], env=_env(home, fake_server, prices)
    )

    assert done.exit_code == 2
    assert done.stderr.strip() == (
        f'copydesk: error: COPYDESK_PRICES: {prices} needs [models."NAME"] tables with numeric '
        "input and output (USD per million tokens)"
    )
    assert fake_server.chat_requests() == []
