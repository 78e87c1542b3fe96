"""An in-memory :class:`CloudActions` for tests and dry runs (no cloud at all).

It keeps services, servers and ports, applies the actions to them, records every
call, optionally waits ``delay`` seconds per action (on an Event, so it can be cut
short), counts the largest number of calls in flight at once, and can be told to
fail on given resources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from doctor_tests.inspector.backend import (
    CloudActions,
    CloudError,
    ComputeService,
    PortInfo,
    ServerInfo,
)


@dataclass(frozen=True)
class Call:
    """One call made to the fake, with when it started and ended (its clock)."""

    name: str
    target: str
    started: float
    ended: float
    thread: str


class FakeCloud(CloudActions):
    """A tiny, thread-safe cloud: what the inspector would do to Nova and Neutron."""

    def __init__(self, delay: float = 0.0) -> None:
        self._now = time.monotonic
        self.delay = delay
        self.delays: dict[str, float] = {}  # action name -> its own delay (instead of delay)
        # action name -> called in each call before its delay (e.g. a barrier's wait, to
        # prove calls run together without depending on the machine's speed)
        self.gates: dict[str, Callable[[], object]] = {}
        self.services: dict[str, ComputeService] = {}
        self.servers: dict[str, ServerInfo] = {}
        self.server_state: dict[str, str] = {}
        self.port_info: dict[str, PortInfo] = {}
        self.port_status: dict[str, str] = {}
        self.changed_at: dict[str, float] = {}  # server id -> clock of last change
        self.deleted: dict[str, float] = {}
        self.fail_on: set[str] = set()
        self.calls: list[Call] = []
        self.warmed: list[tuple[tuple[str, ...], tuple[str, ...], int]] = []
        self.listings: list[tuple[str, datetime | None]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # when servers change, for "changes-since" (epoch seconds); None = the real time
        self.clock: float | None = None
        self._lock = threading.Lock()
        self._never = threading.Event()

    # --- building the cloud -------------------------------------------------------------
    def add_host(self, host: str, service_id: str | None = None) -> ComputeService:
        service = ComputeService(service_id or f"svc-{host}", host)
        with self._lock:
            self.services[host] = service
        return service

    def add_server(self, server_id: str, host: str | None, status: str = "ACTIVE") -> None:
        with self._lock:
            self.servers[server_id] = ServerInfo(server_id, host, status)
            self.server_state[server_id] = status
            self.changed_at[server_id] = self._stamp()
            self.deleted.pop(server_id, None)

    def delete_server(self, server_id: str) -> None:
        with self._lock:
            self.servers.pop(server_id)
            self.deleted[server_id] = self._stamp()

    def add_port(self, port_id: str, host: str | None, device_id: str = "") -> None:
        with self._lock:
            self.port_info[port_id] = PortInfo(port_id, host, device_id, "compute:nova")
            self.port_status.setdefault(port_id, "ACTIVE")

    def _stamp(self) -> float:
        return time.time() if self.clock is None else self.clock

    # --- CloudActions -------------------------------------------------------------------
    def list_services(self) -> list[ComputeService]:
        with self._lock:
            self.listings.append(("services", None))
            return list(self.services.values())

    def list_servers(self, changes_since: datetime | None = None) -> list[ServerInfo]:
        with self._lock:
            self.listings.append(("servers", changes_since))
            if changes_since is None:
                return list(self.servers.values())
            since = changes_since.timestamp()
            changed = [s for sid, s in self.servers.items() if self.changed_at[sid] >= since]
            gone = [
                ServerInfo(sid, None, "DELETED", deleted=True)
                for sid, at in self.deleted.items()
                if at >= since
            ]
            return changed + gone

    def list_ports(self) -> list[PortInfo]:
        with self._lock:
            self.listings.append(("ports", None))
            return list(self.port_info.values())

    def _act(self, name: str, target: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = self._now()
        try:
            gate = self.gates.get(name)
            if gate is not None:
                gate()
            delay = self.delays.get(name, self.delay)
            if delay:
                self._never.wait(delay)
            if target in self.fail_on:
                raise CloudError(f"{name} {target}: injected failure")
        finally:
            with self._lock:
                self.in_flight -= 1
                self.calls.append(
                    Call(name, target, started, self._now(), threading.current_thread().name)
                )

    def force_down(self, service: ComputeService) -> None:
        self._act("force_down", service.host)
        with self._lock:
            self.services[service.host] = replace(service, forced_down=True)

    def unforce(self, service: ComputeService) -> None:
        self._act("unforce", service.host)
        with self._lock:
            self.services[service.host] = replace(service, forced_down=False)

    def reset_server_error(self, server_id: str) -> None:
        self._act("reset_server_error", server_id)
        with self._lock:
            self.server_state[server_id] = "ERROR"

    def set_port_status(self, port_id: str, status: str) -> None:
        self._act(f"set_port_{status.lower()}", port_id)
        with self._lock:
            self.port_status[port_id] = status

    def warm_up(self, server_ids: Sequence[str], port_ids: Sequence[str],
                parallel: int) -> int:
        self.warmed.append((tuple(server_ids), tuple(port_ids), parallel))
        return len(server_ids) + len(port_ids)

    def describe(self) -> dict[str, object]:
        return {"type": "fake"}

    # --- inspection ---------------------------------------------------------------------
    def calls_named(self, name: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.name == name]

    def action_calls(self) -> list[Call]:
        with self._lock:
            return list(self.calls)
