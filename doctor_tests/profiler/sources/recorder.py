"""Record the flow's notifications off RabbitMQ with an extra queue (needs ``kombu``).

The recorder binds one exclusive, auto-delete queue of its own to the exchanges the flow
uses, so the services' queues and their consumers are not disturbed. Each message is kept
with its receive time; :func:`doctor_tests.profiler.sources.bus.parse_envelope` reads it.
kombu is optional: without it :class:`BusRecorder` raises :class:`BusUnavailable`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from doctor_tests.profiler.sources.bus import BadEnvelope, Notification, parse_envelope

LOG = logging.getLogger(__name__)

#: (exchange, routing key): Nova legacy + versioned, Ceilometer -> Aodh, listener -> notifier.
DEFAULT_BINDINGS: tuple[tuple[str, str], ...] = (
    ("nova", "notifications.info"),
    ("nova", "versioned_notifications.info"),
    ("ceilometer", "alarm.all.sample"),
    ("aodh", "alarm.all.sample"),
    ("aodh", "alarming.sample"),
)


class BusUnavailable(RuntimeError):
    """The recorder cannot run (kombu missing, or the broker refused)."""


@dataclass(frozen=True)
class BusMessage:
    received: float
    exchange: str
    routing_key: str
    body: Any


class BusRecorder:
    """``start()`` / ``stop()`` around a fault; ``notifications()`` afterwards."""

    def __init__(self, url: str, bindings: Sequence[tuple[str, str]] = DEFAULT_BINDINGS,
                 queue_name: str | None = None) -> None:
        try:
            import kombu
        except ImportError as exc:
            raise BusUnavailable(
                "the bus recorder needs kombu (pip install kombu); without it T05/T06 "
                "come from the service logs only"
            ) from exc
        self._kombu = kombu
        self.url = url
        self.bindings = tuple(bindings)
        self.queue_name = queue_name or f"doctor-profiler-{uuid.uuid4().hex[:8]}"
        self._messages: list[BusMessage] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _on_message(self, body: Any, message: Any) -> None:
        info = getattr(message, "delivery_info", {}) or {}
        with self._lock:
            self._messages.append(BusMessage(time.time(), str(info.get("exchange", "")),
                                             str(info.get("routing_key", "")), body))

    def _run(self) -> None:
        kombu = self._kombu
        try:
            with kombu.Connection(self.url) as conn:
                bindings = [kombu.binding(kombu.Exchange(ex, type="topic", no_declare=True),
                                          routing_key=key) for ex, key in self.bindings]
                queue = kombu.Queue(self.queue_name, bindings=bindings, exclusive=True,
                                    auto_delete=True, durable=False)
                with conn.Consumer(queue, callbacks=[self._on_message], no_ack=True,
                                   accept=["json", "text/plain"]):
                    self._ready.set()
                    while not self._stop.is_set():
                        try:
                            conn.drain_events(timeout=0.2)
                        except TimeoutError:
                            continue
        except Exception as exc:  # reported by start() / stop(); the thread must not die silently
            self._error = exc
            LOG.warning("bus recorder on %s stopped: %s", self.url, exc)
        finally:
            self._ready.set()

    def start(self, timeout: float = 10.0) -> None:
        """Bind the queue; returns once it receives. Raises BusUnavailable on failure."""
        self._thread = threading.Thread(target=self._run, name="bus-recorder", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BusUnavailable(f"bus recorder: no consumer on {self.url} after {timeout} s")
        if self._error is not None:
            raise BusUnavailable(f"bus recorder on {self.url}: {self._error}") from self._error

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def messages(self) -> list[BusMessage]:
        with self._lock:
            return list(self._messages)

    def notifications(self) -> list[tuple[BusMessage, Notification]]:
        """Every recorded message that parses as a notification (others are logged)."""
        out = []
        for msg in self.messages():
            try:
                out.append((msg, parse_envelope(msg.body)))
            except BadEnvelope as exc:
                LOG.debug("not a notification on %s/%s: %s", msg.exchange, msg.routing_key, exc)
        return out
