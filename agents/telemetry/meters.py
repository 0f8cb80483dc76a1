"""The metric instruments of model calls, per agent and model, and their Prometheus text.

Counters of calls, tokens (input and output), cost, retries and 429s; histograms of call
duration and of the time a call waited in the rate limiter; a gauge of each circuit breaker
(1 open, 0 closed; set when it changes). Names follow OpenTelemetry's GenAI conventions where
they have one (`gen_ai.client.operation.duration`) and are `copydesk.*` otherwise; Prometheus
shows them with dots as underscores (`copydesk_model_calls_total`). Each instrument costs
CPU at every call, so there are no more of them than the questions need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from prometheus_client import CollectorRegistry

__all__ = ["Meters"]


class Meters:
    """The instruments, made on `provider`.

    Args:
        provider: The meter provider whose readers export the metrics.
        registry: The Prometheus registry its Prometheus reader fills (prometheus_client's
            own when None).
    """

    def __init__(self, provider: MeterProvider, registry: CollectorRegistry | None = None) -> None:
        self.provider = provider
        self.registry = registry
        self._breakers: dict[tuple[str, str], bool] = {}
        meter = provider.get_meter("copydesk")
        self.calls = meter.create_counter(
            "copydesk.model.calls", unit="{call}", description="Model calls, by outcome"
        )
        self.tokens = meter.create_counter(
            "copydesk.model.tokens", unit="{token}", description="Tokens, input and output"
        )
        self.cost = meter.create_counter(
            "copydesk.model.cost", unit="USD", description="Cost of the calls by the price table"
        )
        self.retries = meter.create_counter(
            "copydesk.model.retries", unit="{attempt}", description="Attempts after the first"
        )
        self.rate_limited = meter.create_counter(
            "copydesk.model.rate_limited", unit="{response}", description="429 answers"
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Seconds per call"
        )
        self.limiter_wait = meter.create_histogram(
            "copydesk.limiter.wait", unit="s", description="Seconds a call waited in the limiter"
        )
        self.breaker_open = meter.create_gauge(
            "copydesk.breaker.open", unit="1", description="1 while a circuit breaker is open"
        )

    def call(
        self,
        *,
        agent: str,
        model: str,
        server: str,
        ok: bool,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost: float = 0.0,
        attempts: int = 1,
        rate_limited: int = 0,
        waited: float = 0.0,
        seconds: float = 0.0,
        breaker_open: bool = False,
    ) -> None:
        """Count one model call (`ok` False: it failed for good)."""
        who = {"gen_ai.agent.name": agent, "gen_ai.request.model": model}
        self.calls.add(1, {**who, "outcome": "ok" if ok else "error"})
        for kind, count in (("input", input_tokens), ("output", output_tokens)):
            if count:
                self.tokens.add(count, {**who, "gen_ai.token.type": kind})
        if cost:
            self.cost.add(cost, who)
        if attempts > 1:
            self.retries.add(attempts - 1, who)
        if rate_limited:
            self.rate_limited.add(rate_limited, who)
        self.limiter_wait.record(waited, who)
        self.duration.record(seconds, {**who, "gen_ai.operation.name": "chat"})
        if self._breakers.get((server, model)) != breaker_open:  # a gauge: set on change
            self._breakers[(server, model)] = breaker_open
            self.breaker_open.set(
                int(breaker_open), {"server.address": server, "gen_ai.request.model": model}
            )

    def prometheus_text(self) -> str:
        """The metrics in Prometheus' text format."""
        from prometheus_client import REGISTRY, generate_latest

        return generate_latest(self.registry or REGISTRY).decode()

    def flush(self, timeout: float) -> None:
        """Export what the OTLP reader holds now."""
        force_flush = getattr(self.provider, "force_flush", None)
        if force_flush is not None:
            force_flush(int(timeout * 1000))
