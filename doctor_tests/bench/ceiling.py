"""The ceiling: how fast this Nova accepts reset-state calls.

A plain concurrent client (one keystoneauth session, a connection pool as
large as the concurrency, a thread pool) resets a set of servers and counts
accepted calls per second. The best rate over the concurrencies tried is the
ceiling an inspector's rate is compared with (its efficiency = its rate / this
ceiling).

Two kinds of call are measured, because they cost the cloud different work:

- **with state changes** (``states=("error", "active", ...)``, each call moves
  a server to a state it is not in, after ``prepare`` put them all ACTIVE with
  their alarms armed): what the inspector does during a fault. Nova then sends
  ``compute.instance.update`` for every call and Ceilometer, Aodh and the
  consumer do their share on the same cores. This is the ceiling efficiency is
  computed against.
- **without** (servers already in ERROR reset to ``error``): Nova writes and
  answers but notifies nothing. An upper bound of the API alone, kept in the
  results for reference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from openstack.connection import Connection

from doctor_tests.inspector.openstack_backend import size_connection_pool

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CeilingPoint:
    concurrency: int
    calls: int
    seconds: float
    per_s: float
    errors: int


@dataclass(frozen=True)
class Ceiling:
    best_per_s: float
    best_concurrency: int
    points: list[CeilingPoint]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def measure_point(conn: Connection, server_ids: Sequence[str], concurrency: int,
                  rounds: int = 1, states: Sequence[str] = ("error",)) -> CeilingPoint:
    """Reset every server ``rounds`` times with ``concurrency`` threads; time it. Round
    ``r`` asks for ``states[r % len(states)]``."""
    if not states:
        raise ValueError("measure_point needs at least one state to reset to")
    size_connection_pool(conn.session, concurrency)
    errors = 0

    def reset(work: tuple[str, str]) -> bool:
        server_id, state = work
        resp = conn.compute.post("/servers/%s/action" % server_id,
                                 json={"os-resetState": {"state": state}}, raise_exc=False)
        if resp.status_code != 202:
            LOG.warning("reset-state of %s answered %s: %s", server_id, resp.status_code,
                        resp.text[:200])
            return False
        return True

    work = [(sid, states[r % len(states)]) for r in range(rounds) for sid in server_ids]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for ok in pool.map(reset, work):
            errors += 0 if ok else 1
    seconds = time.monotonic() - started
    calls = len(work) - errors
    point = CeilingPoint(concurrency, calls, round(seconds, 4),
                         round(calls / seconds, 2) if seconds > 0 else 0.0, errors)
    LOG.debug("reset-state to %s: concurrency %d -> %.1f calls/s (%d calls in %.2f s, "
              "%d errors)", "/".join(states), concurrency, point.per_s, calls, seconds, errors)
    return point


def measure_ceiling(conn: Connection, server_ids: Sequence[str],
                    concurrencies: Sequence[int] = (1, 4, 8, 16, 32, 64),
                    rounds: int = 1, states: Sequence[str] = ("error",),
                    prepare: Callable[[], object] | None = None) -> Ceiling:
    """Try each concurrency once (after one warm-up pass); the best rate is the ceiling.
    ``prepare`` (untimed) runs before the warm-up and before each point: with state
    changes it puts the servers back ACTIVE and their alarms back to armed."""
    if not server_ids:
        raise ValueError("the ceiling needs servers to reset; none were given")
    warm = server_ids[: min(10, len(server_ids))]
    if prepare is not None:
        prepare()
    measure_point(conn, warm, 4, 1, states)  # warm-up: tokens, pool
    points = []
    for concurrency in concurrencies:
        if prepare is not None:
            prepare()
        point = measure_point(conn, server_ids, concurrency, rounds, states)
        LOG.info("ceiling (%s): concurrency %d -> %.1f reset-state calls/s (%d calls in "
                 "%.2f s, %d errors)", "/".join(states[:rounds]), concurrency, point.per_s,
                 point.calls, point.seconds, point.errors)
        points.append(point)
    best = max(points, key=lambda p: p.per_s)
    return Ceiling(best.per_s, best.concurrency, points)
