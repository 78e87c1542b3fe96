"""The "shortcut": the inspector tells the tenant itself, in parallel with Nova.

With ``shortcut`` on, the inspector publishes one ``compute.instance.update``
notification per affected server (state ``error``) on the notification bus, the
same message Nova sends when the reset succeeds, before its reset calls to Nova
complete. Ceilometer turns it into an event and Aodh fires the tenant's alarm
without waiting for Nova's API. The reset calls still run: Nova's own state must
become ERROR.

The risk (see docs/benchmarks/README.md): the tenant hears "error" before Nova
says so, and if a reset then fails the notification was ahead of the truth.
Both notifications match the alarm; an alarm with ``repeat_actions: false``
fires once only if Aodh's listener evaluates one event at a time (the lab runs
it with one thread); the scenarios and the benchmark count duplicates.

The message is the oslo.messaging "messagingv2" envelope on exchange ``nova``,
routing key ``notifications.info``, where Nova publishes. The publisher id is
``doctor-inspector.<host>``, so the event's ``service`` trait says which
notification fired an alarm.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from doctor_tests.inspector.backend import CloudError, ServerInfo

LOG = logging.getLogger(__name__)

EXCHANGE = "nova"
ROUTING_KEY = "notifications.info"
PUBLISHER = "doctor-inspector"
EVENT_TYPE = "compute.instance.update"


def instance_error_message(server: ServerInfo, host: str, now: datetime | None = None
                           ) -> dict[str, Any]:
    """The oslo.messaging v2 envelope of a ``compute.instance.update`` to ``error``."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    message = {
        "message_id": str(uuid.uuid4()),
        "publisher_id": f"{PUBLISHER}.{host}",
        "event_type": EVENT_TYPE,
        "priority": "INFO",
        "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "payload": {
            "instance_id": server.id,
            "tenant_id": server.project_id,
            "user_id": server.user_id,
            "display_name": server.name,
            "host": host,
            "state": "error",
            "old_state": (server.status or "").lower() or None,
            "state_description": "",
            "old_task_state": None,
            "new_task_state": None,
        },
    }
    return {"oslo.version": "2.0", "oslo.message": json.dumps(message)}


class ShortcutPublisher:
    """One AMQP connection; :meth:`instance_error` publishes for a batch of servers."""

    def __init__(self, url: str, exchange: str = EXCHANGE,
                 routing_key: str = ROUTING_KEY) -> None:
        try:
            import kombu
        except ImportError as exc:  # pragma: no cover - kombu is a dependency
            raise CloudError("the shortcut needs kombu (pip install kombu)") from exc
        self._kombu = kombu
        self.url = url
        self.exchange = exchange
        self.routing_key = routing_key
        self._lock = threading.Lock()
        self._conn: Any = None
        self._producer: Any = None

    def connect(self) -> None:
        """Connect now (not on the fault path); raises :class:`CloudError` naming the bus."""
        with self._lock:
            self._connect()

    def _connect(self) -> None:
        if self._producer is not None:
            return
        conn = self._kombu.Connection(self.url, connect_timeout=5)
        try:
            conn.ensure_connection(max_retries=1)
        except Exception as exc:
            conn.release()
            raise CloudError(f"shortcut: cannot reach the notification bus at "
                             f"{_redact(self.url)}: {exc}") from exc
        self._conn = conn
        self._producer = conn.Producer(serializer="json")

    def instance_error(self, servers: Sequence[ServerInfo], host: str) -> int:
        """Publish one notification per server; returns how many were published."""
        with self._lock:
            self._connect()
            for server in servers:
                self._producer.publish(
                    instance_error_message(server, host),
                    exchange=self.exchange, routing_key=self.routing_key,
                    declare=[], retry=True,
                    retry_policy={"max_retries": 1},
                )
        LOG.info("shortcut: %d compute.instance.update (error) published for %s",
                 len(servers), host)
        return len(servers)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.release()
                except Exception as exc:  # noqa: BLE001 - closing is best effort
                    LOG.debug("closing the bus connection: %s", exc)
            self._conn = self._producer = None


def _redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    creds, at, where = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{where}"
