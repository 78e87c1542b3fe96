"""What the inspector did for each event, with epoch timestamps (for profiler and scenarios).

Checkpoints of a ``down`` record (names as in the Doctor profiler):

- ``received``: the HTTP request arrived (taken first thing in the handler);
- ``affected_found`` (T02): servers and ports of the host taken from the index;
- ``host_marked_down`` (T03): Nova accepted the forced-down service;
- ``first_server_error`` / ``last_server_error`` (T04): first and last successful
  ``os-resetState``;
- ``ports_down``: the last successful port ``data_plane_status`` update;
- ``done``: every action has finished (successfully or not).

An ``up`` record has ``host_marked_up`` and ``ports_up`` instead; a data-plane round
(``dataplane_down``/``dataplane_up``) only ``ports_down``/``ports_up``. Per-resource
completion times and every error (with the resource id) are kept too.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Literal

from doctor_tests.timeutil import iso_utc

LOG = logging.getLogger(__name__)

Kind = Literal["down", "up", "dataplane_down", "dataplane_up"]
_TIME_KEYS = {
    "down": (
        "received", "affected_found", "host_marked_down", "first_server_error",
        "last_server_error", "ports_down", "done",
    ),
    "up": ("received", "affected_found", "host_marked_up", "ports_up", "done"),
    "dataplane_down": ("received", "affected_found", "ports_down", "done"),
    "dataplane_up": ("received", "affected_found", "ports_up", "done"),
}
#: the event type each kind of round answers
EVENT_TYPE = {"down": "compute.host.down", "up": "compute.host.up",
              "dataplane_down": "compute.host.dataplane.down",
              "dataplane_up": "compute.host.dataplane.up"}


class EventRecord:
    """One round of actions for one host event (thread-safe)."""

    def __init__(
        self,
        kind: Kind,
        host: str,
        received: float,
        *,
        monitor: str | None = None,
        monitor_event_id: str | None = None,
        event_time: str | None = None,
        duplicate: bool = False,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.kind: Kind = kind
        self.host = host
        self.monitor = monitor
        self.monitor_event_id = monitor_event_id
        self.event_time = event_time
        self.duplicate = duplicate
        self.servers: tuple[str, ...] = ()
        self.ports: tuple[str, ...] = ()
        self.service_id: str | None = None
        self._times: dict[str, float | None] = dict.fromkeys(_TIME_KEYS[kind])
        self._times["received"] = received
        self.server_times: dict[str, float] = {}
        self.server_call_s: dict[str, float] = {}  # duration of each reset call
        self.port_times: dict[str, float] = {}
        self.errors: list[dict[str, object]] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._callbacks: list[Callable[[], None]] = []

    # --- writing ----------------------------------------------------------------------
    def stamp(self, name: str, at: float) -> None:
        with self._lock:
            if name not in self._times:
                raise KeyError(f"{self.kind} record has no checkpoint {name!r}")
            self._times[name] = at

    def expect(self, count: int) -> None:
        """``count`` actions will be reported through :meth:`finished`."""
        with self._lock:
            self._pending += count

    def action_ok(self, action: str, resource: str, at: float,
                  started: float | None = None) -> None:
        """``at``: when the call returned; ``started``: when it was made (the server's
        state changes, and Nova notifies, somewhere in between)."""
        with self._lock:
            if action == "reset_server":
                self.server_times[resource] = at
                if started is not None:
                    self.server_call_s[resource] = at - started
                if self._times["first_server_error"] is None:
                    self._times["first_server_error"] = at
                self._times["last_server_error"] = at
            elif action == "port":
                self.port_times[resource] = at
                self._times["ports_up" if self.kind.endswith("up") else "ports_down"] = at
            elif action == "service":
                self._times["host_marked_down" if self.kind == "down" else "host_marked_up"] = at
            elif action == "shortcut":  # only rounds of an inspector with the shortcut
                self._times["shortcut_published"] = at

    def action_failed(self, action: str, resource: str, at: float, error: str) -> None:
        with self._lock:
            self.errors.append({"action": action, "id": resource, "at": at, "error": error})

    def error(self, action: str, resource: str, at: float, message: str) -> None:
        """An error that is not an action failure (e.g. nothing to act on)."""
        self.action_failed(action, resource, at, message)

    def finished(self, at: float) -> None:
        """One expected action has finished; the last one completes the record."""
        with self._lock:
            self._pending -= 1
            if self._pending > 0:
                return
        self.complete(at)

    def complete(self, at: float) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._times["done"] = at
            callbacks, self._callbacks = self._callbacks, []
            self._done.set()
        for callback in callbacks:
            try:
                callback()
            except Exception:
                LOG.exception("callback after %s round for %s failed", self.kind, self.host)

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the record is complete (now, if it already is)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    # --- reading ----------------------------------------------------------------------
    @property
    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    def time(self, name: str) -> float | None:
        with self._lock:
            return self._times[name]

    def to_json(self) -> dict[str, object]:
        with self._lock:
            out: dict[str, object] = {
                "id": self.id,
                "kind": self.kind,
                "type": EVENT_TYPE[self.kind],
                "host": self.host,
                "duplicate": self.duplicate,
                "monitor": self.monitor,
                "monitor_event_id": self.monitor_event_id,
                "event_time": self.event_time,
                "service_id": self.service_id,
                "servers": list(self.servers),
                "ports": list(self.ports),
                "complete": self._done.is_set(),
                "times": dict(self._times),
                "times_iso": {k: iso_utc(v) if v is not None else None
                              for k, v in self._times.items()},
                "server_times": dict(self.server_times),
                "server_call_s": dict(self.server_call_s),
                "port_times": dict(self.port_times),
                "errors": [dict(e) for e in self.errors],
            }
        return out

    def summary(self) -> dict[str, object]:
        """The short form returned to the monitor."""
        return {
            "id": self.id,
            "host": self.host,
            "type": EVENT_TYPE[self.kind],
            "duplicate": self.duplicate,
            "servers": len(self.servers),
            "ports": len(self.ports),
            "complete": self.is_done,
            "errors": len(self.errors),
        }
