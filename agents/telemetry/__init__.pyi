"""Public surface of `copydesk.agents.telemetry`, loaded lazily (see lazy_loader)."""

from .core import QUIET, SpanLike, Telemetry, traces_wanted
from .meters import Meters

__all__ = ["QUIET", "Meters", "SpanLike", "Telemetry", "traces_wanted"]
