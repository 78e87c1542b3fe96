"""The profile of one fault: checkpoints T00..T10 with their sources, and what derives from them.

Checkpoints follow the Doctor performance-profiler blueprint (see ``DESIGN.md``)::

    T00 fault injected          T06 event transformed (Ceilometer)
    T01 raw failure detected    T07 event evaluated (aodh-listener)
    T02 affected servers found  T08 alarm fired (aodh-notifier)
    T03 host marked down        T09 alarm received (consumer)
    T04 servers set error       T10 alarm handled (consumer)
    T05 Nova notified VM error

``T04`` is the *last* successful reset (every server is ERROR); ``T04_first`` the first.
With several servers each per-server checkpoint (T04..T10) is kept per server too, and
the profile's own T05..T10 are the times at which the *last* server passed them, so the
chain stays causal and the notification time is the worst case.

Times are epoch seconds (float, local clock of the machine running the suite, the
*runner*). A checkpoint taken from another node's clock has been moved onto the runner's
by that node's measured offset (:class:`NodeClock`, in ``Profile.clocks``), names the node
and carries ``uncertainty_ms`` (half the round trip of the offset measurement, plus any
uncertainty of the reading itself). A step between two checkpoints whose uncertainty is
larger than the step itself is *uncertain* (:meth:`Profile.steps`): its order is within
the clocks' error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from doctor_tests.profiler.stats import Distribution, distribution

CHECKPOINTS: tuple[tuple[str, str], ...] = (
    ("T00", "fault injected"),
    ("T01", "raw failure detected"),
    ("T02", "affected servers found"),
    ("T03", "host marked down"),
    ("T04_first", "first server set error"),
    ("T04", "servers set error"),
    ("T05", "Nova notified VM error"),
    ("T06", "event transformed"),
    ("T07", "event evaluated"),
    ("T08", "alarm fired"),
    ("T09", "alarm received"),
    ("T10", "alarm handled"),
)
NAMES: tuple[str, ...] = tuple(name for name, _ in CHECKPOINTS)
DESCRIPTIONS: Mapping[str, str] = dict(CHECKPOINTS)
#: Checkpoints that happen once per affected server.
PER_SERVER: tuple[str, ...] = ("T04", "T05", "T06", "T07", "T08", "T09", "T10")
DEFAULT_THRESHOLD_MS = 1000.0
NOT_RECORDED = "not recorded by any source"
#: The node whose clock the profile's times are on (the monitor, inspector, consumer).
RUNNER = "runner"


class UnknownCheckpoint(ValueError):
    """A checkpoint name that is not one of :data:`NAMES`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown checkpoint {name!r}; valid names: {', '.join(NAMES)}")
        self.name = name


def check_name(name: str) -> str:
    if name not in DESCRIPTIONS:
        raise UnknownCheckpoint(name)
    return name


@dataclass(frozen=True)
class Checkpoint:
    """One moment of the flow and where it was measured."""

    name: str
    epoch: float
    source: str
    uncertainty_ms: float | None = None
    note: str | None = None
    node: str | None = None  # whose clock took it (None: not said)

    def __post_init__(self) -> None:
        check_name(self.name)
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, (int, float)):
            raise ValueError(f"{self.name}: epoch must be a number, got {self.epoch!r}")
        if not math.isfinite(self.epoch):
            raise ValueError(f"{self.name}: epoch must be finite, got {self.epoch!r}")
        if not self.source:
            raise ValueError(f"{self.name}: source must be a non-empty string")
        if self.uncertainty_ms is not None and not self.uncertainty_ms >= 0:
            raise ValueError(f"{self.name}: uncertainty_ms must be >= 0, got "
                             f"{self.uncertainty_ms!r}")

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.name]


#: How a node's offset is known: the runner itself; measured over round trips; given by
#: the caller (taken as exact); assumed 0 because nothing was given.
CLOCK_KINDS: tuple[str, ...] = ("reference", "measured", "given", "assumed")


@dataclass(frozen=True)
class NodeClock:
    """A node's clock against the runner's: ``offset_ms`` = node - runner.

    ``samples`` is how many round trips measured the offset (the tightest one kept; its
    half is ``uncertainty_ms``); ``kind`` is one of :data:`CLOCK_KINDS`. The runner is
    the reference, offset 0 exactly.
    """

    node: str
    offset_ms: float
    uncertainty_ms: float
    samples: int = 0
    kind: str = "given"

    def __post_init__(self) -> None:
        for name in ("offset_ms", "uncertainty_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ValueError(f"clock {self.node}: {name} must be a finite number, "
                                 f"got {value!r}")
        if self.uncertainty_ms < 0:
            raise ValueError(f"clock {self.node}: uncertainty_ms must be >= 0")
        if self.kind not in CLOCK_KINDS:
            raise ValueError(f"clock {self.node}: kind {self.kind!r} is not one of "
                             f"{', '.join(CLOCK_KINDS)}")
        if self.kind == "reference" and (self.offset_ms != 0 or self.uncertainty_ms != 0):
            raise ValueError(f"clock {self.node} is the reference: its offset is 0 exactly")

    @property
    def measured(self) -> bool:
        return self.kind == "measured"

    @property
    def round_trip_ms(self) -> float | None:
        """The tightest round trip of the measurement (None if not measured)."""
        return 2.0 * self.uncertainty_ms if self.measured else None

    def to_json(self) -> dict[str, object]:
        return {"offset_ms": self.offset_ms, "uncertainty_ms": self.uncertainty_ms,
                "round_trip_ms": self.round_trip_ms, "samples": self.samples,
                "kind": self.kind}


