"""The review pages' guard: a token for non-loopback use, CSRF checks on every POST, and
headers that keep model output inert.

- **Token.** With a token (`COPYDESK_SERVE_TOKEN`), every request must carry it: as
  `Authorization: Bearer TOKEN`, as the `copydesk_token` cookie, or once as `?token=TOKEN`,
  which sets that cookie (HttpOnly, SameSite=Strict) and redirects to the same URL without it
  (so it stays out of the history and of `Referer`). Anything else is a 401 page. Without a
  token the pages answer only to a loopback `Host` (127.0.0.1, localhost, [::1]), which also
  stops a DNS-rebinding page from reading them.
- **Cross-site requests.** A POST must come from this origin (`Sec-Fetch-Site` and `Origin`,
  when the browser sends them) and carry the form field `csrf` equal to the `copydesk_csrf`
  cookie (double submit; the cookie is SameSite=Strict), else 403.
- **Markup.** Pages are rendered with autoescaping, and a Content-Security-Policy allows only
  this origin's own script and style: model output is text, and even a tag that slipped
  through could not run inline script or event handlers.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "CSRF_COOKIE",
    "SECURITY_HEADERS",
    "TOKEN_COOKIE",
    "Guard",
    "csrf_ok",
    "csrf_token",
    "is_loopback",
]

TOKEN_COOKIE = "copydesk_token"
CSRF_COOKIE = "copydesk_csrf"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def is_loopback(host: str) -> bool:
    """True for a name or address of this machine only (`127.x`, `::1`, `localhost`)."""
    host = host.strip().lower()
    return host in LOOPBACK_NAMES or host.startswith("127.")


def _host_name(header: str) -> str:
    """`127.0.0.1:8321` -> `127.0.0.1`, `[::1]:80` -> `[::1]`."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware: the token or loopback check, then the security headers.

    Args:
        app: The application to guard.
        token: The token every request must carry; None to serve loopback requests only.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])  # type: ignore[call-overload]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)  # type: ignore[arg-type]

    def _refusal(self, request: Request) -> Response | None:
        if self.token is None:
            if not is_loopback(_host_name(request.headers.get("host", ""))):
                return PlainTextResponse(
                    "403: this copydesk serves localhost only; start it with "
                    "COPYDESK_SERVE_TOKEN set to serve other hosts\n",
                    status_code=403,
                )
            return None
        given = request.query_params.get("token")
        if given is not None and _same(given, self.token):
            return _strip_token(request.url, self.token)
        bearer = request.headers.get("authorization", "")
        cookie = request.cookies.get(TOKEN_COOKIE, "")
        if _same(bearer.removeprefix("Bearer ").strip(), self.token) or _same(cookie, self.token):
            return None
        return PlainTextResponse(
            "401: this copydesk needs its token: open the page as /desk/?token=TOKEN "
            "(COPYDESK_SERVE_TOKEN) or send Authorization: Bearer TOKEN\n",
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="copydesk"'},
        )


def _same(given: str, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def _strip_token(url: URL, token: str) -> Response:
    target = url.remove_query_params("token")
    response = RedirectResponse(target.path + (f"?{target.query}" if target.query else ""), 303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


def csrf_token(request: Request) -> tuple[str, bool]:
    """The CSRF token of this browser, and whether the cookie must be set (first visit)."""
    known = request.cookies.get(CSRF_COOKIE, "")
    if len(known) >= 32:
        return known, False
    return secrets.token_urlsafe(32), True


def csrf_ok(request: Request, form_value: str) -> bool:
    """True for a same-origin POST whose form `csrf` matches the cookie."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return len(cookie) >= 32 and hmac.compare_digest(cookie.encode(), form_value.encode())
