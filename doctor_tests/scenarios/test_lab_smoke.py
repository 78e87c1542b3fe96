"""End-to-end smoke test of the lab: every part Doctor relies on, checked for real.

Steps (one test each, sharing the servers booted once for the module):

1. boot a server on each compute host, in parallel, one of them on a Neutron
   port of a network made for the test; all ACTIVE, on their hosts, the port
   bound to its host;
2. force the last host's nova-compute down (2.53 form) and back: reads down, then up;
3. reset a server to error: reads ERROR;
4. a port bound to a host: ``data_plane_status`` DOWN, read back DOWN;
5. an Aodh event alarm on that server's error: reset it, receive Aodh's REST
   action at the consumer, measure reset -> receive;
6. take the last host's link down over SSH (the suite's one fault,
   doctor_tests.fault.LinkFault): Nova reports its nova-compute down, then up again
   once the link is back.

Faults go on the last compute host only (others put theirs on the first).
Every resource carries the run's name prefix and its clean-up is registered
when it is created (the suite's one undo stack, doctor_tests.cleanup); at the end
nothing with that prefix may be left.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from openstack import connection
from openstack.exceptions import NotFoundException

from doctor_tests import cloud, lab, leftovers, preflight
from doctor_tests.cleanup import Cleanup
from doctor_tests.config import LOCAL_CLOUD, Settings
from doctor_tests.consumer import ConsumerServer
from doctor_tests.consumer.alarm import Alarm
from doctor_tests.fault import FaultFailed, HostShell, LinkFault
from doctor_tests.harness import reach
from doctor_tests.harness.env import LabEnv
from doctor_tests.harness.run import FaultRun
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

pytestmark = [
    pytest.mark.lab,
    # openstacksdk's warnings about its own internals, one per call: noise here.
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

IMAGE = "doctor-tiny"
SUBNET_CIDR = "198.51.100.0/24"
LINK_DOWN_S = 25
HOST_READY_TIMEOUT = 60.0  # a host another test has faulted comes back within this
BOOT_TIMEOUT = 60.0
DELETE_TIMEOUT = 90.0
STATE_TIMEOUT = 15.0
ALARM_TIMEOUT = 15.0
SERVICE_DOWN_TIMEOUT = 30.0  # service_down_time 10 s plus margin
SERVICE_UP_TIMEOUT = 45.0  # after the link is back


class Observed:
    """A falsy-or-truthy poll result that still says what was seen (for WaitTimeout)."""

    def __init__(self, ok: bool, seen: object) -> None:
        self.ok, self.seen = ok, seen

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return repr(self.seen)


def compute_service(conn: connection.Connection, host: str) -> Any:
    """The nova-compute service of ``host`` as Nova reports it now."""
    found = [s for s in cloud.compute_services(conn) if s.host == host]
    if len(found) != 1:
        raise AssertionError("expected one nova-compute on %s, Nova lists %r" % (host, found))
    return found[0]


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conn() -> Iterator[connection.Connection]:
    cloud = openstack.connect(cloud=LOCAL_CLOUD)
    yield cloud
    cloud.close()


@pytest.fixture(scope="module")
def prefix() -> str:
    """This run's name prefix: everything the module creates is named with it."""
    return "doctor-smoke-%s" % uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def figures(pytestconfig: pytest.Config) -> Iterator[dict[str, float]]:
    """Measured figures of the run, summed up on the terminal at the end."""
    found: dict[str, float] = {}
    yield found
    for name, value in found.items():
        LOG.info("figure %s = %.3f", name, value)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not found:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        for name, value in found.items():
            reporter.write_line("lab smoke: %-30s %7.3f s" % (name, value))


@pytest.fixture(scope="module")
def module_cleanups(conn: connection.Connection, prefix: str) -> Iterator[Cleanup]:
    """Clean-ups of the module's resources; afterwards nothing named ``prefix`` is left."""
    stack = Cleanup()
    yield stack
    try:
        stack.run()
    finally:
        left = leftovers.names_left(conn, prefix)
        assert not any(left.values()), "left behind by the smoke test: %r" % left


