"""When a replayed request is the recorded one: normalised matching, and the first difference.

A request matches a recorded one when both come from the same site (agent, round, eval lane;
`sites.py`) and their JSON bodies agree once normalised: the model, the messages and every
parameter count; timestamps, UUIDs (request ids) and the `user` and `metadata` fields do not.
Embeddings requests match on their body alone (the store may batch them across turns). The
normal form of a recorded request is computed once and kept on it, so matching one call
against a long cassette parses one body, not all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from copydesk.agents.client.sites import Site, current

__all__ = ["SITE_HEADER", "explain", "first_difference", "normal", "same_call", "stamp_site"]

SITE_HEADER = "x-copydesk-site"
"""Where a recorded request keeps its site (never sent: only the cassette's copy has it)."""

_IGNORED = frozenset({"user", "metadata"})
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")
_FIRST = ("model", "messages", "input")


def stamp_site(request: Any) -> None:
    """Keep the current call's site on `request` (a recorded one keeps the site it had)."""
    if SITE_HEADER not in request.headers:
        site = current()
        request.headers[SITE_HEADER] = json.dumps([site.lane, site.agent, site.round])


def site_of(request: Any) -> Site:
    """The site a request was stamped with."""
    try:
        lane, agent, round_ = json.loads(request.headers.get(SITE_HEADER) or "[]")
    except ValueError:
        return Site()
    return Site(str(lane), str(agent), round_ if isinstance(round_, int) else None)


def normal(request: Any) -> Any:
    """The body that matching compares (kept on the request after the first time)."""
    known = getattr(request, "_copydesk_normal", None)
    if known is None:
        body = request.body
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = body
        known = _normalised(parsed)
        request._copydesk_normal = known
    return known


def _normalised(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _normalised(v) for k, v in value.items() if k not in _IGNORED}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, str):
        return _UUID.sub("<id>", _TIME.sub("<time>", value))
    return value


def _is_embeddings(request: Any) -> bool:
    return str(request.path).rstrip("/").endswith("/embeddings")


def same_call(r1: Any, r2: Any) -> bool:
    """vcrpy's matcher: the same site (chat) and the same normalised body."""
    if not _is_embeddings(r1) and site_of(r1) != site_of(r2):
        return False
    return bool(normal(r1) == normal(r2))


def first_difference(sent: Any, recorded: Any, path: str = "") -> str | None:
    """The first field where `sent` and `recorded` differ (`messages[2].content`), or None."""
    if type(sent) is not type(recorded):
        return path or "body"
    if isinstance(sent, dict):
        keys = sorted(set(sent) | set(recorded), key=lambda k: (k not in _FIRST, _rank(k), k))
        for key in keys:
            where = f"{path}.{key}" if path else key
            if key not in sent or key not in recorded:
                return where
            found = first_difference(sent[key], recorded[key], where)
            if found is not None:
                return found
        return None
    if isinstance(sent, list):
        for n, (a, b) in enumerate(zip(sent, recorded, strict=False)):
            found = first_difference(a, b, f"{path}[{n}]")
            if found is not None:
                return found
        if len(sent) != len(recorded):
            return f"{path or 'body'} ({len(sent)} items sent, {len(recorded)} recorded)"
        return None
    return None if sent == recorded else (path or "body")


def _rank(key: str) -> int:
    return _FIRST.index(key) if key in _FIRST else len(_FIRST)


def explain(wanted: Any, data: Sequence[tuple[Any, Any]], played: Mapping[int, int]) -> str:
    """The line a replay ends with when `wanted` matches no recorded request."""
    site = site_of(wanted)
    what = site.described("embeddings request" if _is_embeddings(wanted) else "call")
    fix = (
        "the thread is saved; record again with --record, or add what is new with --record-missing"
    )
    unplayed = [
        request
        for n, (request, _) in enumerate(data)
        if not played.get(n) and request.path == wanted.path and request.method == wanted.method
    ]
    same_site = [r for r in unplayed if _is_embeddings(wanted) or site_of(r) == site]
    if not same_site:
        already = any(site_of(r) == site for r, _ in data)
        reason = "every one recorded there was already played" if already else "none was recorded"
        return f"replay: {what} is not in the cassette ({reason}); {fix}"
    field = first_difference(normal(wanted), normal(same_site[0])) or "body"
    return f"replay: {what} differs from the cassette at {field}; {fix}"


def without_query_keys(uri: str, keys: Iterable[str]) -> str:
    """`uri` without the query parameters named `keys` (an Azure `api-key`, say)."""
    parts = urlsplit(uri)
    dropped = set(keys)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in dropped]
    return urlunsplit(parts._replace(query=urlencode(query)))
