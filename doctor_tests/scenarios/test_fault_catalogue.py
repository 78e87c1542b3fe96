"""The fault catalogue: every fault of doctor_tests.faults, each with the monitors that apply,
and its expected reaction checked, the absence of a reaction included, by evidence.

Steps, for each fault (DOCTOR_FAULTS selects some; default all):

1. a project of the run's own, VM_COUNT servers on the host to fail (two hosts for
   ``two_hosts``) and one on another host; an event alarm per server (state error) and
   per port (``data_plane_status`` DOWN), every one towards the consumer;
2. the inspector and every monitor MONITOR_TYPE names (both may run: the inspector acts on
   the first report); a fault that needs a reaction and that none of them can see (``hang``
   with the ICMP monitor alone) is skipped, saying so;
3. the fault (doctor_tests.faults), its undo registered first;
4. the checks, from the fault's expected reaction (those that something did not happen are
   named ``absent: ...``: the bench matrix counts their failures as false reactions):
   - a host failure: every monitor that can see it reports it; the host forced down, its
     servers ERROR, its ports DOWN, an alarm for each server and port on it, none for the
     other host's (Nova's state, Aodh's history, the consumer), every alarm once;
   - a data-plane failure: its ports DOWN and their alarms; the host not forced down, its
     servers ACTIVE and their alarms never fired;
   - nothing (``compute_agent_down``, ``flap``): once the fault is over, no monitor reported
     anything, the inspector recorded no round for the host, Nova has it up and its servers
     ACTIVE, no alarm fired; and a witness that the fault did happen (the agent's pids
     killed; the ICMP monitor's missed probes during the flap).

Everything is undone afterwards (the links, the processes, the forced-down service, the
servers), also after a failure or Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from tabulate import tabulate

from doctor_tests import cloud, preflight, resources
from doctor_tests.faults import FAULTS, FaultHost, FaultOptions, get_fault, make_fault
from doctor_tests.harness import evidence
from doctor_tests.harness.run import FaultRun, service_back
from doctor_tests.harness.verdict import Verdict, publish
from doctor_tests.monitor.registry import HostMonitor, SampleMonitor
from doctor_tests.plugin import record_figures
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab, pytest.mark.fault]


def _third_host(admin: Any, taken: set[str]) -> str:
    healthy = sorted(s.host for s in cloud.compute_services(admin)
                     if s.state == "up" and s.status == "enabled" and not s.is_forced_down
                     and s.host not in taken)
    if not healthy:
        pytest.skip("two_hosts needs three healthy compute hosts (doctor lab up --computes 3)")
    return healthy[0]


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_fault_catalogue(fault_name, worker_settings, admin, env, installer, clean_start,
                         cleanup, consumer, cache_wait, record_property) -> None:
    """One fault of the catalogue -> its expected reaction, and nothing more."""
    settings = worker_settings
    spec = get_fault(fault_name)
    if settings.faults and fault_name not in settings.faults:
        pytest.skip("not in DOCTOR_FAULTS (%s)" % ", ".join(settings.faults))
    seeing = [m for m in settings.monitor_type if m in spec.detected_by]
    if spec.expected.any_reaction and not seeing:
        pytest.skip("%s: none of MONITOR_TYPE=%s can see it (seen by %s)" % (
            fault_name, ",".join(settings.monitor_type), ", ".join(spec.detected_by)))
    preflight.check_cloud(admin, need_extensions=("data-plane-status",))
    run = FaultRun(settings, admin, env, cleanup, consumer.consumer, consumer.failure_url)
    run.provision(settings.vm_count, 0.0, case="fault_catalogue")
    assert run.tenant is not None and run.boot_with is not None
    conn = run.tenant.admin
    failed = [run.host]
    servers = {run.host: list(run.servers)}
    if spec.hosts == 2:  # the control server's host fails too; a third host must not alarm
        second = run.other_host
        third = _third_host(admin, {run.host, second})
        flavor, image, network = run.boot_with
        servers[second] = list(run.other_servers)
        run.other_host = third
        run.other_servers = resources.boot_servers(conn, cleanup, run.name + "-third", 1,
                                                   third, flavor, image, network)
        run.alarms.update(resources.create_alarms(conn, cleanup, run.name + "-third",
                                                  run.other_servers, consumer.failure_url))
        failed.append(second)
    on_failed = {s.id for host in failed for s in servers[host]}
    ports = {p.device_id: p for p in conn.network.ports(network_id=run.boot_with[2].id)
             if p.device_owner.startswith("compute:")}
    failed_ports = {ports[sid].id for sid in on_failed if sid in ports}
    other_ports = {ports[s.id].id for s in run.other_servers if s.id in ports}

    def _ports_back() -> None:
        for pid in failed_ports | other_ports:
            conn.network.put("/ports/%s" % pid, json={"port": {"data_plane_status": None}},
                             raise_exc=False)

    cleanup.add("data_plane_status of the run's ports", _ports_back)
    port_alarms: dict[str, str] = {}

    def _delete_port_alarms() -> None:
        for alarm_id in port_alarms:
            cloud.delete_alarm(conn, alarm_id)

    cleanup.add("port alarms of %s" % run.name, _delete_port_alarms)
    for pid in sorted(failed_ports | other_ports):
        body = cloud.port_alarm_body("%s-port-%s" % (run.name, pid[:8]), pid,
                                     consumer.failure_url)
        made = cloud.create_alarm(conn, body)
        port_alarms[made["alarm_id"]] = pid
    run.wait_alarm_cache(cache_wait)

    run.start_parts(also_watch=failed[1:])
    monitors = run.watched

    options = FaultOptions(duration_s=settings.fault_duration_s,
                           agent_start=str(installer.layout_var("doctor_compute_agent_start")
                                           or ""))
    fault = make_fault(fault_name, [FaultHost(env.ssh_target(h), env.dataplane_address(h))
                                    for h in failed], env.console, options)
    for host in failed:
        cleanup.add("nova-compute on %s up again" % host, service_back, admin, host,
                    settings.fault_duration_s + 120)
    cleanup.add("the fault %s undone" % fault_name, fault.restore)
    heard_before = {name: m.heard() for name, m in monitors[run.host].items()}
    clocks = run.measure_host_clocks(failed)  # T00 is each host's own timestamp
    fault.inject()

    verdict = Verdict("fault_catalogue-%s" % fault_name)
    figures: dict[str, Any] = {"fault": fault_name, "hosts": ",".join(failed),
                               "monitors": ",".join(settings.monitor_type)}
    for host, clock in clocks.items():
        figures["clock_offset_ms_%s" % host] = round(clock.offset_s * 1000, 3)
        figures["clock_uncertainty_ms_%s" % host] = round(clock.uncertainty_s * 1000, 3)
    c = consumer.consumer
    if spec.expected.host_forced_down:
        _host_failure(verdict, figures, run, fault, failed, seeing, monitors, servers,
                      on_failed, failed_ports, port_alarms, admin, conn, c)
    elif spec.expected.ports_down:
        _data_plane(verdict, figures, run, fault, servers[run.host], failed_ports,
                    port_alarms, admin, conn, c)
    else:
        _nothing(verdict, figures, run, fault, fault_name, monitors[run.host], heard_before,
                 servers[run.host], failed_ports, port_alarms, admin, conn, c)
    verdict.check("absent: duplicate alarm", not c.duplicates(), str(c.duplicates()))

    record_figures(record_property, figures)
    print("\n" + tabulate(sorted(figures.items()), headers=["figure", "value"]))
    publish(verdict, {"figures": figures}, settings, run.started, time.time(), record_property)
    verdict.assert_passed()


def _host_failure(verdict: Verdict, figures: dict[str, Any], run: FaultRun, fault: Any,
                  failed: list[str], seeing: list[str],
                  monitors: dict[str, dict[str, HostMonitor]], servers: dict[str, list[Any]],
                  on_failed: set[str], failed_ports: set[str], port_alarms: dict[str, str],
                  admin: Any, conn: Any, c: Any) -> None:
    detected: dict[tuple[str, str], float] = {}
    for host in failed:
        for name in seeing:
            event = monitors[host][name].wait_down(10)
            verdict.check("%s sees %s down" % (name, host), event is not None,
                          "the %s monitor did not report %s down within 10 s" % (name, host))
            if event is not None:
                detected[(host, name)] = event.detected_at
    alarms = c.wait_for(lambda a: a.instance_id in on_failed, count=len(on_failed), timeout=60)
    port_calls = c.wait_for(lambda a: a.traits.get("port_id") in failed_ports,
                            count=len(failed_ports), timeout=60)
    for host in failed:
        record = _wait_round(run, host)
        verdict.check("the inspector acted once on %s" % host, record is not None,
                      "no round of the inspector for %s" % host)
    services = {s.host: s for s in cloud.compute_services(admin)}
    for host in failed:
        verdict.check("%s forced down" % host, services[host].is_forced_down,
                      "nova-compute on %s is not forced down" % host)
        states = evidence.server_states(admin, [s.id for s in servers[host]])
        verdict.check("servers on %s ERROR" % host, set(states.values()) == {"ERROR"},
                      str(states))
    status = evidence.port_values(conn, sorted(failed_ports))
    verdict.check("ports on the failed host(s) DOWN", set(status.values()) <= {"DOWN"},
                  str(status))
    missing = on_failed - {a.instance_id for a in alarms}
    verdict.check("an alarm for every server on the failed host(s)", not missing,
                  "no alarm for %s" % sorted(missing))
    missing_ports = failed_ports - {a.traits.get("port_id") for a in port_calls}
    verdict.check("a port alarm for every port on the failed host(s)", not missing_ports,
                  "no port alarm for %s" % sorted(missing_ports))
    assert run.tenant is not None
    quiet, seen = evidence.no_alarm_for_servers(conn, admin, run.alarms,
                                                [s.id for s in run.other_servers], c)
    verdict.check("absent: alarm for %s" % run.other_host, quiet, evidence=seen)
    t00 = fault.fault_times(run.settings.fault_duration_s + 60, run.clocks)
    for (host, name), at in detected.items():
        figures["detection_ms_%s_%s" % (name, host)] = round((at - t00[host]) * 1000, 1)
    if len(t00) > 1:
        figures["t00_spread_ms"] = round((max(t00.values()) - min(t00.values())) * 1000, 1)


def _wait_round(run: FaultRun, host: str) -> Any:
    """The inspector's (first, acting) round for ``host`` once it has finished; None when
    there is none within a minute."""
    assert run.inspector is not None
    inspector = run.inspector

    def acted() -> Any:
        return next((r for r in inspector.records(host)
                     if r.kind == "down" and not r.duplicate), None)

    try:
        record = wait_until(acted, 60, "the inspector's round for %s" % host)
    except WaitTimeout:
        return None
    return record if record.wait(60) else None


def _data_plane(verdict: Verdict, figures: dict[str, Any], run: FaultRun, fault: Any,
                on_host: list[Any], failed_ports: set[str], port_alarms: dict[str, str],
                admin: Any, conn: Any, c: Any) -> None:
    port_calls = c.wait_for(lambda a: a.traits.get("port_id") in failed_ports,
                            count=len(failed_ports), timeout=60)
    assert run.inspector is not None
    rounds = [r for r in run.inspector.records(run.host) if r.kind == "dataplane_down"
              and not r.duplicate]
    verdict.check("the inspector's data-plane round", bool(rounds),
                  "no dataplane_down round for %s" % run.host)
    if rounds:
        rounds[0].wait(60)
    status = evidence.port_values(conn, sorted(failed_ports))
    verdict.check("ports on the host DOWN", set(status.values()) <= {"DOWN"}, str(status))
    missing = failed_ports - {a.traits.get("port_id") for a in port_calls}
    verdict.check("a port alarm for every port on the host", not missing, str(sorted(missing)))
    _host_and_servers_untouched(verdict, run, on_host, admin, conn, c)
    downs = [r for r in run.inspector.records(run.host) if r.kind == "down"]
    verdict.check("absent: host-down report", not downs,
                  "reported down by %s" % [r.monitor for r in downs])
    t00 = fault.fault_times(clocks=run.clocks)[run.host]
    if rounds and rounds[0].time("ports_down"):
        figures["fault_to_ports_down_ms"] = round((rounds[0].time("ports_down") - t00) * 1000,
                                                  1)
    figures["detection_ms_first"] = round((rounds[0].time("received") - t00) * 1000, 1) \
        if rounds else None


def _host_and_servers_untouched(verdict: Verdict, run: FaultRun, on_host: list[Any],
                                admin: Any, conn: Any, c: Any) -> None:
    """The evidence that a fault left the host's service and its servers alone: Nova's
    service record not forced down, no server ERROR and no server alarm fired (Aodh's
    history)."""
    services = {s.host: s for s in cloud.compute_services(admin)}
    verdict.check("absent: force-down of the host", not services[run.host].is_forced_down,
                  "nova-compute on %s was forced down" % run.host)
    quiet, seen = evidence.no_alarm_for_servers(conn, admin, run.alarms,
                                                [s.id for s in on_host], c)
    verdict.check("absent: server error or alarm", quiet, evidence=seen)


def _nothing(verdict: Verdict, figures: dict[str, Any], run: FaultRun, fault: Any,
             fault_name: str, monitors: dict[str, HostMonitor], heard_before: dict[str, int],
             on_host: list[Any],
             failed_ports: set[str], port_alarms: dict[str, str], admin: Any, conn: Any,
             c: Any) -> None:
    (part,) = fault.parts
    if fault_name == "flap":
        part.wait_done(60)  # the host's own cycles are over
        sample = monitors.get("sample")
        if isinstance(sample, SampleMonitor):  # the witness: the flap was seen, and no more
            missed = sample.host.probes_missed
            figures["icmp_probes_missed"] = missed
            verdict.check("the flap was visible to ICMP", missed > 0,
                          "no probe missed: did the links go down?")
    else:
        verdict.check("the agent was killed", bool(part.pids), "no nova-compute pid killed")
        fault.restore()  # the agent back: the fault is over
    for name, monitor in monitors.items():
        # evidence, not a quiet window: the monitor kept hearing the host meanwhile
        heard = monitor.heard() - heard_before[name]
        figures["heard_during_fault_%s" % name] = heard
        verdict.check("the %s monitor kept hearing %s during the fault" % (name, run.host),
                      heard > 0, "%d replies or heartbeats heard since the fault began"
                      % heard)
        verdict.check("absent: report by %s" % name, monitor.wait_down(0) is None,
                      "the %s monitor reported %s down" % (name, run.host))
    assert run.inspector is not None
    rounds = [r.to_json()["type"] for r in run.inspector.records(run.host)]
    verdict.check("absent: inspector round", not rounds, "its rounds: %s" % rounds)
    _host_and_servers_untouched(verdict, run, on_host, admin, conn, c)
    status = evidence.port_values(conn, sorted(failed_ports))
    verdict.check("absent: port DOWN", "DOWN" not in status.values(), str(status))
    for alarm_id, pid in port_alarms.items():
        if pid in failed_ports:
            never, what = evidence.alarm_never_fired(conn, alarm_id, c)
            verdict.check("absent: port alarm %s" % alarm_id[:8], never, evidence=what)
