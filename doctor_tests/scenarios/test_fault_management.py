"""Fault management: a compute host's link goes down; the tenant is told within a second.

Steps:

1. preflight: Keystone, Nova (force-down microversion), Neutron, Aodh answer; the
   consumer answers; Aodh's event-alarm cache is off (or waited out);
2. a project of the run's own, VM_COUNT servers on the host to fail and one on
   another host, one event alarm per server (state error -> the consumer);
3. the inspector (its index holding every server) and the monitor (ICMP) start;
4. the host's link goes down, on the host, over SSH (T00);
5. the monitor detects it (T01) and tells the inspector, which forces the host's
   nova-compute down and resets its servers to error (T02-T04); Nova notifies,
   Ceilometer turns it into an event, Aodh fires each alarm (T05-T08) at the
   consumer (T09, T10);
6. checks: an alarm for every server on the host, none for the other; the service
   forced down; the servers in ERROR; notification time (T09 - T01) under the
   threshold. The profile goes to results/ (JSON, picture), the figures into JUnit.

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
from doctor_tests.plugin import record_figures
from doctor_tests.profiler.junit import junit_properties

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
    inspector = run.wait_inspector_done(timeout=60)

    # The server elsewhere: evidence, not a quiet window (doctor_tests.harness.evidence).
    assert run.tenant is not None
    quiet, seen = evidence.no_alarm_for_servers(run.tenant.admin, admin, run.alarms,
                                                [s.id for s in run.other_servers], c)
    services = {s.host: s for s in cloud.compute_services(admin)}
    states = evidence.server_states(admin, sorted(on_host))

    t00 = run.fault_time()
    figures: dict[str, Any] = {
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
        missing_checkpoints=profile.missing if profile is not None else {}))

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
