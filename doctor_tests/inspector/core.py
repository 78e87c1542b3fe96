"""The sample inspector: turns host events into state changes in the cloud, in parallel.

On ``compute.host.down`` for a host that is not already down, three kinds of action
run on a bounded thread pool (``concurrency`` workers, default 16): force the host's
nova-compute service down, reset every server on the host to error, set
``data_plane_status`` DOWN on every port bound to the host. The servers and ports come
from the :class:`~doctor_tests.inspector.index.HostIndex`; nothing is listed on the fault
path. A failing action is recorded (with the resource id) and logged; it does not stop
the others.

A round runs in stages, each starting when the one before has finished; the
``strategy`` decides the stages before the ports (which always come last: the tenants'
alarms wait for the servers, and Neutron's updates would compete with Nova's resets for
the controller's CPU):

- ``service_first`` (default): the force-down first, on a lane of its own (never queued
  behind another round's resets), with only ``SERVICE_OVERLAP`` resets beside it until it
  has returned (at most ``SERVICE_WAIT_S``), then the resets at the pool's concurrency;
- ``parallel``: the force-down and the resets together on the pool;
- ``at_once``: the predecessor's design, the force-down and every reset each on a thread
  of its own at once, without a bound (for comparison in the benchmark).

With the shortcut, the inspector's own notifications are published first, before any
call to Nova, and the resets that follow are paced (at most ``shortcut_pace`` in flight)
so that Ceilometer and Aodh, which tell the tenants, are not starved of CPU by Nova's API.

A host that is already down causes no second round (the record says
``duplicate``), whichever monitor reports it: the first report acts, a second monitor's
report of the same fault is recorded as a duplicate. ``compute.host.up`` clears it: the
service is un-forced and the host's ports are set ACTIVE. Servers are left in error on
purpose: Nova has no way to know their real state, and the scenario's clean-up resets (or
deletes) them.

``compute.host.dataplane.down`` (the host is up, its data plane is not) sets the host's
ports' ``data_plane_status`` DOWN and nothing else: the service is not forced down and the
servers are not touched (instances on the same host may still reach each other).
``compute.host.dataplane.up`` sets them ACTIVE again. A data-plane report for a host that is
down changes no port (they are DOWN already) but is remembered: when the host comes back
while its data plane is still down, its ports stay DOWN.

``host_only``: beside a recovery service (Masakari, the recovery scenario) the inspector
fences the host and nothing else: its service forced down (un-forced on ``up``); the
servers and ports are the recovery service's.

Rounds for one host never overlap: a round waits for the host's previous round
(e.g. an up right after a down) to finish before its actions start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from doctor_tests.inspector.backend import CloudActions, ServerInfo
from doctor_tests.inspector.events import HostEvent
from doctor_tests.inspector.index import HostEntry, HostIndex
from doctor_tests.inspector.records import EventRecord, Kind
from doctor_tests.inspector.shortcut import ShortcutPublisher
from doctor_tests.timeutil import iso_utc

LOG = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
#: how a down round orders its calls to Nova (see the module's docstring)
STRATEGIES = ("service_first", "parallel", "at_once")
DEFAULT_STRATEGY = "service_first"
#: resets in flight at most after the shortcut's notifications (see the module's docstring)
DEFAULT_SHORTCUT_PACE = 2
#: service_first: resets in flight beside the force-down until it has returned, and the
#: longest they are held to that (the force-down alone takes tens of ms)
SERVICE_OVERLAP = 2
SERVICE_WAIT_S = 1.0
MAX_RECORDS = 10_000


class UnknownHost(LookupError):
    """The host is not in the index (no nova-compute service, server or port)."""

    def __init__(self, hosts: list[str]) -> None:
        super().__init__(f"unknown host(s): {', '.join(hosts)}")
        self.hosts = hosts


Action = tuple[str, str, Callable[[], object]]  # (action kind, resource id, call)


@dataclass(frozen=True)
class Stage:
    """Actions that run together, at most ``limit`` in flight (0: each on a thread of its
    own, no bound), on the shared pool or on the lane kept for the few urgent calls."""

    actions: tuple[Action, ...]
    limit: int = 0
    lane: bool = False
    #: the next stage runs fully after this long even if this one has not finished (a hung
    #: force-down must not hold the resets back); None: only when it has finished
    max_wait_s: float | None = None
    #: > 0: this stage starts together with the one before, at most this many in flight
    #: until that one has finished, then up to ``limit``
    overlap: int = 0


class Inspector:
    """Host events in, parallel cloud actions out, every step timestamped."""

    def __init__(
        self,
        backend: CloudActions,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        index_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        index: HostIndex | None = None,
        warm_up: bool = True,
        shortcut: bool = False,
        bus_url: str | None = None,
        publisher: ShortcutPublisher | None = None,
        strategy: str = DEFAULT_STRATEGY,
        shortcut_pace: int = DEFAULT_SHORTCUT_PACE,
        port_pace: int | None = None,
        host_only: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {concurrency}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
        if shortcut_pace < 1:
            raise ValueError(f"shortcut_pace must be >= 1, not {shortcut_pace}")
        if port_pace is not None and port_pace < 1:
            raise ValueError(f"port_pace must be >= 1, not {port_pace}")
        if shortcut and publisher is None:
            if not bus_url:
                raise ValueError("shortcut needs the notification bus URL (bus_url, "
                                 "e.g. rabbit://user:password@host:5672/)")
            publisher = ShortcutPublisher(bus_url)
        self.shortcut = publisher if shortcut else None
        self.backend = backend
        self.concurrency = concurrency
        self.strategy = strategy
        self.shortcut_pace = shortcut_pace
        # port updates in flight at most (they follow the resets, beside the tail of the
        # tenants' alarms); None: the pool's concurrency
        self.port_pace = min(port_pace or concurrency, concurrency)
        # the host alone (its service forced down, un-forced when it is back): the servers
        # and ports are left to a recovery service (Masakari evacuates the servers, and
        # would stop those it finds in error and set them to error again after evacuating
        # them; a port set DOWN would stay DOWN on the destination host)
        self.host_only = host_only
        self.warm_up = warm_up
        self.index = index or HostIndex(backend, interval=index_interval, clock=clock)
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="inspector")
        # the force-down and the shortcut's publication: never queued behind resets
        self._lane = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inspector-lane")
        self._lock = threading.Lock()
        self._down: dict[str, EventRecord] = {}
        self._dataplane_down: dict[str, EventRecord] = {}
        self._last_round: dict[str, EventRecord] = {}
        self._records: list[EventRecord] = []
        self.started_at = clock()

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Fill the index (a full listing; raises if the cloud cannot be read), then keep
        it current in the background."""
        self.index.refresh(full=True)
        if self.shortcut is not None:
            self.shortcut.connect()
        if self.warm_up:
            self._warm_up()
        self.index.start()
        LOG.info("inspector ready: %s", self.index.sizes())

    def _warm_up(self) -> None:
        servers: list[str] = []
        ports: list[str] = []
        for host in self.index.hosts():
            entry = self.index.lookup(host)
            if entry is not None:
                servers.extend(entry.servers)
                ports.extend(entry.ports)
        started = time.monotonic()
        answered = self.backend.warm_up(servers[: self.concurrency], ports[: self.concurrency],
                                        self.concurrency)
        LOG.info("warm-up: %d reads answered in %.0f ms", answered,
                 (time.monotonic() - started) * 1000)

    def stop(self) -> None:
        self.index.stop()
        self._lane.shutdown(wait=True)
        self._pool.shutdown(wait=True)
        if self.shortcut is not None:
            self.shortcut.close()
        self.backend.close()

    # --- events -----------------------------------------------------------------------
    def check_hosts(self, events: list[HostEvent]) -> None:
        """Raise :class:`UnknownHost` if any event names a host the index does not know."""
        unknown = sorted({e.hostname for e in events if not self.index.is_known(e.hostname)})
        if unknown:
            raise UnknownHost(unknown)

    def handle(self, events: list[HostEvent], received: float | None = None) -> list[EventRecord]:
        """Act on validated events (all hosts must be known: see :meth:`check_hosts`)."""
        self.check_hosts(events)
        at = self._clock() if received is None else received
        return [self._round(event.kind, event.hostname, at, event)  # type: ignore[arg-type]
                for event in events]

    def host_down(
        self, host: str, received: float | None = None, event: HostEvent | None = None
    ) -> EventRecord:
        """Mark ``host`` down: force its service down, servers to error, ports DOWN."""
        return self._round("down", host, received, event)

    def host_up(
        self, host: str, received: float | None = None, event: HostEvent | None = None
    ) -> EventRecord:
        """Clear ``host``: un-force its service and set its ports ACTIVE (servers stay in error)."""
        return self._round("up", host, received, event)

    def dataplane_down(
        self, host: str, received: float | None = None, event: HostEvent | None = None
    ) -> EventRecord:
        """``host``'s data plane failed (the host is up): its ports DOWN, nothing else."""
        return self._round("dataplane_down", host, received, event)

    def dataplane_up(
        self, host: str, received: float | None = None, event: HostEvent | None = None
    ) -> EventRecord:
        """``host``'s data plane is back: its ports ACTIVE (unless the host is down)."""
        return self._round("dataplane_up", host, received, event)

    def _nothing_to_do(self, kind: Kind, host: str) -> bool:
        """Whether a ``kind`` round for ``host`` is a duplicate (the state it reports is the
        state the inspector already holds), under ``self._lock``."""
        if kind == "down":
            return host in self._down
        if kind == "up":
            return host not in self._down
        if kind == "dataplane_down":
            return host in self._dataplane_down
        return host not in self._dataplane_down

    def _round(
        self, kind: Kind, host: str, received: float | None, event: HostEvent | None
    ) -> EventRecord:
        received = self._clock() if received is None else received
        entry = self.index.lookup(host)
        if entry is None:
            raise UnknownHost([host])
        with self._lock:
            duplicate = self._nothing_to_do(kind, host)
            record = EventRecord(
                kind, host, received,
                monitor=event.monitor if event else None,
                monitor_event_id=event.monitor_event_id if event else None,
                event_time=event.time.isoformat() if event else None,
                duplicate=duplicate,
            )
            self._records.append(record)
            if len(self._records) > MAX_RECORDS:
                del self._records[0]
            if duplicate:
                LOG.info("host %s already %s: nothing to do", host, kind)
                record.complete(self._clock())
                return record
            if kind == "down":
                self._down[host] = record
            elif kind == "up":
                del self._down[host]
            elif kind == "dataplane_down":
                self._dataplane_down[host] = record
            else:
                del self._dataplane_down[host]
            # ports while the host is down are DOWN whatever its data plane does; after
            # the host comes back they stay DOWN while its data plane is down
            ports_stay = (kind.startswith("dataplane") and host in self._down) or (
                kind == "up" and host in self._dataplane_down)
            previous = self._last_round.get(host)
            self._last_round[host] = record
        stages = self._stages(kind, entry, record, ports=not ports_stay)
        if ports_stay:
            LOG.info("host %s %s: its ports stay DOWN (%s)", host, kind, "the host is down"
                     if kind.startswith("dataplane") else "its data plane is still down")
        record.stamp("affected_found", self._clock())
        self.index.hold()
        record.on_done(self.index.release)
        LOG.warning(
            "host %s %s: %d server(s), %d port(s)%s", host, kind.upper(), len(entry.servers),
            len(entry.ports), "" if entry.service else ", no nova-compute service indexed",
        )
        if previous is not None and not previous.is_done:
            LOG.info("host %s: %s round waits for the previous round", host, kind)
            previous.on_done(lambda: self._submit(record, stages))
        else:
            self._submit(record, stages)
        return record

    def _stages(self, kind: Kind, entry: HostEntry, record: EventRecord,
                ports: bool = True) -> list[Stage]:
        record.servers = entry.servers if kind == "down" and not self.host_only else ()
        record.ports = entry.ports if ports and not self.host_only else ()
        port_status = "ACTIVE" if kind.endswith("up") else "DOWN"
        # the ports come last: the tenants' alarms wait for the servers, and Neutron's
        # updates would compete with Nova's resets for the controller's CPU
        port_stage = Stage(tuple(("port", pid, partial(self.backend.set_port_status, pid,
                                                       port_status))
                                 for pid in record.ports), limit=self.port_pace)
        if kind.startswith("dataplane"):
            return [port_stage] if port_stage.actions else []  # host and servers left alone
        service = entry.service
        record.service_id = service.id if service else None
        stages: list[Stage] = []
        shortcut = kind == "down" and self.shortcut is not None and bool(record.servers)
        if shortcut:
            assert self.shortcut is not None
            # The tenants hear first (see shortcut.py); Nova's calls follow once it is out.
            infos = [self.index.server(sid) or ServerInfo(sid, entry.host)
                     for sid in record.servers]
            stages.append(Stage((("shortcut", entry.host,
                                  partial(self.shortcut.instance_error, infos, entry.host)),),
                                limit=1, lane=True))
        calls: list[Action] = []
        if service is not None:
            call = self.backend.force_down if kind == "down" else self.backend.unforce
            calls.append(("service", service.id, partial(call, service)))
        else:
            record.error("service", entry.host, self._clock(), "no nova-compute service indexed")
        resets = tuple(("reset_server", sid, partial(self.backend.reset_server_error, sid))
                       for sid in record.servers)
        limit = min(self.concurrency, self.shortcut_pace) if shortcut else self.concurrency
        if self.strategy == "service_first":
            stages.append(Stage(tuple(calls), limit=1, lane=True, max_wait_s=SERVICE_WAIT_S))
            stages.append(Stage(resets, limit=limit, overlap=min(SERVICE_OVERLAP, limit)))
        elif self.strategy == "parallel":
            stages.append(Stage(tuple(calls) + resets, limit=limit))
        else:  # at_once
            stages.append(Stage(tuple(calls) + resets, limit=0))
        stages.append(port_stage)
        return [stage for stage in stages if stage.actions]

    def _submit(self, record: EventRecord, stages: list[Stage]) -> None:
        if not stages:
            record.complete(self._clock())
            return
        record.expect(sum(len(stage.actions) for stage in stages))
        _Round(self, record, stages).start()

    def _run(self, record: EventRecord, action: Action,
             then: Callable[[], None] | None = None) -> None:
        kind, resource, call = action
        started = self._clock()
        try:
            call()
        except Exception as exc:
            at = self._clock()
            LOG.error("%s %s on host %s failed: %s", kind, resource, record.host, exc)
            record.action_failed(kind, resource, at, f"{type(exc).__name__}: {exc}")
        else:
            record.action_ok(kind, resource, self._clock(), started)
        finally:
            if then is not None:
                then()
            record.finished(self._clock())

    # --- state ------------------------------------------------------------------------
    def hosts_down(self) -> list[str]:
        with self._lock:
            return sorted(self._down)

    def dataplanes_down(self) -> list[str]:
        """The hosts whose data plane is reported down."""
        with self._lock:
            return sorted(self._dataplane_down)

    def records(self, host: str | None = None) -> list[EventRecord]:
        with self._lock:
            return [r for r in self._records if host is None or r.host == host]

    def health(self) -> dict[str, object]:
        now = self._clock()
        index_last = self.index.last
        return {
            "status": "ok" if self.index.ready.is_set() else "starting",
            "hosts_down": self.hosts_down(),
            "dataplanes_down": self.dataplanes_down(),
            "index": {
                **self.index.sizes(),
                "ready": self.index.ready.is_set(),
                "last_refresh": iso_utc(index_last.started_at) if index_last else None,
                "last_error": index_last.error if index_last else None,
            },
            "concurrency": self.concurrency,
            "strategy": self.strategy,
            "shortcut": self.shortcut is not None,
            "host_only": self.host_only,
            "events": len(self.records()),
            "uptime_s": round(now - self.started_at, 3),
            "backend": self.backend.describe(),
        }


