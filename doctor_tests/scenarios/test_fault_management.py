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
from doctor_tests.profiler.junit import junit_properties
from doctor_tests.profiler.results_db import build_record, upload_record, write_record
from doctor_tests.scenarios._fault import FaultRun
from doctor_tests.scenarios.conftest import record_figures

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab, pytest.mark.fault]


def test_fault_management(worker_settings, admin, env, cleanup, consumer, cache_wait,
                          record_property, repeat_index) -> None:
    """Link down on a compute host -> host forced down, VMs ERROR -> alarm at the consumer."""
    settings = worker_settings
    preflight.check_cloud(admin)
    run = FaultRun(settings, admin, env, cleanup, consumer.consumer, consumer.failure_url)
    run.provision(settings.vm_count, cache_wait)
    run.start_parts()

    run.inject()
    detected = run.wait_detected(timeout=10)
    on_host = {s.id for s in run.servers}
    alarms = consumer.consumer.wait_for(lambda a: a.instance_id in on_host, count=len(on_host),
                                        timeout=60)
    # Grace for an alarm that must not come (the server elsewhere): poll a few seconds.
    elsewhere = {s.id for s in run.other_servers}
    stray = consumer.consumer.wait_for(lambda a: a.instance_id in elsewhere, count=1, timeout=3)

    services = {s.host: s for s in cloud.compute_services(admin)}
    states = {s.id: admin.compute.get_server(s.id).status for s in run.servers}
    t00 = run.fault_time()
    profile = run.profile()
    paths = run.write_profile(profile, "profile" if settings.repeat == 1
                              else "profile-%d" % (repeat_index + 1))
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
    if alarms:
        first = min(a.received_at for a in alarms)
        last = max(a.received_at for a in alarms)
        figures["notification_first_ms"] = round((first - detected.detected_at) * 1000, 1)
        figures["notification_last_ms"] = round((last - detected.detected_at) * 1000, 1)
    record_figures(record_property, figures)
    for key, value in junit_properties(profile):
        record_property(key, value)
    print("\n" + tabulate(sorted(figures.items()), headers=["figure", "value"]))

    ok = (len({a.instance_id for a in alarms}) == len(on_host) and not stray
          and services[run.host].is_forced_down and set(states.values()) == {"ERROR"}
          and profile.notification_ms is not None
          and profile.notification_ms < settings.notification_threshold_s * 1000)
    record = build_record(profile, "fault_management", settings.installer_type, ok, run.started,
                          time.time(), settings.build_tag,
                          {"DEPLOY_SCENARIO": settings.deploy_scenario or "",
                           "NODE_NAME": settings.node_name or "",
                           "BUILD_TAG": settings.build_tag or ""})
    write_record(record, settings.results_dir)
    if settings.test_db_url:
        upload_record(record, settings.test_db_url)
    LOG.info("profile written: %s", paths)

    missing = on_host - {a.instance_id for a in alarms}
    assert not missing, "no alarm for %d of %d servers on %s: %s" % (
        len(missing), len(on_host), run.host, sorted(missing))
    assert not stray, "an alarm fired for the server on %s, which did not fail: %s" % (
        run.other_host, stray)
    assert not consumer.consumer.duplicates(), consumer.consumer.duplicates()
    inspector = run.inspector_record()
    assert inspector is not None, "the inspector recorded no round for %s" % run.host
    assert not inspector["errors"], "inspector actions failed: %s" % inspector["errors"]
    assert services[run.host].is_forced_down, "nova-compute on %s is not forced down" % run.host
    assert set(states.values()) == {"ERROR"}, "servers on %s not all ERROR: %s" % (
        run.host, states)
    assert profile.notification_ms is not None, report_missing(profile)
    assert profile.notification_ms < settings.notification_threshold_s * 1000, (
        "notification took %.0f ms (limit %.0f ms)" % (
            profile.notification_ms, settings.notification_threshold_s * 1000))


def report_missing(profile: Any) -> str:
    return "no notification time: missing %s" % profile.missing
