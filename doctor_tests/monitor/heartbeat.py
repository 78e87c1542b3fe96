"""The heartbeat monitor's state machine for one host: heartbeats in, host and data-plane
transitions out.

No sockets and no clock of its own: the caller passes ``now`` (monotonic seconds), so tests
drive it with a fake clock. Rules:

- the host is *alive* from its first heartbeat on;
- an alive host from which nothing has come for ``timeout`` seconds (the heartbeat
  interval times the misses allowed) is *down*, once, until a heartbeat comes again
  (*up*);
- a heartbeat whose ``links.data`` reads ``down`` while the data plane was up is
  *dataplane_down*; ``up`` again is *dataplane_up*. A host that is down says nothing of
  its data plane: the state is kept as last reported;
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

    def __init__(self, timeout: float) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be > 0 seconds, not %r" % timeout)
        self.timeout = timeout
        self.last_seen: float | None = None
        self.is_down = False
        self.dataplane_down = False
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
        if data in ("down", "absent") and not self.dataplane_down:
            self.dataplane_down = True
            changes.append(Change("dataplane_down", now, now))
        elif data == "up" and self.dataplane_down:
            self.dataplane_down = False
            changes.append(Change("dataplane_up", now, now))
        return changes

    def deadline(self) -> float | None:
        """When the host is declared down if nothing comes (None: not alive, or down)."""
        if self.last_seen is None or self.is_down:
            return None
        return self.last_seen + self.timeout

    def expire(self, now: float) -> Change | None:
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        self.is_down = True
        assert self.last_seen is not None
        return Change("down", now, self.last_seen, now - self.last_seen)
