"""Reporting a host fault to Vitrage: ``POST /v1/event`` in the doctor datasource's format.

What Vitrage 15.0.1 needs (found in its sources and checked against a running vitrage-api
and vitrage-graph, docs/peers.md)::

    POST <rca endpoint>/v1/event        X-Auth-Token: <token>
    {"time": "2026-12-04T23:10:14.078830", "type": "compute.host.down",
     "details": {"hostname": "<nova-compute host>", "status": "down", "source": "...",
                 "severity": "critical", "monitor_id": "...", "monitor_event_id": "..."}}

- ``time`` must be ``%Y-%m-%dT%H:%M:%S.%f`` (UTC, no offset): the doctor transformer
  parses it with exactly that format (vitrage/datasources/doctor/transformer.py). Any other
  form is answered 200 by the API and dropped by vitrage-graph with a ValueError; worse, the
  doctor driver has cached the event by then, so every later "down" of that host fails the
  same way until an "up" clears it.
- ``hostname`` is the nova-compute host (the nova.host vertex's id).
- The alarm is keyed by type and host, so the "up" that clears it is the *same* type
  with ``status: up``; Vitrage acts only on a change of status (a second "down" without an
  "up" between does nothing).
- The API answers ``200`` with the body ``null`` once vitrage-graph has taken the event on
  (two RPC calls: vitrage-graph's liveness, then the event); the evaluation and the Nova
  calls follow asynchronously.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from doctor_tests.httpjson import Reply
from doctor_tests.monitor.report import MONITOR_NAME, Status
from doctor_tests.peers.auth import PeerError, TokenReporter, TokenSource

SERVICE_TYPE = "rca"
EVENT_TYPE = "compute.host.down"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def vitrage_time(epoch: float) -> str:
    """``epoch`` as the doctor datasource wants it: UTC, ``%Y-%m-%dT%H:%M:%S.%f``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime(TIME_FORMAT)


def doctor_event(hostname: str, status: Status, at: float, event_id: str,
                 monitor: str = MONITOR_NAME) -> dict[str, object]:
    """The body of ``POST /v1/event`` for ``hostname`` going ``status`` at epoch ``at``."""
    details: dict[str, str] = {
        "hostname": hostname,
        "status": status,
        "source": monitor,
        "monitor_id": monitor,
        "monitor_event_id": event_id,
    }
    if status == "down":
        details["severity"] = "critical"
        details["cause"] = "host unreachable"
    return {"time": vitrage_time(at), "type": EVENT_TYPE, "details": details}


def event_url(endpoint: str) -> str:
    """``/v1/event`` under Vitrage's catalog URL (registered with or without ``/v1``)."""
    base = endpoint.rstrip("/")
    return (base if base.endswith("/v1") else base + "/v1") + "/event"


class VitrageReporter(TokenReporter):
    """:class:`~doctor_tests.monitor.report.Reporter` to Vitrage's event API."""

    receiver = "vitrage"

    def __init__(self, tokens: TokenSource, monitor: str = MONITOR_NAME,
                 attempt_timeout: float = 2.0) -> None:
        super().__init__(tokens, event_url(tokens.endpoint(SERVICE_TYPE)), attempt_timeout)
        self.monitor = monitor

    def send(self, hostname: str, status: Status, at: float, event_id: str, *,
             deadline: float, stop: threading.Event | None = None) -> Reply:
        return self.post(doctor_event(hostname, status, at, event_id, self.monitor),
                         deadline=deadline, stop=stop)


#: The template's deduced alarm on each server of a failed host (doctor-host-down.yaml)
DEDUCED_ALARM = "doctor instance down"


class VitrageApi:
    """What the scenarios read from Vitrage, and the "up" that ends a run, through the
    run's openstacksdk connection (its session and catalog)."""

    def __init__(self, conn: Any) -> None:
        from keystoneauth1.adapter import Adapter

        interface = conn.config.get_interface()
        self._rca = Adapter(session=conn.session, service_type=SERVICE_TYPE,
                            interface=interface if isinstance(interface, str) else "public",
                            region_name=conn.config.get_region_name())

    def _get(self, path: str, params: dict[str, str]) -> Any:
        resp = self._rca.get(path, params=params, raise_exc=False)
        if resp.status_code != 200:
            raise PeerError("Vitrage GET %s answered %s: %s"
                            % (path, resp.status_code, resp.text[:300]))
        return resp.json()

    def alarms(self) -> list[dict[str, Any]]:
        """Every active alarm of Vitrage's graph (all projects)."""
        return list(self._get("/v1/alarm/", {"vitrage_id": "all", "all_tenants": "true"}))

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        """The graph's vertices of ``resource_type`` (nova.host, nova.instance, ...)."""
        return list(self._get("/v1/resources/", {"resource_type": resource_type,
                                                 "all_tenants": "true"}))

    def host(self, hostname: str) -> dict[str, Any] | None:
        """The nova.host vertex of ``hostname`` (None: Vitrage does not know it)."""
        return next((r for r in self.resources("nova.host") if r.get("id") == hostname), None)

    def state(self, hostname: str, server_ids: Iterable[str] = ()) -> VitrageState:
        """What Vitrage holds about ``hostname`` and ``server_ids`` now."""
        host = self.host(hostname)
        wanted = set(server_ids)
        servers = {r.get("vitrage_id"): str(r.get("id")) for r in self.resources("nova.instance")
                   if r.get("id") in wanted}
        host_id = host.get("vitrage_id") if host else None
        host_alarms, deduced = [], set()
        for alarm in self.alarms():
            resource = alarm.get("vitrage_resource_id")
            if host_id is not None and resource == host_id and alarm.get("name") == EVENT_TYPE:
                host_alarms.append(alarm)
            elif resource in servers and alarm.get("name") == DEDUCED_ALARM:
                deduced.add(servers[resource])
        return VitrageState(hostname, host is not None,
                            bool(host and _truthy(host.get("is_marked_down"))),
                            len(host_alarms), frozenset(deduced))


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() == "true"


@dataclass(frozen=True)
class VitrageState:
    """Vitrage's view of a host and some of its servers."""

    host: str
    known: bool            # the nova.host vertex exists
    marked_down: bool      # its template marked the host down
    host_alarms: int       # active doctor alarms (compute.host.down) on the host
    deduced: frozenset[str]  # servers with the template's deduced alarm

    @property
    def clear(self) -> bool:
        """Nothing of a fault is left: the host not marked down, no alarm on it or on the
        servers."""
        return not self.marked_down and not self.host_alarms and not self.deduced

    def describe(self) -> str:
        return ("host %s %s, %d doctor alarm(s) on it, deduced alarm on %d server(s)"
                % (self.host, "marked down" if self.marked_down else "not marked down",
                   self.host_alarms, len(self.deduced)))
