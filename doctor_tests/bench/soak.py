"""Soak: the monitors watching healthy hosts with both cores loaded.

Counts false alarms (a healthy host declared down, or its data plane) over a fixed time,
with each monitor's default settings, while a CPU hog the benchmark starts keeps every
core busy: the sample monitor (ICMP from the runner) and, where the hosts run it, the
collectd monitor (the hosts' heartbeats). Nothing is reported to an inspector: the
monitors only count.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from doctor_tests.monitor.monitor import Monitor

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SoakResult:
    minutes: float
    hosts: list[str]
    cpu_hogs: int
    false_alarms: int
    probes_sent: int
    replies_received: int
    probes_missed: int
    late_replies: int
    # the collectd monitor (None: not soaked)
    collectd_false_alarms: int | None = None
    collectd_heartbeats: int | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _hog(stop_at: float) -> None:
    """Burn one core until ``stop_at`` (a monotonic deadline); ends by itself."""
    # A forked child inherits the parent's handlers (doctor bench turns SIGTERM into
    # KeyboardInterrupt): the soak's terminate() must just end it, without a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    x = 0
    while time.monotonic() < stop_at:
        for _ in range(10000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def run_soak(hosts: Sequence[tuple[str, str]], minutes: float, cpu_hogs: int | None = None,
             progress_every_s: float = 60.0, collectd_port: int | None = None) -> SoakResult:
    """Watch ``hosts`` ((name, address) pairs) for ``minutes`` with every core busy; with
    ``collectd_port``, the collectd monitor's receiver on that port watches them too."""
    hogs = cpu_hogs if cpu_hogs is not None else (os.cpu_count() or 1)
    duration = minutes * 60.0
    deadline = time.monotonic() + duration
    downs: list[str] = []
    lock = threading.Lock()

    def on_down(event: object) -> None:
        with lock:
            downs.append(getattr(event, "hostname", "?"))
        LOG.warning("false alarm: %s declared down during the soak", event)

    monitors = [Monitor(name, address, None, on_down=on_down, report_up=False)
                for name, address in hosts]
    heartbeats = None
    if collectd_port is not None:
        from doctor_tests.monitor.collectd import CollectdMonitor

        heartbeats = CollectdMonitor(dict(hosts), None, port=collectd_port, report_up=False,
                                     classify=False)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hog, args=(deadline + 1.0,), daemon=True) for _ in range(hogs)]
    LOG.info("soak: %d hosts for %.1f min with %d CPU hogs", len(hosts), minutes, hogs)
    for p in procs:
        p.start()
    try:
        for m in monitors:
            m.start()
        if heartbeats is not None:
            heartbeats.start()
            for name, _ in hosts:
                if not heartbeats.wait_alive(name, 10):
                    raise RuntimeError("soak: no collectd heartbeat from %s on port %s"
                                       % (name, collectd_port))
        stop = threading.Event()
        while not stop.wait(max(0.0, min(progress_every_s, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                break
            LOG.info("soak: %.0f s left, %d false alarms so far, %d probes sent",
                     deadline - time.monotonic(), len(downs),
                     sum(m.probes_sent for m in monitors))
    finally:
        for m in monitors:
            m.stop()
        if heartbeats is not None:
            heartbeats.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=5)
    return SoakResult(
        minutes=minutes,
        hosts=[name for name, _ in hosts],
        cpu_hogs=hogs,
        false_alarms=len(downs),
        probes_sent=sum(m.probes_sent for m in monitors),
        replies_received=sum(m.replies_received for m in monitors),
        probes_missed=sum(m.probes_missed for m in monitors),
        late_replies=sum(m.late_replies for m in monitors),
        collectd_false_alarms=(None if heartbeats is None else
                               sum(1 for e in heartbeats.events()
                                   if e.kind in ("down", "dataplane_down"))),
        collectd_heartbeats=(None if heartbeats is None else
                             sum(heartbeats.heartbeats(name) for name, _ in hosts)),
    )
