"""Traces and metrics of copydesk's runs (OpenTelemetry), off unless asked for.

`Telemetry` (core.py) is what the model client, the agents and the runtime record through:
with tracing off (the default) its spans are a shared no-op and nothing of OpenTelemetry is
imported; with `COPYDESK_TRACES=1` or `OTEL_EXPORTER_OTLP_ENDPOINT` set it exports spans, and
metrics, over OTLP (providers.py), dropping them with one warning when the collector is away
(dropping.py). The metric instruments and their Prometheus text live in meters.py.

Names are loaded on first use (`__init__.pyi` lists them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