@pytest.fixture
def cleanups() -> Iterator[Cleanup]:
    """Clean-ups of one test's resources and changes, run when the test ends."""
    stack = Cleanup()
    yield stack
    stack.run()


def _service_state_is(conn: connection.Connection, host: str, state: str) -> Observed:
    svc = compute_service(conn, host)
    return Observed(svc.state == state, svc)


def _server_status_is(conn: connection.Connection, server_id: str, status: str) -> Observed:
    now = conn.compute.get_server(server_id).status
    return Observed(now == status, now)


def _service_ready(conn: connection.Connection, host: str) -> Observed:
    svc = compute_service(conn, host)
    ok = svc.state == "up" and svc.status == "enabled" and not svc.is_forced_down
    return Observed(ok, svc)


def _natural(name: str) -> list[Any]:
    """Sort key putting lab-compute-2 before lab-compute-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@pytest.fixture(scope="module")
def compute_hosts(conn: connection.Connection) -> list[str]:
    """The nova-compute hosts, sorted, each up, enabled and not forced down."""
    hosts = sorted({s.host for s in conn.compute.services(binary="nova-compute")},
                   key=_natural)
    assert hosts, "Nova lists no nova-compute service"
    for host in hosts:
        wait_until(functools.partial(_service_ready, conn, host), HOST_READY_TIMEOUT,
                   "nova-compute on %s up, enabled, not forced down" % host)
    LOG.info("compute hosts: %s", ", ".join(hosts))
    return hosts


@pytest.fixture(scope="module")
def fault_host(compute_hosts: list[str]) -> str:
    """The host this module faults: the last one."""
    return compute_hosts[-1]


@pytest.fixture(scope="module")
def flavor(conn: connection.Connection, prefix: str, module_cleanups: Cleanup) -> Any:
    made = conn.compute.create_flavor(name="%s-flavor" % prefix, ram=64, vcpus=1, disk=1)
    module_cleanups.add("delete flavor %s" % made.id,
                         lambda: conn.compute.delete_flavor(made.id, ignore_missing=False))
    return made


@pytest.fixture(scope="module")
def network(conn: connection.Connection, prefix: str, module_cleanups: Cleanup) -> Any:
    """A network with one subnet, made for the test."""
    net = conn.network.create_network(name="%s-net" % prefix)
    module_cleanups.add("delete network %s" % net.id,
                         lambda: conn.network.delete_network(net.id, ignore_missing=False))
    subnet = conn.network.create_subnet(name="%s-subnet" % prefix, network_id=net.id,
                                        ip_version=4, cidr=SUBNET_CIDR)
    module_cleanups.add("delete subnet %s" % subnet.id,
                         lambda: conn.network.delete_subnet(subnet.id, ignore_missing=False))
    return net


@pytest.fixture(scope="module")
def vm_port(conn: connection.Connection, prefix: str, network: Any,
            module_cleanups: Cleanup) -> Any:
    """The port the fault host's server boots on."""
    port = conn.network.create_port(name="%s-vm-port" % prefix, network_id=network.id)
    module_cleanups.add("delete port %s" % port.id,
                         lambda: conn.network.delete_port(port.id, ignore_missing=False))
    return port


def _servers_gone(conn: connection.Connection, ids: list[str]) -> None:
    def gone() -> Observed:
        there = []
        for server_id in ids:
            try:
                there.append(conn.compute.get_server(server_id).status)
            except NotFoundException:
                pass
        return Observed(not there, there)

    wait_until(gone, DELETE_TIMEOUT, "servers %s deleted" % ", ".join(ids), interval=0.5)


