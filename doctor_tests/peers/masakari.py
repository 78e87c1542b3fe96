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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from doctor_tests.httpjson import Reply
from doctor_tests.monitor.report import Status
from doctor_tests.peers.auth import TokenReporter, TokenSource

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


class MasakariReporter(TokenReporter):
    """:class:`~doctor_tests.monitor.report.Reporter` to Masakari's notifications API.

    The attempt timeout is long: a notification that timed out on the client side may
    still have been created, and sending it again is then refused (409, the host is on
    maintenance)."""

    receiver = "masakari"

    def __init__(self, tokens: TokenSource, attempt_timeout: float = 10.0) -> None:
        super().__init__(tokens, notifications_url(tokens.endpoint(SERVICE_TYPE)),
                         attempt_timeout)

    def send(self, hostname: str, status: Status, at: float, event_id: str, *,
             deadline: float, stop: threading.Event | None = None) -> Reply:
        return self.post(host_notification(hostname, status, at), deadline=deadline,
                         stop=stop)


#: A notification in one of these states is done with (``error`` is not: masakari-engine's
#: periodic task runs it again, then marks it ``failed``).
SETTLED = ("finished", "failed", "ignored")
#: What masakari-engine writes as the disabled reason of a failed host's nova-compute
#: (``[host_failure] service_disable_reason``, its default)
DISABLE_REASON = "Masakari detected host failed."


@dataclass(frozen=True)
class SegmentHost:
    """A host of a failover segment as Masakari holds it."""

    segment_id: str
    segment: str
    uuid: str
    name: str
    on_maintenance: bool


def segment_hosts(conn: Any, hostname: str | None = None) -> list[SegmentHost]:
    """The hosts of every failover segment (only ``hostname``'s when given)."""
    ha = conn.instance_ha
    out = []
    for segment in ha.segments():
        for host in ha.hosts(segment.uuid):
            if hostname is None or host.name == hostname:
                out.append(SegmentHost(segment.uuid, segment.name, host.uuid, host.name,
                                       bool(host.on_maintenance)))
    return out


def out_of_maintenance(conn: Any, hostname: str | None = None,
                       dry_run: bool = False) -> list[str]:
    """Take ``hostname`` (every host when None) out of maintenance in every segment that
    holds it; one line per host changed (or to change, with ``dry_run``)."""
    done = []
    for host in segment_hosts(conn, hostname):
        if host.on_maintenance:
            if not dry_run:
                conn.instance_ha.update_host(host.uuid, host.segment_id, on_maintenance=False)
            done.append("%sMasakari host %s (segment %s) out of maintenance"
                        % ("would take " if dry_run else "took ", host.name, host.segment))
    return done


def notifications(conn: Any, hostname: str | None = None,
                  since: float | None = None) -> list[Any]:
    """Masakari's notifications (of ``hostname``, generated at ``since`` or later), oldest
    first. A listed notification names its host by its uuid in the segment
    (``source_host_uuid``; ``hostname`` is not in the listing) and keeps its time to the
    second."""
    query: dict[str, str] = {"sort_key": "generated_time", "sort_dir": "asc"}
    if since is not None:
        query["generated_since"] = masakari_time(since - 1.0)
    if hostname is None:
        return list(conn.instance_ha.notifications(**query))
    out = []
    for host in segment_hosts(conn, hostname):
        out += conn.instance_ha.notifications(source_host_uuid=host.uuid, **query)
    return sorted(out, key=lambda n: str(n.generated_time))


def unsettled(items: Iterable[Any]) -> list[Any]:
    """The notifications Masakari is not done with (new, running, or error: run again)."""
    return [n for n in items if n.status not in SETTLED]


def describe(items: Iterable[Any]) -> str:
    return ", ".join("%s (host %s) %s" % (n.notification_uuid, n.source_host_uuid, n.status)
                     for n in items) or "none"
