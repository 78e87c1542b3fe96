"""The cloud resources a scenario needs, each with its clean-up registered first.

A run gets its own project (``doctor-<id>``) with a member user, so nothing it
makes can be confused with anything else; servers and alarms are made by the
admin user scoped to that project, so the project owns them (Aodh matches event
alarms by the event's project) while the admin may still place servers on a
chosen host.
"""

from __future__ import annotations

import logging
import secrets
import socket
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psutil
from openstack.connection import Connection

from doctor_tests import cloud
from doctor_tests.cleanup import Cleanup
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

PREFIX = "doctor-"
BOOT_TIMEOUT_S = 600.0
DELETE_TIMEOUT_S = 300.0
# Added per server to both: nova-compute claims and frees one server at a time under its
# host lock, and each time reads every allocation on the host from Placement (one GET per
# server there), so a batch's last servers wait longest on a crowded host: ~2 s each at
# 500 servers on the lab.
PER_SERVER_S = 4.0
# The servers' subnet: RFC 2544's benchmarking range, never routed, and addresses only in
# Neutron's IPAM (the lab has no data plane). A /24 ran out at 253 ports, half-way to the
# benchmark's 500 servers; a /19 holds its 5000-server maximum.
SERVER_SUBNET = "198.18.0.0/19"
# Listing hundreds of servers costs nova-api real CPU (the listing is built server by
# server): waits on listings of more than this many servers poll less often.
MANY_SERVERS = 50


def listing_interval(count: int, few_s: float = 0.5, many_s: float = 2.0) -> float:
    """How often a wait polls a listing of ``count`` servers: ``few_s`` up to
    :data:`MANY_SERVERS`, ``many_s`` above."""
    return few_s if count <= MANY_SERVERS else many_s


@dataclass
class Tenant:
    """A run's project: its id, the member user and the connections to use."""

    name: str
    project_id: str
    member_name: str
    member_password: str = field(repr=False)
    admin: Connection = field(repr=False)  # admin user scoped to this project
    member: Connection = field(repr=False)


def _identity(conn: Connection) -> Any:
    """The identity proxy (typed loosely: openstacksdk types it as v2 | v3)."""
    return conn.identity


def _image(conn: Connection) -> Any:
    return conn.image


def run_name() -> str:
    return PREFIX + uuid.uuid4().hex[:8]


#: In a run's project description: which process on which machine owns it, so a later run
#: tells a killed run's leftovers from a run still going (doctor_tests.harness.leftovers).
OWNER_MARK = "runner="


def owner_token(pid: int | None = None) -> str:
    """``<hostname>:<pid>:<process start, epoch s>`` of this process (or ``pid``)."""
    proc = psutil.Process(pid)
    return "%s:%d:%d" % (socket.gethostname(), proc.pid, int(proc.create_time()))


def owner_description() -> str:
    return "Doctor test run (removed at the end); %s%s" % (OWNER_MARK, owner_token())


def owner_alive(description: str | None, hostname: str | None = None) -> bool | None:
    """Whether the run that wrote ``description`` is still running: True or False for a
    run of this machine, None when it cannot be told (another machine, no owner mark)."""
    text = description or ""
    if OWNER_MARK not in text:
        return None
    token = text.split(OWNER_MARK, 1)[1].split()[0]
    try:
        host, pid, started = token.rsplit(":", 2)
        pid_n, started_n = int(pid), int(started)
    except ValueError:
        return None
    if host != (hostname or socket.gethostname()):
        return None
    try:
        return int(psutil.Process(pid_n).create_time()) == started_n
    except psutil.Error:
        return False


def _delete_project(admin: Connection, name: str) -> None:
    project = _identity(admin).find_project(name, domain_id="default")
    if project is not None:
        _identity(admin).delete_project(project)


def _delete_user(admin: Connection, name: str) -> None:
    user = _identity(admin).find_user(name, domain_id="default")
    if user is not None:
        _identity(admin).delete_user(user)


def create_tenant(admin: Connection, cleanup: Cleanup, name: str) -> Tenant:
    """Project ``name`` with member user ``name``-member; the admin user gets admin there."""
    cleanup.add("project %s" % name, _delete_project, admin, name)
    project = _identity(admin).create_project(name=name, domain_id="default",
                                            description=owner_description())
    member_name = name + "-member"
    password = secrets.token_urlsafe(18)
    cleanup.add("user %s" % member_name, _delete_user, admin, member_name)
    user = _identity(admin).create_user(name=member_name, password=password, domain_id="default",
                                      default_project_id=project.id)
    member_role = _identity(admin).find_role("member")
    admin_role = _identity(admin).find_role("admin")
    if member_role is None or admin_role is None:
        raise cloud.CloudError("Keystone has no 'member' or 'admin' role")
    _identity(admin).assign_project_role_to_user(project, user, member_role)
    me = _identity(admin).get_user(admin.current_user_id)
    _identity(admin).assign_project_role_to_user(project, me, admin_role)
    LOG.info("project %s (%s) with user %s", name, project.id, member_name)
    return Tenant(name, project.id, member_name, password,
                  cloud.scoped_connection(admin, project.id),
                  cloud.scoped_connection(admin, project.id, member_name, password))