class _Round:
    """The stages of one round in flight. A stage is *released* once its own actions have
    finished and the stage before it is released (or its ``max_wait_s`` has passed): the
    next stage then runs at its full limit (it may have started earlier, beside it, with
    ``overlap`` actions in flight)."""

    def __init__(self, inspector: Inspector, record: EventRecord, stages: list[Stage]) -> None:
        self.inspector, self.record, self.stages = inspector, record, stages
        count = len(stages)
        self.waiting = [deque(stage.actions) for stage in stages]
        self.left = [len(stage.actions) for stage in stages]
        self.in_flight = [0] * count
        self.limit: list[int | None] = [None] * count  # None: not started yet
        self.released = [False] * count
        self.executors: list[Executor | None] = [None] * count
        self.lock = threading.Lock()

    def start(self) -> None:
        self._open(0, self.stages[0].limit)

    def _open(self, number: int, limit: int) -> None:
        """Start stage ``number`` at ``limit`` in flight, or raise its limit to that."""
        stage = self.stages[number]
        unbounded = limit == 0
        with self.lock:
            first = self.limit[number] is None
            if first:
                if unbounded:  # a thread per action, no bound (the predecessor's design)
                    self.executors[number] = ThreadPoolExecutor(
                        max_workers=len(stage.actions), thread_name_prefix="inspector-at-once")
                else:
                    pool = self.inspector._lane if stage.lane else self.inspector._pool
                    self.executors[number] = pool
            wanted = len(stage.actions) if unbounded else limit
            self.limit[number] = max(self.limit[number] or 0, wanted)
        self._pump(number)
        if not first:
            return
        after = number + 1
        if after < len(self.stages):
            if self.stages[after].overlap:
                self._open(after, self.stages[after].overlap)
            if stage.max_wait_s is not None:
                timer = threading.Timer(stage.max_wait_s, self._late, args=(number,))
                timer.daemon = True
                timer.start()
                self.record.on_done(timer.cancel)

    def _pump(self, number: int) -> None:
        launch = []
        with self.lock:
            limit = self.limit[number] or 0
            while self.waiting[number] and self.in_flight[number] < limit:
                launch.append(self.waiting[number].popleft())
                self.in_flight[number] += 1
            executor = self.executors[number]
        assert executor is not None
        for action in launch:
            executor.submit(self.inspector._run, self.record, action,
                            partial(self._one_done, number))

    def _one_done(self, number: int) -> None:
        with self.lock:
            self.in_flight[number] -= 1
            self.left[number] -= 1
            finished = self.left[number] == 0
        if not finished:
            self._pump(number)
            return
        if self.stages[number].limit == 0:
            executor = self.executors[number]
            assert executor is not None
            executor.shutdown(wait=False)
        self._release_if_due(number)

    def _release_if_due(self, number: int) -> None:
        with self.lock:
            due = (self.left[number] == 0 and not self.released[number]
                   and (number == 0 or self.released[number - 1]))
        if due:
            self._release(number)

    def _late(self, number: int) -> None:
        with self.lock:
            if self.released[number]:
                return
        LOG.warning("host %s: %s still running after %.1f s; the next calls go ahead",
                    self.record.host, ", ".join(a[0] for a in self.stages[number].actions),
                    self.stages[number].max_wait_s or 0.0)
        self._release(number)

    def _release(self, number: int) -> None:
        with self.lock:
            if self.released[number]:
                return
            self.released[number] = True
        after = number + 1
        if after < len(self.stages):
            self._open(after, self.stages[after].limit)
            self._release_if_due(after)

