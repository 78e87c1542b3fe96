"""Recovery (``TEST_CASE=recovery INSPECTOR_TYPE=masakari``): a compute host's link goes
down; Masakari evacuates its servers, and each runs again on another host.

Steps:

1. preflight: Keystone, Nova, Neutron, Aodh answer; Masakari holds the host in a failover
   segment, not on maintenance;
2. a project of the run's own, VM_COUNT servers on the host to fail and one on another
   host, one event alarm per server on the evacuation's notification
   (``compute.instance.rebuild.end``, state active -> the consumer);
3. Doctor's inspector, fencing the host only, and the monitor (ICMP) start; the monitor
   reports to the inspector, then to Masakari's notifications API (``COMPUTE_HOST``
   ``STOPPED``, as masakari-monitors' host monitor would);
4. the host's link goes down (T00); the monitor detects it (T01); the inspector forces the
   host's nova-compute down (Nova evacuates only from a host that is down); Masakari puts
   the host on maintenance, disables its nova-compute, waits
   (``wait_period_after_service_update``), evacuates each server; Nova rebuilds each on
   another host (the lab's ML2 driver binds its port there) and notifies; Aodh fires each
   server's alarm at the consumer;
5. checks: Masakari accepted the notification; the host forced down before the first
   evacuation; its nova-compute disabled; every server ACTIVE on another host, its port
   bound there; an alarm for every server, once; none for the server elsewhere; Masakari's
   notification finished; the recovery time (every server ACTIVE elsewhere after
   detection) measured. The timeline goes to results/recovery/ (recovery.json), the
   figures into JUnit and results/recovery/results.json.

Afterwards the link comes back, the host's nova-compute restarts as a recovered host's
does (it completes the evacuations; Nova refuses to un-force the host before), the host is
un-forced, Masakari's notifications settle, the host goes out of maintenance and its
nova-compute is enabled again, and the run's servers (wherever they now are) are deleted,
also after a failure or Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from tabulate import tabulate

from doctor_tests import cloud, preflight, resources
from doctor_tests.harness import evidence
from doctor_tests.harness.recovery import (
    REBUILD_END,
    RecoveryFacts,
    Step,
    Timeline,
    masakari_steps,
    rebuild_steps,
    recovery_verdict,
    wait_notification,
    wait_recovered,
    write_timeline,
)
from doctor_tests.harness.run import FaultRun
from doctor_tests.harness.verdict import publish
from doctor_tests.monitor.report import ReportResult
from doctor_tests.peers import masakari
from doctor_tests.plugin import record_figures

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab, pytest.mark.fault]

#: Masakari's wait after disabling the host (180 s by default) plus the evacuations
RECOVERY_TIMEOUT_S = 300.0
RECOVERY_PER_SERVER_S = 10.0


def test_recovery(worker_settings, admin, env, clean_start, cleanup, consumer, cache_wait,
                  record_property, repeat_index) -> None:
    """Link down on a compute host -> Masakari evacuates its servers -> each ACTIVE elsewhere."""
    settings = worker_settings
    preflight.check_cloud(admin)
    run = FaultRun(settings, admin, env, cleanup, consumer.consumer, consumer.failure_url)
    run.provision(settings.vm_count, 0.0, server_alarms=False, case="recovery")
    check_masakari(admin, run.host)
    assert run.tenant is not None
    c = consumer.consumer
    run.alarms = resources.create_alarms(run.tenant.admin, cleanup, run.name,
                                         run.servers + run.other_servers, consumer.failure_url,
                                         state="active", event_type=REBUILD_END)
    run.wait_alarm_cache(cache_wait)
    run.start_parts()
    if run.bus is None:
        run.start_bus(always=True)  # the rebuilds' notifications are the recovery's steps

    run.inject()
    detected = run.wait_detected(timeout=10)
    on_host = [s.id for s in run.servers]
    polled = wait_recovered(admin, run.host, on_host, run.started,
                            RECOVERY_TIMEOUT_S + RECOVERY_PER_SERVER_S * len(on_host))
    alarms = c.wait_for(lambda a: a.instance_id in set(on_host), count=len(on_host),
                        timeout=60)
    status = wait_notification(admin, run.host, run.started)

    servers = {sid: admin.compute.get_server(sid) for sid in on_host}
    placement = {sid: (s.status, s.compute_host) for sid, s in servers.items()}
    assert run.boot_with is not None
    port_hosts = {p.device_id: p.binding_host_id
                  for p in admin.network.ports(network_id=run.boot_with[2].id)
                  if p.device_id in servers}
    quiet, seen = evidence.no_alarm_for_servers(run.tenant.admin, admin, run.alarms,
                                                [s.id for s in run.other_servers], c)
    service = next(s for s in cloud.compute_services(admin) if s.host == run.host)
    report = masakari_report(run)
    t00 = run.fault_time()
    timeline = Timeline(t00, detected.detected_at, servers=tuple(on_host))
    record = run.inspector_record()
    marked = (record or {}).get("times", {}).get("host_marked_down")
    if marked is not None:
        timeline.add(Step("host forced down", marked, "trace:inspector"))
    if report is not None and report.ok:
        timeline.add(Step("notification accepted", report.finished_at, "trace:monitor",
                          detail="HTTP %s" % report.status))
    timeline.extend(masakari_steps(run.peer_steps(), run.host, on_host))
    if run.bus is not None:
        timeline.extend(rebuild_steps([(m.received, n) for m, n in run.bus.notifications()],
                                      on_host, run.host))
    on_bus = timeline.per_server("ACTIVE again")
    timeline.extend(Step("ACTIVE again", at, "poll:nova", sid, "seen by the scenario's poll")
                    for sid, at in polled.items() if sid not in on_bus)
    timeline.extend(Step("alarm received", a.received_at, "trace:consumer", a.instance_id,
                         "on %s" % a.traits.get("host")) for a in alarms if a.instance_id)
    evacuated = timeline.first("masakari: evacuate called")
    facts = RecoveryFacts(
        host=run.host, servers=on_host, placement=placement, port_hosts=port_hosts,
        alarmed={a.instance_id for a in alarms if a.instance_id}, duplicates=c.duplicates(),
        others_quiet=quiet, others_evidence="on %s: %s" % (run.other_host, seen),
        accepted=report is not None and report.ok,
        accepted_evidence=describe_report(report),
        notification_status=status,
        disabled=service.status == "disabled",
        forced_before_evacuation=(None if evacuated is None or marked is None
                                  else marked < evacuated),
        fence_evidence="forced down at %s, first evacuation called at %s (ms after T00)" % (
            None if marked is None else round((marked - t00) * 1000, 1),
            None if evacuated is None else round((evacuated - t00) * 1000, 1)),
        timeline=timeline)
    verdict = recovery_verdict(facts)

    figures: dict[str, Any] = {"inspector": settings.inspector_type,
                               "vm_count": settings.vm_count, "fault_host": run.host,
                               **timeline.figures(),
                               "alarms_received": len(alarms),
                               "alarms_from_new_host": sum(
                                   1 for a in alarms if a.traits.get("host") not in
                                   (None, run.host))}
    record_figures(record_property, figures)
    path = write_timeline(timeline, settings.results_dir)
    print("\n" + timeline.table())
    print("\n" + tabulate(sorted(figures.items()), headers=["figure", "value"]))
    LOG.info("recovery timeline: %s", path)
    publish(verdict, {"figures": figures}, settings, run.started, time.time(), record_property)
    verdict.assert_passed()


def check_masakari(admin: Any, host: str) -> None:
    """Masakari must hold ``host`` in a failover segment, not on maintenance (else it
    refuses the notification)."""
    hosts = masakari.segment_hosts(admin, host)
    if not hosts:
        raise preflight.PreflightError(
            "Masakari has no failover segment holding %s: the recovery scenario needs one "
            "(the lab makes segment doctor-lab of its compute hosts, roles/lab_peers)" % host)
    busy = [h for h in hosts if h.on_maintenance]
    if busy:
        raise preflight.PreflightError(
            "Masakari has %s on maintenance in segment %s: it would refuse the notification "
            "('doctor cleanup' takes it out)" % (host, busy[0].segment))


def masakari_report(run: FaultRun) -> ReportResult | None:
    """The monitor's report of the host down to Masakari."""
    monitor = getattr(run.monitor, "host", None)
    reports = getattr(monitor, "reports", [])
    return next((r for r in reports if r.kind == "down" and "/notifications" in r.url), None)


def describe_report(report: ReportResult | None) -> str:
    if report is None:
        return "the monitor made no report to Masakari"
    return "POST %s: HTTP %s after %d attempt(s), %.0f ms%s" % (
        report.url, report.status, report.attempts,
        (report.finished_at - report.started_at) * 1000,
        "; %s" % report.error if report.error else "")