def ensure_image(admin: Connection, cleanup: Cleanup, name: str) -> Any:
    """The image ``name``; made (a tiny raw disk) and removed afterwards if missing."""
    image = _image(admin).find_image(name)
    if image is not None:
        return image
    cleanup.add("image %s" % name, lambda: [_image(admin).delete_image(i)
                                            for i in _image(admin).images(name=name)])
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(b"\0" * 65536)
        f.flush()
        image = _image(admin).create_image(name=name, filename=f.name, disk_format="raw",
                                         container_format="bare", visibility="public",
                                         wait=True)
    LOG.info("made image %s (%s)", name, image.id)
    return image


def create_flavor(admin: Connection, cleanup: Cleanup, name: str) -> Any:
    def _delete() -> None:
        flavor = admin.compute.find_flavor(name, ignore_missing=True)
        if flavor is not None:
            admin.compute.delete_flavor(flavor)

    cleanup.add("flavor %s" % name, _delete)
    return admin.compute.create_flavor(name=name, ram=64, vcpus=1, disk=0)


def create_network(conn: Connection, cleanup: Cleanup, name: str) -> Any:
    """A network and an IPv4 subnet (:data:`SERVER_SUBNET`, never routed) in conn's project."""
    def _delete() -> None:
        for port in conn.network.ports(network_id=net.id):
            conn.network.delete_port(port, ignore_missing=True)
        conn.network.delete_network(net, ignore_missing=True)

    net = conn.network.create_network(name=name)
    cleanup.add("network %s" % name, _delete)
    conn.network.create_subnet(network_id=net.id, name=name, ip_version=4,
                               cidr=SERVER_SUBNET, enable_dhcp=False)
    return net


def _servers_named(conn: Connection, prefix: str) -> list[Any]:
    return [s for s in conn.compute.servers(name="^%s" % prefix) if s.name.startswith(prefix)]


def _delete_servers(conn: Connection, prefix: str) -> None:
    servers = _servers_named(conn, prefix)
    for server in servers:
        conn.compute.delete_server(server, ignore_missing=True)
    wait_until(lambda: not _servers_named(conn, prefix),
               DELETE_TIMEOUT_S + PER_SERVER_S * len(servers),
               "servers %s* to be deleted" % prefix, interval=listing_interval(len(servers)),
               describe=lambda: "%d left" % len(_servers_named(conn, prefix)))


def undo_servers(conn: Connection, cleanup: Cleanup, prefix: str) -> None:
    """Register (before booting them) the deletion of every server named ``prefix*``: all
    deleted at once, then waited for."""
    cleanup.add("servers %s*" % prefix, _delete_servers, conn, prefix)


def boot_servers(conn: Connection, cleanup: Cleanup, prefix: str, count: int, host: str,
                 flavor: Any, image: Any, network: Any | None,
                 concurrency: int = 8, register_undo: bool = True) -> list[Any]:
    """Boot ``count`` servers on ``host`` in parallel; wait until all are ACTIVE.

    ``register_undo=False`` when the caller has already registered, with
    :func:`undo_servers`, the deletion of a prefix that covers these servers."""
    if register_undo:
        undo_servers(conn, cleanup, prefix)
    names = ["%s-%03d" % (prefix, i) for i in range(count)]
    nets: Any = [{"uuid": network.id}] if network is not None else "none"

    def boot(name: str) -> Any:
        return conn.compute.create_server(name=name, flavor_id=flavor.id, image_id=image.id,
                                          networks=nets, host=host)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(concurrency, count)) as pool:
        created = list(pool.map(boot, names))
    ids = {s.id for s in created}
    last_log = [0.0]

    def all_active() -> list[Any]:
        servers = [s for s in _servers_named(conn, prefix) if s.id in ids]
        errors = [s for s in servers if s.status == "ERROR"]
        if errors:
            raise cloud.CloudError("server %s went to ERROR while booting on %s: %s" % (
                errors[0].name, host, cloud.server_fault(conn, errors[0].id)))
        active = [s for s in servers if s.status == "ACTIVE"]
        if time.monotonic() - last_log[0] > 5:
            last_log[0] = time.monotonic()
            LOG.info("booting on %s: %d/%d ACTIVE after %.0f s", host, len(active), count,
                     time.monotonic() - started)
        return active if len(active) == count else []

    servers: list[Any] = wait_until(all_active, BOOT_TIMEOUT_S + PER_SERVER_S * count,
                                    "%d servers %s* ACTIVE on %s" % (count, prefix, host),
                                    interval=listing_interval(count))
    wrong = [s.name for s in servers if s.compute_host != host]
    if wrong:
        raise cloud.CloudError("servers %s landed elsewhere than %s" % (wrong, host))
    LOG.info("%d servers ACTIVE on %s in %.1f s", count, host, time.monotonic() - started)
    return sorted(servers, key=lambda s: s.name)


def create_alarms(conn: Connection, cleanup: Cleanup, prefix: str, servers: Sequence[Any],
                  action_url: str, **kwargs: Any) -> dict[str, str]:
    """One event alarm per server (error state); returns alarm id -> server id."""
    def _delete() -> None:
        for alarm in cloud.list_alarms(conn):
            if str(alarm.get("name", "")).startswith(prefix):
                cloud.delete_alarm(conn, alarm["alarm_id"])

    cleanup.add("alarms %s*" % prefix, _delete)
    out: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = [cloud.event_alarm_body(s.name + "-alarm", s.id, action_url, **kwargs)
                  for s in servers]
        made = pool.map(lambda b: cloud.create_alarm(conn, b), bodies)
        for server, alarm in zip(servers, made, strict=True):
            out[alarm["alarm_id"]] = server.id
    LOG.info("%d event alarms created", len(out))
    return out
