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
from datetime import datetime, timezone

from doctor_tests.httpjson import Reply
from doctor_tests.monitor.report import MONITOR_NAME, Status, deliver
from doctor_tests.peers.auth import TokenSource

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


class VitrageReporter:
    """:class:`~doctor_tests.monitor.report.Reporter` to Vitrage's event API."""

    receiver = "vitrage"

    def __init__(self, tokens: TokenSource, monitor: str = MONITOR_NAME,
                 attempt_timeout: float = 2.0) -> None:
        self._tokens = tokens
        self.monitor = monitor
        self.attempt_timeout = attempt_timeout
        self.url = event_url(tokens.endpoint(SERVICE_TYPE))

    def prepare(self) -> None:
        """Authenticate now, not on the fault path."""
        self._tokens.token()

    def _headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self._tokens.token()}

    def send(self, hostname: str, status: Status, at: float, event_id: str, *,
             deadline: float, stop: threading.Event | None = None) -> Reply:
        return deliver("POST", self.url, doctor_event(hostname, status, at, event_id,
                                                      self.monitor),
                       headers=self._headers, renew_auth=self._tokens.invalidate,
                       attempt_timeout=self.attempt_timeout, deadline=deadline, stop=stop)
