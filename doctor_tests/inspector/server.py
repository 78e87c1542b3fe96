"""The inspector's HTTP API.

==================  ==========================================================================
``PUT /events``     host events (a list in the upstream format, or one event); also ``POST``.
                    The whole body is validated before anything is done: 400 with
                    ``{"error": reason}`` if anything is malformed, 404 if a host is unknown.
                    Answers as soon as the actions are started: 202 with a summary per event
                    (200 if every event was a duplicate). ``?wait=SECONDS`` waits for the
                    actions to finish and answers 200 with the full records.
``POST /hosts/NAME/down``, ``POST /hosts/NAME/up``  the same, without a monitor.
``GET /``           health: status, hosts down, index sizes, uptime.
``GET /index``      per host: service id, server ids, port ids and counts.
``POST /index/refresh``  refresh the index now (synchronously).
``GET /actions``    every recorded event with its timestamps (``?host=NAME`` filters).
==================  ==========================================================================

Why not wait for the actions before answering the monitor: the monitor's timing
(T01) is taken before it reports, so waiting would only hold a connection open for
the monitor's sake; the records keep every timestamp for the profiler anyway.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from doctor_tests.httpjson import BackgroundHTTPServer, BadRequest, HttpError, JsonRequestHandler
from doctor_tests.inspector.auth import TokenAuth
from doctor_tests.inspector.core import Inspector, UnknownHost
from doctor_tests.inspector.events import InvalidEvent, parse_events
from doctor_tests.inspector.records import EventRecord

LOG = logging.getLogger(__name__)

MAX_WAIT = 60.0


@dataclass(frozen=True)
class _Context:
    inspector: Inspector
    auth: TokenAuth | None


def _wait_seconds(query: Mapping[str, list[str]]) -> float | None:
    if "wait" not in query:
        return None
    raw = query["wait"][-1]
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"wait must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_WAIT:
        raise BadRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds, not {raw!r}")
    return value


class InspectorHandler(JsonRequestHandler):
    """Routes the inspector's API (see the module docstring)."""

    def route(self, method: str, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        context: _Context = self.context
        inspector = context.inspector
        path = path.rstrip("/") or "/"
        if path == "/" and method == "GET":
            return 200, inspector.health()
        if context.auth is not None:
            context.auth.check(self.headers.get("X-Auth-Token"))
        if path == "/events":
            self._allow(method, "PUT", "POST")
            return self._events(inspector, query)
        if path.startswith("/hosts/") and path.count("/") == 3:
            _, _, host, action = path.split("/")
            if action in ("down", "up"):
                self._allow(method, "POST", "PUT")
                return self._host(inspector, unquote(host), action, query)
        if path == "/index":
            self._allow(method, "GET")
            return 200, inspector.index.to_json()
        if path == "/index/refresh":
            self._allow(method, "POST")
            try:
                stats = inspector.index.refresh()
            except Exception as exc:
                raise HttpError(502, f"index refresh failed: {exc}") from exc
            return 200, stats.to_json()
        if path == "/actions":
            self._allow(method, "GET")
            host_filter = query["host"][-1] if "host" in query else None
            return 200, {"actions": [r.to_json() for r in inspector.records(host_filter)]}
        raise HttpError(404, f"no such resource: {path}")

    def _allow(self, method: str, *allowed: str) -> None:
        if method not in allowed:
            raise HttpError(405, f"method {method} not allowed here; use {', '.join(allowed)}")

    def _events(self, inspector: Inspector, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        wait = _wait_seconds(query)
        try:
            events = parse_events(self.read_json())
        except InvalidEvent as exc:
            raise BadRequest(str(exc)) from None
        try:
            records = inspector.handle(events, received=self.received_at)
        except UnknownHost as exc:
            raise HttpError(404, str(exc)) from None
        return self._answer(records, wait)

    def _host(
        self, inspector: Inspector, host: str, action: str, query: Mapping[str, list[str]]
    ) -> tuple[int, Any]:
        wait = _wait_seconds(query)
        if self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            self.read_body()  # tolerated and ignored
        call = inspector.host_down if action == "down" else inspector.host_up
        try:
            record = call(host, self.received_at)
        except UnknownHost as exc:
            raise HttpError(404, str(exc)) from None
        return self._answer([record], wait)

    @staticmethod
    def _answer(records: list[EventRecord], wait: float | None) -> tuple[int, Any]:
        duplicate = all(r.duplicate for r in records)
        if wait is not None:
            for record in records:
                record.wait(wait)
            return 200, {
                "duplicate": duplicate,
                "complete": all(r.is_done for r in records),
                "results": [r.to_json() for r in records],
            }
        status = 200 if duplicate else 202
        return status, {"duplicate": duplicate, "results": [r.summary() for r in records]}


class InspectorServer(BackgroundHTTPServer):
    """The inspector's HTTP API in a background thread: ``start()``, ``stop()``, ``url``."""

    def __init__(
        self,
        inspector: Inspector,
        bind: str = "127.0.0.1",
        port: int = 12345,
        auth: TokenAuth | None = None,
    ) -> None:
        super().__init__(InspectorHandler, _Context(inspector, auth), bind, port, "inspector")
        self.inspector = inspector
        # the URL each node running a monitor is given (doctor_tests.harness.reach)
        self.node_urls: dict[str, str] = {}
