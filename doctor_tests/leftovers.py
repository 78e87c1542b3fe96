"""``doctor cleanup``: remove what interrupted runs left in a cloud.

A run's resources all live in its own project ``doctor-<8 hex>`` (servers,
ports, networks, alarms) plus a user and a flavor of the same name; the only
cloud-wide changes are a forced-down nova-compute and, on the lab, a host
link left down. This finds each kind and undoes it, saying what it did.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from openstack.connection import Connection

from doctor_tests import cloud
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


def clean(admin: Connection, dry_run: bool = False) -> list[str]:
    """Undo every leftover; returns one line per thing done (or to do, with dry_run)."""
    done: list[str] = []
    idc: Any = admin.identity

    def act(what: str, fn: Any, *args: Any) -> None:
        done.append(("would remove " if dry_run else "") + what)
        if not dry_run:
            fn(*args)

    projects = [p for p in idc.projects() if RUN_NAME.match(p.name)]
    project_ids = {p.id for p in projects}
    for alarm in _all_alarms(admin):
        if alarm.get("project_id") in project_ids or RUN_NAME.match(alarm.get("name", "")):
            act("alarm %s (%s)" % (alarm["name"], alarm["alarm_id"]), cloud.delete_alarm,
                admin, alarm["alarm_id"])
    servers = [s for s in admin.compute.servers(all_projects=True)
               if s.project_id in project_ids or RUN_NAME.match(s.name)]
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
        if net.project_id in project_ids or RUN_NAME.match(net.name or ""):
            act("network %s (%s)" % (net.name, net.id), admin.network.delete_network, net)
    for flavor in admin.compute.flavors():
        if RUN_NAME.match(flavor.name):
            act("flavor %s" % flavor.name, admin.compute.delete_flavor, flavor)
    for user in idc.users():
        if RUN_NAME.match(user.name):
            act("user %s" % user.name, idc.delete_user, user)
    for project in projects:
        act("project %s" % project.name, idc.delete_project, project)
    for svc in cloud.compute_services(admin):
        if svc.is_forced_down:
            done.append(("would un-force " if dry_run else "un-forced ")
                        + "nova-compute on %s" % svc.host)
            if not dry_run:
                cloud.set_forced_down(admin, svc.host, False)
    return done
