"""Pick one reading per checkpoint from every source's candidates into a :class:`Profile`.

Sources rank by how directly they see the moment: ``trace:`` (the suite's own parts) >
``bus:`` (the message itself) > ``log:`` (a service's log line) > ``aodh:`` (the alarm
history) > anything else. Among readings of equal rank the earliest wins (the first
alarm for a server, aodh-listener's first line about the alarm).

Per-server readings (a server id on the candidate) are chosen per server first; the
profile's own T04..T10 are then the *last* server's (every server is through), and
``T04_first`` the first server's reset, unless a better-ranked direct reading exists.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable

from doctor_tests.profiler.model import (
    DEFAULT_THRESHOLD_MS,
    NAMES,
    PER_SERVER,
    Candidate,
    Checkpoint,
    Profile,
    check_name,
)

LOG = logging.getLogger(__name__)

SOURCE_RANKS: tuple[str, ...] = ("trace:", "bus:", "log:", "aodh:")

#: What to look at when a checkpoint has no reading at all.
HINTS: dict[str, str] = {
    "T00": "the scenario did not stamp the fault injection",
    "T01": "no inspector record with the monitor's event time",
    "T02": "the inspector record has no affected_found time",
    "T03": "the inspector record has no host_marked_down time (force-down failed?)",
    "T04_first": "no server reset to ERROR by the inspector",
    "T04": "no server reset to ERROR by the inspector",
    "T05": "no compute.instance.update to error: bus recorder off and no nova log driver "
           "(nova.conf [notifications] notify_on_state_change = vm_state?)",
    "T06": "Ceilometer logs nothing on publish: needs the bus recorder (alarm.all.sample) "
           "or aodh debug = True for the listener's receive line",
    "T07": "no aodh-listener line, alarm.update message or alarm history entry",
    "T08": "no aodh-notifier 'Notifying alarm' line (aodh log not read?)",
    "T09": "the consumer received no alarm",
    "T10": "the consumer handled no alarm",
}


def source_rank(source: str) -> int:
    for rank, prefix in enumerate(SOURCE_RANKS):
        if source.startswith(prefix):
            return rank
    return len(SOURCE_RANKS)


def _best(readings: Iterable[Checkpoint]) -> Checkpoint | None:
    items = list(readings)
    return min(items, key=lambda c: (source_rank(c.source), c.epoch)) if items else None


class ProfileBuilder:
    """Collects candidates, then :meth:`build` makes the profile."""

    def __init__(self, threshold_ms: float = DEFAULT_THRESHOLD_MS,
                 servers: Collection[str] | None = None) -> None:
        self.threshold_ms = threshold_ms
        self.servers = set(servers) if servers is not None else None
        self._direct: dict[str, list[Checkpoint]] = {}
        self._per_server: dict[str, dict[str, list[Checkpoint]]] = {}
        self._reasons: dict[str, list[str]] = {}
        self.ignored = 0

    def add(self, item: Candidate) -> None:
        cp, server = item.checkpoint, item.server
        if server is None:
            self._direct.setdefault(cp.name, []).append(cp)
            return
        if self.servers is not None and server not in self.servers:
            self.ignored += 1
            LOG.debug("ignoring %s from %s for server %s: not one of the test's", cp.name,
                      cp.source, server)
            return
        name = "T04" if cp.name == "T04_first" else cp.name
        if name not in PER_SERVER:
            self._direct.setdefault(cp.name, []).append(cp)
            return
        self._per_server.setdefault(server, {}).setdefault(name, []).append(cp)

    def extend(self, items: Iterable[Candidate]) -> ProfileBuilder:
        for item in items:
            self.add(item)
        return self

    def missing(self, name: str, reason: str) -> None:
        """Say why ``name`` may be missing (kept only if no reading arrives)."""
        self._reasons.setdefault(check_name(name), []).append(reason)

    def missing_all(self, names: Iterable[str], reason: str) -> None:
        for name in names:
            self.missing(name, reason)

    def build(self) -> Profile:
        profile = Profile(threshold_ms=self.threshold_ms)
        for server in sorted(self._per_server):
            for readings in self._per_server[server].values():
                best = _best(readings)
                if best is not None:
                    profile.add_server(server, best)
        for name in NAMES:
            chosen = self._choose(profile, name)
            if chosen is not None:
                profile.add(chosen)
            else:
                reasons = self._reasons.get(name) or [HINTS.get(name, "no reading")]
                profile.mark_missing(name, "; ".join(reasons))
        if self.ignored:
            profile.notes.append(f"{self.ignored} reading(s) for other servers ignored")
        return profile

    def _choose(self, profile: Profile, name: str) -> Checkpoint | None:
        direct = _best(self._direct.get(name, ()))
        base = "T04" if name == "T04_first" else name
        if base not in PER_SERVER:
            return direct
        readings = [(sid, st.times[base]) for sid, st in profile.servers.items()
                    if base in st.times]
        if not readings:
            return direct
        first = name == "T04_first"
        sid, pick = (min if first else max)(readings, key=lambda r: r[1].epoch)
        note = pick.note
        if len(readings) > 1:
            which = "first" if first else "last"
            note = f"{which} of {len(readings)} servers ({sid})"
        derived = dataclasses.replace(pick, name=name, note=note)
        if direct is not None and source_rank(direct.source) < source_rank(derived.source):
            return direct
        return derived
