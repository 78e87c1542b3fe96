"""Reporting a host fault to Masakari: ``POST /v1/notifications``, as masakari-monitors'
host monitor does (masakarimonitors/hostmonitor/host_handler/handle_host.py, ``_make_event``,
sent through openstacksdk's instance_ha proxy)::

    POST <instance-ha endpoint>/notifications        X-Auth-Token: <token>
    {"notification": {"type": "COMPUTE_HOST", "hostname": "<host in a failover segment>",
                      "generated_time": "2026-12-04T23:11:19.123456",
                      "payload": {"event": "STOPPED", "cluster_status": "OFFLINE",
                                  "host_status": "NORMAL"}}}

Masakari 22.0.0 answers ``202`` with the notification (its ``notification_uuid``, status
``new``) and casts it to masakari-engine, which recovers the host only for ``STOPPED`` with
``host_status`` ``NORMAL`` (``UNKNOWN`` is ignored: the host monitor sends it when IPMI
cannot confirm the host is off). A host already on maintenance (Masakari puts it there when
it starts a recovery) or a notification with the same host, type and payload within
``duplicate_notification_detection_interval`` is refused with ``409``; a host in no
segment with ``400``. The "up" report is ``STARTED``/``ONLINE``, which the engine only logs
(and which is refused while the host is on maintenance).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

from doctor_tests.httpjson import Reply
from doctor_tests.monitor.report import Status, deliver
from doctor_tests.peers.auth import TokenSource

SERVICE_TYPE = "instance-ha"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
PAYLOADS: dict[str, dict[str, str]] = {
    "down": {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"},
    "up": {"event": "STARTED", "cluster_status": "ONLINE", "host_status": "NORMAL"},
}


def masakari_time(epoch: float) -> str:
    """``epoch`` as the host monitor sends it (naive UTC with microseconds)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime(TIME_FORMAT)


def host_notification(hostname: str, status: Status, at: float) -> dict[str, object]:
    """The body of ``POST /v1/notifications`` for ``hostname`` going ``status`` at ``at``."""
    return {"notification": {"type": "COMPUTE_HOST", "hostname": hostname,
                             "generated_time": masakari_time(at),
                             "payload": dict(PAYLOADS[status])}}


def notifications_url(endpoint: str) -> str:
    """``/notifications`` under Masakari's catalog URL (``.../v1`` or ``.../v1/<project>``)."""
    base = endpoint.rstrip("/")
    return base + "/notifications" if "/v1" in base else base + "/v1/notifications"


def notification_uuid(reply: Reply) -> str | None:
    """The uuid of the notification Masakari created (None if the body has none)."""
    try:
        body = json.loads(reply.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    uuid = body.get("notification", {}).get("notification_uuid") if isinstance(body, dict) \
        else None
    return uuid if isinstance(uuid, str) else None


class MasakariReporter:
    """:class:`~doctor_tests.monitor.report.Reporter` to Masakari's notifications API.

    The attempt timeout is long: a notification that timed out on the client side may
    still have been created, and sending it again is then refused (409, the host is on
    maintenance)."""

    receiver = "masakari"

    def __init__(self, tokens: TokenSource, attempt_timeout: float = 10.0) -> None:
        self._tokens = tokens
        self.attempt_timeout = attempt_timeout
        self.url = notifications_url(tokens.endpoint(SERVICE_TYPE))

    def prepare(self) -> None:
        """Authenticate now, not on the fault path."""
        self._tokens.token()

    def _headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self._tokens.token()}

    def send(self, hostname: str, status: Status, at: float, event_id: str, *,
             deadline: float, stop: threading.Event | None = None) -> Reply:
        return deliver("POST", self.url, host_notification(hostname, status, at),
                       headers=self._headers, renew_auth=self._tokens.invalidate,
                       attempt_timeout=self.attempt_timeout, deadline=deadline, stop=stop)
