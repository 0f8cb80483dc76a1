"""Where spans and metrics go, and what a collector that is away costs: nothing but one line.

The run with an unreachable collector is a real `copydesk` process (its exit flushes the
batches); `Reach` and the dropping exporters are driven in process with exporters of the test's
own that implement OpenTelemetry's interfaces.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from copydesk.agents.telemetry.core import LOCAL_VIEWER
from copydesk.agents.telemetry.dropping import Collectors, DroppingMetrics, DroppingSpans, Reach
from copydesk.agents.telemetry.providers import endpoint, resource
from tests._cli import cli_env, copydesk, ok

WARNING = "no OpenTelemetry collector answers"


class Spans(SpanExporter):
    """Takes spans, or refuses them (`ok`), or breaks (`error`)."""

    def __init__(self, ok: bool = True, error: bool = False) -> None:
        self.ok, self.error, self.batches = ok, error, 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.error:
            raise RuntimeError("exporter bug")
        self.batches += 1
        return SpanExportResult.SUCCESS if self.ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.ok = False


class Metrics(MetricExporter):
    def __init__(self, ok: bool = True, error: bool = False) -> None:
        super().__init__(preferred_temporality={})
        self.ok, self.error, self.batches = ok, error, 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 0, **kw: Any) -> Any:
        if self.error:
            raise RuntimeError("exporter bug")
        self.batches += 1
        return MetricExportResult.SUCCESS if self.ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 0) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 0, **kw: Any) -> None:
        self.ok = False


@pytest.fixture
def listening() -> Any:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "copydesk.telemetry"]


@pytest.mark.slow
def test_an_unreachable_collector_never_fails_a_run(tmp_path: Path, home: Path) -> None:
    env = cli_env(
        home, COPYDESK_OFFLINE="1", OTEL_EXPORTER_OTLP_ENDPOINT=closed_port(), COPYDESK_TRACES="1"
    )
    proc = ok(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Tide clocks", "--json"))
    assert '"status": "approved"' in proc.stdout
    told = [line for line in proc.stderr.splitlines() if WARNING in line]
    assert len(told) == 1, proc.stderr  # spans and metrics to one collector: one line
    assert "dropped" in told[0]


def test_a_collector_away_is_probed_once_per_cooldown_and_told_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    reach = Reach(closed_port() + "/v1/traces", cooldown=30, clock=lambda: now[0])
    inner = Spans()
    spans = DroppingSpans(inner, reach)
    assert spans.export([]) == SpanExportResult.FAILURE
    now[0] = 10
    assert spans.export([]) == SpanExportResult.FAILURE  # within the cool-down: no probe
    now[0] = 40
    assert spans.export([]) == SpanExportResult.FAILURE  # probed again, still away
    assert inner.batches == 0
    (told,) = warnings(caplog)
    assert WARNING in told and "/v1/traces" not in told
    assert spans.force_flush() is True
    spans.shutdown()
    assert inner.ok is False


def test_a_collector_that_answers_gets_the_batches(listening: str) -> None:
    collectors = Collectors()
    reach = collectors.reach(f"{listening}/v1/traces")
    assert collectors.reach(f"{listening}/v1/metrics") is reach  # one collector, one reach
    inner_spans, inner_metrics = Spans(), Metrics()
    assert DroppingSpans(inner_spans, reach).export([]) == SpanExportResult.SUCCESS
    metrics = DroppingMetrics(inner_metrics, reach)
    assert metrics.export(MetricsData([])) == MetricExportResult.SUCCESS
    assert metrics.export(MetricsData([])) == MetricExportResult.SUCCESS  # known good: no probe
    assert (inner_spans.batches, inner_metrics.batches) == (1, 2)
    assert metrics.force_flush() is True
    metrics.shutdown()
    assert inner_metrics.ok is False


def test_a_collector_that_refuses_a_signal_is_told_once_per_signal(
    listening: str, caplog: pytest.LogCaptureFixture
) -> None:
    reach = Reach(listening)
    spans = DroppingSpans(Spans(error=True), reach)
    metrics = DroppingMetrics(Metrics(ok=False), reach)
    for _ in range(2):
        assert spans.export([]) == SpanExportResult.FAILURE
        assert metrics.export(MetricsData([])) == MetricExportResult.FAILURE
    told = warnings(caplog)
    assert len(told) == 2
    assert "did not take the spans" in told[0] and "did not take the metrics" in told[1]
    assert (
        DroppingMetrics(Metrics(error=True), Reach(listening)).export(MetricsData([]))
        == MetricExportResult.FAILURE
    )
    assert Reach("https://collector.example").address == ("collector.example", 443)


def test_endpoints_follow_the_standard_variables_then_the_local_viewer(tmp_path: Path) -> None:
    assert endpoint("traces", {}) == "http://localhost:4318/v1/traces"
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert endpoint("metrics", base) == "http://collector:4318/v1/metrics"
    own = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:1/x"}
    assert endpoint("traces", own) == "http://traces:1/x"
    assert endpoint("traces", {}, tmp_path) == "http://localhost:4318/v1/traces"
    (tmp_path / LOCAL_VIEWER).parent.mkdir()
    (tmp_path / LOCAL_VIEWER).write_text("http://127.0.0.1:6006\n")
    assert endpoint("traces", {}, tmp_path) == "http://127.0.0.1:6006/v1/traces"
    assert endpoint("metrics", {}, tmp_path) is None  # Phoenix takes no metrics
    assert endpoint("traces", base, tmp_path) == "http://collector:4318/v1/traces"


def test_the_resource_is_copydesk_unless_the_environment_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resource().attributes["service.name"] == "copydesk"
    assert resource().attributes["openinference.project.name"] == "copydesk"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "desk")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "openinference.project.name=mine")
    named = resource().attributes
    assert (named["service.name"], named["openinference.project.name"]) == ("desk", "mine")
    assert isinstance(resource(), Resource)


def test_copydesk_traces_on_a_taken_port_is_one_line(tmp_path: Path, home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = copydesk(tmp_path, cli_env(home), "traces", "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"copydesk: error: port {port} on 127.0.0.1 is taken; pick another --port"
    ]
    assert not (home / "phoenix").exists()
