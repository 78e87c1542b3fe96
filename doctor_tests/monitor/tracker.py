"""The monitor's state machine: probes sent, replies matched, deadlines, up/down.

No sockets and no clock of its own: the caller passes ``now`` (monotonic seconds) to
every call, so tests drive it with a fake clock.

Rules:

- every probe has a deadline ``sent + timeout``; a probe whose reply has not been
  seen by then is *missed* (the caller drains its socket before calling
  :meth:`ProbeTracker.expire`, so a monitor that was merely slow to read does not
  miss anything the kernel had already received);
- misses are consecutive in *send order*: a run is the probes sent after the newest
  answered probe, all missed. With a timeout longer than the interval, replies and
  expiries are processed out of send order, so the run is computed from send indexes
  rather than counted as events arrive;
- a run of ``misses`` while up -> one ``down`` transition (and no more until the host
  recovers);
- a matching reply ends the run; while down it is an ``up`` transition;
- a reply that arrives after its probe was already counted as missed is *late*: it
  is counted but changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

_LATE_MEMORY = 1024


@dataclass(frozen=True)
class Transition:
    """The host changed state at ``at`` (monotonic seconds)."""

    kind: Literal["down", "up"]
    at: float
    last_reply_at: float | None
    consecutive_misses: int


class ProbeTracker:
    """Counts probes and decides when a host is down or back up."""

    def __init__(self, timeout: float, misses: int) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, not {timeout}")
        if misses < 1:
            raise ValueError(f"misses must be >= 1, not {misses}")
        self.timeout = timeout
        self.misses = misses
        self.sent = 0
        self.received = 0
        self.missed = 0
        self.late = 0
        self.consecutive_misses = 0
        self.last_reply_at: float | None = None
        self.is_down = False
        # sequence -> (send index, deadline); deadlines grow with the send index
        self._outstanding: OrderedDict[int, tuple[int, float]] = OrderedDict()
        self._expired: OrderedDict[int, None] = OrderedDict()
        self._last_ok = -1  # send index of the newest answered probe

    def probe_sent(self, sequence: int, now: float) -> None:
        """A probe with ``sequence`` went out at ``now``."""
        self._outstanding.pop(sequence, None)
        self._expired.pop(sequence, None)
        self._outstanding[sequence] = (self.sent, now + self.timeout)
        self.sent += 1

    def is_outstanding(self, sequence: int) -> bool:
        return sequence in self._outstanding

    def reply_received(self, sequence: int, now: float) -> Transition | None:
        """A reply matching probe ``sequence`` was read at ``now``."""
        entry = self._outstanding.pop(sequence, None)
        if entry is None:
            if sequence in self._expired:
                del self._expired[sequence]
                self.late += 1
            return None
        self.received += 1
        index = entry[0]
        if index > self._last_ok:
            # the newest answered probe: misses sent before it can no longer form a run
            self._last_ok = index
            self.consecutive_misses = 0
        self.last_reply_at = now
        if self.is_down:
            self.is_down = False
            return Transition("up", now, now, 0)
        return None

    def expire(self, now: float) -> Transition | None:
        """Count every probe whose deadline has passed as missed; maybe go down."""
        transition: Transition | None = None
        while self._outstanding:
            sequence, (index, deadline) = next(iter(self._outstanding.items()))
            if deadline > now:
                break
            del self._outstanding[sequence]
            self._expired[sequence] = None
            if len(self._expired) > _LATE_MEMORY:
                self._expired.popitem(last=False)
            self.missed += 1
            if index < self._last_ok:
                continue  # a later probe was already answered: not part of a run
            # all probes sent after the newest answered one, up to this one, were missed
            self.consecutive_misses = index - self._last_ok
            if not self.is_down and self.consecutive_misses >= self.misses:
                self.is_down = True
                transition = Transition("down", now, self.last_reply_at, self.consecutive_misses)
        return transition

    def next_deadline(self) -> float | None:
        """The earliest deadline of an outstanding probe (deadlines grow with send order)."""
        if not self._outstanding:
            return None
        return next(iter(self._outstanding.values()))[1]
