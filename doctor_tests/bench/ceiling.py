"""The ceiling: how fast this Nova accepts reset-state calls.

A plain concurrent client (one keystoneauth session, a connection pool as
large as the concurrency, a thread pool) resets a set of servers and counts
accepted calls per second. The ceiling an inspector's rate is compared with (its
efficiency = its rate / this ceiling) is found in two stages, because one sample
of a few hundred calls moves by +-20% on a shared two-core machine:

1. **scan**: every concurrency once; the ``finalists`` fastest go on;
2. **repeats**: each finalist ``repeats`` more times, interleaved (A B A B ...),
   so a slow minute of the machine falls on both. The ceiling is the best
   finalist's **median of its repeats**. The scan sample that picked a finalist
   is left out of its median: it was chosen for being high, and counting it
   would bias the ceiling upwards (and the efficiency downwards), as the
   maximum of single samples did before.

Two kinds of call are measured, because they cost the cloud different work:

- **with state changes** (one round to ``error``, after ``prepare`` put every
  server ACTIVE with its alarm armed): what the inspector does during a fault.
  Nova then sends ``compute.instance.update`` for every call, Aodh fires every
  alarm and the consumer receives it, on the same cores. This is the ceiling
  efficiency is computed against. A second round back to ``active`` would
  change state too, but fire no alarm: cheaper calls, a higher ceiling.
- **without** (servers already in ERROR reset to ``error``): Nova writes and
  answers but notifies nothing. An upper bound of the API alone, kept in the
  results for reference.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

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
class FinalistMedian:
    concurrency: int
    samples: list[float]
    median_per_s: float


@dataclass(frozen=True)
class Ceiling:
    best_per_s: float
    best_concurrency: int
    points: list[CeilingPoint]          # the scan, in the order tried
    repeats: int = 0                    # fresh samples per finalist (0: the scan decides)
    finalists: list[FinalistMedian] = field(default_factory=list)
    repeat_points: list[CeilingPoint] = field(default_factory=list)

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
    return CeilingPoint(concurrency, calls, round(seconds, 4),
                        round(calls / seconds, 2) if seconds > 0 else 0.0, errors)


def measure_ceiling(conn: Connection, server_ids: Sequence[str],
                    concurrencies: Sequence[int] = (1, 4, 8, 16, 32, 64),
                    rounds: int = 1, states: Sequence[str] = ("error",),
                    prepare: Callable[[], object] | None = None,
                    repeats: int = 0, finalists: int = 2) -> Ceiling:
    """Scan each concurrency once (after one warm-up pass), then measure the ``finalists``
    fastest ``repeats`` more times each, interleaved; the ceiling is the best finalist's
    median of those repeats. With ``repeats=0`` the scan's best single sample is the
    ceiling. ``prepare`` (untimed) runs before the warm-up and before every sample: with
    state changes it puts the servers back ACTIVE and their alarms back to armed."""
    if not server_ids:
        raise ValueError("the ceiling needs servers to reset; none were given")
    if repeats < 0 or finalists < 1:
        raise ValueError("the ceiling needs repeats >= 0 and finalists >= 1, not %d and %d"
                         % (repeats, finalists))
    label = "/".join(states[:rounds])
    warm = server_ids[: min(10, len(server_ids))]
    if prepare is not None:
        prepare()
    measure_point(conn, warm, 4, 1, states)  # warm-up: tokens, pool

    def sample(concurrency: int, stage: str) -> CeilingPoint:
        if prepare is not None:
            prepare()
        point = measure_point(conn, server_ids, concurrency, rounds, states)
        LOG.info("ceiling (%s, %s): concurrency %d -> %.1f reset-state calls/s (%d calls in "
                 "%.2f s, %d errors)", label, stage, concurrency, point.per_s, point.calls,
                 point.seconds, point.errors)
        return point

    points = [sample(c, "scan") for c in concurrencies]
    best = max(points, key=lambda p: p.per_s)
    if repeats == 0:
        return Ceiling(best.per_s, best.concurrency, points)
    chosen = [p.concurrency for p in sorted(points, key=lambda p: -p.per_s)[:finalists]]
    again = [sample(c, "repeat %d of %d" % (r + 1, repeats))
             for r in range(repeats) for c in chosen]
    samples = {c: [p.per_s for p in again if p.concurrency == c] for c in chosen}
    medians = [FinalistMedian(c, samples[c], round(statistics.median(samples[c]), 2))
               for c in chosen]
    top = max(medians, key=lambda m: m.median_per_s)
    LOG.info("ceiling (%s): %s -> %.1f calls/s at concurrency %d", label,
             "; ".join("c%d median %.1f of %s" % (m.concurrency, m.median_per_s, m.samples)
                       for m in medians), top.median_per_s, top.concurrency)
    return Ceiling(top.median_per_s, top.concurrency, points, repeats, medians, again)
