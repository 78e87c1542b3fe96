"""The ceiling: how fast this Nova accepts reset-state calls at all.

A plain concurrent client (one keystoneauth session, a connection pool as
large as the concurrency, a thread pool) resets the same set of servers to
``error`` again and again and counts accepted calls per second. The best rate
over the concurrencies tried is the ceiling an inspector's rate is compared
with (its efficiency = its rate / this ceiling).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
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
                  rounds: int = 1) -> CeilingPoint:
    """Reset every server ``rounds`` times with ``concurrency`` threads; time it."""
    size_connection_pool(conn.session, concurrency)
    body = {"os-resetState": {"state": "error"}}
    errors = 0

    def reset(server_id: str) -> bool:
        resp = conn.compute.post("/servers/%s/action" % server_id, json=body,
                                 raise_exc=False)
        if resp.status_code != 202:
            LOG.warning("reset-state of %s answered %s: %s", server_id, resp.status_code,
                        resp.text[:200])
            return False
        return True

    work = [sid for _ in range(rounds) for sid in server_ids]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for ok in pool.map(reset, work):
            errors += 0 if ok else 1
    seconds = time.monotonic() - started
    calls = len(work) - errors
    point = CeilingPoint(concurrency, calls, round(seconds, 4),
                         round(calls / seconds, 2) if seconds > 0 else 0.0, errors)
    LOG.info("ceiling: concurrency %d -> %.1f reset-state calls/s (%d calls in %.2f s, %d errors)",
             concurrency, point.per_s, calls, seconds, errors)
    return point


def measure_ceiling(conn: Connection, server_ids: Sequence[str],
                    concurrencies: Sequence[int] = (1, 4, 8, 16, 32, 64),
                    rounds: int = 1) -> Ceiling:
    """Try each concurrency once (after one warm-up pass); the best rate is the ceiling."""
    if not server_ids:
        raise ValueError("the ceiling needs servers to reset; none were given")
    measure_point(conn, server_ids[: min(10, len(server_ids))], 4)  # warm-up: tokens, pool
    points = [measure_point(conn, server_ids, c, rounds) for c in concurrencies]
    best = max(points, key=lambda p: p.per_s)
    return Ceiling(best.per_s, best.concurrency, points)
