"""The collectd monitor's runner side: heartbeats in, the inspector's events out.

collectd runs on each compute host with Doctor's plugin (doctor_tests.monitor.collectd_plugin),
which sends a heartbeat with the host's link states every ``interval`` seconds over the
management network. This receiver expects them (UDP, one socket for every host):

- nothing from an alive host for ``interval * misses`` seconds: the host is down
  (``compute.host.down``, cause ``heartbeat-lost``). Afterwards the host gets one ICMP echo:
  a host that answers while its collectd is silent is *hung* (its kernel runs, its
  processes do not: what an ICMP monitor cannot see), else it is unreachable; the cause is
  kept with the event and logged;
- a heartbeat whose data-plane link reads down: ``compute.host.dataplane.down`` (the host's
  ports, not the host), reported over the management link that carried the heartbeat;
- a heartbeat after the host was down: ``compute.host.up`` (when ``report_up``); the data
  plane back: ``compute.host.dataplane.up``.

Reports go to the inspector as the sample monitor's do (``PUT /events``, the upstream
format), named ``doctor-collectd-monitor``; the inspector takes the first report of a host
down, whichever monitor sends it.
"""

from __future__ import annotations

import json
import logging
import queue
import select
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from doctor_tests.monitor import icmp, report
from doctor_tests.monitor.heartbeat import BadHeartbeat, Change, HeartbeatTracker, parse_heartbeat
from doctor_tests.monitor.monitor import DownEvent, MonitorConfigError, stop_loops
from doctor_tests.timeutil import mono_to_epoch

LOG = logging.getLogger(__name__)

MONITOR_NAME = "doctor-collectd-monitor"
DEFAULT_PORT = 12350
DEFAULT_INTERVAL = 0.05
DEFAULT_MISSES = 4
#: the data-plane link must read down this many heartbeat intervals before it is reported
DATAPLANE_HOLD_INTERVALS = 2
MAX_DATAGRAM = 4096


@dataclass
class CollectdEvent:
    """A transition the receiver saw, and how its report went."""

    kind: str  # down, up, dataplane_down, dataplane_up
    hostname: str
    event_id: str
    detected_at: float  # epoch
    last_seen_at: float | None  # epoch of the last heartbeat before it
    silent_s: float | None = None
    cause: str = ""  # down: hang (answers ICMP) or unreachable, once known
    reported: bool = False
    report_error: str | None = None
    classified: threading.Event = field(default_factory=threading.Event, repr=False)


class _Host:
    def __init__(self, name: str, address: str, timeout: float, dataplane_hold: float) -> None:
        self.name, self.address = name, address
        self.tracker = HeartbeatTracker(timeout, dataplane_hold)
        self.alive = threading.Event()
        self.down = threading.Event()
        self.up = threading.Event()
        self.dataplane_down = threading.Event()
        self.events: list[CollectdEvent] = []


