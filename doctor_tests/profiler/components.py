"""Where the time went: the flow cut into consecutive segments, one per component.

The segments share their boundaries (T00, T01, T04, T05, T06, T08, T09, T10), so their
durations add up exactly (in integer microseconds) to the span they cover, T10 - T00 when
both ends are present. A missing middle boundary merges the two segments around it
(``nova+ceilometer`` when T05 is missing) and says so; segments before the first or after
the last present boundary are reported as not measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from doctor_tests.profiler.model import Profile


@dataclass(frozen=True)
class Segment:
    name: str
    role: str
    start: str
    end: str


SEGMENTS: tuple[Segment, ...] = (
    Segment("monitor", "monitor: ping stops answering", "T00", "T01"),
    Segment("inspector", "inspector: host down, servers ERROR", "T01", "T04"),
    Segment("nova", "controller: Nova emits the update", "T04", "T05"),
    Segment("ceilometer", "notifier: event built and published", "T05", "T06"),
    Segment("aodh", "evaluator: event alarm matched and fired", "T06", "T08"),
    Segment("delivery", "REST action on the wire", "T08", "T09"),
    Segment("consumer", "consumer: alarm handled", "T09", "T10"),
)
#: Informational splits of a component (not part of the sum).
PARTS: dict[str, tuple[Segment, ...]] = {
    "inspector": (
        Segment("find affected", "inspector", "T01", "T02"),
        Segment("mark host down", "inspector", "T02", "T03"),
        Segment("set servers error", "inspector", "T03", "T04"),
    ),
    "aodh": (
        Segment("aodh-listener", "evaluator", "T06", "T07"),
        Segment("aodh-notifier", "notifier", "T07", "T08"),
    ),
}


def _us(epoch: float) -> int:
    return round(epoch * 1e6)


@dataclass(frozen=True)
class Part:
    name: str
    start: str
    end: str
    us: int

    @property
    def ms(self) -> float:
        return self.us / 1000.0


@dataclass(frozen=True)
class Component:
    """The time between two present boundaries, attributed to one or more components."""

    name: str
    start: str
    end: str
    us: int
    percent: float
    merged: tuple[str, ...]
    role: str
    note: str | None = None
    parts: tuple[Part, ...] = ()

    @property
    def ms(self) -> float:
        return self.us / 1000.0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name, "ms": self.ms, "percent": self.percent,
            "from": self.start, "to": self.end, "role": self.role,
        }
        if len(self.merged) > 1:
            out["merged"] = list(self.merged)
        if self.note:
            out["note"] = self.note
        if self.parts:
            out["parts"] = [{"name": p.name, "ms": p.ms, "from": p.start, "to": p.end}
                            for p in self.parts]
        return out


@dataclass
class Breakdown:
    """The components in flow order, the span they cover, and what could not be measured."""

    components: list[Component] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    total_us: int = 0
    unmeasured: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return self.total_us / 1000.0

    def by_cost(self) -> list[Component]:
        """Most expensive first (flow order among equals)."""
        return sorted(self.components, key=lambda c: -c.us)


def _parts(profile: Profile, name: str) -> tuple[Part, ...]:
    out = []
    for seg in PARTS.get(name, ()):
        a, b = profile.epoch(seg.start), profile.epoch(seg.end)
        if a is None or b is None:
            return ()
        out.append(Part(seg.name, seg.start, seg.end, _us(b) - _us(a)))
    return tuple(out)


def _fold_inside_call(raw: list[tuple[list[Segment], str, str, int]], notes: list[str]
                      ) -> list[tuple[list[Segment], str, str, int]]:
    """Nova notifies (T05) inside the reset call whose return is T04, so T05 can come
    before T04. Then the inspector's share ends at T05 and Nova's is 0 (the sum stays
    T10 - T00)."""
    out = list(raw)
    for i in range(1, len(out)):
        segs, a, b, us = out[i]
        prev_segs, pa, pb, pus = out[i - 1]
        if us < 0 and [s.name for s in segs] == ["nova"] and prev_segs[-1].name == "inspector":
            out[i - 1] = (prev_segs, pa, pb, pus + us)
            out[i] = (segs, a, b, 0)
            notes.append("Nova notified inside the last reset call (T05 %.1f ms before T04, "
                         "the call's return): the inspector's share ends at T05, Nova's is 0"
                         % (-us / 1000.0))
    return out


def breakdown(profile: Profile) -> Breakdown:
    """Cut the profile into components (see the module docstring)."""
    result = Breakdown()
    raw: list[tuple[list[Segment], str, str, int]] = []
    start: str | None = None
    pending: list[Segment] = []
    for seg in SEGMENTS:
        if start is None:
            if profile.epoch(seg.start) is None:
                result.unmeasured.append(seg.name)
                result.notes.append(f"{seg.name} not measured: {seg.start} missing")
                continue
            start = seg.start
        pending.append(seg)
        end_epoch = profile.epoch(seg.end)
        if end_epoch is None:
            continue
        start_epoch = profile.epoch(start)
        assert start_epoch is not None
        raw.append((pending, start, seg.end, _us(end_epoch) - _us(start_epoch)))
        start, pending = seg.end, []
    for seg in pending:
        result.unmeasured.append(seg.name)
        result.notes.append(f"{seg.name} not measured: {seg.end} missing")
    if not raw:
        return result
    raw = _fold_inside_call(raw, result.notes)
    result.start, result.end = raw[0][1], raw[-1][2]
    result.total_us = sum(us for _, _, _, us in raw)
    for segs, a, b, us in raw:
        names = tuple(s.name for s in segs)
        note = None
        if len(segs) > 1:
            gaps = ", ".join(s.end for s in segs[:-1])
            note = f"{gaps} missing: {' and '.join(names)} measured together"
            result.notes.append(note)
        percent = 100.0 * us / result.total_us if result.total_us else 0.0
        result.components.append(Component(
            name="+".join(names), start=a, end=b, us=us, percent=percent, merged=names,
            role="; ".join(s.role for s in segs), note=note,
            parts=_parts(profile, names[0]) if len(names) == 1 else (),
        ))
    return result
