"""Reporting host events to the inspector: ``PUT <inspector>/events`` (upstream format).

The body is a JSON list::

    [{"time": "2024-05-01T12:00:00.123456+00:00", "type": "compute.host.down",
      "details": {"hostname": "compute-1", "status": "down",
                  "monitor": "doctor-sample-monitor", "monitor_event_id": "<uuid4>"}}]
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from doctor_tests.httpjson import CallFailed, KeepAliveClient
from doctor_tests.timeutil import iso_utc

LOG = logging.getLogger(__name__)

MONITOR_NAME = "doctor-sample-monitor"
EVENT_TYPES = {"down": "compute.host.down", "up": "compute.host.up"}
#: a host's data plane (its physnet link) down or back, the host itself up
DATAPLANE_EVENT_TYPES = {"down": "compute.host.dataplane.down",
                         "up": "compute.host.dataplane.up"}
PLANES = ("host", "dataplane")

# Direct (never a proxy), kept alive, and hand-written rather than requests: the report is
# on the critical path (T01 -> inspector) and requests measured slower there (the figures
# are in KeepAliveClient's docstring).
_CLIENT = KeepAliveClient()


class ReportFailed(Exception):
    """The inspector did not accept the report before the deadline."""

    def __init__(self, url: str, attempts: int, last_error: str) -> None:
        super().__init__(f"report to {url} failed after {attempts} attempt(s): {last_error}")
        self.url = url
        self.attempts = attempts
        self.last_error = last_error


@dataclass(frozen=True)
class ReportResult:
    """How one report went: HTTP status (None if none was received) and timing."""

    event_id: str
    kind: str
    url: str
    ok: bool
    status: int | None
    attempts: int
    started_at: float
    finished_at: float
    error: str | None = None


def host_event(
    hostname: str,
    status: Literal["down", "up"],
    at: float | None = None,
    event_id: str | None = None,
    monitor: str = MONITOR_NAME,
    plane: str = "host",
    cause: str | None = None,
) -> dict[str, object]:
    """One event in the upstream Doctor monitor format (``plane="dataplane"``: Doctor's own
    data-plane type; ``cause`` goes into the details, as Vitrage's doctor datasource has it)."""
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {', '.join(PLANES)}, not {plane!r}")
    details: dict[str, object] = {
        "hostname": hostname,
        "status": status,
        "monitor": monitor,
        "monitor_event_id": event_id or str(uuid.uuid4()),
    }
    if cause:
        details["cause"] = cause
    return {
        "time": iso_utc(at),
        "type": (EVENT_TYPES if plane == "host" else DATAPLANE_EVENT_TYPES)[status],
        "details": details,
    }


def events_url(inspector_url: str) -> str:
    return inspector_url.rstrip("/") + "/events"


def put_events(
    inspector_url: str,
    events: list[dict[str, object]],
    *,
    attempt_timeout: float = 1.0,
    deadline: float = 5.0,
    stop: threading.Event | None = None,
) -> int:
    """PUT ``events`` to the inspector, retrying connection errors and 5xx until ``deadline``.

    Returns the HTTP status (2xx). A 4xx is not retried. Raises :class:`ReportFailed`.
    """
    url = events_url(inspector_url)
    body = json.dumps(events).encode("utf-8")
    give_up = time.monotonic() + deadline
    backoff = 0.05
    attempts = 0
    waiter = stop or threading.Event()
    while True:
        attempts += 1
        remaining = give_up - time.monotonic()
        try:
            reply = _CLIENT.send("PUT", url, body, max(0.05, min(attempt_timeout, remaining)))
        except CallFailed as exc:
            error = exc.reason
        else:
            if reply.ok:
                return reply.status
            error = f"HTTP {reply.status}: {reply.text()}"
            if reply.status < 500:
                LOG.error("inspector %s rejected the report: %s", url, error)
                raise ReportFailed(url, attempts, error)
        remaining = give_up - time.monotonic()
        if remaining <= 0 or waiter.is_set():
            LOG.error("giving up reporting to %s after %d attempt(s): %s", url, attempts, error)
            raise ReportFailed(url, attempts, error)
        LOG.warning("report to %s failed (attempt %d): %s; retrying", url, attempts, error)
        waiter.wait(min(backoff, remaining))
        backoff = min(backoff * 2, 1.0)