def clock_line(clock: NodeClock, checkpoints: list[str]) -> str:
    """One node's clock in words (the console's and the picture's clocks legend)."""
    if clock.kind == "reference":
        what = "the reference clock (offset 0)"
    elif clock.kind == "measured":
        what = (f"offset {clock.offset_ms:+.3f} ms +/- {clock.uncertainty_ms:.3f} ms "
                f"(best of {clock.samples} samples, round trip {clock.round_trip_ms:.3f} ms)")
    elif clock.kind == "given":
        what = (f"offset {clock.offset_ms:+.3f} ms +/- {clock.uncertainty_ms:.3f} ms "
                "(given, not measured)")
    else:
        what = "not measured: offset taken as 0, uncertainty unknown"
    return f"{clock.node}: {what}" + (f"; {' '.join(checkpoints)}" if checkpoints else "")


@dataclass(frozen=True)
class Step:
    """From the previous present checkpoint to this one, and how sure that is."""

    ms: float
    uncertainty_ms: float

    @property
    def uncertain(self) -> bool:
        """The step is smaller than its uncertainty: the order may be the other way."""
        return self.uncertainty_ms > abs(self.ms)


@dataclass(frozen=True)
class Candidate:
    """A source's reading of a checkpoint, for one server (``server``) or for the fault."""

    checkpoint: Checkpoint
    server: str | None = None


def candidate(name: str, epoch: float, source: str, *, server: str | None = None,
              uncertainty_ms: float | None = None, note: str | None = None,
              node: str | None = None) -> Candidate:
    return Candidate(Checkpoint(name, epoch, source, uncertainty_ms, note, node), server)


@dataclass(frozen=True)
class OrderViolation:
    """``later`` was recorded before ``earlier`` by more than the clocks' uncertainty."""

    earlier: str
    later: str
    ms: float  # later - earlier (negative)
    tolerance_ms: float

    def to_json(self) -> dict[str, object]:
        return {"earlier": self.earlier, "later": self.later, "ms": self.ms,
                "tolerance_ms": self.tolerance_ms,
                "message": f"{self.later} is {-self.ms:.3f} ms before {self.earlier}"}


@dataclass
class ServerTimes:
    """Per-server checkpoints (T04 reset .. T09 received, T10 handled)."""

    server_id: str
    times: dict[str, Checkpoint] = field(default_factory=dict)

    def epoch(self, name: str) -> float | None:
        cp = self.times.get(name)
        return cp.epoch if cp is not None else None


def ms_between(start: float, end: float) -> float:
    """``end - start`` in milliseconds, rounded to the microsecond."""
    return (round(end * 1e6) - round(start * 1e6)) / 1000.0


