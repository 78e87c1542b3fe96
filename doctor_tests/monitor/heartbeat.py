"""The heartbeat monitor's state machine for one host: heartbeats in, host and data-plane
transitions out.

No sockets and no clock of its own: the caller passes ``now`` (monotonic seconds), so tests
drive it with a fake clock. Rules:

- the host is *alive* from its first heartbeat on;
- an alive host from which nothing has come for ``timeout`` seconds (the heartbeat
  interval times the misses allowed) is *down*, once, until a heartbeat comes again
  (*up*);
- a data-plane link (``links.data``) that has read ``down`` for ``dataplane_hold``
  seconds (from the first heartbeat that said so, with no ``up`` in between) is
  *dataplane_down*; ``up`` again is *dataplane_up*. The hold keeps a link that flaps for
  less than that from reporting anything (the ICMP monitor needs ~30-80 ms of silence
  too); 0 reports the first ``down``. A host that is down says nothing of its data plane:
  the state is kept as last reported;
- a heartbeat from a new ``boot`` (collectd restarted) is a heartbeat like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ChangeKind = Literal["down", "up", "dataplane_down", "dataplane_up"]


class BadHeartbeat(ValueError):
    """A datagram that is not a heartbeat of the plugin's protocol (the message says why)."""


@dataclass(frozen=True)
class Heartbeat:
    host: str
    boot: str
    seq: int
    sent_at: float  # by the host's clock
    links: dict[str, str]
    reason: str = "interval"


def parse_heartbeat(document: Any) -> Heartbeat:
    """Validate one decoded datagram (doctor_tests.monitor.collectd_plugin.datagram)."""
    if not isinstance(document, dict):
        raise BadHeartbeat("not an object")
    if document.get("v") != 1:
        raise BadHeartbeat("protocol version %r, not 1" % document.get("v"))
    host, boot, seq = document.get("host"), document.get("boot"), document.get("seq")
    if not isinstance(host, str) or not host:
        raise BadHeartbeat("host must be a non-empty string")
    if not isinstance(boot, str) or isinstance(seq, bool) or not isinstance(seq, int):
        raise BadHeartbeat("boot must be a string and seq an integer")
    sent = document.get("time")
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        raise BadHeartbeat("time must be a number")
    links = document.get("links")
    if not isinstance(links, dict) or not all(
            isinstance(k, str) and v in ("up", "down", "absent") for k, v in links.items()):
        raise BadHeartbeat("links must map roles to up, down or absent")
    return Heartbeat(host, boot, seq, float(sent), dict(links),
                     str(document.get("reason", "interval")))


@dataclass(frozen=True)
class Change:
    """The host changed state at ``at`` (monotonic); ``silent_s``: how long nothing had come
    (for ``down``)."""

    kind: ChangeKind
    at: float
    last_seen: float | None
    silent_s: float | None = None


class HeartbeatTracker:
    """One host's heartbeats and the transitions they make."""

    def __init__(self, timeout: float, dataplane_hold: float = 0.0) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be > 0 seconds, not %r" % timeout)
        if not dataplane_hold >= 0:
            raise ValueError("dataplane_hold must be >= 0 seconds, not %r" % dataplane_hold)
        self.timeout = timeout
        self.dataplane_hold = dataplane_hold
        self.last_seen: float | None = None
        self.is_down = False
        self.dataplane_down = False
        self.data_down_since: float | None = None  # the data link read down from then on
        self.received = 0
        self.boots: list[str] = []

    @property
    def alive(self) -> bool:
        return self.last_seen is not None

    def heartbeat(self, beat: Heartbeat, now: float) -> list[Change]:
        """A heartbeat arrived at ``now``."""
        self.received += 1
        if not self.boots or self.boots[-1] != beat.boot:
            self.boots.append(beat.boot)
        changes: list[Change] = []
        if self.is_down:
            self.is_down = False
            changes.append(Change("up", now, self.last_seen))
        self.last_seen = now
        data = beat.links.get("data")
        if data in ("down", "absent"):
            if self.data_down_since is None:
                self.data_down_since = now
            held = self._data_held(now)
            if held is not None:
                changes.append(held)
        elif data == "up":
            self.data_down_since = None
            if self.dataplane_down:
                self.dataplane_down = False
                changes.append(Change("dataplane_up", now, now))
        return changes

    def _data_held(self, now: float) -> Change | None:
        """dataplane_down once the link has read down for the hold (else None)."""
        since = self.data_down_since
        if self.dataplane_down or since is None or now - since < self.dataplane_hold:
            return None
        self.dataplane_down = True
        return Change("dataplane_down", now, since)

    def deadline(self) -> float | None:
        """The next moment a change is due if nothing comes: the host declared down, or its
        data plane once its hold is over (None: nothing due)."""
        due = []
        if self.last_seen is not None and not self.is_down:
            due.append(self.last_seen + self.timeout)
        if self.data_down_since is not None and not self.dataplane_down and not self.is_down:
            due.append(self.data_down_since + self.dataplane_hold)
        return min(due) if due else None

    def expire(self, now: float) -> list[Change]:
        """The changes due by ``now`` with nothing heard (none, the data plane, the host)."""
        changes = []
        if not self.is_down:
            held = self._data_held(now)
            if held is not None:
                changes.append(held)
        if self.last_seen is not None and not self.is_down and now >= self.last_seen + \
                self.timeout:
            self.is_down = True
            changes.append(Change("down", now, self.last_seen, now - self.last_seen))
        return changes
