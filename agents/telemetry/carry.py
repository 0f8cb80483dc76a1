"""The OpenTelemetry side of `Telemetry`: span kinds, links, and the W3C `traceparent` a
trace travels in (to a checkpoint's metadata, a queued job, a resumed run).

Imported only while tracing is on: importing it imports OpenTelemetry's API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["current", "ending", "joined", "kind", "links", "traceparent"]

_W3C = TraceContextTextMapPropagator()
_KINDS = {
    "internal": SpanKind.INTERNAL,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


def kind(name: str) -> SpanKind:
    """The OpenTelemetry span kind called `name`."""
    return _KINDS[name]


def traceparent(span: Span | None = None) -> str | None:
    """The `traceparent` of `span` (the current span when None), or None for no span."""
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(span) if span is not None else None
    _W3C.inject(carrier, context=ctx)
    return carrier.get("traceparent")


def _context(value: str) -> context.Context:
    return _W3C.extract({"traceparent": value})


def links(values: Sequence[str]) -> list[Link]:
    """Links to the spans the `traceparent`s name (malformed ones are left out)."""
    out = []
    for value in values:
        span_context = trace.get_current_span(_context(value)).get_span_context()
        if span_context.is_valid:
            out.append(Link(span_context, {"copydesk.link": "earlier run of the thread"}))
    return out


@contextmanager
def _attached(ctx: context.Context) -> Iterator[None]:
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


def joined(value: str) -> AbstractContextManager[None]:
    """Spans started in this block are children of the remote span `value` names."""
    return _attached(_context(value))


def current(span: Span) -> AbstractContextManager[None]:
    """`span` is the current span inside this block (it does not end with it)."""
    return _attached(trace.set_span_in_context(span))


@contextmanager
def ending(span: Span) -> Iterator[None]:
    """End `span` when the block ends; an exception ends it in error, recorded."""
    try:
        yield
    except BaseException as error:
        if not isinstance(error, GeneratorExit):  # the consumer stopped early: not an error
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        span.end()