@pytest.fixture(scope="module")
def servers(conn: connection.Connection, prefix: str, compute_hosts: list[str],
            fault_host: str, flavor: Any, vm_port: Any, module_cleanups: Cleanup,
            figures: dict[str, float]) -> dict[str, Any]:
    """One ACTIVE server per compute host (by host name); the fault host's on ``vm_port``."""
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    ids: list[str] = []
    # Runs after the deletes below (LIFO): they are all sent first, then waited for.
    module_cleanups.add("wait until the servers are gone", lambda: _servers_gone(conn, ids))
    started = time.monotonic()
    made: dict[str, Any] = {}
    for host in compute_hosts:
        networks: Any = [{"port": vm_port.id}] if host == fault_host else "none"
        server = conn.compute.create_server(
            name="%s-%s" % (prefix, host), flavor_id=flavor.id, image_id=image.id,
            networks=networks, host=host,
        )
        ids.append(server.id)
        module_cleanups.add("delete server %s" % server.id,
                             functools.partial(conn.compute.delete_server, server.id))
        made[host] = server
        LOG.info("booting %s on %s", server.id, host)

    def all_active() -> Observed:
        now = {host: conn.compute.get_server(s.id) for host, s in made.items()}
        for host, s in now.items():
            if s.status == "ERROR":
                pytest.fail("server %s on %s went ERROR while booting: %s"
                            % (s.id, host, s.fault))
        return Observed(all(s.status == "ACTIVE" for s in now.values()),
                        {host: s.status for host, s in now.items()})

    wait_until(all_active, BOOT_TIMEOUT, "servers ACTIVE on %s" % ", ".join(compute_hosts),
               interval=0.3)
    figures["boot_all_servers_s"] = time.monotonic() - started
    return {host: conn.compute.get_server(s.id) for host, s in made.items()}


@pytest.fixture
def receiver() -> Iterator[ConsumerServer]:
    """The suite's consumer (the one HTTP receiver of Aodh's actions), on a free port of the
    runner's address toward the lab controller (where aodh-notifier runs)."""
    controller = lab.controller_address()
    assert controller, "the lab has no controller address"
    server = ConsumerServer(bind=reach.source_address(controller), port=0)
    server.start()
    yield server
    server.stop()


# --- the steps ----------------------------------------------------------------------------


def test_the_cloud_is_reached_across_the_bridge(conn: connection.Connection,
                                                settings: Settings) -> None:
    """The lab is a remote cloud: its APIs listen on the controller's namespace host only
    (nothing on the runner's loopback), every catalog endpoint names that address, and the
    controller is reached by SSH as a non-root user whose root commands go through sudo."""
    controller = lab.controller()
    assert controller is not None and controller.namespace, controller
    for service, port in lab.API_PORTS.items():
        assert lab.tcp_open(controller.address, port), (service, controller.address, port)
        assert not lab.tcp_open("127.0.0.1", port), (
            "%s answers on the runner's 127.0.0.1:%d" % (service, port))
    urls = [e.url for e in conn.identity.endpoints()]  # type: ignore[union-attr]
    assert urls and all(controller.address in u for u in urls), urls
    env = LabEnv(settings)
    target = env.ssh_target(controller.name)
    assert target.user != "root"
    shell = HostShell(target)
    try:
        assert shell.check("id -u").strip() != "0"
        listening = shell.check("sudo -n ss -Hltn")
    finally:
        shell.close()
    for port in lab.API_PORTS.values():
        assert "%s:%d " % (controller.address, port) in listening, (port, listening)


def test_servers_active_on_each_host(conn: connection.Connection, servers: dict[str, Any],
                                     compute_hosts: list[str], fault_host: str,
                                     vm_port: Any, figures: dict[str, float],
                                     record_property: Any) -> None:
    """A server on each host, ACTIVE; the fault host's port is bound to that host."""
    record_property("boot_all_servers_s", round(figures["boot_all_servers_s"], 3))
    assert sorted(servers) == compute_hosts
    for host, server in servers.items():
        assert server.status == "ACTIVE", server
        assert server.compute_host == host, (server.id, server.compute_host, host)

    def bound() -> Observed:
        port = conn.network.get_port(vm_port.id)
        seen = (port.device_id, port.binding_host_id, port.binding_vif_type, port.status)
        ok = (port.device_id == servers[fault_host].id and port.binding_host_id == fault_host
              and port.binding_vif_type not in (None, "", "unbound", "binding_failed"))
        return Observed(ok, seen)

    wait_until(bound, STATE_TIMEOUT, "port %s bound to %s" % (vm_port.id, fault_host))


