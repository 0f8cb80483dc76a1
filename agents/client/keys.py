"""The API key on every request: asked for when the request goes out, never held for a run.

`KeyAuth` is an `httpx.Auth` set on the client's shared connection pool, so every request
the client subsystem makes (chat, embeddings, the embeddings probe) carries the key the
`ConfigManager` hands out at that moment: a rotated `OPENAI_API_KEY_FILE` is picked up on the
next request, without a restart, and each request leaves one line in `COPYDESK_HOME/audit.log`
(the key's fingerprint, never the key). The manager's work (a `stat`, the audit append, a
re-read after a rotation) runs in a worker thread, off the event loop, as the transcript's
writes do. With a fixed key (a library caller, tests) nothing is re-read or audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator

import httpx
from pydantic import SecretStr

from copydesk.agents.config import ConfigManager
from copydesk.agents.errors import fingerprint

__all__ = ["KeyAuth"]

NO_KEY = "not-needed"
"""Sent when there is no key (local servers ignore it; some reject a missing header)."""


class KeyAuth(httpx.Auth):
    """Bearer authentication with the key of this moment.

    Args:
        key: A fixed key, used when there is no `config` (or it has no key).
        config: Where the key comes from on each request (re-read when rotated, audited).
        name: The secret's setting name.
    """

    def __init__(
        self,
        key: SecretStr | None = None,
        *,
        config: ConfigManager | None = None,
        name: str = "openai_api_key",
    ) -> None:
        self._fixed = key
        self._config = config
        self._name = name
        self.current: SecretStr | None = key
        """The key the latest request carried (its fingerprint names it in errors)."""

    @property
    def key_name(self) -> str:
        """The fingerprint of the key the latest request carried (`(none)` without one)."""
        key = self.current or self._fixed
        return fingerprint(key.get_secret_value()) if key else "(none)"

    def scrub(self, text: str) -> str:
        """`text` with the key (the one given, and the latest sent) replaced by its
        fingerprint."""
        for key in {self._fixed, self.current}:
            secret = key.get_secret_value() if key is not None else ""
            if secret:
                text = text.replace(secret, fingerprint(secret))
        return text

    def _key(self, use: str) -> SecretStr | None:
        if self._config is not None:
            key = self._config.secret(self._name, use=use)
            if key is not None:
                self.current = key
                return key
        return self._fixed

    def _sign(self, request: httpx.Request, key: SecretStr | None) -> httpx.Request:
        secret = key.get_secret_value() if key is not None else NO_KEY
        request.headers["Authorization"] = f"Bearer {secret or NO_KEY}"
        return request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign a request of a synchronous client (the embeddings probe)."""
        yield self._sign(request, self._key(_use(request)))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Sign a request of the shared async pool; the key lookup and its audit line are
        written in a worker thread."""
        if self._config is None:
            key = self._fixed
        else:
            key = await asyncio.to_thread(self._key, _use(request))
        yield self._sign(request, key)


def _use(request: httpx.Request) -> str:
    """What the key is used for, for the audit line: `POST /v1/chat/completions`."""
    return f"{request.method} {request.url.path}"
