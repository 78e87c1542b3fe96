"""The benchmark's cloud resources: one project, image, flavor and network for the whole
run, servers booted in batches as the sweep grows, one event alarm per server.

Every change goes through the bench's :class:`~doctor_tests.cleanup.Cleanup` with its undo
registered first (the helpers of :mod:`doctor_tests.resources` do that). Between runs
:meth:`Fleet.reset` puts the failed host's servers back to ACTIVE, their alarms back to
``insufficient data`` and their ports' data plane back ACTIVE, so every run starts alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from openstack.connection import Connection

from doctor_tests import cloud, resources
from doctor_tests.cleanup import Cleanup
from doctor_tests.inspector.openstack_backend import size_connection_pool
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

RESET_CONCURRENCY = 16
# Servers booted per wave when the fleet grows. This Nova's compute claims one server at a
# time under its host lock, and each claim reads from Placement the allocations of every
# server already placed on the host, booted or still waiting: 500 submitted at once took
# 3.8 s per server on the lab, the first 50 1.1 s. Waves keep fewer servers waiting.
BOOT_WAVE = 50
INSUFFICIENT = "insufficient data"
T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """Servers added to reach ``total``: how many and how long boot and alarms took."""

    total: int
    added: int
    boot_s: float
    alarms_s: float

    def to_json(self) -> dict[str, object]:
        per = round(self.boot_s / self.added, 3) if self.added else None
        return {"total": self.total, "added": self.added, "boot_s": round(self.boot_s, 1),
                "boot_s_per_server": per, "alarms_s": round(self.alarms_s, 1)}


def _parallel(fn: Callable[[T], bool], items: Sequence[T], workers: int = RESET_CONCURRENCY
              ) -> int:
    """Call ``fn`` on every item with a thread pool; the number of calls that returned True."""
    if not items:
        return 0
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return sum(1 for ok in pool.map(fn, items) if ok)


def boot_waves(count: int, wave: int = BOOT_WAVE) -> list[int]:
    """The sizes of the waves that boot ``count`` servers: as many full waves as fit, then
    the rest (``boot_waves(120) == [50, 50, 20]``)."""
    if wave < 1:
        raise ValueError("wave must be >= 1, not %d" % wave)
    return [min(wave, count - start) for start in range(0, max(count, 0), wave)]


@dataclass
class Fleet:
    """A project with servers on ``host`` (the one to fail) and one on ``other_host``."""

    admin: Connection
    cleanup: Cleanup
    name: str
    host: str
    other_host: str
    action_url: str
    tenant: resources.Tenant
    image: Any
    flavor: Any
    network: Any
    servers: list[Any] = field(default_factory=list)         # on the failed host
    other_servers: list[Any] = field(default_factory=list)   # must not alarm
    alarms: dict[str, str] = field(default_factory=dict)     # alarm id -> server id
    batches: list[Batch] = field(default_factory=list)

    @classmethod
    def create(cls, admin: Connection, cleanup: Cleanup, name: str, host: str, other_host: str,
               image_name: str, action_url: str) -> Fleet:
        """Project, image, flavor, network; one server with its alarm on ``other_host``."""
        tenant = resources.create_tenant(admin, cleanup, name)
        # the resets between runs go RESET_CONCURRENCY at a time on these connections (the
        # servers and alarms on the tenant's, the ports on the admin's); with requests' 10
        # per host the rest were opened and thrown away ("Connection pool is full,
        # discarding connection")
        for conn in (admin, tenant.admin):
            size_connection_pool(conn.session, RESET_CONCURRENCY)
        image = resources.ensure_image(admin, cleanup, image_name)
        flavor = resources.create_flavor(admin, cleanup, name + "-flavor")
        network = resources.create_network(tenant.admin, cleanup, name + "-net")
        fleet = cls(admin, cleanup, name, host, other_host, action_url, tenant, image, flavor,
                    network)
        fleet.other_servers = resources.boot_servers(
            tenant.admin, cleanup, name + "-other", 1, other_host, flavor, image, network)
        fleet.alarms.update(resources.create_alarms(tenant.admin, cleanup, name + "-other",
                                                    fleet.other_servers, action_url))
        return fleet

    @property
    def conn(self) -> Connection:
        return self.tenant.admin

    @property
    def server_ids(self) -> list[str]:
        return [s.id for s in self.servers]

    @property
    def alarm_servers_on_host(self) -> dict[str, str]:
        on_host = set(self.server_ids)
        return {a: s for a, s in self.alarms.items() if s in on_host}

    def grow_to(self, total: int) -> Batch | None:
        """Boot servers on the host (and their alarms) until it holds ``total``, in waves
        of at most :data:`BOOT_WAVE`."""
        missing = total - len(self.servers)
        if missing <= 0:
            return None
        prefix = "%s-b%02d" % (self.name, len(self.batches))
        waves = boot_waves(missing)
        LOG.info("booting %d more server(s) on %s (to %d) in %d wave(s)", missing, self.host,
                 total, len(waves))
        # one undo for every wave: deleting wave after wave, each waiting for the last,
        # took 1290 s for 500 servers against 897 s for all of them at once
        resources.undo_servers(self.conn, self.cleanup, prefix + "-w")
        started = time.monotonic()
        booted: list[Any] = []
        for number, size in enumerate(waves):
            booted += resources.boot_servers(self.conn, self.cleanup,
                                             "%s-w%02d" % (prefix, number), size, self.host,
                                             self.flavor, self.image, self.network,
                                             register_undo=False)
            if len(waves) > 1:
                LOG.info("%d of %d server(s) booted on %s after %.0f s", len(booted), missing,
                         self.host, time.monotonic() - started)
        boot_s = time.monotonic() - started
        started = time.monotonic()
        self.alarms.update(resources.create_alarms(self.conn, self.cleanup, prefix, booted,
                                                   self.action_url))
        alarms_s = time.monotonic() - started
        self.servers.extend(booted)
        batch = Batch(total, missing, boot_s, alarms_s)
        self.batches.append(batch)
        LOG.info("%d servers on %s: %d booted in %.1f s (%.2f s each), alarms in %.1f s",
                 total, self.host, missing, boot_s, boot_s / missing, alarms_s)
        return batch

    # --- between runs -------------------------------------------------------------------
    def reset(self) -> dict[str, float]:
        """Servers ACTIVE, alarms ``insufficient data``, ports ACTIVE; seconds each took."""
        timings = {}
        started = time.monotonic()
        count = self.reset_servers()
        timings["servers_s"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        alarms = self.reset_alarms()
        timings["alarms_s"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        ports = self.reset_ports()
        timings["ports_s"] = round(time.monotonic() - started, 2)
        LOG.info("reset: %d server(s) to ACTIVE, %d alarm(s) to %s, %d port(s) ACTIVE (%s)",
                 count, alarms, INSUFFICIENT, ports, timings)
        return timings

    def _statuses(self) -> dict[str, str]:
        ids = set(self.server_ids)
        return {s.id: s.status for s in self.conn.compute.servers() if s.id in ids}

    def reset_servers(self) -> int:
        """``os-resetState active`` for every server on the host that is not ACTIVE."""
        wrong = [sid for sid, status in self._statuses().items() if status != "ACTIVE"]

        def reset(server_id: str) -> bool:
            resp = self.conn.compute.post("/servers/%s/action" % server_id,
                                          json={"os-resetState": {"state": "active"}},
                                          raise_exc=False)
            if resp.status_code != 202:
                raise cloud.CloudError("reset-state active of %s answered %s: %s"
                                       % (server_id, resp.status_code, resp.text[:300]))
            return True

        done = _parallel(reset, wrong)

        def all_active() -> bool:
            statuses = self._statuses()
            return len(statuses) == len(self.servers) and set(statuses.values()) == {"ACTIVE"}

        wait_until(all_active, 60 + 0.2 * len(self.servers),
                   "the %d servers on %s to be ACTIVE again" % (len(self.servers), self.host),
                   interval=resources.listing_interval(len(self.servers), 0.2, 1.0))
        return done

    def reset_alarms(self, alarm_ids: Iterable[str] | None = None) -> int:
        """Put the alarms that are not ``insufficient data`` back to it (Aodh's
        ``PUT /v2/alarms/{id}/state``)."""
        ours = set(self.alarms if alarm_ids is None else alarm_ids)
        fired = [a["alarm_id"] for a in cloud.list_alarms(self.conn)
                 if a["alarm_id"] in ours and a.get("state") != INSUFFICIENT]

        def reset(alarm_id: str) -> bool:
            resp = self.conn.alarm.put("/alarms/%s/state" % alarm_id, json=INSUFFICIENT,
                                       raise_exc=False)
            if resp.status_code not in (200, 201):
                raise cloud.CloudError("Aodh PUT /alarms/%s/state answered %s: %s"
                                       % (alarm_id, resp.status_code, resp.text[:300]))
            return True

        return _parallel(reset, fired)

    def reset_ports(self) -> int:
        """Set ``data_plane_status`` ACTIVE (Neutron takes ACTIVE or DOWN) on the network's ports
        the inspector set DOWN."""
        down = [p.id for p in self.admin.network.ports(network_id=self.network.id)
                if getattr(p, "data_plane_status", None) == "DOWN"]

        def up(port_id: str) -> bool:
            resp = self.admin.network.put("/ports/%s" % port_id,
                                          json={"port": {"data_plane_status": "ACTIVE"}},
                                          raise_exc=False)
            if resp.status_code != 200:
                raise cloud.CloudError("Neutron PUT /ports/%s data_plane_status ACTIVE answered "
                                       "%s: %s" % (port_id, resp.status_code, resp.text[:300]))
            return True

        return _parallel(up, down)
