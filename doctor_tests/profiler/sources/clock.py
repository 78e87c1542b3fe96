"""Offset of a remote clock, NTP style: one round trip per sample, the tightest one wins.

For each sample: local time before, the remote's time, local time after. The remote read
its clock somewhere in between, so ``offset = remote - (before + after) / 2`` with an
uncertainty of half the round trip. Remote epoch -> local epoch: ``remote - offset``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

LOG = logging.getLogger(__name__)


class ClockOffset(NamedTuple):
    offset_s: float  # remote - local
    uncertainty_s: float

    def to_local(self, remote_epoch: float) -> float:
        return remote_epoch - self.offset_s

    @property
    def uncertainty_ms(self) -> float:
        return self.uncertainty_s * 1000.0


class ClockError(RuntimeError):
    """The remote clock could not be read."""


def measure_clock_offset(
    run_remote: Callable[[], float],
    samples: int = 5,
    clock: Callable[[], float] = time.time,
) -> ClockOffset:
    """Estimate ``remote - local`` from ``samples`` calls of ``run_remote`` (returns epoch s).

    Returns ``(offset_s, uncertainty_s)`` from the sample with the shortest round trip.
    Raises ValueError for ``samples < 1`` and ClockError if the remote returns no number.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    best: ClockOffset | None = None
    for _ in range(samples):
        before = clock()
        remote = run_remote()
        after = clock()
        if isinstance(remote, bool) or not isinstance(remote, (int, float)) \
                or not math.isfinite(remote):
            raise ClockError(f"remote clock returned {remote!r}, not epoch seconds")
        half_trip = max(after - before, 0.0) / 2.0
        sample = ClockOffset(remote - (before + after) / 2.0, half_trip)
        if best is None or sample.uncertainty_s < best.uncertainty_s:
            best = sample
    assert best is not None
    LOG.debug("clock offset %.6f s +/- %.6f s (%d samples)", best.offset_s,
              best.uncertainty_s, samples)
    return best
