"""In-process tracing for tests: a `Telemetry` whose spans land in OpenTelemetry's in-memory
exporter and whose metrics are read by a Prometheus reader of the test's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from copydesk.agents.telemetry import Meters, Telemetry


@dataclass
class Recorded:
    """A telemetry, and where its spans and metrics went."""

    telemetry: Telemetry
    exporter: InMemorySpanExporter
    meters: Meters

    @property
    def spans(self) -> list[ReadableSpan]:
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans if s.parent and s.parent.span_id == parent.context.span_id]

    def attributes(self, name: str) -> dict[str, Any]:
        (span,) = self.named(name)
        return dict(span.attributes or {})

    def metric(self, line_start: str) -> float:
        """The sum of the Prometheus samples whose line starts with `line_start`."""
        text = self.meters.prometheus_text()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(line_start)
        )


def recorded(*, content: bool = False) -> Recorded:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(
        disable_target_info=True, scope_info_enabled=False, registry=registry
    )
    meters = Meters(MeterProvider(metric_readers=[reader]), registry)
    return Recorded(Telemetry(provider, meters=meters, content=content), exporter, meters)
