"""The consumer's HTTP side: Aodh posts alarm actions here.

``POST /failure`` (or ``POST`` on any path; the path is recorded) with the Aodh body:
200 ``{"recorded": alarm_id}``; 400 ``{"error": reason}`` if it is not a valid alarm.
``GET /alarms`` returns everything recorded; ``GET /`` a short health document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from doctor_tests.consumer.alarm import InvalidAlarm
from doctor_tests.consumer.consumer import Consumer
from doctor_tests.httpjson import BackgroundHTTPServer, BadRequest, HttpError, JsonRequestHandler


class ConsumerHandler(JsonRequestHandler):
    def route(self, method: str, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        consumer: Consumer = self.context
        if method in ("POST", "PUT"):
            try:
                body = self.read_json()
            except BadRequest as exc:
                consumer.reject(self.received_at, path, exc.reason)
                raise
            try:
                alarm = consumer.receive(body, self.received_at, path)
            except InvalidAlarm as exc:
                raise BadRequest(str(exc)) from None
            return 200, {"recorded": alarm.alarm_id, "received_at": alarm.received_at}
        if method == "GET" and path.rstrip("/") == "/alarms":
            return 200, consumer.to_json()
        if method == "GET" and path == "/":
            return 200, {"status": "ok", "alarms": len(consumer.alarms())}
        raise HttpError(404, f"no such resource: {method} {path}")


class ConsumerServer(BackgroundHTTPServer):
    """The consumer in a background thread: ``start()``, ``stop()``, ``url``."""

    def __init__(
        self, consumer: Consumer | None = None, bind: str = "127.0.0.1", port: int = 12346,
        advertise_url: str | None = None,
    ) -> None:
        self.consumer = consumer or Consumer()
        self.advertise_url = advertise_url
        super().__init__(ConsumerHandler, self.consumer, bind, port, "consumer")

    @property
    def failure_url(self) -> str:
        """The URL to give Aodh as the alarm action (the advertised one, when the cloud
        reaches the consumer by another address than the one it listens on)."""
        return self.advertise_url or f"{self.url}/failure"
