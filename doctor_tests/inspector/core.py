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

- ``service_first`` (default): the force-down alone, on a lane of its own (never queued
  behind another round's resets), then the resets;
- ``parallel``: the force-down and the resets together on the pool;
- ``at_once``: the predecessor's design, the force-down and every reset each on a thread
  of its own at once, without a bound (for comparison in the benchmark).

With the shortcut, the inspector's own notifications are published first, before any
call to Nova, and the resets that follow are paced (at most ``shortcut_pace`` in flight)
so that Ceilometer and Aodh, which tell the tenants, are not starved of CPU by Nova's API.

A host that is already down causes no second round (the record says
``duplicate``). ``compute.host.up`` clears it: the service is un-forced and the
host's ports are set ACTIVE. Servers are left in error on purpose: Nova has no way to
know their real state, and the scenario's clean-up resets (or deletes) them.

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
#: the longest the resets wait for the force-down (service_first); it takes ~30 ms alone
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
    #: the next stage starts after this long even if this one has not finished (a hung
    #: force-down must not hold the resets back); None: only when it has finished
    max_wait_s: float | None = None


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
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {concurrency}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
        if shortcut_pace < 1:
            raise ValueError(f"shortcut_pace must be >= 1, not {shortcut_pace}")
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
        self.warm_up = warm_up
        self.index = index or HostIndex(backend, interval=index_interval, clock=clock)
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="inspector")
        # the force-down and the shortcut's publication: never queued behind resets
        self._lane = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inspector-lane")
        self._lock = threading.Lock()
        self._down: dict[str, EventRecord] = {}
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
        return [
            (self.host_down if event.is_down else self.host_up)(event.hostname, at, event)
            for event in events
        ]

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

    def _round(
        self, kind: Kind, host: str, received: float | None, event: HostEvent | None
    ) -> EventRecord:
        received = self._clock() if received is None else received
        entry = self.index.lookup(host)
        if entry is None:
            raise UnknownHost([host])
        with self._lock:
            is_down = host in self._down
            duplicate = is_down if kind == "down" else not is_down
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
            else:
                del self._down[host]
            previous = self._last_round.get(host)
            self._last_round[host] = record
        stages = self._stages(kind, entry, record)
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

    def _stages(self, kind: Kind, entry: HostEntry, record: EventRecord) -> list[Stage]:
        record.servers = entry.servers if kind == "down" else ()
        record.ports = entry.ports
        service = entry.service
        record.service_id = service.id if service else None
        port_status = "DOWN" if kind == "down" else "ACTIVE"
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
            stages.append(Stage(resets, limit=limit))
        elif self.strategy == "parallel":
            stages.append(Stage(tuple(calls) + resets, limit=limit))
        else:  # at_once
            stages.append(Stage(tuple(calls) + resets, limit=0))
        stages.append(Stage(tuple(("port", pid, partial(self.backend.set_port_status, pid,
                                                        port_status))
                                  for pid in entry.ports), limit=self.concurrency))
        return [stage for stage in stages if stage.actions]

    def _submit(self, record: EventRecord, stages: list[Stage]) -> None:
        if not stages:
            record.complete(self._clock())
            return
        record.expect(sum(len(stage.actions) for stage in stages))
        self._start_stage(record, stages, 0)

    def _start_stage(self, record: EventRecord, stages: list[Stage], number: int) -> None:
        """Start stage ``number``; when its last action has finished, the next one starts."""
        if number == len(stages):
            return
        stage = stages[number]
        waiting = deque(stage.actions)
        left = [len(waiting)]
        advanced = [False]
        lock = threading.Lock()
        executor: Executor
        if stage.limit == 0:  # a thread per action, no bound (the predecessor's design)
            executor = ThreadPoolExecutor(max_workers=len(waiting),
                                          thread_name_prefix="inspector-at-once")
        else:
            executor = self._lane if stage.lane else self._pool

        def launch() -> None:
            with lock:
                if not waiting:
                    return
                action = waiting.popleft()
            executor.submit(self._run, record, action, one_done)

        def advance(why: str | None = None) -> None:
            with lock:
                if advanced[0]:
                    return
                advanced[0] = True
            if why:
                LOG.warning("host %s: %s", record.host, why)
            self._start_stage(record, stages, number + 1)

        def one_done() -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if not last:
                launch()
                return
            if stage.limit == 0:
                executor.shutdown(wait=False)
            advance()

        if stage.max_wait_s is not None and number + 1 < len(stages):
            timer = threading.Timer(stage.max_wait_s, advance, args=(
                "%s still running after %.1f s; the next calls start anyway"
                % (", ".join(a[0] for a in stage.actions), stage.max_wait_s),))
            timer.daemon = True
            timer.start()
            record.on_done(timer.cancel)
        for _ in range(len(waiting) if stage.limit == 0 else min(stage.limit, len(waiting))):
            launch()

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

    def records(self, host: str | None = None) -> list[EventRecord]:
        with self._lock:
            return [r for r in self._records if host is None or r.host == host]

    def health(self) -> dict[str, object]:
        now = self._clock()
        index_last = self.index.last
        return {
            "status": "ok" if self.index.ready.is_set() else "starting",
            "hosts_down": self.hosts_down(),
            "index": {
                **self.index.sizes(),
                "ready": self.index.ready.is_set(),
                "last_refresh": iso_utc(index_last.started_at) if index_last else None,
                "last_error": index_last.error if index_last else None,
            },
            "concurrency": self.concurrency,
            "strategy": self.strategy,
            "shortcut": self.shortcut is not None,
            "events": len(self.records()),
            "uptime_s": round(now - self.started_at, 3),
            "backend": self.backend.describe(),
        }
