"""Sample monitor: ICMP echo to one compute host; reports ``compute.host.down``."""

from doctor_tests.monitor.icmp import IcmpUnavailable
from doctor_tests.monitor.monitor import (
    DEFAULT_INTERVAL,
    DEFAULT_MISSES,
    DEFAULT_TIMEOUT,
    DownEvent,
    Monitor,
    MonitorConfigError,
    UpEvent,
)
from doctor_tests.monitor.report import MONITOR_NAME, ReportFailed, ReportResult, host_event

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_MISSES",
    "DEFAULT_TIMEOUT",
    "MONITOR_NAME",
    "DownEvent",
    "IcmpUnavailable",
    "Monitor",
    "MonitorConfigError",
    "ReportFailed",
    "ReportResult",
    "UpEvent",
    "host_event",
]
