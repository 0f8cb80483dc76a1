"""A collector that is away costs a run nothing: batches are dropped, with one warning.

OpenTelemetry's OTLP exporters retry a refused connection with a backoff of a second or more
and log every failure; a trace export that waits or logs at each batch would slow or clutter
a run whose collector is down. `Reach` answers "may we send now?": it probes the collector's
address with a TCP connect (refused on loopback at once, half a second at most elsewhere)
before sending while the collector is not known to answer, and after a failure drops batches
for `cooldown` seconds, so the exporters try at most once per cool-down. The first failure is
told once, as one warning line; later ones are silent.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["Collectors", "DroppingMetrics", "DroppingSpans", "Reach"]

log = logging.getLogger("copydesk.telemetry")


class Reach:
    """Whether the collector at `url` may be sent to now.

    Args:
        url: The collector's OTLP/HTTP URL (told as its scheme, host and port).
        cooldown: Seconds to drop batches after a failure before trying again.
        probe_timeout: Seconds the TCP probe may take.
    """

    def __init__(
        self,
        url: str,
        *,
        cooldown: float = 30.0,
        probe_timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.address = (parts.hostname or "localhost", parts.port or _port(parts.scheme))
        self.cooldown = cooldown
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._known_good = False
        self._until = 0.0
        self._warned = False
        self._refusals: set[str] = set()

    def open(self) -> bool:
        """True when a batch may be sent now (the collector answered, or answers a probe)."""
        with self._lock:
            if self._clock() < self._until:
                return False
            if self._known_good:
                return True
        try:
            socket.create_connection(self.address, timeout=self.probe_timeout).close()
        except OSError as error:
            self.failed(str(error) or type(error).__name__)
            return False
        return True

    def answered(self) -> None:
        """A batch went through."""
        with self._lock:
            self._known_good = True

    def refused(self, what: str) -> None:
        """The collector answered but did not take a batch of `what` (`spans`, `metrics`):
        it may not serve that signal (Phoenix takes no metrics). Told once per signal; the
        address is probed again before the next batch."""
        with self._lock:
            self._known_good = False
            if what in self._refusals:
                return
            self._refusals.add(what)
        log.warning(
            "traces: the collector at %s did not take the %s; they are dropped", self.url, what
        )

    def failed(self, reason: str) -> None:
        """A batch did not: drop batches for a cool-down, and say so the first time."""
        with self._lock:
            self._known_good = False
            self._until = self._clock() + self.cooldown
            if self._warned:
                return
            self._warned = True
        log.warning(
            "traces: no OpenTelemetry collector answers at %s (%s); spans and metrics are "
            "dropped until it does (`copydesk traces` starts one on this machine)",
            self.url,
            reason,
        )


class Collectors:
    """One `Reach` per collector address, so spans and metrics sent to the same collector
    are dropped together and told once."""

    def __init__(self) -> None:
        self._reaches: dict[tuple[str, int], Reach] = {}

    def reach(self, url: str) -> Reach:
        """The `Reach` of the collector `url` is on."""
        found = Reach(url)
        return self._reaches.setdefault(found.address, found)


def _port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class DroppingSpans(SpanExporter):
    """`inner`, sending only when `reach` says the collector is there."""

    def __init__(self, inner: SpanExporter, reach: Reach) -> None:
        self.inner = inner
        self.reach = reach

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send `spans`, or drop them while the collector is away."""
        if not self.reach.open():
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except Exception:  # an exporter's bug must not reach the batch thread
            result = SpanExportResult.FAILURE
        _settle(self.reach, result == SpanExportResult.SUCCESS, "spans")
        return result

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is held here."""
        return True


class DroppingMetrics(MetricExporter):
    """`inner`, sending only when `reach` says the collector is there."""

    def __init__(self, inner: MetricExporter, reach: Reach) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.reach = reach

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Send `metrics_data`, or drop it while the collector is away."""
        if not self.reach.open():
            return MetricExportResult.FAILURE
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        except Exception:  # an exporter's bug must not reach the reader thread
            result = MetricExportResult.FAILURE
        _settle(self.reach, result == MetricExportResult.SUCCESS, "metrics")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is held here."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the inner exporter down."""
        self.inner.shutdown(timeout_millis=timeout_millis)


def _settle(reach: Reach, ok: bool, what: str) -> None:
    if ok:
        reach.answered()
    else:
        reach.refused(what)
