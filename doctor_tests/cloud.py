"""Connections to the cloud under test (openstacksdk) and small Aodh helpers.

Credentials come only from clouds.yaml (``OS_CLOUD``) or the ``OS_*``
variables; the suite's own settings never hold them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import openstack
from openstack.connection import Connection

LOG = logging.getLogger(__name__)

API_TIMEOUT_S = 60.0


class CloudError(RuntimeError):
    """An API answered something the suite cannot go on with; says which call and why."""


def admin_connection(cloud: str | None) -> Connection:
    """The admin connection: ``cloud`` names a clouds.yaml entry; None means OS_*."""
    return openstack.connect(cloud=cloud, api_timeout=API_TIMEOUT_S)


def scoped_connection(admin: Connection, project_id: str, username: str | None = None,
                      password: str | None = None) -> Connection:
    """A connection scoped to ``project_id``: as another user, or as the admin user."""
    auth = dict(admin.config.config["auth"])
    for key in ("project_name", "project_id", "project_domain_name", "project_domain_id",
                "tenant_name", "tenant_id"):
        auth.pop(key, None)
    auth["project_id"] = project_id
    if username is not None:
        for key in ("username", "user_id", "user_domain_name", "user_domain_id", "password",
                    "token", "application_credential_id", "application_credential_secret"):
            auth.pop(key, None)
        auth.update(username=username, password=password, user_domain_id="default")
    return openstack.connect(
        auth=auth,
        auth_type="password",
        region_name=admin.config.get_region_name(),
        interface=admin.config.get_interface(),
        api_timeout=API_TIMEOUT_S,
    )


def _json(resp: Any, what: str, expected: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
    if resp.status_code not in expected:
        raise CloudError("%s answered %s: %s" % (what, resp.status_code, resp.text[:500]))
    return resp.json() if resp.content else None


def create_alarm(conn: Connection, body: dict[str, Any]) -> dict[str, Any]:
    resp = conn.alarm.post("/alarms", json=body, raise_exc=False)
    return dict(_json(resp, "Aodh POST /alarms (%s)" % body.get("name")))


def server_fault(conn: Connection, server_id: str) -> str:
    """Why Nova put a server in ERROR: its fault's message (Nova's server listing leaves
    the fault out, one server's GET has it), or says that none was recorded."""
    server = (_json(conn.compute.get("/servers/%s" % server_id, raise_exc=False),
                    "Nova GET /servers/%s" % server_id) or {}).get("server") or {}
    fault = server.get("fault") or {}
    return str(fault.get("message") or "no fault recorded")


def get_alarm(conn: Connection, alarm_id: str) -> dict[str, Any]:
    return dict(_json(conn.alarm.get("/alarms/%s" % alarm_id, raise_exc=False),
                      "Aodh GET /alarms/%s" % alarm_id))


def delete_alarm(conn: Connection, alarm_id: str) -> None:
    resp = conn.alarm.delete("/alarms/%s" % alarm_id, raise_exc=False)
    if resp.status_code == 404:
        raise openstack.exceptions.NotFoundException("alarm %s" % alarm_id)
    _json(resp, "Aodh DELETE /alarms/%s" % alarm_id)


def list_alarms(conn: Connection) -> list[dict[str, Any]]:
    return list(_json(conn.alarm.get("/alarms", raise_exc=False), "Aodh GET /alarms"))


def alarm_history(conn: Connection, alarm_id: str) -> list[dict[str, Any]]:
    return list(_json(conn.alarm.get("/alarms/%s/history" % alarm_id, raise_exc=False),
                      "Aodh GET /alarms/%s/history" % alarm_id))


def port_alarm_body(name: str, port_id: str, action_url: str, status: str = "DOWN"
                    ) -> dict[str, Any]:
    """An Aodh event alarm that fires when Neutron says ``port_id``'s
    ``data_plane_status`` is ``status`` (its ``port.update.end`` notification)."""
    return {
        "name": name, "type": "event", "severity": "critical", "repeat_actions": False,
        "alarm_actions": [action_url],
        "event_rule": {"event_type": "port.update.end", "query": [
            {"field": "traits.port_id", "op": "eq", "type": "string", "value": port_id},
            {"field": "traits.data_plane_status", "op": "eq", "type": "string",
             "value": status}]},
    }


