"""Port data-plane status: a failed host's ports read DOWN, and their tenant is told.

Steps (seed blueprints "port data plane status", "Neutron port status update"):

1. servers on the host to fail, each on a Neutron port bound to that host, and
   one on another host; one tenant event alarm per port (``port.update.end``,
   ``traits.port_id`` and ``traits.data_plane_status == DOWN``);
2. policy: the project's member reads ``data_plane_status`` but may not write it (403);
3. the host's link goes down; the inspector sets ``data_plane_status`` DOWN on every
   port bound to the host;
4. checks: every port on the host reads DOWN, the other host's port is untouched,
   an alarm reaches the consumer for every port on the host and none for the other.
Fault -> ports DOWN and fault -> port alarm are measured; the ports' status is put
back afterwards.
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
from doctor_tests.harness.verdict import Verdict, publish
from doctor_tests.plugin import record_figures

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab, pytest.mark.fault]


def test_port_dp_down(worker_settings, admin, env, clean_start, cleanup, consumer, cache_wait,
                      record_property) -> None:
    """Link down -> the host's ports DOWN through the API -> the tenant's port alarms."""
    settings = worker_settings
    preflight.check_cloud(admin, need_extensions=("data-plane-status",))
    run = FaultRun(settings, admin, env, cleanup, consumer.consumer, consumer.failure_url)
    run.provision(settings.vm_count, cache_wait, server_alarms=False, case="port_dp_down")
    assert run.tenant is not None
    conn, member = run.tenant.admin, run.tenant.member
    by_device = {p.device_id: p for p in run.ports}
    host_ports = [by_device[s.id] for s in run.servers]
    other_ports = [by_device[s.id] for s in run.other_servers]
    assert all(p.binding_host_id == run.host for p in host_ports), host_ports

    # The ports' status is put back whatever happens (registered before any change).
    def _restore() -> None:
        for port in host_ports + other_ports:
            conn.network.put("/ports/%s" % port.id,
                             json={"port": {"data_plane_status": None}}, raise_exc=False)

    cleanup.add("data_plane_status of the run's ports", _restore)

    # Policy: the member reads the field, a write is refused.
    seen = member.network.get("/ports/%s" % host_ports[0].id, raise_exc=False)
    assert seen.status_code == 200 and "data_plane_status" in seen.json()["port"], seen.text
    write = member.network.put("/ports/%s" % host_ports[0].id,
                               json={"port": {"data_plane_status": "DOWN"}}, raise_exc=False)
    assert write.status_code == 403, "member could write data_plane_status: %s %s" % (
        write.status_code, write.text[:200])

    def _delete_alarms() -> None:
        for alarm in cloud.list_alarms(conn):
            if str(alarm.get("name", "")).startswith(run.name):
                cloud.delete_alarm(conn, alarm["alarm_id"])

    cleanup.add("port alarms %s*" % run.name, _delete_alarms)
    port_alarms: dict[str, str] = {}  # alarm id -> port id
    for port in host_ports + other_ports:
        body = cloud.port_alarm_body("%s-port-%s" % (run.name, port.id[:8]), port.id,
                                     consumer.failure_url)
        made = cloud.create_alarm(conn, body)
        port_alarms[made["alarm_id"]] = port.id
    run.wait_alarm_cache(cache_wait)

    run.start_parts()
    run.inject()
    detected = run.wait_detected(timeout=10)
    host_ids = {p.id for p in host_ports}
    c = consumer.consumer
    alarms = c.wait_for(lambda a: a.traits.get("port_id") in host_ids, count=len(host_ids),
                        timeout=60)
    record = run.wait_inspector_done(timeout=60)
    status = evidence.port_values(conn, sorted(host_ids))
    other_ids = sorted(p.id for p in other_ports)
    other_status = evidence.port_values(conn, other_ids)
    t00 = run.fault_time()

    verdict = Verdict("port_dp_down")
    verdict.check("the inspector handled the fault", record is not None,
                  "the inspector recorded no round for %s" % run.host)
    verdict.check("ports on the host DOWN", set(status.values()) == {"DOWN"},
                  "ports on %s not all DOWN: %s" % (run.host, status))
    missing = host_ids - {a.traits.get("port_id") for a in alarms}
    verdict.check("port alarm for every port on the host", not missing,
                  "no port alarm for %s" % sorted(missing))
    # The other host's ports, by evidence: Neutron never set them DOWN after the inspector's
    # round (so no matching port.update.end exists), and Aodh never fired their alarms.
    quiet = all(v != "DOWN" for v in other_status.values())
    evidence_lines = ["Neutron: %s" % other_status]
    for alarm_id, port_id in port_alarms.items():
        if port_id in other_ids:
            never, what = evidence.alarm_never_fired(conn, alarm_id, c)
            quiet &= never
            evidence_lines.append(what)
    verdict.check("no port alarm for the other host's ports", quiet,
                  evidence="on %s: %s" % (run.other_host, "; ".join(evidence_lines)))
    verdict.check("every port alarm delivered once", not c.duplicates(), str(c.duplicates()))

    figures: dict[str, Any] = {"ports_on_host": len(host_ids), "port_alarms": len(alarms),
                               "detection_ms": round((detected.detected_at - t00) * 1000, 1)}
    if record and record["times"].get("ports_down"):
        figures["fault_to_ports_down_ms"] = round((record["times"]["ports_down"] - t00) * 1000,
                                                  1)
    if alarms:
        figures["fault_to_last_port_alarm_ms"] = round(
            (max(a.received_at for a in alarms) - t00) * 1000, 1)
    record_figures(record_property, figures)
    print("\n" + tabulate(sorted(figures.items()), headers=["figure", "value"]))

    publish(verdict, {"figures": figures}, settings, run.started, time.time(), record_property)
    verdict.assert_passed()
