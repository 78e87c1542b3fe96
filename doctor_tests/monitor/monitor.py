"""The sample monitor: ICMP echo to one host, report ``compute.host.down`` to the inspector.

Defaults: a probe every 10 ms, each with a 50 ms timeout, host down after 3
consecutive misses.

- Fast: after the link goes down, the next probe leaves within one interval and the
  third missed one expires ``2 * interval + timeout`` later, so detection takes at
  most ``3 * interval + timeout`` = 80 ms. That leaves > 900 ms of the 1 s Doctor
  budget (T01 -> T09) to the inspector, Nova, Ceilometer and Aodh.
- Never a false alarm from one lost packet: one loss is one miss and the next reply
  resets the count. Three consecutive losses are needed (30 ms of total silence); at
  a loss rate of 1e-3 that is 1e-9 per probe, about one false alarm per 4 months at
  100 probes/s.
- The 50 ms timeout is far above LAN round-trip times (< 1 ms; ~50 us to the lab's
  namespace hosts) and absorbs scheduling jitter on a busy all-in-one lab. Replies
  the kernel has already received are always read before any deadline is judged, so
  a monitor thread that was stalled does not count them as misses.
- Cost: 100 packets/s of 64 bytes, about 6 kB/s per monitored host.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import socket
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from doctor_tests.monitor import icmp, report
from doctor_tests.monitor.tracker import ProbeTracker, Transition
from doctor_tests.timeutil import mono_to_epoch

LOG = logging.getLogger(__name__)

DEFAULT_INTERVAL = 0.01
DEFAULT_TIMEOUT = 0.05
DEFAULT_MISSES = 3
_PROBE_MEMORY = 1024  # probes remembered for matching (late replies included)


class MonitorConfigError(ValueError):
    """A monitor argument is not valid."""



class _Closable(Protocol):
    def close(self) -> None: ...


def stop_loops(stop: threading.Event, wake: tuple[socket.socket, socket.socket] | None,
               outbox: queue.Queue[Any], threads: Sequence[threading.Thread],
               sock: _Closable | None, timeout: float) -> None:
    """Stop a monitor's loops: the flag set, the receive loop's ``select`` woken through
    its socket pair, the report loop given its end-of-queue, each thread joined until
    ``timeout``, then the sockets closed."""
    stop.set()
    if wake is not None:
        try:
            wake[1].send(b"x")
        except OSError:
            pass
    outbox.put(None)
    for thread in threads:
        thread.join(timeout)
    if sock is not None:
        sock.close()
    for end in wake or ():
        end.close()

@dataclass(frozen=True)
class DownEvent:
    """The host was declared down (epoch seconds)."""

    hostname: str
    address: str
    event_id: str
    detected_at: float
    last_reply_at: float | None
    consecutive_misses: int


@dataclass(frozen=True)
class UpEvent:
    """The host answered again after being declared down (epoch seconds)."""

    hostname: str
    address: str
    event_id: str
    recovered_at: float


HostEvent = DownEvent | UpEvent


class Monitor:
    """Pings one host from a background thread; declares it down after consecutive misses.

    ``plane="dataplane"``: the address is the host's data-plane address, and its silence
    is reported as ``compute.host.dataplane.down`` (the host's ports, not the host).

    Reports go to the sample inspector at ``inspector_url``, or to ``reporter`` (Vitrage's
    or Masakari's, :mod:`doctor_tests.peers`), or to each of several reporters in turn (a
    list: the sample inspector fencing the host, then Masakari recovering its servers);
    with none, nothing is reported. The peers receive host reports only (neither knows a
    data-plane event).
    ``on_down``/``on_up`` are called (from the reporting thread, after the report) with the
    :class:`DownEvent`/:class:`UpEvent`. ``socket_factory`` exists for tests: it returns an
    object with the :class:`~doctor_tests.monitor.icmp.ProbeSocket` interface for the address.
    """

    def __init__(
        self,
        hostname: str,
        address: str,
        inspector_url: str | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        misses: int = DEFAULT_MISSES,
        on_down: Callable[[DownEvent], None] | None = None,
        on_up: Callable[[UpEvent], None] | None = None,
        report_up: bool = True,
        report_deadline: float = 5.0,
        socket_factory: Callable[[str], icmp.ProbeSocket] = icmp.IcmpSocket,
        plane: str = "host",
        reporter: report.Reporter | Sequence[report.Reporter] | None = None,
    ) -> None:
        if plane not in report.PLANES:
            raise MonitorConfigError(
                f"plane must be one of {', '.join(report.PLANES)}, not {plane!r}")
        self.plane = plane
        if not isinstance(hostname, str) or not hostname.strip():
            raise MonitorConfigError(f"hostname must be a non-empty string, not {hostname!r}")
        try:
            self.address = icmp.check_ipv4(address)
        except ValueError as exc:
            raise MonitorConfigError(str(exc)) from None
        for name, value in (("interval", interval), ("timeout", timeout)):
            if not value > 0:
                raise MonitorConfigError(f"{name} must be > 0 seconds, not {value!r}")
        if isinstance(misses, bool) or not isinstance(misses, int) or misses < 1:
            raise MonitorConfigError(f"misses must be an integer >= 1, not {misses!r}")
        if inspector_url is not None:
            parsed = urlparse(inspector_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise MonitorConfigError(
                    f"inspector URL must be http(s)://host:port, not {inspector_url!r}"
                )
        reporters: list[report.Reporter] = (
            [] if reporter is None else [reporter] if not isinstance(reporter, Sequence)
            else list(reporter))
        if inspector_url is not None and reporters:
            raise MonitorConfigError(
                "give an inspector URL or reporters (to %s), not both"
                % ", ".join(r.receiver for r in reporters))
        peers = [r.receiver for r in reporters if not isinstance(r, report.InspectorReporter)]
        if peers and plane != "host":
            raise MonitorConfigError(
                f"plane {plane!r}: {', '.join(peers)} receives host reports only")
        self.hostname = hostname.strip()
        self.inspector_url = inspector_url
        self.reporters: list[report.Reporter] = (
            [report.InspectorReporter(inspector_url, plane=plane)] if inspector_url is not None
            else reporters)
        self.interval = float(interval)
        self.timeout = float(timeout)
        self.misses = misses
        self.report_up = report_up
        self.report_deadline = report_deadline
        self._on_down = on_down
        self._on_up = on_up
        self._socket_factory = socket_factory

        self._tracker = ProbeTracker(self.timeout, misses)
        self._token = os.urandom(8)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._alive = threading.Event()
        self._down = threading.Event()
        self._up = threading.Event()
        self._down_event: DownEvent | None = None
        self._events: list[HostEvent] = []
        self._reports: list[report.ReportResult] = []
        self._outbox: queue.Queue[HostEvent | None] = queue.Queue()
        self._sock: icmp.ProbeSocket | None = None
        self._probes: OrderedDict[int, icmp.Probe] = OrderedDict()
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._threads: list[threading.Thread] = []
        self.send_errors = 0
        self.failure: BaseException | None = None  # why the probe loop stopped, if it crashed

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Open the ICMP socket and start probing (raises IcmpUnavailable)."""
        if self._threads:
            return
        self._sock = self._socket_factory(self.address)
        self._wake = socket.socketpair()
        LOG.info(
            "monitoring %s (%s) every %.3fs, timeout %.3fs, down after %d misses; %s socket",
            self.hostname, self.address, self.interval, self.timeout, self.misses, self._sock.kind,
        )
        self._threads = [
            threading.Thread(target=self._probe_loop, name=f"monitor-{self.hostname}", daemon=True),
            threading.Thread(target=self._report_loop, name=f"report-{self.hostname}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop probing; reports already queued are given until ``timeout`` to finish."""
        stop_loops(self._stop, self._wake, self._outbox, self._threads, self._sock, timeout)

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- waiting and state ------------------------------------------------------------
    def wait_alive(self, timeout: float) -> bool:
        """True once any matching reply has been seen (within ``timeout`` seconds)."""
        return self._alive.wait(timeout)

    def wait_down(self, timeout: float) -> DownEvent | None:
        """The down event once the host is declared down, or None after ``timeout``."""
        if self._down.wait(timeout):
            with self._lock:
                return self._down_event
        return None

    def wait_up(self, timeout: float) -> bool:
        """True once the host answered again after having been declared down."""
        return self._up.wait(timeout)

    @property
    def is_down(self) -> bool:
        return self._down.is_set()

    @property
    def detected_at(self) -> float | None:
        """Epoch time the host was (last) declared down."""
        with self._lock:
            return self._down_event.detected_at if self._down_event else None

    @property
    def last_reply_at(self) -> float | None:
        """Epoch time of the last matching reply."""
        last = self._tracker.last_reply_at
        return None if last is None else mono_to_epoch(last)

    @property
    def probes_sent(self) -> int:
        return self._tracker.sent

    @property
    def replies_received(self) -> int:
        return self._tracker.received

    @property
    def probes_missed(self) -> int:
        return self._tracker.missed

    @property
    def late_replies(self) -> int:
        return self._tracker.late

    @property
    def identifier(self) -> int | None:
        return self._sock.identifier if self._sock else None

    @property
    def socket_kind(self) -> str | None:
        return self._sock.kind if self._sock else None

    @property
    def events(self) -> list[HostEvent]:
        with self._lock:
            return list(self._events)

    @property
    def reports(self) -> list[report.ReportResult]:
        with self._lock:
            return list(self._reports)

    # --- the probe loop ---------------------------------------------------------------
    def _probe_loop(self) -> None:
        sock = self._sock
        assert sock is not None and self._wake is not None
        sequence = 0
        wake_fd = self._wake[0].fileno()
        next_send = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_send:
                    sequence = (sequence + 1) & 0xFFFF
                    self._send(sock, sequence, now)
                    next_send += self.interval
                    if next_send <= now:  # fell behind: do not send a burst
                        next_send = now + self.interval
                deadline = self._tracker.next_deadline()
                wake = next_send if deadline is None else min(next_send, deadline)
                readable, _, _ = select.select(
                    [sock.fileno(), wake_fd], [], [], max(0.0, wake - time.monotonic())
                )
                if wake_fd in readable:
                    break
                self._receive(sock)
                self._transition(self._tracker.expire(time.monotonic()))
        except Exception as exc:
            self.failure = exc
            LOG.exception("monitor loop for %s crashed: no more probes", self.hostname)

    def _send(self, sock: icmp.ProbeSocket, sequence: int, now: float) -> None:
        payload = self._token + struct.pack("!d", now)
        self._probes[sequence] = icmp.Probe(sock.identifier, sequence, self.address, payload)
        self._probes.move_to_end(sequence)
        if len(self._probes) > _PROBE_MEMORY:
            self._probes.popitem(last=False)
        self._tracker.probe_sent(sequence, now)
        try:
            sock.send_probe(sequence, payload)
        except OSError as exc:  # no route, link down ...: the probe will simply be missed
            self.send_errors += 1
            LOG.debug("probe %d to %s not sent: %s", sequence, self.address, exc)

    def _receive(self, sock: icmp.ProbeSocket) -> None:
        for reply in sock.receive():
            probe = self._probes.get(reply.sequence)
            if probe is None or not icmp.matches_probe(reply, probe):
                continue  # another host's, another pinger's, or a stale reply
            self._transition(self._tracker.reply_received(reply.sequence, time.monotonic()))
            self._alive.set()

    def _transition(self, transition: Transition | None) -> None:
        if transition is None:
            return
        event: HostEvent
        if transition.kind == "down":
            last = transition.last_reply_at
            event = DownEvent(
                self.hostname,
                self.address,
                str(uuid.uuid4()),
                detected_at=time.time(),
                last_reply_at=None if last is None else mono_to_epoch(last),
                consecutive_misses=transition.consecutive_misses,
            )
            with self._lock:
                self._down_event = event
                self._events.append(event)
            self._up.clear()
            self._down.set()
            LOG.warning(
                "host %s (%s) DOWN: %d consecutive probes missed", self.hostname,
                self.address, transition.consecutive_misses,
            )
        else:
            event = UpEvent(self.hostname, self.address, str(uuid.uuid4()), time.time())
            with self._lock:
                self._events.append(event)
            self._down.clear()
            self._up.set()
            LOG.warning("host %s (%s) is answering again", self.hostname, self.address)
        self._outbox.put(event)

    # --- the report loop --------------------------------------------------------------
    def _report_loop(self) -> None:
        while True:
            event = self._outbox.get()
            if event is None:
                return
            if isinstance(event, DownEvent):
                self._report(event, "down", event.detected_at)
                self._call(self._on_down, event)
            else:
                if self.report_up:
                    self._report(event, "up", event.recovered_at)
                self._call(self._on_up, event)

    def _report(self, event: HostEvent, kind: Literal["down", "up"], at: float) -> None:
        for reporter in self.reporters:
            self._report_to(reporter, event, kind, at)

    @property
    def reporter(self) -> report.Reporter | None:
        """The first receiver of the reports (None: none)."""
        return self.reporters[0] if self.reporters else None

    def _report_to(self, reporter: report.Reporter, event: HostEvent,
                   kind: Literal["down", "up"], at: float) -> None:
        started = time.time()
        status: int | None = None
        error: str | None = None
        attempts = 1
        try:
            status = reporter.send(self.hostname, kind, at, event.event_id,
                                   deadline=self.report_deadline).status
        except report.ReportFailed as exc:
            error, attempts, status = exc.last_error, exc.attempts, exc.status
        result = report.ReportResult(
            event.event_id, kind, reporter.url, error is None,
            status, attempts, started, time.time(), error,
        )
        with self._lock:
            self._reports.append(result)
        if error is None:
            LOG.info("reported host %s %s to %s %s (HTTP %s)", self.hostname, kind,
                     reporter.receiver, result.url, status)

    def _call(self, callback: Callable[[Any], None] | None, event: HostEvent) -> None:
        if callback is None:
            return
        try:
            callback(event)
        except Exception:
            LOG.exception("monitor callback for %s failed", self.hostname)