def test_force_down_and_back(conn: connection.Connection, fault_host: str,
                             cleanups: Cleanup) -> None:
    """forced_down true -> nova-compute reads down; false -> reads up again."""
    wait_until(lambda: _service_ready(conn, fault_host), HOST_READY_TIMEOUT,
               "nova-compute on %s ready" % fault_host)
    cleanups.add("clear forced_down on %s" % fault_host,
                 lambda: cloud.set_forced_down(conn, fault_host, False))

    cloud.set_forced_down(conn, fault_host, True)
    assert compute_service(conn, fault_host).is_forced_down
    wait_until(lambda: _service_state_is(conn, fault_host, "down"), STATE_TIMEOUT,
               "nova-compute on %s to read down when forced" % fault_host)

    cloud.set_forced_down(conn, fault_host, False)
    wait_until(lambda: _service_ready(conn, fault_host), STATE_TIMEOUT,
               "nova-compute on %s to read up once forced_down is cleared" % fault_host)


def test_reset_state_reads_error(conn: connection.Connection, servers: dict[str, Any],
                                 compute_hosts: list[str]) -> None:
    """os-resetState error -> the server reads ERROR."""
    server = servers[compute_hosts[0]]
    conn.compute.reset_server_state(server, "error")
    wait_until(lambda: _server_status_is(conn, server.id, "ERROR"), STATE_TIMEOUT,
               "server %s to read ERROR" % server.id)


def test_port_data_plane_status_down(conn: connection.Connection, prefix: str, network: Any,
                                     fault_host: str, cleanups: Cleanup) -> None:
    """A port bound to a host: found by its host, data_plane_status DOWN reads back DOWN."""
    port = conn.network.create_port(name="%s-dp-port" % prefix, network_id=network.id,
                                    binding_host_id=fault_host)
    cleanups.add("delete port %s" % port.id,
                  lambda: conn.network.delete_port(port.id, ignore_missing=False))
    assert port.binding_host_id == fault_host, port
    assert port.binding_vif_type not in ("unbound", "binding_failed"), port

    on_host = {p.id for p in conn.network.ports(**{"binding:host_id": fault_host})}
    assert port.id in on_host, "port %s not listed on host %s" % (port.id, fault_host)

    conn.network.update_port(port, data_plane_status="DOWN")
    assert conn.network.get_port(port.id).data_plane_status == "DOWN"


def _trait(traits: list[Any], name: str) -> list[Any]:
    """Values of trait ``name``: Ceilometer sends ``[name, type, value]`` triples."""
    values = []
    for trait in traits:
        if isinstance(trait, dict):
            if trait.get("name") == name:
                values.append(trait.get("value"))
        elif trait and trait[0] == name:
            values.append(trait[-1])
    return values


