"""Record and replay every model exchange, on vcrpy.

`Cassette.recording(path, mode)` patches httpx's transports through vcrpy for its block, so
every chat and embeddings request of the client's pools (streamed or whole) is written in
order (`record`), served from the file with no server (`replay`), or served where recorded and
written where new (`missing`). The file is vcrpy's JSON cassette with copydesk's header beside
its interactions: the topology, model, endpoint and thread it was recorded for.

What is written is scrubbed: no `Authorization`, `api-key` or cookie header, no key in a query
string or body. Matching is normalised (`matching.py`): the site of the call (agent, round,
eval lane), the model, the messages and the parameters must match; timestamps, request ids
and keys do not count. A replayed request that matches nothing recorded is one
`ReplayMismatchError` line naming the agent, the round and the first field that differs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from copydesk.agents.client import matching
from copydesk.agents.client.embedding_replay import EmbeddingBook, is_embeddings
from copydesk.agents.errors import CassetteError, ReplayMismatchError

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = ["FORMAT", "CassetteHeader", "Mode", "read_header", "recording", "replayed"]

Mode = Literal["record", "replay", "missing"]
FORMAT = "copydesk-cassette/1"
"""The header's `format`: what makes a JSON file a copydesk cassette."""

_VCR_MODES = {"record": "all", "replay": "none", "missing": "new_episodes"}
_SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "cookie", "openai-organization", "openai-project"}
)
_SECRET_RESPONSE_HEADERS = frozenset({"set-cookie", "openai-organization", "openai-project"})
_SECRET_QUERY = ("api-key", "api_key", "key")


