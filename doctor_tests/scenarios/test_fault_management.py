"""Fault management: a compute host's link goes down; the tenant is told within a second.

Steps:

1. preflight: Keystone, Nova (force-down microversion), Neutron, Aodh answer; the
   consumer answers; Aodh's event-alarm cache is off (or waited out);
2. a project of the run's own, VM_COUNT servers on the host to fail and one on
   another host, one event alarm per server (state error -> the consumer);
3. the inspector (its index holding every server) and the monitor (ICMP) start;
4. the host's link goes down, on the host, over SSH (T00);
5. the monitor detects it (T01) and tells the inspector, which forces the host's
   nova-compute down, resets its servers to error and sets their ports' data plane
   DOWN (T02-T04); Nova notifies, Ceilometer turns it into an event, Aodh fires each
   alarm (T05-T08) at the consumer (T09, T10);
6. checks: an alarm for every server on the host, none for the other; the service
   forced down; the servers in ERROR; their ports DOWN; notification time (T09 - T01)
   under the threshold. The profile goes to results/ (JSON, picture), the figures into
   JUnit.

With ``INSPECTOR_TYPE=vitrage`` the inspector is Vitrage (docs/peers.md): no inspector of
Doctor's starts, the monitor posts the host's event to Vitrage's API, Vitrage's template
forces the host down and resets its servers to error; what Vitrage did is read from its
API and its own log, the ports' check is named as not Vitrage's job, and the run ends
with the host's "up" and Vitrage's undo.

Everything is undone afterwards, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from tabulate import tabulate

from doctor_tests import cloud, preflight
from doctor_tests.harness import evidence
from doctor_tests.harness.run import FaultRun
from doctor_tests.harness.verdict import FaultFacts, fault_management_verdict, publish
from doctor_tests.peers import vitrage
from doctor_tests.plugin import record_figures
from doctor_tests.profiler.junit import junit_properties
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab, pytest.mark.fault]


def test_fault_management(worker_settings, admin, env, clean_start, cleanup, consumer,
                          cache_wait, record_property, repeat_index) -> None:
    """Link down on a compute host -> host forced down, VMs ERROR -> alarm at the consumer."""
    settings = worker_settings
    preflight.check_cloud(admin)
    run = FaultRun(settings, admin, env, cleanup, consumer.consumer, consumer.failure_url)
    run.provision(settings.vm_count, cache_wait)
    run.start_parts()

    run.inject()
    detected = run.wait_detected(timeout=10)
    on_host = {s.id for s in run.servers}
    c = consumer.consumer
    alarms = c.wait_for(lambda a: a.instance_id in on_host, count=len(on_host), timeout=60)
    if settings.inspector_type == "vitrage":
        inspector, handled = _vitrage_handling(run, admin, on_host)
        ports_na = ("not Vitrage's job: its template (roles/lab_peers/files/"
                    "doctor-host-down.yaml) marks the host and its servers down and has no "
                    "Neutron action; the lab enables none of Vitrage's Neutron datasources")
        port_states = None
    else:
        inspector = run.wait_inspector_done(timeout=60)
        handled, ports_na = "", ""
        host_ports = [p.id for p in run.ports if p.device_id in on_host]
        port_states = evidence.port_values(admin, host_ports)

    # The server elsewhere: evidence, not a quiet window (doctor_tests.harness.evidence).
    assert run.tenant is not None
    quiet, seen = evidence.no_alarm_for_servers(run.tenant.admin, admin, run.alarms,
                                                [s.id for s in run.other_servers], c)
    services = {s.host: s for s in cloud.compute_services(admin)}
    states = evidence.server_states(admin, sorted(on_host))

    t00 = run.fault_time()
    figures: dict[str, Any] = {
        "inspector": settings.inspector_type,
        "vm_count": settings.vm_count,
        "fault_host": run.host,
        "detection_ms": round((detected.detected_at - t00) * 1000, 1),
        "alarms_received": len(alarms),
        "inspector_shortcut": settings.inspector_shortcut,
        # which notification fired each alarm: Nova's or the inspector's shortcut
        "alarms_from_shortcut": sum(1 for a in alarms
                                    if a.traits.get("service") == "doctor-inspector"),
    }
    notification_ms = None
    if alarms:
        first = min(a.received_at for a in alarms)
        last = max(a.received_at for a in alarms)
        figures["notification_first_ms"] = round((first - detected.detected_at) * 1000, 1)
        figures["notification_last_ms"] = round((last - detected.detected_at) * 1000, 1)
        notification_ms = (last - detected.detected_at) * 1000
    profile = run.profile()
    if profile is not None and profile.notification_ms is not None:
        notification_ms = profile.notification_ms
    verdict = fault_management_verdict(FaultFacts(
        host=run.host, servers_on_host=on_host,
        alarmed_servers={a.instance_id for a in alarms if a.instance_id},
        others_quiet=quiet, others_evidence="on %s: %s" % (run.other_host, seen),
        duplicates=c.duplicates(), inspector_record=inspector,
        forced_down=bool(services[run.host].is_forced_down), server_states=states,
        notification_ms=notification_ms,
        threshold_ms=settings.notification_threshold_s * 1000,
        missing_checkpoints=profile.missing if profile is not None else {},
        inspector=settings.inspector_type, inspector_evidence=handled,
        port_states=port_states, ports_not_applicable=ports_na))

    record_figures(record_property, figures)
    if profile is not None:
        run.write_profile(profile, "profile" if settings.repeat == 1
                          else "profile-%d" % (repeat_index + 1))
        for key, value in junit_properties(profile):
            # the profile's own PASS/FAIL judges the time alone; the run's is "criteria"
            record_property("notification_verdict" if key == "verdict" else key, value)
    print("\n" + tabulate(sorted(figures.items()), headers=["figure", "value"]))
    publish(verdict, profile if profile is not None else {"figures": figures}, settings,
            run.started, time.time(), record_property)
    verdict.assert_passed()


def _vitrage_handling(run: FaultRun, admin: Any, on_host: set[str]
                      ) -> tuple[dict[str, Any] | None, str]:
    """What Vitrage did with the fault: its state (the host marked down, its doctor alarm,
    the deduced alarm on each server) once it shows the whole fault, or after a deadline,
    and its nova notifier's calls and failures from its own log. Returns (a record in the
    sample inspector's terms: its ``errors``; None when Vitrage shows no handling,
    evidence)."""
    api = vitrage.VitrageApi(admin)
    last: list[vitrage.VitrageState] = []

    def complete() -> bool:
        last[:] = [api.state(run.host, on_host)]
        forced = any(s.host == run.host and s.is_forced_down
                     for s in cloud.compute_services(admin))
        return last[0].marked_down and last[0].deduced == on_host and forced

    try:
        wait_until(complete, 30, "Vitrage to show the fault of %s" % run.host, interval=0.5,
                   describe=lambda: last[0].describe() if last else "not read")
    except WaitTimeout as exc:
        LOG.error("%s", exc)
    state = last[0]
    steps = run.peer_steps()
    calls = {kind: sum(1 for s in steps if s.kind == kind)
             for kind in ("vitrage.notifier.force_down", "vitrage.notifier.reset_state")}
    failed = [{"action": s.kind, "detail": s.detail} for s in steps
              if s.kind == "vitrage.notifier.failed"]
    seen = "Vitrage: %s; vitrage-notifier: %d force-down, %d reset-state call(s), %d failed" % (
        state.describe(), calls["vitrage.notifier.force_down"],
        calls["vitrage.notifier.reset_state"], len(failed))
    handled = state.marked_down or state.host_alarms > 0
    return ({"errors": failed} if handled else None), seen