def test_event_alarm_calls_receiver(conn: connection.Connection, prefix: str,
                                    servers: dict[str, Any], fault_host: str,
                                    receiver: ConsumerServer, cleanups: Cleanup,
                                    figures: dict[str, float],
                                    record_property: Any, settings: Settings) -> None:
    """Event alarm on the server's error -> reset it -> Aodh POSTs to the receiver."""
    server = servers[fault_host]
    if conn.compute.get_server(server.id).status != "ACTIVE":  # only one host: step 3's server
        conn.compute.reset_server_state(server, "active")
        wait_until(lambda: _server_status_is(conn, server.id, "ACTIVE"), STATE_TIMEOUT,
                   "server %s back to ACTIVE" % server.id)

    alarm = cloud.create_alarm(conn, {
        "name": "%s-alarm" % prefix,
        "type": "event",
        "severity": "critical",
        "repeat_actions": False,
        "alarm_actions": [receiver.failure_url],
        "event_rule": {
            "event_type": "compute.instance.update",
            "query": [
                {"field": "traits.instance_id", "op": "eq", "type": "string",
                 "value": server.id},
                {"field": "traits.state", "op": "eq", "type": "string", "value": "error"},
            ],
        },
    })
    alarm_id = alarm["alarm_id"]
    cleanups.add("delete alarm %s" % alarm_id, lambda: cloud.delete_alarm(conn, alarm_id))
    LOG.info("alarm %s on server %s -> %s", alarm_id, server.id, receiver.failure_url)
    # Aodh's listener may hold the project's alarm list from before the alarm existed.
    FaultRun.wait_alarm_cache(preflight.check_event_alarm_cache(
        LabEnv(settings).event_alarm_cache_ttl(), "local"))

    reset_at = time.time()
    conn.compute.reset_server_state(server, "error")

    def ours(call: Alarm) -> bool:
        return call.alarm_id == alarm_id

    calls = receiver.consumer.wait_for(ours, timeout=ALARM_TIMEOUT)
    assert calls, "no POST from Aodh for alarm %s within %.0f s (received: %s)" % (
        alarm_id, ALARM_TIMEOUT, receiver.consumer.alarms())
    call = calls[0]
    latency = call.received_at - reset_at
    figures["reset_to_alarm_s"] = latency
    record_property("reset_to_alarm_s", round(latency, 4))
    LOG.info("reset -> alarm action: %.0f ms", latency * 1000)

    assert call.current == "alarm", call
    assert call.reason_type == "event", call
    assert call.event_type == "compute.instance.update", call
    assert call.traits.get("instance_id") == server.id, call.traits
    assert call.traits.get("state") == "error", call.traits
    assert cloud.get_alarm(conn, alarm_id)["state"] == "alarm"


def _link_up(host: str) -> Observed:
    """The host's link as the lab sees it (administratively up or not)."""
    found = {h.name: h for h in lab.hosts()}
    return Observed(found[host].link_up, found[host])


def test_link_down_reports_compute_down(conn: connection.Connection, fault_host: str,
                                        cleanups: Cleanup, figures: dict[str, float],
                                        record_property: Any, settings: Settings) -> None:
    """Link down on the host over SSH -> Nova reads its nova-compute down, then up again."""
    env = LabEnv(settings)
    hosts = {h.name: h for h in lab.hosts()}
    assert fault_host in hosts and hosts[fault_host].namespace, (fault_host, hosts)
    wait_until(lambda: _service_ready(conn, fault_host), HOST_READY_TIMEOUT,
               "nova-compute on %s ready" % fault_host)

    fault = LinkFault(env.ssh_target(fault_host), LINK_DOWN_S,
                      lambda: env.restore_link(fault_host))
    # Registered before the fault: the link comes back even if a step below fails, and
    # the host's own timer does not bring it up in a later run.
    cleanups.add("nova-compute on %s up again" % fault_host,
                 lambda: wait_until(lambda: _service_ready(conn, fault_host),
                                    SERVICE_UP_TIMEOUT, "nova-compute on %s up" % fault_host))
    cleanups.add("fault script on %s" % fault_host, fault.end_script)
    cleanups.add("link up on %s" % fault_host, fault.restore)

    fault_at, fault_wall = time.monotonic(), time.time()
    fault.inject()
    wait_until(lambda: not _link_up(fault_host), 5.0, "the link of %s down" % fault_host)

    wait_until(lambda: _service_state_is(conn, fault_host, "down"), SERVICE_DOWN_TIMEOUT,
               "Nova to report nova-compute on %s down" % fault_host,
               interval=0.25)
    down_s = time.monotonic() - fault_at
    assert not compute_service(conn, fault_host).is_forced_down

    wait_until(lambda: _link_up(fault_host), LINK_DOWN_S + 10.0,
               "the link of %s up again (the host's own timer)" % fault_host, interval=0.25)
    link_up_at = time.monotonic()
    t00 = fault.fault_time(30)
    assert fault_wall - 5 < t00 < time.time(), "T00 %s read back from the host" % t00
    wait_until(lambda: _service_ready(conn, fault_host), SERVICE_UP_TIMEOUT,
               "Nova to report nova-compute on %s up again" % fault_host, interval=0.25)
    up_s = time.monotonic() - link_up_at

    figures["link_down_to_service_down_s"] = down_s
    figures["link_up_to_service_up_s"] = up_s
    record_property("link_down_to_service_down_s", round(down_s, 3))
    record_property("link_up_to_service_up_s", round(up_s, 3))
    LOG.info("link down -> service down %.1f s; link up -> service up %.1f s", down_s, up_s)


