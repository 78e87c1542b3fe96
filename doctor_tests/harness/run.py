"""One host fault, end to end: the parts, the resources, the fault and what it produced.

Used by the fault-management and port data-plane scenarios. Every change to
the cloud goes through the run's :class:`~doctor_tests.cleanup.Cleanup`, with
its undo registered first.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openstack.connection import Connection

from doctor_tests import cloud, resources
from doctor_tests.cleanup import Cleanup
from doctor_tests.config import CASE_INSPECTORS, Settings
from doctor_tests.consumer import Consumer
from doctor_tests.fault import LinkFault, SshError, SshTarget
from doctor_tests.faults.host import AgentFault
from doctor_tests.harness.env import PEER_LOGS, PROFILE_SERVICES, CloudEnv, measure_clock
from doctor_tests.harness.reach import inspector_urls
from doctor_tests.inspector import Inspector, InspectorServer
from doctor_tests.inspector.openstack_backend import OpenStackActions
from doctor_tests.monitor.monitor import DownEvent, Monitor
from doctor_tests.monitor.registry import HostMonitor, make_monitors
from doctor_tests.monitor.report import InspectorReporter, Reporter
from doctor_tests.peers import leftovers as peer_leftovers
from doctor_tests.peers import masakari, vitrage
from doctor_tests.peers.auth import SessionTokens
from doctor_tests.profiler import report
from doctor_tests.profiler.assemble import assemble_profile
from doctor_tests.profiler.model import Profile
from doctor_tests.profiler.sources.clock import ClockError, ClockOffset
from doctor_tests.profiler.sources.oslo_log import parse_oslo_log
from doctor_tests.profiler.sources.peers_log import PeerStep, match_peer_log
from doctor_tests.profiler.sources.recorder import BusRecorder
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

#: What a profile says of who handled the fault, when Doctor's inspector did not
PROFILE_NOTES: dict[str, tuple[str, ...]] = {
    "vitrage": ("The inspector is Vitrage (docs/peers.md): T01 is the monitor's detection "
                "(it reported to Vitrage's event API), T02 vitrage-graph's evaluator raising "
                "its deduced alarm on the host's servers (log:vitrage-graph), T03/T04 "
                "vitrage-notifier's calls as nova-api logged them.",),
}


class InspectorNotDriven(cloud.CloudError):
    """INSPECTOR_TYPE names an inspector the scenario does not drive."""


def require_inspector(settings: Settings, case: str) -> None:
    """Refuse, before anything is made in the cloud, to run scenario ``case`` with an
    inspector it does not drive: the run would silently measure another one (the settings
    refuse it already; this holds for a scenario called another way, as the benchmark)."""
    if settings.inspector_type not in CASE_INSPECTORS.get(case, ("sample",)):
        raise InspectorNotDriven(
            "INSPECTOR_TYPE=%s: %s drives %s (docs/peers.md)"
            % (settings.inspector_type, case, ", ".join(CASE_INSPECTORS.get(case, ()))))


HOSTS_WAIT_S = 60.0


def choose_hosts(admin: Connection, wanted: str | None,
                 timeout: float = HOSTS_WAIT_S) -> tuple[str, str]:
    """(host to fail, another host for the servers that must not alarm). Waits up to
    ``timeout`` for two healthy hosts: right after prepare restarted Nova's conductor (for
    Vitrage, say), the computes' heartbeats wait for it, and a Nova with a short
    ``service_down_time`` (the lab's 10 s) shows them all down until they get through."""
    last: list[str] = []

    def pair() -> tuple[str, str] | None:
        services = sorted(cloud.compute_services(admin), key=lambda s: s.host)
        healthy = [s.host for s in services
                   if s.state == "up" and s.status == "enabled" and not s.is_forced_down]
        last[:] = healthy
        if wanted is not None and wanted not in [s.host for s in services]:
            raise cloud.CloudError("DOCTOR_FAULT_HOST=%r is not a nova-compute host; known: %s"
                                   % (wanted, ", ".join(s.host for s in services)))
        target = wanted or (healthy[0] if healthy else None)
        others = [h for h in healthy if h != target]
        if target is None or target not in healthy or not others:
            return None
        return target, others[0]

    try:
        found = wait_until(pair, timeout, "two healthy nova-compute hosts", interval=1.0)
    except WaitTimeout:
        if wanted is not None and wanted not in last:
            raise cloud.CloudError("DOCTOR_FAULT_HOST=%r is not up and enabled (waited %g s)"
                                   % (wanted, timeout)) from None
        raise cloud.CloudError("the scenario needs two healthy nova-compute hosts (one to fail, "
                               "one that must not alarm); healthy after %g s: %s"
                               % (timeout, ", ".join(last) or "none")) from None
    assert found is not None  # wait_until returns only what is truthy
    return found


def service_back(admin: Connection, host: str, timeout: float) -> None:
    """Un-force ``host``'s nova-compute and wait until Nova reports it up on a heartbeat of
    nova-compute's own: un-forcing writes the service's row, and Nova reads any fresh
    write as "up" for ``service_down_time`` (a restarted nova-compute, after a power cut
    or a killed agent, is not reporting yet), so the wait is for ``updated_at`` to move
    past the value the un-forcing left."""
    cloud.set_forced_down(admin, host, False)
    before = next((str(svc.updated_at) for svc in cloud.compute_services(admin)
                   if svc.host == host), None)

    def up() -> bool:
        return any(svc.host == host and svc.state == "up" and not svc.is_forced_down
                   and str(svc.updated_at) != before
                   for svc in cloud.compute_services(admin))

    wait_until(up, timeout, "nova-compute on %s to report up again" % host, interval=0.5)


#: Nova's answer to un-forcing a host its servers were evacuated from, until its
#: nova-compute has started again and completed the evacuations' migration records
EVACUATIONS_LEFT = "evacuation migration records"


def restart_compute_agent(env: CloudEnv, host: str, timeout: float = 60.0) -> None:
    """Restart ``host``'s nova-compute as a host that failed does when it comes back: at
    start it destroys what was evacuated away and completes the evacuations' migration
    records (Nova refuses to un-force the host before). Killed, then started by the
    layout's ``doctor_compute_agent_start`` (or by the host's own init)."""
    installer = getattr(env, "installer", None)
    start = str(installer.layout_var("doctor_compute_agent_start") or "") if installer else ""
    agent = AgentFault(env.ssh_target(host), "nova-compute", start)
    agent.inject()
    agent.restore(timeout)
    LOG.info("nova-compute on %s restarted (its servers were evacuated)", host)


def host_back_after_evacuation(admin: Connection, env: CloudEnv, host: str,
                               timeout: float) -> None:
    """After servers were evacuated from ``host``: its nova-compute restarted, the host
    un-forced once Nova accepts it (the restarted service has completed the evacuations),
    then up again (:func:`service_back`)."""
    restart_compute_agent(env, host)

    def unforced() -> bool:
        try:
            cloud.set_forced_down(admin, host, False)
        except cloud.CloudError as exc:
            if EVACUATIONS_LEFT in str(exc):
                return False
            raise
        return True

    wait_until(unforced, timeout, "Nova to accept un-forcing %s (its evacuations completed "
               "by the restarted nova-compute)" % host, interval=1.0)
    service_back(admin, host, timeout)


def start_inspector(settings: Settings, cleanup: Cleanup, host: str, server_ids: Iterable[str],
                    monitor_nodes: Sequence[SshTarget] = (),
                    **options: Any) -> tuple[Inspector, InspectorServer]:
    """The sample inspector and its HTTP server, started (their stops registered first)
    where the monitors reach it: on the runner, or from ``monitor_nodes`` (the URL each is
    given in ``server.node_urls``, proved from the node); returns once its index holds
    ``server_ids`` on ``host``. ``options`` go to the Inspector (``concurrency``,
    ``strategy`` and ``shortcut_pace`` default to the settings')."""
    options.setdefault("concurrency", settings.inspector_concurrency)
    options.setdefault("strategy", settings.inspector_strategy)
    options.setdefault("shortcut_pace", settings.inspector_shortcut_pace)
    backend = OpenStackActions.connect(settings.os_cloud, options["concurrency"])
    inspector = Inspector(backend, **options)
    cleanup.add("inspector", inspector.stop)
    inspector.start()

    def serve(bind: str) -> InspectorServer:
        server = InspectorServer(inspector, bind, settings.inspector_port)
        cleanup.add("inspector HTTP server", server.stop)
        server.start()
        return server

    server, urls = inspector_urls(settings, cleanup, serve, monitor_nodes)
    server.node_urls = urls
    ids = set(server_ids)

    def indexed() -> bool:
        entry = inspector.index.lookup(host)
        return entry is not None and ids <= set(entry.servers)

    wait_until(indexed, 30, "the inspector's index to hold the %d servers on %s"
               % (len(ids), host), interval=0.2)
    return inspector, server


def start_monitor(settings: Settings, cleanup: Cleanup, host: str, target: SshTarget,
                  inspector_url: str | None, reporters: Sequence[Reporter] = ()) -> Monitor:
    """The ICMP monitor of ``host`` (at ``target``'s address) reporting to ``inspector_url``
    (or to ``reporters``: the peers'), started and answering (its stop registered first)."""
    monitor = Monitor(host, target.address, inspector_url,
                      interval=settings.monitor_interval_s, timeout=settings.monitor_timeout_s,
                      misses=settings.monitor_misses, report_up=False,
                      reporter=list(reporters) or None)
    cleanup.add("monitor", monitor.stop)
    monitor.start()
    if not monitor.wait_alive(10):
        raise cloud.CloudError("the monitor gets no ICMP reply from %s (%s)"
                               % (host, target.address))
    return monitor


def start_monitors(settings: Settings, cleanup: Cleanup, hosts: Mapping[str, tuple[str, str]],
                   inspector_url: str | None,
                   reporters: Sequence[Reporter] = ()) -> dict[str, dict[str, HostMonitor]]:
    """The monitors MONITOR_TYPE names for ``hosts`` (host -> (management address,
    data-plane address)), each started and hearing from its host (their stops registered
    first): host -> monitor type -> monitor, in MONITOR_TYPE's order. They report to the
    sample inspector at ``inspector_url``, or to ``reporters`` (the peers')."""
    out: dict[str, dict[str, HostMonitor]] = {host: {} for host in hosts}
    for name in settings.monitor_type:
        monitors = make_monitors(name, settings, hosts, inspector_url, reporters)
        for host, monitor in monitors.items():
            cleanup.add("%s monitor of %s" % (name, host), monitor.stop)
            monitor.start()
        for host, monitor in monitors.items():
            if not monitor.wait_alive(10):
                raise cloud.CloudError(
                    "the %s monitor hears nothing from %s (%s)%s"
                    % (name, host, hosts[host][0], "" if name == "sample" else
                       ": is collectd running there, sending to this runner's port %d?"
                       % settings.collectd_port))
            out[host][name] = monitor
    return out


@dataclass
class FaultRun:
    """The state of one scenario run."""

    settings: Settings
    admin: Connection
    env: CloudEnv
    cleanup: Cleanup
    consumer: Consumer
    action_url: str
    name: str = field(default_factory=resources.run_name)
    host: str = ""
    other_host: str = ""
    tenant: resources.Tenant | None = None
    servers: list[Any] = field(default_factory=list)          # on the failed host
    other_servers: list[Any] = field(default_factory=list)    # elsewhere
    alarms: dict[str, str] = field(default_factory=dict)      # alarm id -> server id
    ports: list[Any] = field(default_factory=list)
    inspector: Inspector | None = None
    monitor: HostMonitor | None = None  # the first of MONITOR_TYPE's
    monitors: dict[str, HostMonitor] = field(default_factory=dict)  # the host's, by type
    watched: dict[str, dict[str, HostMonitor]] = field(default_factory=dict)  # every host's
    fault: LinkFault | None = None
    bus: BusRecorder | None = None
    down_event: DownEvent | None = None
    t00: float | None = None
    started: float = field(default_factory=time.time)
    clocks: dict[str, ClockOffset] = field(default_factory=dict)  # node -> offset
    log_node: str = ""
    boot_with: tuple[Any, Any, Any] | None = None  # (flavor, image, network) of the run
    logs: list[str] | None = None  # the service logs of the run, fetched once after the fault

    # --- set-up -------------------------------------------------------------------------
    def provision(self, vm_count: int, wait_after_alarms_s: float = 0.0,
                  server_alarms: bool = True, case: str = "fault_management") -> None:
        s = self.settings
        require_inspector(s, case)
        self.host, self.other_host = choose_hosts(self.admin, s.fault_host)
        LOG.info("run %s: failing %s, control servers on %s", self.name, self.host,
                 self.other_host)
        self.tenant = resources.create_tenant(self.admin, self.cleanup, self.name)
        conn = self.tenant.admin
        image = resources.ensure_image(self.admin, self.cleanup, s.image_name)
        flavor = resources.create_flavor(self.admin, self.cleanup, self.name + "-flavor")
        network = resources.create_network(conn, self.cleanup, self.name + "-net")
        self.boot_with = (flavor, image, network)  # more servers of the run, elsewhere
        self.servers = resources.boot_servers(conn, self.cleanup, self.name + "-vm", vm_count,
                                              self.host, flavor, image, network)
        self.other_servers = resources.boot_servers(conn, self.cleanup, self.name + "-other", 1,
                                                    self.other_host, flavor, image, network)
        if server_alarms:
            self.alarms = resources.create_alarms(conn, self.cleanup, self.name,
                                                  self.servers + self.other_servers,
                                                  self.action_url)
        self.ports = [p for p in conn.network.ports(network_id=network.id)
                      if p.device_owner.startswith("compute:")]
        if server_alarms:
            self.wait_alarm_cache(wait_after_alarms_s)

    @staticmethod
    def wait_alarm_cache(seconds: float) -> None:
        """After the last alarm is made: let Aodh's event-alarm cache expire (its TTL,
        from preflight.check_event_alarm_cache; 0 when the cache is off), so that the
        listener's next read of the project's alarms includes them."""
        if seconds > 0:
            LOG.info("waiting %.1f s for Aodh's event-alarm cache to expire", seconds)
            threading.Event().wait(seconds)

    def start_parts(self, also_watch: Sequence[str] = ()) -> None:
        """The inspector INSPECTOR_TYPE names, then the monitors of the host (and of
        ``also_watch``: hosts that fail too), reporting to it:

        - sample: Doctor's inspector (its index filled and showing every server);
        - vitrage: no inspector of Doctor's; the monitors report to Vitrage's event API, and
          the run ends with the host's "up" and Vitrage's undo (registered first);
        - masakari: Doctor's inspector fencing the host only (its service forced down: Nova
          evacuates from a host that is down), then Masakari's notifications API; the run
          ends with Masakari's notifications settled, the host out of maintenance and its
          nova-compute enabled again (registered first).
        """
        s = self.settings
        hosts = [self.host, *also_watch]
        watched = {h: (self.env.ssh_target(h).address, self.env.dataplane_address(h))
                   for h in hosts}
        if s.inspector_type == "sample":
            url = self.env.bus_url()
            options: dict[str, Any] = {}
            if s.inspector_shortcut:
                if not url:
                    raise cloud.CloudError("DOCTOR_INSPECTOR_SHORTCUT=true needs the "
                                           "notification bus, and this cloud's bus URL is "
                                           "unknown")
                options = {"shortcut": True, "bus_url": url}
            self.inspector, server = start_inspector(s, self.cleanup, self.host,
                                                     [srv.id for srv in self.servers],
                                                     **options)
            self.watched = start_monitors(s, self.cleanup, watched, server.url)
        else:
            self.watched = start_monitors(s, self.cleanup, watched, None,
                                          self.peer_reporters(hosts))
        self.monitors = self.watched[self.host]
        self.monitor = next(iter(self.monitors.values()))
        self.start_bus()

    def peer_reporters(self, hosts: Sequence[str]) -> list[Reporter]:
        """The reporters of INSPECTOR_TYPE's peer (authenticated now, not on the fault
        path), with the undo of what the peer does registered first."""
        tokens = SessionTokens(self.admin.session,
                               region_name=self.admin.config.get_region_name())
        if self.settings.inspector_type == "vitrage":
            reporter: Any = vitrage.VitrageReporter(tokens)
            reporter.prepare()
            for host in hosts:
                self.cleanup.add("Vitrage: the up of %s, and its undo" % host,
                                 self._vitrage_up, host)
            return [reporter]
        assert self.settings.inspector_type == "masakari", self.settings.inspector_type
        for host in hosts:
            self.cleanup.add("Masakari: %s settled, in service" % host, self._masakari_back,
                             host)
        self.inspector, server = start_inspector(
            self.settings, self.cleanup, self.host, [srv.id for srv in self.servers],
            host_only=True)
        reporter = masakari.MasakariReporter(tokens)
        reporter.prepare()
        return [InspectorReporter(server.url), reporter]

    def _vitrage_up(self, host: str) -> None:
        ids = [s.id for s in self.servers] if host == self.host else []
        peer_leftovers.vitrage_up(self.admin, host, ids)

    def _masakari_back(self, host: str) -> None:
        peer_leftovers.masakari_back(self.admin, host, self.started)

    def start_bus(self, always: bool = False) -> None:
        """The bus recorder (T05/T06, the recovery's rebuild notifications), when the cloud's
        bus is known and the profile is wanted (``always``: the scenario's own figures
        come from it)."""
        url = self.env.bus_url()
        if url and (always or self.settings.profiler_type != "none"):
            try:
                bus = BusRecorder(url)
                bus.start()
                self.bus = bus
                self.cleanup.add("bus recorder", bus.stop)
            except Exception as exc:  # noqa: BLE001 - the profile says what is missing
                LOG.warning("no bus recorder (%s); T05/T06 come from the logs", exc)

    # --- the fault ----------------------------------------------------------------------
    def measure_host_clocks(self, hosts: Sequence[str]) -> dict[str, ClockOffset]:
        """Before the fault: each host's clock against the runner's, over SSH (a fault's T00
        is the host's own timestamp); a host not measured is said and left out."""
        for host in hosts:
            if host in self.clocks:
                continue
            try:
                self.clocks[host] = measure_clock(self.env.ssh_target(host))
            except (SshError, ClockError) as exc:
                LOG.warning("cannot measure the clock of %s: %s; T00 is taken as on the "
                            "runner's clock", host, exc)
        return {h: self.clocks[h] for h in hosts if h in self.clocks}

    def measure_clocks(self) -> None:
        """Before the fault: the fault host's clock (T00 is its timestamp) and the log node's
        (the service logs, Aodh's history) against the runner's, over SSH."""
        self.measure_host_clocks([self.host])
        self.log_node, offset = self.env.log_clock()
        if offset is not None:
            self.clocks[self.log_node] = offset

    def inject(self) -> None:
        s = self.settings
        if self.settings.profiler_type != "none" and not self.clocks:
            self.measure_clocks()
        self.fault = LinkFault(self.env.ssh_target(self.host), s.fault_duration_s,
                               lambda: self.env.restore_link(self.host))
        # Undo first: the service un-forced and up again, the link up, the host's script
        # ended (its own link-up would otherwise come in a later run).
        self.cleanup.add("nova-compute on %s up again" % self.host, self._service_back)
        self.cleanup.add("fault script on %s" % self.host, self.fault.end_script)
        self.cleanup.add("link of %s" % self.host, self.fault.restore)
        self.fault.inject()

    def _service_back(self) -> None:
        assert self.fault is not None
        self.fault.restore()
        timeout = self.settings.fault_duration_s + 60
        if self.settings.inspector_type == "masakari":
            host_back_after_evacuation(self.admin, self.env, self.host, timeout)
        else:
            service_back(self.admin, self.host, timeout)

    def wait_detected(self, timeout: float = 10.0) -> DownEvent:
        assert self.monitor is not None
        event = self.monitor.wait_down(timeout)
        if event is None:
            raise AssertionError("the monitor did not detect %s down within %.0f s"
                                 % (self.host, timeout))
        self.down_event = event
        return event

    def fault_time(self) -> float:
        """T00 read back from the host once its link is up again: brought up through the
        cloud's console where it has one (the run has seen what it needs of the fault by
        now), else by the host itself after the fault's duration."""
        assert self.fault is not None
        if self.t00 is None:
            self.fault.restore()
            self.t00 = self.fault.fault_time(self.settings.fault_duration_s + 60)
        return self.t00

    # --- the profile --------------------------------------------------------------------
    def service_logs(self) -> list[str]:
        """The logs of the services the profile reads, and of the peer that handled the
        fault (its own steps), fetched once, after the fault (T00 known)."""
        if self.logs is None:
            services = (*PROFILE_SERVICES, *PEER_LOGS.get(self.settings.inspector_type, ()))
            self.logs = list(self.env.log_lines(self.fault_time(), services))
        return self.logs

    def peer_steps(self) -> list[PeerStep]:
        """The steps the peer's own log shows since the fault (none for the sample
        inspector); the log's clock moved onto the runner's when it was measured."""
        if self.settings.inspector_type == "sample":
            return []
        clock = self.clocks.get(self.log_node)
        records = parse_oslo_log(self.service_logs(), tz=time.localtime().tm_gmtoff)
        steps = [s for s in match_peer_log(records)]
        if clock is not None:
            steps = [dataclasses.replace(s, epoch=clock.to_local(s.epoch)) for s in steps]
        since = self.fault_time() - 1.0
        return [s for s in steps if s.epoch >= since]

    def inspector_record(self) -> dict[str, Any] | None:
        """The sample inspector's round for the host (None: none, or no inspector of
        Doctor's ran: a peer handled the fault)."""
        if self.inspector is None:
            return None
        for record in self.inspector.records(self.host):
            data = record.to_json()
            if data["kind"] == "down" and not data["duplicate"]:
                return data
        return None

    def wait_inspector_done(self, timeout: float) -> dict[str, Any] | None:
        """The inspector's record of the host's fault once every one of its actions has
        finished (None: it recorded no round for the host within ``timeout``)."""
        assert self.inspector is not None
        inspector = self.inspector

        def done() -> Any:
            for record in inspector.records(self.host):
                if record.kind == "down" and not record.duplicate:
                    return record
            return None

        try:
            record = wait_until(done, timeout, "the inspector's round for %s" % self.host)
        except WaitTimeout:
            return None
        if not record.wait(timeout):
            LOG.warning("the inspector's round for %s did not finish within %.0f s",
                        self.host, timeout)
        return self.inspector_record()

    def profile(self, alarm_ids: set[str] | None = None) -> Profile | None:
        """The run's profile (None with PROFILER_TYPE=none: nothing is profiled)."""
        if self.settings.profiler_type == "none":
            LOG.info("PROFILER_TYPE=none: no profile is made or written")
            return None
        ids = alarm_ids or set(self.alarms)
        peer = self.settings.inspector_type
        history = {}
        assert self.tenant is not None
        for alarm_id in ids:
            try:
                history[alarm_id] = cloud.alarm_history(self.tenant.admin, alarm_id)
            except cloud.CloudError as exc:
                LOG.warning("no history for alarm %s: %s", alarm_id, exc)
        notifications = [n for _, n in self.bus.notifications()] if self.bus else []
        missing = {}
        if self.bus is None:
            missing["T05"] = "no bus recorder; and no log source matched"
        t00 = self.fault_time()
        return assemble_profile(
            fault_epoch=t00,
            inspector_record=self.inspector_record(),
            consumer_alarms=[a.to_json() for a in self.consumer.alarms() if a.alarm_id in ids],
            log_lines=self.service_logs(),
            log_tz=time.localtime().tm_gmtoff,
            clocks=dict(self.clocks), fault_node=self.host if self.host in self.clocks
            else None, log_node=self.log_node if self.log_node in self.clocks else None,
            notifications=notifications,
            alarm_history=history,
            alarm_servers={a: self.alarms[a] for a in ids},
            servers=[self.alarms[a] for a in ids],
            threshold_ms=self.settings.notification_threshold_s * 1000.0,
            missing={k: v for k, v in missing.items()},
            detected=(None if self.down_event is None or peer == "sample" else
                      (self.down_event.detected_at, self.down_event.event_id)),
            vitrage_host=self.host if peer == "vitrage" else None,
            notes=PROFILE_NOTES.get(peer, ()),
        )

    def write_profile(self, profile: Profile, stem: str = "profile") -> dict[str, Any]:
        out = report.write_profile(profile, self.settings.results_dir, stem=stem)
        print("\n" + report.render_text(profile))
        return {k: str(v) for k, v in out.items()}
