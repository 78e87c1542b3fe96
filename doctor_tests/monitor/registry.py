"""The monitors by name (``MONITOR_TYPE``, upstream's names): one registry.

- ``sample``: the ICMP monitor on the runner (doctor_tests.monitor.monitor), probing the
  host's management address, and its data-plane address where the layout names one;
- ``collectd``: collectd on the host with Doctor's plugin, its heartbeats received on the
  runner (doctor_tests.monitor.collectd).

Each is started for one host as a :class:`HostMonitor`: alive once it hears from the host,
``wait_down`` for its report of the host down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from doctor_tests.config import MONITOR_TYPES, Settings
from doctor_tests.monitor.collectd import CollectdMonitor
from doctor_tests.monitor.monitor import DownEvent, Monitor, MonitorConfigError
from doctor_tests.monitor.report import Reporter

LOG = logging.getLogger(__name__)


class HostMonitor(Protocol):
    """One monitor type watching one host."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait_alive(self, timeout: float) -> bool: ...

    def wait_down(self, timeout: float) -> DownEvent | None: ...

    def heard(self) -> int:
        """How often the host has been heard so far (ICMP replies, heartbeats): a monitor
        that says nothing is evidence only if it kept hearing the host meanwhile."""
        ...


@dataclass
class SampleMonitor:
    """ICMP to the host's management address (and to its data-plane address, reported as a
    data-plane fault, when there is one)."""

    host: Monitor
    data_plane: Monitor | None = None
    name: str = "sample"

    def start(self) -> None:
        self.host.start()
        if self.data_plane is not None:
            self.data_plane.start()

    def stop(self) -> None:
        for monitor in (self.host, self.data_plane):
            if monitor is not None:
                monitor.stop()

    def wait_alive(self, timeout: float) -> bool:
        return self.host.wait_alive(timeout) and (
            self.data_plane is None or self.data_plane.wait_alive(timeout))

    def wait_down(self, timeout: float) -> DownEvent | None:
        return self.host.wait_down(timeout)

    def heard(self) -> int:
        return self.host.replies_received


@dataclass
class CollectdHostMonitor:
    """The collectd receiver, for one host."""

    receiver: CollectdMonitor
    hostname: str
    name: str = "collectd"

    def start(self) -> None:
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()

    def wait_alive(self, timeout: float) -> bool:
        return self.receiver.wait_alive(self.hostname, timeout)

    def wait_down(self, timeout: float) -> DownEvent | None:
        return self.receiver.wait_down(self.hostname, timeout)

    def heard(self) -> int:
        return self.receiver.heartbeats(self.hostname)


#: the hosts a run watches: Nova host name -> (management address, data-plane address)
Watched = Mapping[str, tuple[str, str]]


def _sample(settings: Settings, hosts: Watched, inspector_url: str | None,
            reporters: Sequence[Reporter]) -> dict[str, HostMonitor]:
    def icmp(host: str, addr: str, plane: str) -> Monitor:
        return Monitor(host, addr, None if reporters else inspector_url,
                       interval=settings.monitor_interval_s,
                       timeout=settings.monitor_timeout_s, misses=settings.monitor_misses,
                       report_up=False, plane=plane, reporter=list(reporters) or None)

    # the data plane is the sample inspector's alone (the peers know no data-plane event)
    return {host: SampleMonitor(icmp(host, address, "host"),
                                icmp(host, data, "dataplane") if data and not reporters
                                else None)
            for host, (address, data) in hosts.items()}


def _collectd(settings: Settings, hosts: Watched, inspector_url: str | None,
              reporters: Sequence[Reporter]) -> dict[str, HostMonitor]:
    if reporters:
        raise MonitorConfigError("the collectd monitor reports to the sample inspector only, "
                                 "not to %s" % ", ".join(r.receiver for r in reporters))
    # one receiver (one UDP port) for every host
    receiver = CollectdMonitor({host: address for host, (address, _) in hosts.items()},
                               inspector_url, port=settings.collectd_port,
                               interval=settings.collectd_interval_s,
                               misses=settings.collectd_misses, report_up=False)
    return {host: CollectdHostMonitor(receiver, host) for host in hosts}


MONITORS: dict[str, Callable[[Settings, Watched, str | None, Sequence[Reporter]],
                              dict[str, HostMonitor]]] = {
    "sample": _sample,
    "collectd": _collectd,
}
assert tuple(MONITORS) == MONITOR_TYPES


def make_monitors(name: str, settings: Settings, hosts: Watched,
                  inspector_url: str | None,
                  reporters: Sequence[Reporter] = ()) -> dict[str, HostMonitor]:
    """The monitor ``name`` for each of ``hosts`` (host -> its monitor), reporting to the
    sample inspector at ``inspector_url``, or to ``reporters`` (the peers', and the sample
    inspector's as an :class:`~doctor_tests.monitor.report.InspectorReporter`); an unknown
    name lists the valid ones."""
    try:
        factory = MONITORS[name]
    except KeyError:
        raise MonitorConfigError("unknown monitor type %r (MONITOR_TYPE); valid: %s"
                                 % (name, ", ".join(MONITORS))) from None
    return factory(settings, hosts, inspector_url, reporters)