def test_a_fault_without_sudo_rights_fails_at_injection(fault_host: str, cleanups: Cleanup,
                                                        settings: Settings) -> None:
    """As a node user without sudo rights, the fault fails before any change, naming the
    host and the command; the link stays up."""
    env = LabEnv(settings)
    target = env.ssh_target(fault_host, user=lab.unprivileged_user())
    fault = LinkFault(target, LINK_DOWN_S, lambda: env.restore_link(fault_host))
    cleanups.add("link up on %s" % fault_host, fault.restore)
    with pytest.raises(FaultFailed) as err:
        fault.inject()
    text = str(err.value)
    LOG.info("as %s: %s", target.user, text)
    assert fault_host in text and "sudo -n ip link set dev" in text, text
    assert "password is required" in text or "not allowed" in text or "not in the sudoers" in text
    assert _link_up(fault_host), "the link of %s went down" % fault_host


def test_a_reverse_tunnel_reaches_the_consumer_from_a_node(fault_host: str,
                                                           settings: Settings) -> None:
    """DOCTOR_CONSUMER_TUNNEL's mechanism on a real sshd: a port on a lab host's loopback,
    forwarded to the consumer; the preflight POST sent from that host arrives. A URL the
    host cannot reach fails naming the URL and the host."""
    target = LabEnv(settings).ssh_target(fault_host)
    server = ConsumerServer(bind="127.0.0.1", port=0)
    server.start()
    tunnel = reach.ReverseTunnel(target, "127.0.0.1", server.port)
    shell = None
    try:
        port = tunnel.open()
        shell = HostShell(target)
        preflight.check_consumer_from(fault_host, shell, "http://127.0.0.1:%d/failure" % port,
                                      server.consumer)
        with pytest.raises(preflight.PreflightError, match=fault_host) as err:
            preflight.check_consumer_from(fault_host, shell, "http://127.0.0.1:9/failure",
                                          server.consumer)
        assert "http://127.0.0.1:9/failure" in str(err.value)
    finally:
        if shell is not None:
            shell.close()
        tunnel.close()
        server.stop()


@pytest.mark.parametrize("tunnel", [False, True], ids=["routed", "tunnel"])
def test_the_inspector_is_reached_from_the_nodes_where_monitors_run(
        cleanups: Cleanup, settings: Settings, tunnel: bool) -> None:
    """A monitor on a compute host (the collectd kind) reports from that host: the inspector
    listens where every such node reaches it (the runner's address toward them, or a
    reverse SSH tunnel from each), each node's URL proved by a request sent from it; a URL
    a node cannot reach fails naming the URL and the node."""
    import dataclasses

    from doctor_tests.harness.run import start_inspector

    env = LabEnv(settings)
    nodes = [env.ssh_target(h.name) for h in lab.hosts()]
    chosen = dataclasses.replace(settings, inspector_port=0, inspector_tunnel=tunnel)
    _, server = start_inspector(chosen, cleanups, nodes[0].host, [], monitor_nodes=nodes)
    assert set(server.node_urls) == {n.host for n in nodes}
    for node in nodes:
        url = server.node_urls[node.host]
        if tunnel:
            assert url.startswith("http://127.0.0.1:"), url  # the node's own end
        else:  # the runner's address on the bridge, where it listens (not loopback)
            assert url == "http://%s:%d" % (reach.source_address(node.address), server.port)
            assert server.url == url
    shell = HostShell(nodes[0])
    try:
        with pytest.raises(preflight.PreflightError, match=nodes[0].host) as err:
            preflight.check_inspector_from(nodes[0].host, shell, "http://127.0.0.1:9")
        assert "http://127.0.0.1:9" in str(err.value)
    finally:
        shell.close()
