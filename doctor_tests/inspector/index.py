"""The host index: host -> nova-compute service, servers and ports, kept current.

Nothing is listed on the fault path (design guideline "host specific VMs list"):
the index is filled by a full listing at start-up and then refreshed in the
background every ``interval`` seconds:

- servers incrementally, with the compute ``changes-since`` filter (which also
  returns deleted servers, so deletions are seen). Each window starts ``overlap``
  seconds before the previous refresh started, so a small clock difference between
  this machine and Nova loses nothing (re-reading a server is harmless); every
  ``full_interval`` seconds a full listing re-synchronises anyway;
- ports with one listing of the few fields needed;
- nova-compute services (their ids, needed by the 2.53 force-down API).

A failed refresh keeps the previous contents and the old ``changes-since`` window,
so the next refresh covers the gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from doctor_tests.inspector.backend import CloudActions, ComputeService, PortInfo, ServerInfo
from doctor_tests.timeutil import iso_utc

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostEntry:
    """What the index knows about one host, as a snapshot."""

    host: str
    service: ComputeService | None
    servers: tuple[str, ...]
    ports: tuple[str, ...]


@dataclass
class RefreshStats:
    """The outcome of one refresh."""

    full: bool
    started_at: float
    duration_s: float = 0.0
    servers_seen: int = 0
    servers_deleted: int = 0
    ports: int = 0
    services: int = 0
    error: str | None = None
    changes_since: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "full": self.full,
            "started_at": iso_utc(self.started_at),
            "duration_s": round(self.duration_s, 6),
            "servers_seen": self.servers_seen,
            "servers_deleted": self.servers_deleted,
            "ports": self.ports,
            "services": self.services,
            "error": self.error,
            "changes_since": self.changes_since,
        }


@dataclass
class _Contents:
    services: dict[str, ComputeService] = field(default_factory=dict)  # host -> service
    servers: dict[str, ServerInfo] = field(default_factory=dict)  # id -> server
    servers_by_host: dict[str, set[str]] = field(default_factory=dict)
    ports_by_host: dict[str, tuple[str, ...]] = field(default_factory=dict)


class HostIndex:
    """host -> service/servers/ports, refreshed in the background."""

    def __init__(
        self,
        backend: CloudActions,
        *,
        interval: float = 1.0,
        overlap: float = 2.0,
        full_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
        max_hold_s: float = 30.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"index interval must be > 0, not {interval}")
        self._backend = backend
        self.interval = interval
        self.overlap = overlap
        self.full_interval = full_interval
        self._clock = clock
        self._data = _Contents()
        self._data_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._since: float | None = None  # start of the next changes-since window
        self._last_full: float | None = None
        self.last: RefreshStats | None = None
        self.last_ok: RefreshStats | None = None
        self.refreshes = 0
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._holds = 0
        self._held_since = 0.0
        self.max_hold_s = max_hold_s

    # --- lookups (cheap, never call the cloud) ---------------------------------------------
    def lookup(self, host: str) -> HostEntry | None:
        """The host's entry, or None if the host is unknown (no service, server or port)."""
        with self._data_lock:
            data = self._data
            service = data.services.get(host)
            servers = data.servers_by_host.get(host)
            ports = data.ports_by_host.get(host)
            if service is None and not servers and not ports:
                return None
            return HostEntry(host, service, tuple(sorted(servers or ())), ports or ())

    def server(self, server_id: str) -> ServerInfo | None:
        """What the index knows of one server (None if it does not know it)."""
        with self._data_lock:
            return self._data.servers.get(server_id)

    def is_known(self, host: str) -> bool:
        return self.lookup(host) is not None

    def hosts(self) -> list[str]:
        with self._data_lock:
            data = self._data
            return sorted(set(data.services) | set(data.servers_by_host) | set(data.ports_by_host))

    def to_json(self) -> dict[str, object]:
        """Counts and ids per host (what ``GET /index`` returns)."""
        with self._data_lock:
            data = self._data
            hosts = sorted(set(data.services) | set(data.servers_by_host) | set(data.ports_by_host))
            per_host = {
                host: {
                    "service_id": data.services[host].id if host in data.services else None,
                    "servers": sorted(data.servers_by_host.get(host, ())),
                    "ports": list(data.ports_by_host.get(host, ())),
                    "server_count": len(data.servers_by_host.get(host, ())),
                    "port_count": len(data.ports_by_host.get(host, ())),
                }
                for host in hosts
            }
            totals = {
                "hosts": len(hosts),
                "servers": len(data.servers),
                "ports": sum(len(p) for p in data.ports_by_host.values()),
            }
        return {
            "ready": self.ready.is_set(),
            "refreshes": self.refreshes,
            "interval_s": self.interval,
            "last_refresh": self.last.to_json() if self.last else None,
            "totals": totals,
            "hosts": per_host,
        }

    def sizes(self) -> dict[str, int]:
        with self._data_lock:
            data = self._data
            return {
                "hosts": len(set(data.services) | set(data.servers_by_host)),
                "servers": len(data.servers),
                "ports": sum(len(p) for p in data.ports_by_host.values()),
            }

    # --- refreshing -----------------------------------------------------------------------
    def refresh(self, full: bool = False) -> RefreshStats:
        """Refresh now (serialised with the background refresh); raises on cloud errors."""
        with self._refresh_lock:
            started = self._clock()
            full = full or self._since is None or (
                self._last_full is not None and started - self._last_full >= self.full_interval
            )
            since = None if full else datetime.fromtimestamp(self._since or 0, timezone.utc)
            stats = RefreshStats(full=full, started_at=started)
            stats.changes_since = since.isoformat() if since else None
            try:
                services = self._backend.list_services()
                servers = self._backend.list_servers(changes_since=since)
                ports = self._backend.list_ports()
            except Exception as exc:
                stats.error = f"{type(exc).__name__}: {exc}"
                stats.duration_s = self._clock() - started
                self.last = stats
                LOG.error("index refresh failed (will retry): %s", stats.error)
                raise
            self._apply(full, services, servers, ports, stats)
            self._since = started - self.overlap
            if full:
                self._last_full = started
            stats.duration_s = self._clock() - started
            self.last = self.last_ok = stats
            self.refreshes += 1
            self.ready.set()
            LOG.debug(
                "index refreshed (%s): %d servers seen, %d deleted, %d ports, %.3fs",
                "full" if full else "changes-since", stats.servers_seen,
                stats.servers_deleted, stats.ports, stats.duration_s,
            )
            return stats

    def _apply(
        self,
        full: bool,
        services: list[ComputeService],
        servers: list[ServerInfo],
        ports: list[PortInfo],
        stats: RefreshStats,
    ) -> None:
        by_host: dict[str, list[str]] = {}
        for port in ports:
            if port.host:
                by_host.setdefault(port.host, []).append(port.id)
        with self._data_lock:
            old = self._data
            new = _Contents(
                services={svc.host: svc for svc in services},
                servers={} if full else dict(old.servers),
                ports_by_host={host: tuple(sorted(ids)) for host, ids in by_host.items()},
            )
            for server in servers:
                stats.servers_seen += 1
                if server.deleted or server.status.upper() in ("DELETED", "SOFT_DELETED"):
                    if new.servers.pop(server.id, None) is not None:
                        stats.servers_deleted += 1
                else:
                    new.servers[server.id] = server
            for server in new.servers.values():
                if server.host:
                    new.servers_by_host.setdefault(server.host, set()).add(server.id)
            self._data = new
        stats.ports = sum(len(ids) for ids in by_host.values())
        stats.services = len(services)

    def start(self) -> None:
        """Start the background refresh (call :meth:`refresh` once first)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="host-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def hold(self) -> None:
        """Pause the background refresh (the inspector is acting on a host: listing every
        changed server and every port then would compete with its calls for the APIs'
        CPU). Holds nest; each :meth:`release` undoes one. A hold older than
        ``max_hold_s`` no longer pauses the refresh."""
        with self._data_lock:
            if self._holds == 0:
                self._held_since = self._clock()
            self._holds += 1

    def release(self) -> None:
        with self._data_lock:
            self._holds = max(0, self._holds - 1)

    def _held(self) -> bool:
        with self._data_lock:
            return self._holds > 0 and self._clock() - self._held_since < self.max_hold_s

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self._held():
                continue
            try:
                self.refresh()
            except Exception:  # logged in refresh(); the next round retries
                continue