class CollectdMonitor:
    """Receives the collectd plugin's heartbeats from ``hosts`` (Nova name -> management
    address) on ``bind``:``port`` and reports their failures to ``inspector_url``."""

    def __init__(self, hosts: Mapping[str, str], inspector_url: str | None, *,
                 bind: str = "0.0.0.0", port: int = DEFAULT_PORT,
                 interval: float = DEFAULT_INTERVAL, misses: int = DEFAULT_MISSES,
                 report_up: bool = True, report_deadline: float = 5.0,
                 classify: bool = True, dataplane_hold: float | None = None) -> None:
        if not hosts:
            raise MonitorConfigError("the collectd monitor needs at least one host")
        if not interval > 0:
            raise MonitorConfigError("interval must be > 0 seconds, not %r" % interval)
        if isinstance(misses, bool) or not isinstance(misses, int) or misses < 1:
            raise MonitorConfigError("misses must be an integer >= 1, not %r" % misses)
        if inspector_url is not None:
            parsed = urlparse(inspector_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise MonitorConfigError("inspector URL must be http(s)://host:port, not %r"
                                         % inspector_url)
        self.inspector_url = inspector_url
        self.bind, self.port = bind, port
        self.interval, self.misses = float(interval), misses
        self.timeout = self.interval * misses
        # a data-plane link down for less than this reports nothing (a flap)
        self.dataplane_hold = (DATAPLANE_HOLD_INTERVALS * self.interval
                               if dataplane_hold is None else dataplane_hold)
        self.report_up = report_up
        self.report_deadline = report_deadline
        self.classify = classify
        self._hosts = {name: _Host(name, addr, self.timeout, self.dataplane_hold)
                       for name, addr in hosts.items()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._outbox: queue.Queue[CollectdEvent | None] = queue.Queue()
        self._sock: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._threads: list[threading.Thread] = []
        self.received = 0
        self.rejected = 0
        self.unknown_hosts: dict[str, int] = {}
        self.failure: BaseException | None = None

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.bind, self.port))
        except OSError as exc:
            sock.close()
            raise MonitorConfigError("the collectd receiver cannot listen on %s:%d: %s"
                                     % (self.bind, self.port, exc)) from exc
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._wake = socket.socketpair()
        self._threads = [
            threading.Thread(target=self._receive_loop, name="collectd-receiver", daemon=True),
            threading.Thread(target=self._report_loop, name="collectd-report", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        LOG.info("collectd receiver on %s:%d for %s: down after %.0f ms without a heartbeat",
                 self.bind, self.port, ", ".join(sorted(self._hosts)), self.timeout * 1000)

    def stop(self, timeout: float = 5.0) -> None:
        stop_loops(self._stop, self._wake, self._outbox, self._threads, self._sock, timeout)

    # --- state ------------------------------------------------------------------------
    def _host(self, host: str) -> _Host:
        try:
            return self._hosts[host]
        except KeyError:
            raise MonitorConfigError("the collectd monitor does not watch %r (it watches %s)"
                                     % (host, ", ".join(sorted(self._hosts)))) from None

    def wait_alive(self, host: str, timeout: float) -> bool:
        """True once a heartbeat of ``host`` has come (within ``timeout`` seconds)."""
        return self._host(host).alive.wait(timeout)

    def wait_down(self, host: str, timeout: float) -> DownEvent | None:
        h = self._host(host)
        if not h.down.wait(timeout):
            return None
        event = self.last_event(host, "down")
        assert event is not None
        return DownEvent(host, h.address, event.event_id, event.detected_at,
                         event.last_seen_at, int((event.silent_s or 0) / self.interval))

    def wait_dataplane_down(self, host: str, timeout: float) -> CollectdEvent | None:
        if not self._host(host).dataplane_down.wait(timeout):
            return None
        return self.last_event(host, "dataplane_down")

    def wait_up(self, host: str, timeout: float) -> bool:
        return self._host(host).up.wait(timeout)

    def is_down(self, host: str) -> bool:
        return self._host(host).down.is_set()

    def events(self, host: str | None = None) -> list[CollectdEvent]:
        with self._lock:
            return [e for h in self._hosts.values() if host in (None, h.name) for e in h.events]

    def last_event(self, host: str, kind: str) -> CollectdEvent | None:
        found = [e for e in self.events(host) if e.kind == kind]
        return found[-1] if found else None

    def heartbeats(self, host: str) -> int:
        return self._host(host).tracker.received

    # --- receiving --------------------------------------------------------------------
    def _receive_loop(self) -> None:
        sock, wake = self._sock, self._wake
        assert sock is not None and wake is not None
        try:
            while not self._stop.is_set():
                deadlines = [d for h in self._hosts.values()
                             if (d := h.tracker.deadline()) is not None]
                wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 1.0
                readable, _, _ = select.select([sock, wake[0]], [], [], wait)
                if wake[0] in readable:
                    return
                if sock in readable:
                    self._drain(sock)
                now = time.monotonic()
                for h in self._hosts.values():
                    for change in h.tracker.expire(now):
                        self._changed(h, change)
        except Exception as exc:
            self.failure = exc
            LOG.exception("the collectd receiver crashed: no more heartbeats are read")

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, source = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            now = time.monotonic()
            self.received += 1
            try:
                beat = parse_heartbeat(json.loads(data))
            except (ValueError, BadHeartbeat) as exc:
                self.rejected += 1
                LOG.debug("not a heartbeat from %s: %s", source, exc)
                continue
            host = self._hosts.get(beat.host)
            if host is None:
                self.unknown_hosts[beat.host] = self.unknown_hosts.get(beat.host, 0) + 1
                continue
            for change in host.tracker.heartbeat(beat, now):
                self._changed(host, change)
            host.alive.set()

    def _changed(self, host: _Host, change: Change) -> None:
        last = None if change.last_seen is None else mono_to_epoch(change.last_seen)
        event = CollectdEvent(change.kind, host.name, str(uuid.uuid4()), mono_to_epoch(change.at),
                              last, change.silent_s)
        with self._lock:
            host.events.append(event)
        if change.kind == "down":
            host.up.clear()
            host.down.set()
            LOG.warning("host %s DOWN: no heartbeat for %.0f ms", host.name,
                        (change.silent_s or 0) * 1000)
        elif change.kind == "up":
            host.down.clear()
            host.up.set()
            LOG.warning("host %s: heartbeats again", host.name)
        elif change.kind == "dataplane_down":
            host.dataplane_down.set()
            LOG.warning("host %s: its data-plane link is DOWN", host.name)
        else:
            host.dataplane_down.clear()
            LOG.warning("host %s: its data-plane link is up again", host.name)
        self._outbox.put(event)

    # --- reporting --------------------------------------------------------------------
    def _report_loop(self) -> None:
        while True:
            event = self._outbox.get()
            if event is None:
                return
            if event.kind != "up" or self.report_up:
                self._report(event)
            if event.kind == "down":
                self._classify(event)

    def _report(self, event: CollectdEvent) -> None:
        if self.inspector_url is None:
            return
        plane = "dataplane" if event.kind.startswith("dataplane") else "host"
        status = "up" if event.kind.endswith("up") else "down"
        cause = {"down": "heartbeat-lost", "dataplane_down": "link-down"}.get(event.kind)
        body = [report.host_event(event.hostname, status, at=event.detected_at,  # type: ignore[arg-type]
                                  event_id=event.event_id, monitor=MONITOR_NAME, plane=plane,
                                  cause=cause)]
        try:
            report.put_events(self.inspector_url, body, deadline=self.report_deadline)
        except report.ReportFailed as exc:
            event.report_error = exc.last_error
            return
        event.reported = True
        LOG.info("reported %s %s to %s", event.hostname, event.kind, self.inspector_url)

    def _classify(self, event: CollectdEvent) -> None:
        """After the report: does the silent host answer ICMP (hung) or not (unreachable)?"""
        address = self._hosts[event.hostname].address
        if self.classify and address:
            try:
                answers = icmp.answers_echo(address, timeout=0.2)
            except icmp.IcmpUnavailable as exc:
                LOG.warning("cannot tell a hang from an outage of %s: %s", event.hostname, exc)
                answers = None
            if answers is not None:
                event.cause = "hang" if answers else "unreachable"
                if answers:
                    LOG.warning("host %s is HUNG: no heartbeat for %.0f ms while it answers ICMP",
                                event.hostname, (event.silent_s or 0) * 1000)
        event.classified.set()
