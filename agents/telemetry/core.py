"""`Telemetry`: the spans and metrics a process records, or nothing at all.

Off (the default), a `Telemetry` imports nothing of OpenTelemetry: its spans are `QUIET`, a
shared no-op, and its `meters` are None, so the default path pays one attribute check per
span. On (`COPYDESK_TRACES=1`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` set), spans go
to the process's OpenTelemetry tracer provider (one made by providers.py when the program set
none), nest through OpenTelemetry's context, and carry over process boundaries as a W3C
`traceparent` string: a thread's checkpoint metadata keeps the one of the run that wrote it,
and a queued job carries the one of the `submit` that queued it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from copydesk.agents.settings import Settings
    from copydesk.agents.telemetry.meters import Meters

__all__ = ["LOCAL_VIEWER", "QUIET", "Attributes", "SpanLike", "Telemetry", "traces_wanted"]

T = TypeVar("T")

LOCAL_VIEWER = Path("phoenix") / "address"
"""Under `COPYDESK_HOME`: the address of the Phoenix `copydesk traces` runs, while it runs."""

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[int] | Sequence[float]
Attributes = Mapping[str, AttributeValue]
SpanKind = Literal["internal", "client", "producer", "consumer"]


class SpanLike(Protocol):
    """What copydesk writes on a span: an OpenTelemetry span, or `QUIET`."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one attribute."""

    def set_attributes(self, attributes: Attributes) -> None:
        """Set several attributes."""


class _Quiet:
    """The span of a process that records none: every write is dropped."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Drop it."""

    def set_attributes(self, attributes: Attributes) -> None:
        """Drop them."""


QUIET: SpanLike = _Quiet()
"""The span given out while tracing is off."""


def traces_wanted(traces: bool, environ: Mapping[str, str] | None = None) -> bool:
    """True when spans should be exported: `COPYDESK_TRACES` (`traces`), or an OTLP endpoint
    in the environment, unless OpenTelemetry's own `OTEL_SDK_DISABLED=true` says no."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return traces or bool(endpoint)


class Telemetry:
    """Where one process's spans and metrics go.

    Args:
        tracer_provider: The OpenTelemetry tracer provider to record spans with; None records
            none (and imports nothing).
        meters: The metric instruments to count calls with; None counts nothing.
        content: Put message texts in model-call spans (`COPYDESK_TRACE_CONTENT`).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        meters: Meters | None = None,
        content: bool = False,
    ) -> None:
        self._provider = tracer_provider
        self._tracer: Tracer | None = (
            None if tracer_provider is None else tracer_provider.get_tracer("copydesk")
        )
        self.meters = meters
        self.content = content and tracer_provider is not None

    @classmethod
    def from_settings(cls, settings: Settings, *, metrics: bool = False) -> Telemetry:
        """Tracing as the settings and environment ask; `metrics` also keeps the metrics for
        a Prometheus scrape (`copydesk serve`, `copydesk worker`), traced or not."""
        traces = traces_wanted(settings.traces)
        if not traces and not metrics:
            return cls()
        from copydesk.agents.telemetry.dropping import Collectors
        from copydesk.agents.telemetry.meters import Meters
        from copydesk.agents.telemetry.providers import meter_provider, tracer_provider

        collectors = Collectors()  # spans and metrics to one collector: one warning
        home = settings.home
        return cls(
            tracer_provider(home, collectors) if traces else None,
            meters=Meters(meter_provider(otlp=traces, home=home, collectors=collectors)),
            content=settings.trace_content,
        )

    @property
    def on(self) -> bool:
        """True when spans are recorded."""
        return self._tracer is not None

    def span(
        self,
        name: str,
        attributes: Attributes | None = None,
        *,
        kind: SpanKind = "internal",
        links: Sequence[str] = (),
    ) -> AbstractContextManager[SpanLike]:
        """A span around a `with` block, child of the current one; `links` are the
        `traceparent`s of earlier traces this one continues. An exception leaving the block
        is recorded on the span, which ends in error."""
        if self._tracer is None:
            return nullcontext(QUIET)
        from copydesk.agents.telemetry import carry

        return self._tracer.start_as_current_span(
            name, kind=carry.kind(kind), attributes=attributes, links=carry.links(links)
        )

    def annotate(self, attributes: Attributes) -> None:
        """Set `attributes` on the current span (nothing while tracing is off)."""
        if self._tracer is not None:
            from opentelemetry import trace

            trace.get_current_span().set_attributes(attributes)

    def traceparent(self) -> str | None:
        """The W3C `traceparent` of the current span, to carry to another process or run."""
        if self._tracer is None:
            return None
        from copydesk.agents.telemetry import carry

        return carry.traceparent()

    def joined(self, traceparent: str | None) -> AbstractContextManager[None]:
        """A block whose spans are children of the span `traceparent` names (a job's
        submitter, in another process); a plain block without one or with tracing off."""
        if self._tracer is None or not traceparent:
            return nullcontext()
        from copydesk.agents.telemetry import carry

        return carry.joined(traceparent)

    def within(
        self,
        name: str,
        attributes: Attributes,
        events: Callable[[str | None], AsyncIterator[T]],
        *,
        links: Sequence[str] = (),
    ) -> AsyncIterator[T]:
        """The items of `events(traceparent)`, each produced inside one span named `name`.

        The span is current only while an item is being produced (never while the consumer
        holds one), so it nests what the producer starts, a graph's node tasks included, and
        leaks nowhere. `events` is given the span's `traceparent` (None while off) to keep,
        e.g. in checkpoint metadata. With tracing off it is `events(None)` itself.
        """
        if self._tracer is None:
            return events(None)
        return self._within(self._tracer, name, attributes, events, links)

    async def _within(
        self,
        tracer: Tracer,
        name: str,
        attributes: Attributes,
        events: Callable[[str | None], AsyncIterator[T]],
        links: Sequence[str],
    ) -> AsyncIterator[T]:
        from copydesk.agents.telemetry import carry

        span = tracer.start_span(name, attributes=attributes, links=carry.links(links))
        with carry.ending(span):
            source = events(carry.traceparent(span))
            while True:
                with carry.current(span):
                    try:
                        item = await anext(source)
                    except StopAsyncIteration:
                        break
                yield item

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is batched now, waiting at most `timeout` seconds for each of the
        spans and the metrics (a collector that is away costs nothing: dropping.py)."""
        if self._provider is not None:
            force_flush: Any = getattr(self._provider, "force_flush", None)
            if force_flush is not None:
                force_flush(int(timeout * 1000))
        if self.meters is not None:
            self.meters.flush(timeout)
