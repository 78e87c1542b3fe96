"""Offset of a remote clock, NTP style: one round trip per sample, the tightest one wins.

For each sample: local time before, the remote's time, local time after. The remote read
its clock somewhere in between, so ``offset = remote - (before + after) / 2`` with an
uncertainty of half the round trip. Remote epoch -> local epoch: ``remote - offset``.

:func:`measure_node_clock` does this over a connection the caller already holds (an open
SSH session to the node): each sample runs ``date +%s.%N`` there, which costs one command
on that connection and no interpreter start-up, so the round trips stay short.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

LOG = logging.getLogger(__name__)

#: Prints the remote's epoch in seconds with nanoseconds (GNU coreutils ``date``).
DATE_COMMAND = "date +%s.%N"


@dataclass(frozen=True)
class ClockOffset:
    """``remote - local`` and its uncertainty; ``samples`` round trips measured it (0: given).

    Unpacks as the pair ``offset_s, uncertainty_s``.
    """

    offset_s: float  # remote - local
    uncertainty_s: float
    samples: int = 0

    def __iter__(self) -> Iterator[float]:
        return iter((self.offset_s, self.uncertainty_s))

    def to_local(self, remote_epoch: float) -> float:
        return remote_epoch - self.offset_s

    def to_remote(self, local_epoch: float) -> float:
        return local_epoch + self.offset_s

    @property
    def uncertainty_ms(self) -> float:
        return self.uncertainty_s * 1000.0

    @property
    def round_trip_s(self) -> float:
        """The tightest round trip (twice the uncertainty)."""
        return 2.0 * self.uncertainty_s


class ClockError(RuntimeError):
    """The remote clock could not be read."""


def _epoch(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        return None
    return float(value)


def _best_of(read: Callable[[], object], parse: Callable[[object], float], samples: int,
             clock: Callable[[], float]) -> ClockOffset:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    best: ClockOffset | None = None
    for _ in range(samples):
        before = clock()
        raw = read()
        after = clock()
        remote = parse(raw)
        half_trip = max(after - before, 0.0) / 2.0
        if best is None or half_trip < best.uncertainty_s:
            best = ClockOffset(remote - (before + after) / 2.0, half_trip, samples)
    assert best is not None
    return best


def measure_clock_offset(
    run_remote: Callable[[], float],
    samples: int = 5,
    clock: Callable[[], float] = time.time,
) -> ClockOffset:
    """Estimate ``remote - local`` from ``samples`` calls of ``run_remote`` (returns epoch s).

    Returns the offset from the sample with the shortest round trip.
    Raises ValueError for ``samples < 1`` and ClockError if the remote returns no number.
    """
    def parse(value: object) -> float:
        epoch = _epoch(value)
        if epoch is None:
            raise ClockError(f"remote clock returned {value!r}, not epoch seconds")
        return epoch

    best = _best_of(run_remote, parse, samples, clock)
    LOG.debug("clock offset %.6f s +/- %.6f s (%d samples)", best.offset_s,
              best.uncertainty_s, samples)
    return best


def parse_remote_epoch(node: str, output: str) -> float:
    """Epoch seconds from a node's ``date +%s.%N`` (or ``print(time.time())``) output."""
    text = output.strip()
    try:
        epoch = float(text)
    except ValueError:
        epoch = math.nan
    # GNU date prints 10 digits, a point and 9; BusyBox's leaves a literal "N" (caught above)
    if not math.isfinite(epoch) or epoch <= 0:
        raise ClockError(f"clock of {node}: {output!r} is not epoch seconds "
                         "(does the node's date support %N?)")
    return epoch


def measure_node_clock(
    node: str,
    run: Callable[[str], str],
    samples: int = 5,
    command: str = DATE_COMMAND,
    clock: Callable[[], float] = time.time,
) -> ClockOffset:
    """``node``'s clock against this one, over a connection the caller holds open.

    ``run(command)`` runs ``command`` on ``node`` and returns its standard output (for
    example ``HostShell(target).check``); it is called ``samples`` times in a row, and the
    sample with the tightest round trip gives the offset and, as half that round trip,
    the uncertainty. Raises ClockError (naming the node and the output) when the output is
    not epoch seconds; whatever ``run`` raises (a dropped connection) passes through.
    """
    best = _best_of(lambda: run(command), lambda out: parse_remote_epoch(node, str(out)),
                    samples, clock)
    LOG.info("clock of %s: offset %+.3f ms +/- %.3f ms (best of %d round trips)", node,
             best.offset_s * 1000.0, best.uncertainty_ms, samples)
    return best
