"""Reporting host events: to the sample inspector (``PUT <inspector>/events``, the upstream
format) or, through a :class:`Reporter` of :mod:`doctor_tests.peers`, to Vitrage or Masakari.

The inspector's body is a JSON list::

    [{"time": "2024-05-01T12:00:00.123456+00:00", "type": "compute.host.down",
      "details": {"hostname": "compute-1", "status": "down",
                  "monitor": "doctor-sample-monitor", "monitor_event_id": "<uuid4>"}}]

Every report goes through :func:`deliver`: connection errors and 5xx are retried until a
deadline, a 4xx is not (but a 401 from a service behind Keystone gets one more try with a
new token).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from doctor_tests.httpjson import CallFailed, KeepAliveClient, Reply
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


Status = Literal["down", "up"]


class ReportFailed(Exception):
    """The receiver (inspector, Vitrage, Masakari) did not accept the report before the
    deadline."""

    def __init__(self, url: str, attempts: int, last_error: str,
                 status: int | None = None) -> None:
        super().__init__(f"report to {url} failed after {attempts} attempt(s): {last_error}")
        self.url = url
        self.attempts = attempts
        self.last_error = last_error
        self.status = status  # the last HTTP status, if any answer came


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


def deliver(
    method: str,
    url: str,
    payload: Any,
    *,
    headers: Callable[[], Mapping[str, str]] | None = None,
    renew_auth: Callable[[], None] | None = None,
    attempt_timeout: float = 1.0,
    deadline: float = 5.0,
    stop: threading.Event | None = None,
    client: KeepAliveClient | None = None,
) -> Reply:
    """Send ``payload`` (JSON) with ``method`` to ``url``; retry connection errors and 5xx
    until ``deadline`` seconds have passed. ``headers`` is asked anew for every attempt
    (a token that may have been renewed). A 401 calls ``renew_auth`` and is tried once
    more; any other 4xx is not retried.

    Returns the 2xx :class:`Reply`. Raises :class:`ReportFailed`.
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    sender = client or _CLIENT
    give_up = time.monotonic() + deadline
    backoff = 0.05
    attempts = 0
    renewed = False
    status: int | None = None
    waiter = stop or threading.Event()
    while True:
        attempts += 1
        remaining = give_up - time.monotonic()
        try:
            extra = headers() if headers is not None else None
            reply = sender.send(method, url, body, max(0.05, min(attempt_timeout, remaining)),
                                extra)
        except CallFailed as exc:
            error = exc.reason
        else:
            status = reply.status
            if reply.ok:
                return reply
            error = f"HTTP {reply.status}: {reply.text()}"
            if reply.status == 401 and renew_auth is not None and not renewed:
                LOG.warning("%s refused the token (attempt %d); trying once with a new one",
                            url, attempts)
                renewed = True
                renew_auth()
                continue
            if reply.status < 500:
                LOG.error("%s rejected the report: %s", url, error)
                raise ReportFailed(url, attempts, error, status)
        remaining = give_up - time.monotonic()
        if remaining <= 0 or waiter.is_set():
            LOG.error("giving up reporting to %s after %d attempt(s): %s", url, attempts, error)
            raise ReportFailed(url, attempts, error, status)
        LOG.warning("report to %s failed (attempt %d): %s; retrying", url, attempts, error)
        waiter.wait(min(backoff, remaining))
        backoff = min(backoff * 2, 1.0)


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
    return deliver("PUT", events_url(inspector_url), events, attempt_timeout=attempt_timeout,
                   deadline=deadline, stop=stop).status


class Reporter(Protocol):
    """Where a monitor reports a host going down or coming back: the sample inspector,
    Vitrage or Masakari (:mod:`doctor_tests.peers`)."""

    #: who receives the reports (for logs): "inspector", "vitrage", "masakari"
    receiver: str
    #: the URL the reports go to
    url: str

    def send(self, hostname: str, status: Status, at: float, event_id: str, *,
             deadline: float, stop: threading.Event | None = None) -> Reply:
        """Report ``hostname`` ``status`` (detected at epoch ``at``); the accepted
        :class:`Reply`, or :class:`ReportFailed`."""
        ...


class InspectorReporter:
    """:class:`Reporter` to Doctor's sample inspector (``PUT /events``, upstream format;
    ``plane="dataplane"``: the data-plane types, ``compute.host.dataplane.down``/``up``)."""

    receiver = "inspector"

    def __init__(self, inspector_url: str, monitor: str = MONITOR_NAME,
                 plane: str = "host") -> None:
        if plane not in PLANES:
            raise ValueError(f"plane must be one of {', '.join(PLANES)}, not {plane!r}")
        self.url = events_url(inspector_url)
        self.monitor = monitor
        self.plane = plane

    def send(self, hostname: str, status: Status, at: float, event_id: str, *,
             deadline: float, stop: threading.Event | None = None) -> Reply:
        body = [host_event(hostname, status, at=at, event_id=event_id, monitor=self.monitor,
                           plane=self.plane)]
        return deliver("PUT", self.url, body, deadline=deadline, stop=stop)