@dataclass
class Profile:
    """Checkpoints of one fault, the reason each missing one is missing, per-server data."""

    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    missing_reasons: dict[str, str] = field(default_factory=dict)
    servers: dict[str, ServerTimes] = field(default_factory=dict)
    threshold_ms: float = DEFAULT_THRESHOLD_MS
    notes: list[str] = field(default_factory=list)
    clocks: dict[str, NodeClock] = field(default_factory=dict)

    # --- building ---------------------------------------------------------------------
    def add(self, checkpoint: Checkpoint) -> None:
        self.checkpoints[checkpoint.name] = checkpoint
        self.missing_reasons.pop(checkpoint.name, None)

    def mark_missing(self, name: str, reason: str) -> None:
        check_name(name)
        if name not in self.checkpoints:
            self.missing_reasons[name] = reason

    def add_server(self, server_id: str, checkpoint: Checkpoint) -> None:
        if checkpoint.name not in PER_SERVER:
            raise ValueError(f"{checkpoint.name} is not a per-server checkpoint; "
                             f"per-server ones are {', '.join(PER_SERVER)}")
        self.servers.setdefault(server_id, ServerTimes(server_id)).times[checkpoint.name] = (
            checkpoint
        )

    # --- reading ----------------------------------------------------------------------
    def present(self) -> list[Checkpoint]:
        """Present checkpoints in flow order."""
        return [self.checkpoints[n] for n in NAMES if n in self.checkpoints]

    @property
    def missing(self) -> dict[str, str]:
        """Every absent checkpoint with the reason (``not recorded by any source`` if none)."""
        return {n: self.missing_reasons.get(n, NOT_RECORDED) for n in NAMES
                if n not in self.checkpoints}

    def epoch(self, name: str) -> float | None:
        cp = self.checkpoints.get(check_name(name))
        return cp.epoch if cp is not None else None

    @property
    def origin(self) -> str | None:
        """The checkpoint times are relative to: T00, else the earliest present one."""
        if "T00" in self.checkpoints:
            return "T00"
        present = self.present()
        return min(present, key=lambda c: c.epoch).name if present else None

    @property
    def origin_epoch(self) -> float | None:
        origin = self.origin
        return self.checkpoints[origin].epoch if origin else None

    def ms(self, name: str) -> float | None:
        """Milliseconds since the origin (T00), or None if ``name`` is missing."""
        epoch, origin = self.epoch(name), self.origin_epoch
        if epoch is None or origin is None:
            return None
        return ms_between(origin, epoch)

    def relative_ms(self, epoch: float) -> float | None:
        origin = self.origin_epoch
        return None if origin is None else ms_between(origin, epoch)

    def between_ms(self, start: str, end: str) -> float | None:
        a, b = self.epoch(start), self.epoch(end)
        return None if a is None or b is None else ms_between(a, b)

    @property
    def notification_ms(self) -> float | None:
        """T09 - T01: the Doctor requirement (under one second)."""
        return self.between_ms("T01", "T09")

    @property
    def fault_to_notification_ms(self) -> float | None:
        """T09 - T00."""
        return self.between_ms("T00", "T09")

    @property
    def verdict(self) -> str | None:
        """PASS/FAIL of the notification time against the threshold; None if unknown."""
        value = self.notification_ms
        if value is None:
            return None
        return "PASS" if value < self.threshold_ms else "FAIL"

    def order_violations(self) -> list[OrderViolation]:
        """Consecutive present checkpoints that run backwards beyond their uncertainty."""
        out: list[OrderViolation] = []
        previous: Checkpoint | None = None
        for cp in self.present():
            if previous is not None:
                delta = ms_between(previous.epoch, cp.epoch)
                tolerance = (previous.uncertainty_ms or 0.0) + (cp.uncertainty_ms or 0.0)
                if delta < -tolerance:
                    out.append(OrderViolation(previous.name, cp.name, delta, tolerance))
            previous = cp
        return out

    def clock_uncertainty_ms(self, cp: Checkpoint) -> float:
        """The part of ``cp``'s uncertainty that comes from its node's clock offset."""
        clock = self.clocks.get(cp.node) if cp.node is not None else None
        return clock.uncertainty_ms if clock is not None else 0.0

    def step_uncertainty_ms(self, earlier: Checkpoint, later: Checkpoint) -> float:
        """Uncertainty of ``later - earlier``: both readings' own uncertainties, plus both
        clocks' unless the two were taken on the same node (one offset cancels out)."""
        clock_a, clock_b = self.clock_uncertainty_ms(earlier), self.clock_uncertainty_ms(later)
        own = (max((earlier.uncertainty_ms or 0.0) - clock_a, 0.0)
               + max((later.uncertainty_ms or 0.0) - clock_b, 0.0))
        if earlier.node is not None and earlier.node == later.node:
            return own
        return own + clock_a + clock_b

    def steps(self) -> dict[str, Step]:
        """Each present checkpoint but the first: the step from the previous present one."""
        out: dict[str, Step] = {}
        previous: Checkpoint | None = None
        for cp in self.present():
            if previous is not None:
                out[cp.name] = Step(ms_between(previous.epoch, cp.epoch),
                                    round(self.step_uncertainty_ms(previous, cp), 6))
            previous = cp
        return out

    def nodes(self) -> dict[str, list[str]]:
        """Node -> the present checkpoints taken on its clock (flow order)."""
        out: dict[str, list[str]] = {}
        for cp in self.present():
            if cp.node is not None:
                out.setdefault(cp.node, []).append(cp.name)
        return out

    # --- per server -------------------------------------------------------------------
    def server_ms(self, name: str, since: str = "T00") -> dict[str, float]:
        """Per server: ``name`` minus the profile's ``since`` checkpoint, in ms."""
        start = self.epoch(since)
        if start is None:
            return {}
        out = {}
        for sid, times in self.servers.items():
            epoch = times.epoch(name)
            if epoch is not None:
                out[sid] = ms_between(start, epoch)
        return out

    def server_distributions(self) -> dict[str, Distribution]:
        """Per-server checkpoint times (ms since T00) and notification times (T09 - T01)."""
        out: dict[str, Distribution] = {}
        for name in PER_SERVER:
            values = self.server_ms(name, self.origin or "T00")
            if values:
                out[name] = distribution(values.values())
        notification = self.server_ms("T09", "T01")
        if notification:
            out["notification"] = distribution(notification.values())
        return out

    def first_last_alarm(self) -> tuple[tuple[str, float], tuple[str, float]] | None:
        """(server, ms since origin) of the first and the last alarm received."""
        received = self.server_ms("T09", self.origin or "T00")
        if not received:
            return None
        ordered = sorted(received.items(), key=lambda item: item[1])
        return ordered[0], ordered[-1]


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    """The latest of ``checkpoints`` (None if there are none)."""
    items = list(checkpoints)
    return max(items, key=lambda c: c.epoch) if items else None
