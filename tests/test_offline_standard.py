"""LangChain's standard chat-model tests (`langchain-tests`) against the offline model.

The offline model is a real LangChain chat model, so any LangChain code can use it: these are
the tests every LangChain integration runs (invoke, stream, batch, usage, stop sequences,
tool calling, structured output, ...), in their unit and integration suites, with no network.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from copydesk.agents.client.offline import OfflineChatModel


class _Offline:
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return OfflineChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "copydesk-offline"}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "copydesk-offline-b"


class TestOfflineUnit(_Offline, ChatModelUnitTests):
    """The standard unit tests (construction, binding, serialisation, parameters)."""


class TestOfflineIntegration(_Offline, ChatModelIntegrationTests):
    """The standard integration tests, the offline model playing the remote one."""
