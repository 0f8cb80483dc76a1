"""The OpenTelemetry providers of a process that traces: spans and metrics over OTLP/HTTP.

The exporters are OpenTelemetry's own, configured by the standard variables
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_METRICS_EXPORTER=none`, ...), each behind a `Reach`
(dropping.py). With no endpoint set, spans go to the Phoenix `copydesk traces` runs for this
home, if it runs, else to OTLP's standard `localhost:4318`. The providers are the process's
(OpenTelemetry's global ones), made once: a program that set its own keeps it, and copydesk's
spans and metrics join it. Spans are batched off the event loop and flushed at exit. Metrics
are also kept for a Prometheus scrape (prometheus_client's registry, `copydesk serve` and
`copydesk worker` answer `/metrics` from it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from copydesk.agents.telemetry.core import LOCAL_VIEWER
from copydesk.agents.telemetry.dropping import Collectors, DroppingMetrics, DroppingSpans

__all__ = [
    "endpoint",
    "meter_provider",
    "otlp_tracer_provider",
    "resource",
    "tracer_provider",
]

DEFAULT_ENDPOINT = "http://localhost:4318"
"""OTLP/HTTP's standard address, used when no endpoint is set and no local viewer runs."""

_OURS = {"service.name": "copydesk", "openinference.project.name": "copydesk"}


def local_viewer(home: Path | None) -> str | None:
    """The address of the Phoenix `copydesk traces` runs for `home`, if it runs."""
    if home is None:
        return None
    try:
        return (home / LOCAL_VIEWER).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def endpoint(
    signal: str, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> str | None:
    """The OTLP/HTTP URL of `signal` (`traces`, `metrics`) as the standard variables say;
    without them, the local viewer's (traces only: Phoenix takes no metrics), else OTLP's
    standard address. None: this signal is not exported."""
    env = os.environ if environ is None else environ
    own = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if own:
        return own
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not base:
        local = local_viewer(home)
        if local is not None:
            return f"{local.rstrip('/')}/v1/traces" if signal == "traces" else None
        base = DEFAULT_ENDPOINT
    return f"{base.rstrip('/')}/v1/{signal}"


def resource() -> Resource:
    """This process: `service.name` copydesk and Phoenix's project `copydesk`, unless the
    environment names them (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`)."""
    found = Resource.create()
    named = found.attributes
    ours = {
        key: value
        for key, value in _OURS.items()
        if key not in named or str(named[key]).startswith("unknown_service")
    }
    return found.merge(Resource(ours))


def _quiet_exporters() -> None:
    # `Reach` tells a missing collector once; the exporters' own lines would repeat it.
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)


def otlp_tracer_provider(url: str, collectors: Collectors | None = None) -> TracerProvider:
    """A tracer provider batching spans to the OTLP/HTTP `url`, dropped while it is away."""
    _quiet_exporters()
    reach = (collectors or Collectors()).reach(url)
    provider = TracerProvider(resource=resource())
    provider.add_span_processor(BatchSpanProcessor(DroppingSpans(OTLPSpanExporter(url), reach)))
    return provider


def tracer_provider(home: Path | None, collectors: Collectors) -> trace.TracerProvider:
    """The process's tracer provider: the program's own if it set one, else one made here
    (exporting to the OTLP endpoint) and set for the process."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        url = endpoint("traces", home=home) or DEFAULT_ENDPOINT
        trace.set_tracer_provider(otlp_tracer_provider(url, collectors))
    return trace.get_tracer_provider()


def meter_provider(
    *, otlp: bool, home: Path | None, collectors: Collectors
) -> metrics.MeterProvider:
    """The process's meter provider: the program's own if it set one, else one made here,
    read for a Prometheus scrape and, with `otlp` (unless `OTEL_METRICS_EXPORTER=none`),
    exported to the OTLP endpoint."""
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        return metrics.get_meter_provider()
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    readers: list[MetricReader] = [
        PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False)
    ]
    url = endpoint("metrics", home=home)
    wanted = os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() != "none"
    if otlp and wanted and url is not None:
        _quiet_exporters()
        exporter = DroppingMetrics(OTLPMetricExporter(endpoint=url), collectors.reach(url))
        readers.append(PeriodicExportingMetricReader(exporter))
    metrics.set_meter_provider(MeterProvider(metric_readers=readers, resource=resource()))
    return metrics.get_meter_provider()