def event_alarm_body(name: str, server_id: str, action_url: str, *, severity: str = "critical",
                     repeat_actions: bool = False, state: str = "error",
                     event_type: str = "compute.instance.update") -> dict[str, Any]:
    """An Aodh event alarm that fires when ``server_id`` goes to ``state``."""
    return {
        "name": name,
        "type": "event",
        "severity": severity,
        "repeat_actions": repeat_actions,
        "alarm_actions": [action_url],
        "event_rule": {
            "event_type": event_type,
            "query": [
                {"field": "traits.instance_id", "op": "eq", "type": "string",
                 "value": server_id},
                {"field": "traits.state", "op": "eq", "type": "string", "value": state},
            ],
        },
    }


def compute_services(conn: Connection, binary: str = "nova-compute") -> list[Any]:
    return [s for s in conn.compute.services() if s.binary == binary]


def set_enabled(conn: Connection, host: str, enabled: bool) -> None:
    """Enable (or disable) ``host``'s nova-compute, in the 2.53 form (service id)."""
    for svc in compute_services(conn):
        if svc.host == host:
            body: dict[str, Any] = {"status": "enabled" if enabled else "disabled"}
            resp = conn.compute.put("/os-services/%s" % svc.id, json=body,
                                    microversion="2.53", raise_exc=False)
            _json(resp, "PUT /os-services/%s status=%s" % (svc.id, body["status"]))
            return
    raise CloudError("no nova-compute service on host %r" % host)


def set_forced_down(conn: Connection, host: str, forced: bool) -> None:
    """Force (or un-force) ``host``'s nova-compute, in the 2.53 form (service id)."""
    for svc in compute_services(conn):
        if svc.host == host:
            resp = conn.compute.put("/os-services/%s" % svc.id, json={"forced_down": forced},
                                    microversion="2.53", raise_exc=False)
            _json(resp, "PUT /os-services/%s forced_down=%s" % (svc.id, forced))
            return
    raise CloudError("no nova-compute service on host %r" % host)


# What each API's warm-up reads: cheap admin GETs that still go through the token
# middleware, the policy engine and the database (the cold costs of a new API process).
WARM_PATHS: dict[str, tuple[str, ...]] = {
    "compute": ("/os-services", "/servers/detail?limit=1&all_tenants=1"),
    "network": ("/ports?limit=1",),
    "alarming": ("/alarms?limit=1",),
}


def warm_apis(conn: Connection, parallel: int = 8, rounds: int = 3) -> tuple[int, int, float]:
    """Read each API in :data:`WARM_PATHS` that the catalog has, ``parallel`` calls at once,
    ``rounds`` times, each call on a new TCP connection (``Connection: close``).

    An API process that a prepare just restarted pays its cold costs (its own service
    token, the first token validation, the policy file, the database connections) on its
    first requests; a fault-management service that then calls it pays them on the fault
    path (Vitrage's first force-down came 1.1 s late behind a restarted nova-api). A
    kept-alive connection stays with one process of a multi-process API server, so the
    calls here open a new one each and are spread over the processes the way a new
    client's would be. Returns (calls answered 2xx, calls made, seconds)."""
    from concurrent.futures import ThreadPoolExecutor

    calls: list[tuple[Any, str]] = []
    for service, paths in WARM_PATHS.items():
        try:
            if not conn.has_service(service):
                continue
        except Exception as exc:  # noqa: BLE001 - a catalog we cannot read: warm nothing
            LOG.warning("warm-up: cannot read the catalog for %s: %s", service, exc)
            continue
        proxy = getattr(conn, {"alarming": "alarm"}.get(service, service))
        calls.extend((proxy, path) for path in paths for _ in range(parallel))

    def read(item: tuple[Any, str]) -> bool:
        proxy, path = item
        try:
            response = proxy.get(path, headers={"Connection": "close"}, raise_exc=False)
        except Exception as exc:  # noqa: BLE001 - warming is best effort; the runs say more
            LOG.debug("warm-up GET %s: %s", path, exc)
            return False
        return 200 <= getattr(response, "status_code", 0) < 300

    started = time.monotonic()
    answered = 0
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="warm-apis") as pool:
        for _ in range(rounds):
            answered += sum(pool.map(read, calls))
    seconds = time.monotonic() - started
    LOG.info("warm-up of the APIs: %d of %d reads answered in %.2f s", answered,
             len(calls) * rounds, seconds)
    return answered, len(calls) * rounds, seconds
