"""The token counter as LangChain's `trim_messages` calls it, and `encoding_loaded`: whether
counting for a model will read no file any more."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, trim_messages

from copydesk.memory.tokens import encoding_loaded, token_counter


def test_trim_messages_counts_with_it() -> None:
    counter = token_counter("gpt-4o-mini")
    history = [HumanMessage("Write about tides. " * 20), AIMessage("Tides rise and fall."),
               HumanMessage("Shorter, please.")]  # fmt: skip
    last_two = counter(history[1:])

    kept = trim_messages(history, max_tokens=last_two, token_counter=counter, strategy="last")

    assert kept == history[1:]
    assert counter(history) == counter.messages(history) > last_two


def test_an_encoding_is_loaded_once_counted_with() -> None:
    token_counter("gpt-4o").text("warm the encoding")

    assert encoding_loaded("gpt-4o")
    assert encoding_loaded("some-model-tiktoken-does-not-know")  # counted as o200k_base
