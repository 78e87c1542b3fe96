"""One measured fault of the benchmark: reset, parts up, link down, every alarm, restore.

Steps of :func:`run_fault` (each timed; the figures in :class:`~.results.RunFigures`):

1. reset: the host's servers ACTIVE, their alarms ``insufficient data``, ports ACTIVE;
   the consumer forgets what it received;
2. the inspector with the variant's options (VmHWM reset first), its index holding the
   host's servers; the monitor answering; the event pipeline (Ceilometer, Aodh) quiet;
3. CPU snapshot; the link goes down on the host (T00 by the host's clock);
4. the monitor detects it (T01); every server's alarm arrives (poll with a deadline);
   CPU snapshot and peak RSS; a short settle for late duplicates;
5. restore: link up, T00 read back, the host-side fault script ended, the service
   un-forced and nova-compute up again; monitor and inspector stopped.

Everything the run changes has its undo registered before the change, in a stack of the
run's own that runs at its end (also after a failure or Ctrl-C).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openstack.connection import Connection

from doctor_tests.bench import cpu, machine
from doctor_tests.bench.fleet import Fleet
from doctor_tests.bench.options import Variant
from doctor_tests.bench.results import (
    RunFigures,
    consistency_windows,
    count_duplicates,
    cpu_per_server,
    first_alarm_latencies,
    ms,
)
from doctor_tests.cleanup import Cleanup
from doctor_tests.config import Settings
from doctor_tests.consumer import Consumer
from doctor_tests.fault import LinkFault
from doctor_tests.harness.env import CloudEnv
from doctor_tests.harness.run import service_back, start_inspector, start_monitor
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

PIPELINE = ("ceilometer-notification", "aodh-listener", "aodh-notifier")


@dataclass(frozen=True)
class RunConfig:
    """How each fault run is made (from the command line)."""

    settle_s: float = 2.0          # no new alarm for this long after the last expected one
    quiet_cpu: float = 0.3         # event pipeline CPU (cores) under which it counts as idle
    quiet_timeout_s: float = 60.0
    fault_duration_s: float = 600.0  # the host brings its link back by itself after this
    alarm_timeout_s: float = 60.0    # plus alarm_timeout_per_server_s per server
    alarm_timeout_per_server_s: float = 0.5
    cache_ttl_s: float = 0.0         # Aodh's event-alarm cache: reset states show after this


def wait_quiet(components: tuple[str, ...], max_cores: float, timeout: float,
               window_s: float = 0.5) -> float:
    """Wait until ``components`` together use less than ``max_cores`` over a window;
    returns the seconds waited (a warning, not an error, when it never gets quiet)."""
    started = time.monotonic()
    last: list[float] = [0.0]
    before = [cpu.snapshot()]

    def quiet() -> bool:
        after = cpu.snapshot()
        spent = cpu.difference(before[0], after)
        elapsed = max(1e-3, window_s)
        before[0] = after
        last[0] = sum(spent.get(name, 0.0) for name in components) / elapsed
        return last[0] < max_cores

    try:
        wait_until(quiet, timeout, "the event pipeline to go quiet", interval=window_s,
                   describe=lambda: "%.2f cores" % last[0])
    except WaitTimeout as exc:
        LOG.warning("%s; measuring anyway", exc)
    return time.monotonic() - started




def wait_alarm_cache(expires: float) -> float:
    """Wait until ``expires`` (monotonic) if it is still ahead; the seconds waited.

    Aodh's listener holds alarms (with their state) for event_alarm_cache_ttl: until the
    alarms put back to ``insufficient data`` have been re-read, it still sees them fired
    and would not fire again."""
    left = expires - time.monotonic()
    if left <= 0:
        return 0.0
    threading.Event().wait(left)
    return left


def run_fault(settings: Settings, env: CloudEnv, admin: Connection, fleet: Fleet,
              consumer: Consumer, variant: Variant, index: int, config: RunConfig,
              extra_options: Callable[[Variant], dict[str, Any]] | None = None) -> RunFigures:
    """One fault with ``variant``'s inspector; the run's figures."""
    steps: dict[str, float] = {}
    mark = time.monotonic()
    steps.update({"reset_" + k: v for k, v in fleet.reset().items()})
    consumer.clear()
    steps["reset_s"] = round(time.monotonic() - mark, 2)
    cache_expires = time.monotonic() + config.cache_ttl_s

    stack = Cleanup()
    try:
        mark = time.monotonic()
        hwm_reset = machine.reset_peak_rss()
        rss_before = machine.rss_mib() or 0.0
        options = dict(variant.options)
        if extra_options is not None:
            options.update(extra_options(variant))
        inspector, server = start_inspector(settings, stack, fleet.host, fleet.server_ids,
                                            **options)
        target = env.ssh_target(fleet.host)
        monitor = start_monitor(settings, stack, fleet.host, target, server.url)
        steps["parts_s"] = round(time.monotonic() - mark, 2)
        steps["quiet_s"] = round(wait_quiet(PIPELINE, config.quiet_cpu,
                                            config.quiet_timeout_s), 2)
        waited = wait_alarm_cache(cache_expires)
        if waited > 0:
            steps["cache_wait_s"] = round(waited, 2)

        fault = LinkFault(target, config.fault_duration_s, lambda: env.restore_link(fleet.host))
        stack.add("nova-compute on %s up again" % fleet.host, service_back, admin, fleet.host,
                  120.0)
        stack.add("fault script on %s" % fleet.host, fault.end_script)
        stack.add("link of %s" % fleet.host, fault.restore)
        cpu_before = cpu.snapshot()
        mark = time.monotonic()
        fault.inject()
        detected = monitor.wait_down(10)
        if detected is None:
            raise WaitTimeout("the monitor to detect %s down" % fleet.host, 10)

        on_host = fleet.alarm_servers_on_host
        expected = set(on_host)
        timeout = config.alarm_timeout_s + config.alarm_timeout_per_server_s * len(expected)

        def all_alarms() -> bool:
            return expected <= {a.alarm_id for a in consumer.alarms()}

        try:
            wait_until(all_alarms, timeout, "an alarm for each of the %d servers on %s"
                       % (len(expected), fleet.host), interval=0.02,
                       describe=lambda: "%d of %d" % (
                           len(expected & {a.alarm_id for a in consumer.alarms()}),
                           len(expected)))
        except WaitTimeout as exc:
            LOG.error("%s; recording the run with the servers that got none", exc)
        cpu_after = cpu.snapshot()
        peak = machine.rss_mib("VmHWM")
        steps["fault_to_alarms_s"] = round(time.monotonic() - mark, 2)

        mark = time.monotonic()
        _settle(consumer, config.settle_s)
        steps["settle_s"] = round(time.monotonic() - mark, 2)
        record = _inspector_record(inspector, fleet.host)

        mark = time.monotonic()
        fault.restore()
        t00 = fault.fault_time(60)
        stack.run()  # ends the host's fault script too (registered above), once
        steps["restore_s"] = round(time.monotonic() - mark, 2)
    finally:
        stack.run()

    deliveries = [(a.alarm_id, a.received_at) for a in consumer.alarms()]
    latencies = first_alarm_latencies(deliveries, fleet.alarms, fleet.server_ids,
                                      detected.detected_at)
    other = {a for a, s in fleet.alarms.items() if s not in set(fleet.server_ids)}
    times = record.get("times", {}) if record else {}
    received, last_error = times.get("received"), times.get("last_server_error")
    figures = RunFigures(
        vm_count=len(fleet.servers),
        variant=variant.name,
        run=index,
        detection_ms=ms(detected.detected_at - t00),
        first_alarm_ms=min(latencies.values()) if latencies else None,
        last_alarm_ms=max(latencies.values()) if len(latencies) == len(fleet.servers) else None,
        server_latencies_ms=tuple(sorted(latencies.values())),
        alarms_received=len(deliveries),
        missing_servers=len(fleet.servers) - len(latencies),
        duplicates=count_duplicates(a for a, _ in deliveries if a in on_host),
        stray_alarms=sum(1 for a, _ in deliveries if a in other),
        inspector_all_error_ms=(ms(last_error - received)
                                if received is not None and last_error is not None else None),
        inspector_errors=len(record.get("errors", [])) if record else 0,
        inspector_peak_rss_mb=(round(peak - rss_before, 1)
                               if peak is not None and hwm_reset else None),
        cpu_ms_per_server=cpu_per_server(cpu.difference(cpu_before, cpu_after),
                                         len(fleet.servers)),
        steps_s=steps,
        consistency_windows_ms=consistency_windows(
            deliveries, fleet.alarms, record.get("server_times", {}) if record else {}),
    )
    LOG.info("%d servers, %s, run %d: detection %.0f ms, first alarm %s ms, last alarm %s ms, "
             "%d duplicate(s), %d stray, inspector all ERROR %s ms, tenant told before Nova "
             "for up to %s ms; steps %s",
             figures.vm_count, variant.name, index, figures.detection_ms, figures.first_alarm_ms,
             figures.last_alarm_ms, figures.duplicates, figures.stray_alarms,
             figures.inspector_all_error_ms,
             max(figures.consistency_windows_ms, default=0.0), steps)
    return figures


def _settle(consumer: Consumer, settle_s: float, limit_s: float = 30.0) -> None:
    """Wait until no alarm has arrived for ``settle_s`` (late duplicates show up here)."""
    if settle_s <= 0:
        return

    def settled() -> bool:
        alarms = consumer.alarms()
        last = max((a.received_at for a in alarms), default=0.0)
        return time.time() - last >= settle_s

    try:
        wait_until(settled, limit_s, "alarms to stop arriving", interval=0.1)
    except WaitTimeout as exc:
        LOG.warning("%s", exc)


def _inspector_record(inspector: Any, host: str, timeout: float = 30.0) -> dict[str, Any] | None:
    """The inspector's (first, not duplicate) down record for ``host``, once complete."""
    for record in inspector.records(host):
        if record.kind == "down" and not record.duplicate:
            if not record.wait(timeout):
                LOG.warning("the inspector's round for %s is not complete after %.0f s",
                            host, timeout)
            data: dict[str, Any] = record.to_json()
            return data
    LOG.warning("the inspector has no down record for %s", host)
    return None

