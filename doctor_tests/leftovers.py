"""``doctor cleanup``: remove what interrupted runs left in a cloud.

A run's resources all live in its own project ``doctor-<8 hex>`` (servers,
ports, networks, alarms) plus a user and a flavor of the same name; the only
cloud-wide changes are a forced-down nova-compute, the peers' state (Vitrage's host
marked down, Masakari's hosts on maintenance and the services it disabled:
:mod:`doctor_tests.peers.leftovers`) and, on the lab, a host link left down. This finds
each kind and undoes it, saying what it did.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from openstack.connection import Connection

from doctor_tests import cloud
from doctor_tests.peers import leftovers as peer_leftovers
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

RUN_NAME = re.compile(r"^doctor-[0-9a-f]{8}(-|$)")


def _all_alarms(admin: Connection) -> list[dict[str, Any]]:
    resp = admin.alarm.get("/alarms", params={"q.field": "all_projects", "q.op": "eq",
                                              "q.value": "true"}, raise_exc=False)
    if resp.status_code != 200:
        raise cloud.CloudError("Aodh GET /alarms (all projects) answered %s: %s"
                               % (resp.status_code, resp.text[:300]))
    return list(resp.json())


def run_projects(admin: Connection) -> list[Any]:
    """The projects of Doctor runs (``doctor-<8 hex>``), whoever owns them."""
    idc: Any = admin.identity
    return [p for p in idc.projects() if RUN_NAME.match(p.name)]


def clean(admin: Connection, dry_run: bool = False,
          keep: Callable[[Any], bool] | None = None, unforce: bool = True) -> list[str]:
    """Undo every leftover; returns one line per thing done (or to do, with dry_run).

    ``keep(project)`` true: that run's project and everything in it are left alone (a run
    still going); flavors and users are matched to the projects removed. ``unforce``
    false leaves the cloud-wide state as it is (forced-down services, the peers' state:
    a run may still be using it).
    """
    done: list[str] = []
    idc: Any = admin.identity

    def act(what: str, fn: Any, *args: Any) -> None:
        done.append(("would remove " if dry_run else "") + what)
        if not dry_run:
            fn(*args)

    everything = run_projects(admin)
    projects = [p for p in everything if keep is None or not keep(p)]
    removed = {p.id for p in projects}
    kept = {p.name[:15] for p in everything if p.id not in removed}  # doctor-<8 hex>

    def ours(name: str | None) -> bool:
        """A run's name (or a name made from it) not belonging to a kept run."""
        m = RUN_NAME.match(name or "")
        return bool(m) and (name or "")[:15] not in kept

    project_ids = {p.id for p in projects}
    for alarm in _all_alarms(admin):
        if alarm.get("project_id") in project_ids or ours(alarm.get("name", "")):
            act("alarm %s (%s)" % (alarm["name"], alarm["alarm_id"]), cloud.delete_alarm,
                admin, alarm["alarm_id"])
    servers = [s for s in admin.compute.servers(all_projects=True)
               if s.project_id in project_ids or ours(s.name)]
    for server in servers:
        act("server %s (%s)" % (server.name, server.id), admin.compute.delete_server, server)
    if servers and not dry_run:
        ids = {s.id for s in servers}
        wait_until(lambda: not [s for s in admin.compute.servers(all_projects=True)
                                if s.id in ids], 300, "leftover servers to be deleted",
                   interval=0.5)
    for port in admin.network.ports():
        if port.project_id in project_ids:
            act("port %s" % port.id, admin.network.delete_port, port)
    for net in admin.network.networks():
        if net.project_id in project_ids or ours(net.name):
            act("network %s (%s)" % (net.name, net.id), admin.network.delete_network, net)
    for flavor in admin.compute.flavors():
        if ours(flavor.name):
            act("flavor %s" % flavor.name, admin.compute.delete_flavor, flavor)
    for user in idc.users():
        if ours(user.name):
            act("user %s" % user.name, idc.delete_user, user)
    for project in projects:
        act("project %s" % project.name, idc.delete_project, project)
    if unforce:
        # the peers first: Vitrage's undo un-forces the host it marked down itself, and
        # Masakari's pending notifications would disable a host again
        done += peer_leftovers.clean(admin, dry_run=dry_run)
    for svc in cloud.compute_services(admin) if unforce else []:
        if svc.is_forced_down:
            done.append(("would un-force " if dry_run else "un-forced ")
                        + "nova-compute on %s" % svc.host)
            if not dry_run:
                cloud.set_forced_down(admin, svc.host, False)
    return done


def names_left(conn: Connection, prefix: str) -> dict[str, list[str]]:
    """Names starting with ``prefix`` still listed, by kind (empty lists when clean)."""
    def named(items: Any) -> list[str]:
        return sorted(i.name for i in items if (i.name or "").startswith(prefix))

    return {
        "servers": named(conn.compute.servers(all_projects=True)),
        "ports": named(conn.network.ports()),
        "networks": named(conn.network.networks()),
        "flavors": named(conn.compute.flavors(is_public=None)),
        "alarms": sorted(str(a.get("name", "")) for a in _all_alarms(conn)
                         if str(a.get("name", "")).startswith(prefix)),
    }