@dataclass(frozen=True)
class CassetteHeader:
    """What a cassette was recorded for (kept beside its interactions)."""

    graph: str = ""
    """The topology of the run, e.g. `turn_taking`; empty when not known (resume)."""
    model: str = ""
    base_url: str | None = None
    thread: str = ""
    """The run's thread: a replay without `--thread-id` continues under the same name."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Anything else the recorder wants kept (an eval's suite name)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "graph": self.graph,
            "model": self.model,
            "base_url": self.base_url,
            "thread": self.thread,
            "extra": dict(self.extra),
        }


def read_header(path: Path, *, graph: str | None = None) -> CassetteHeader:
    """The header of the cassette at `path`, checked before any work.

    Raises:
        CassetteError: The file is missing, is not a copydesk cassette, or was recorded for
            another topology than `graph`.
    """
    head: dict[str, Any] = _read(path)["copydesk"]
    recorded = str(head.get("graph") or "")
    if graph is not None and recorded and recorded != graph:
        raise CassetteError(
            f"cassette {path} was recorded for the topology {recorded}, not {graph}; replay it "
            f"with `{recorded}`, or record this one with --record"
        )
    base_url = head.get("base_url")
    return CassetteHeader(
        graph=recorded,
        model=str(head.get("model") or ""),
        base_url=str(base_url) if base_url else None,
        thread=str(head.get("thread") or ""),
        extra=dict(head.get("extra") or {}),
    )


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CassetteError(f"cassette {path} does not exist; record it first with --record")
    try:
        data: Any = json.loads(path.read_bytes())
    except (ValueError, OSError) as error:
        reason = " ".join(str(error).split())[:80]
        raise CassetteError(
            f"{path} is not a cassette ({reason}); record one with --record"
        ) from None
    head = data.get("copydesk") if isinstance(data, dict) else None
    if (
        not isinstance(head, dict)
        or head.get("format") != FORMAT
        or not isinstance(data.get("interactions"), list)
    ):
        raise CassetteError(
            f"{path} is not a copydesk cassette (no {FORMAT} header or no interactions); "
            "record one with --record"
        )
    return dict(data)


class _File:
    """vcrpy's persister for one cassette file: the header, then vcrpy's own JSON."""

    def __init__(self, header: CassetteHeader, fresh: bool) -> None:
        self.header = header
        self.fresh = fresh

    def describe(self, header: CassetteHeader) -> None:
        self.header = header

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.serialize import deserialize

        path = Path(cassette_path)
        if self.fresh or not path.exists():
            raise CassetteNotFoundError()
        data = _read(path)
        text = json.dumps({"interactions": data["interactions"], "version": data.get("version")})
        try:
            return deserialize(text, serializer)
        except (ValueError, KeyError, TypeError) as error:
            raise CassetteError(
                f"{path} is not a cassette (its interactions cannot be read: {error}); "
                "record one with --record"
            ) from None

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        from vcr.serialize import serialize

        body = json.loads(serialize(cassette_dict, serializer))
        document = {"copydesk": self.header.as_json(), **body}
        path = Path(cassette_path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        temporary.replace(path)  # a reader never sees half a cassette


def _scrub_request(request: Any) -> Any:
    """The request as written and matched: no secret header or query key, and its site."""
    for name in list(request.headers):
        if name.lower() in _SECRET_HEADERS:
            del request.headers[name]
    if any(f"{k}=" in request.uri for k in _SECRET_QUERY):
        request.uri = matching.without_query_keys(request.uri, _SECRET_QUERY)
    matching.stamp_site(request)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in _SECRET_RESPONSE_HEADERS:
            del headers[name]
    return response


def _cassette_class() -> Any:
    from vcr.cassette import Cassette

    class _Cassette(Cassette):  # type: ignore[misc]
        """A vcrpy cassette that serves embeddings text by text (`embedding_replay`) and
        whose replay names the first request it cannot serve."""

        def _embedding_reply(self, request: Any) -> dict[str, Any] | None:
            if not self.rewound or self.record_mode == "all" or not is_embeddings(request):
                return None
            book: EmbeddingBook = self.__dict__.setdefault("_book", EmbeddingBook())
            book.learn(self.data)
            return book.reply(request)

        def can_play_response_for(self, request: Any) -> bool:
            if self._embedding_reply(request) is not None or super().can_play_response_for(request):
                return True
            if not self.write_protected:
                return False  # recorded now
            wanted = self._before_record_request(request)
            raise ReplayMismatchError(matching.explain(wanted, self.data, self.play_counts))

        def play_response(self, request: Any) -> Any:
            reply = self._embedding_reply(request)
            return reply if reply is not None else super().play_response(request)

    return _Cassette


@contextmanager
def recording(
    path: Path, mode: Mode, header: CassetteHeader | None = None
) -> Iterator[Callable[[CassetteHeader], None]]:
    """Record to, replay from, or complete (`missing`) the cassette at `path` in this block.

    The file is written when the block ends (also after an error, so what was recorded up
    to a failure is kept); a replay never writes it. The block gets a function that sets
    the header to write (when what was recorded is known only inside it).

    Raises:
        CassetteError: The cassette cannot be read (checked on entry).
        ReplayMismatchError: A replayed request matches nothing recorded.
    """
    import vcr

    if mode == "replay" or (mode == "missing" and path.exists()):
        previous = read_header(path)  # a missing or broken file is named here, on entry
        header = header or previous
    config = vcr.VCR(
        serializer="json",
        match_on=["method", "path", "copydesk"],
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    config.register_matcher("copydesk", matching.same_call)
    persister = _File(header or CassetteHeader(), fresh=mode == "record")
    config.register_persister(persister)
    options = config.get_merged_config(path=str(path), record_mode=_VCR_MODES[mode])
    with _cassette_class().use(**options):
        yield persister.describe


def replayed(settings: Settings, header: CassetteHeader, model_given: bool = False) -> Settings:
    """`settings` pointed at the endpoint and model `header` was recorded with (the model as
    set when `model_given`): the cassette answers, so no key is read or sent."""
    from copydesk.agents.client.pool import DEFAULT_ENDPOINT

    return settings.model_copy(
        update={
            "openai_base_url": header.base_url or DEFAULT_ENDPOINT,
            "openai_api_key": None,
            "offline": False,
            "local": False,
            "model": settings.model if model_given or not header.model else header.model,
        }
    )
