"""Public surface of `copydesk.agents.telemetry`, loaded lazily (see lazy_loader)."""

from .core import LOCAL_VIEWER, QUIET, SpanLike, Telemetry, traces_wanted
from .meters import Meters

__all__ = ["LOCAL_VIEWER", "QUIET", "Meters", "SpanLike", "Telemetry", "traces_wanted"]
