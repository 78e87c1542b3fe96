"""The recovery of a failed host's servers (Masakari), step by step, and its verdict.

A recovery is not the fault-management flow (T00..T10: the tenant told its servers are
in error); its steps are Masakari's: the notification accepted, the host's nova-compute
disabled, Masakari's wait, each server evacuated (rebuilt on another host), each ACTIVE
there, the tenant's alarm on the evacuation's notification. Each step is taken where it is
seen most directly, and says where:

============================  ====================================  ====================
step                          source                                 per server
============================  ====================================  ====================
fault injected (T00)          trace:scenario (the host's clock)
detected (T01)                trace:monitor
host forced down              trace:inspector (Doctor's, host only)
notification accepted         trace:monitor (Masakari's 202)
processing, maintenance,      log:masakari-engine
disable, wait, server list
evacuate called               log:masakari-engine                    yes
rebuilding                    bus: compute.instance.rebuild.start    yes
                              from the destination's nova-compute
ACTIVE again                  bus: compute.instance.rebuild.end     yes
                              (Nova saved the server ACTIVE, then
                              sent it)
alarm received                trace:consumer (rebuild.end alarm)     yes
notification finished         log:masakari-engine
============================  ====================================  ====================

The recovery time is the last server ACTIVE on another host after detection (and after
the fault). Bus times are the runner's receive times; log times are moved onto the
runner's clock by the log node's measured offset before they get here.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from doctor_tests.harness.verdict import Verdict
from doctor_tests.profiler.sources.bus import Notification
from doctor_tests.profiler.sources.peers_log import PeerStep
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

CASE = "recovery"
REBUILD_START = "compute.instance.rebuild.start"
REBUILD_END = "compute.instance.rebuild.end"

#: Masakari's log steps kept in the timeline (peers_log kinds -> step names)
MASAKARI_STEPS = {
    "masakari.engine.processing": "masakari: processing",
    "masakari.engine.maintenance": "masakari: host on maintenance",
    "masakari.nova.disable": "masakari: disable nova-compute",
    "masakari.engine.waiting": "masakari: waiting",
    "masakari.nova.servers": "masakari: list the host's servers",
    "masakari.nova.evacuate": "masakari: evacuate called",
    "masakari.engine.finished": "masakari: notification done",
}


@dataclass(frozen=True)
class Step:
    """One moment of the recovery."""

    name: str
    epoch: float
    source: str
    server: str | None = None
    detail: str = ""

    def to_json(self, origin: float) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "epoch": round(self.epoch, 6),
                               "ms": round((self.epoch - origin) * 1000, 1),
                               "source": self.source}
        if self.server:
            out["server"] = self.server
        if self.detail:
            out["detail"] = self.detail
        return out


def _publisher_host(notification: Notification) -> str | None:
    """``compute.<host>`` -> host."""
    pub = notification.publisher_id or ""
    return pub.split(".", 1)[1] if pub.startswith("compute.") and "." in pub else None


def rebuild_steps(received: Iterable[tuple[float, Notification]], servers: Iterable[str],
                  failed_host: str) -> list[Step]:
    """The servers' rebuilds on another host, from the legacy notifications the bus
    recorder received (``received``: runner receive time, notification)."""
    wanted = set(servers)
    out = []
    for at, note in received:
        if note.event_type not in (REBUILD_START, REBUILD_END):
            continue
        payload = note.payload if isinstance(note.payload, Mapping) else {}
        server = payload.get("instance_id")
        host = _publisher_host(note)
        if server not in wanted or host is None or host == failed_host:
            continue
        name = "rebuilding" if note.event_type == REBUILD_START else "ACTIVE again"
        out.append(Step(name, at, "bus:%s" % note.event_type, str(server), "on %s" % host))
    return out


def masakari_steps(steps: Iterable[PeerStep], host: str, servers: Iterable[str]) -> list[Step]:
    """Masakari's own steps for ``host`` and its ``servers`` (the notifications it
    processed: those whose processing follows the host's maintenance line)."""
    wanted = set(servers)
    ordered = sorted(steps, key=lambda s: s.epoch)
    ours: set[str] = set()
    last_uuid: str | None = None
    out = []
    for step in ordered:
        if step.kind == "masakari.engine.processing":
            last_uuid = step.notification
        if step.kind not in MASAKARI_STEPS:
            continue
        if step.kind == "masakari.engine.maintenance":
            if step.host != host:
                continue
            if last_uuid:
                ours.add(last_uuid)
        elif step.kind in ("masakari.nova.disable", "masakari.nova.servers"):
            if step.host != host:
                continue
        elif step.kind == "masakari.nova.evacuate":
            if step.server_id not in wanted:
                continue
        elif step.kind == "masakari.engine.processing":
            continue  # kept below once the notification is known to be the host's
        elif step.kind == "masakari.engine.finished":
            if step.notification not in ours:
                continue
        out.append(Step(MASAKARI_STEPS[step.kind], step.epoch, step.source, step.server_id,
                        step.detail))
    for step in ordered:
        if step.kind == "masakari.engine.processing" and step.notification in ours:
            out.append(Step(MASAKARI_STEPS[step.kind], step.epoch, step.source,
                            detail=step.notification or ""))
    return sorted(out, key=lambda s: s.epoch)


#: up to this many servers, the recovery's poll of Nova runs each second
FEW_SERVERS = 5


class RecoveryEnded(RuntimeError):
    """Masakari gave up on the host's notification before every server was recovered."""


def wait_recovered(admin: Any, host: str, server_ids: Sequence[str], since: float,
                   timeout: float) -> dict[str, float]:
    """Wait until every server is ACTIVE on another host than ``host`` (Nova's view,
    polled each second, every 5 s for more than :data:`FEW_SERVERS`), or until Masakari's
    notification of ``host`` (made at ``since`` or later) ended without it; the first time
    each server was seen so (a missing one is logged: the checks say what is missing)."""
    from doctor_tests.peers import masakari

    seen: dict[str, float] = {}
    wanted = set(server_ids)
    states: dict[str, str] = {}

    def recovered() -> bool:
        now = time.time()
        for server in admin.compute.servers(all_projects=True):
            if server.id not in wanted:
                continue
            states[server.id] = "%s on %s" % (server.status, server.compute_host)
            if server.status == "ACTIVE" and server.compute_host != host:
                seen.setdefault(server.id, now)
        ended = [n for n in masakari.notifications(admin, host, since)
                 if n.status in ("error", "failed")]
        if ended and not wanted <= set(seen):
            raise RecoveryEnded("Masakari's notification %s of %s ended %s with %s"
                                % (ended[0].notification_uuid, host, ended[0].status, states))
        return wanted <= set(seen)

    # the times come from the bus (rebuild.end); the poll only says when all are back, and
    # polling 50 servers and Masakari's listing each second cost the runner 37 s of CPU in
    # a 270 s recovery on the lab
    try:
        wait_until(recovered, timeout, "every server ACTIVE on another host than %s" % host,
                   interval=1.0 if len(server_ids) <= FEW_SERVERS else 5.0,
                   describe=lambda: str(states))
    except (WaitTimeout, RecoveryEnded) as exc:
        LOG.error("%s", exc)
    return seen


def wait_notification(admin: Any, host: str, since: float, timeout: float = 60.0
                      ) -> str | None:
    """The status of Masakari's (last) notification of ``host`` once it is done with it
    (None: none was made)."""
    from doctor_tests.peers import masakari

    def last() -> Any:
        found = masakari.notifications(admin, host, since)
        return found[-1] if found else None

    try:
        wait_until(lambda: (n := last()) is not None and n.status in
                   (*masakari.SETTLED, "error"), timeout,
                   "Masakari's notification of %s to end" % host, interval=1.0)
    except WaitTimeout as exc:
        LOG.error("%s", exc)
    note = last()
    return None if note is None else str(note.status)


def _ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier) * 1000, 1)


@dataclass
class Timeline:
    """Every step of one recovery, on the runner's clock."""

    fault: float
    detected: float
    steps: list[Step] = field(default_factory=list)
    servers: tuple[str, ...] = ()

    def add(self, step: Step | None) -> None:
        if step is not None:
            self.steps.append(step)

    def extend(self, steps: Iterable[Step]) -> None:
        self.steps.extend(steps)

    def times(self, name: str, server: str | None = None) -> list[float]:
        return sorted(s.epoch for s in self.steps if s.name == name
                      and (server is None or s.server == server))

    def first(self, name: str) -> float | None:
        times = self.times(name)
        return times[0] if times else None

    def per_server(self, name: str) -> dict[str, float]:
        """The first ``name`` of each server."""
        out: dict[str, float] = {}
        for s in sorted(self.steps, key=lambda s: s.epoch):
            if s.name == name and s.server and s.server not in out:
                out[s.server] = s.epoch
        return out

    def last_of_every_server(self, name: str) -> float | None:
        """When the last server passed ``name`` (None: not every server did)."""
        seen = self.per_server(name)
        if not self.servers or set(self.servers) - set(seen):
            return None
        return max(seen[s] for s in self.servers)

    def figures(self) -> dict[str, Any]:
        t01 = self.detected
        recovered = self.per_server("ACTIVE again")
        evacuated = self.per_server("masakari: evacuate called")
        per_server = [recovered[s] - evacuated[s] for s in recovered if s in evacuated]
        waits = [s.detail for s in self.steps if s.name == "masakari: waiting"]
        last = self.last_of_every_server("ACTIVE again")
        return {
            "detection_ms": _ms(t01, self.fault),
            "host_forced_down_ms": _ms(self.first("host forced down"), t01),
            "notification_accepted_ms": _ms(self.first("notification accepted"), t01),
            "service_disable_ms": _ms(self.first("masakari: disable nova-compute"), t01),
            "masakari_wait": waits[0] if waits else None,
            "evacuate_first_ms": _ms(self.first("masakari: evacuate called"), t01),
            "rebuilding_first_ms": _ms(self.first("rebuilding"), t01),
            "recovered_first_ms": _ms(min(recovered.values(), default=None), t01),
            # the recovery time: every server ACTIVE on another host, after detection
            "recovery_ms": _ms(last, t01),
            "recovery_from_fault_ms": _ms(last, self.fault),
            "evacuation_per_server_median_ms": (round(statistics.median(per_server) * 1000, 1)
                                                if per_server else None),
            "alarm_last_ms": _ms(self.last_of_every_server("alarm received"), t01),
            "notification_done_ms": _ms(self.first("masakari: notification done"), t01),
            "servers_recovered": len(recovered),
        }

    def to_json(self) -> dict[str, Any]:
        origin = self.fault
        return {
            "case": CASE,
            "origin": "fault injected (T00)",
            "fault_epoch": round(self.fault, 6),
            "servers": list(self.servers),
            "figures": self.figures(),
            "steps": [s.to_json(origin) for s in sorted(self.steps, key=lambda s: s.epoch)],
        }

    def table(self) -> str:
        """The steps, each server's steps folded into first/last."""
        rows = []
        for name in _ordered_names(self.steps):
            times = self.times(name)
            sources = sorted({s.source for s in self.steps if s.name == name})
            servers = {s.server for s in self.steps if s.name == name and s.server}
            first = _ms(times[0], self.fault)
            last = _ms(times[-1], self.fault) if len(times) > 1 else None
            rows.append([name, first, last, len(servers) or "", ", ".join(sources)])
        return tabulate(rows, headers=["step", "first ms", "last ms", "servers", "source"])


def _ordered_names(steps: Sequence[Step]) -> list[str]:
    seen: dict[str, float] = {}
    for s in steps:
        seen[s.name] = min(seen.get(s.name, s.epoch), s.epoch)
    return sorted(seen, key=lambda n: seen[n])


def write_timeline(timeline: Timeline, results_dir: Path) -> Path:
    path = results_dir / CASE / "recovery.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(timeline.to_json(), indent=2) + "\n")
    return path


@dataclass
class RecoveryFacts:
    """What a recovery run saw, gathered once."""

    host: str
    servers: Sequence[str]
    #: server -> (Nova status, Nova host) after the recovery
    placement: Mapping[str, tuple[str, str]]
    #: server -> the host its port is bound to
    port_hosts: Mapping[str, str]
    #: server ids whose rebuild.end alarm reached the consumer
    alarmed: set[str]
    duplicates: Mapping[str, Any]
    others_quiet: bool
    others_evidence: str
    accepted: bool                 # Masakari answered the notification with 202
    accepted_evidence: str
    notification_status: str | None  # Masakari's, at the end
    disabled: bool                 # the host's nova-compute disabled by Masakari
    forced_before_evacuation: bool | None  # None: no evacuation seen
    fence_evidence: str
    timeline: Timeline


def recovery_verdict(facts: RecoveryFacts) -> Verdict:
    """The checks of a recovery, each evaluated once."""
    verdict = Verdict(CASE)
    verdict.check("Masakari accepted the notification", facts.accepted,
                  evidence=facts.accepted_evidence)
    verdict.check("nova-compute forced down before the first evacuation",
                  facts.forced_before_evacuation is True, evidence=facts.fence_evidence)
    verdict.check("Masakari disabled the host's nova-compute", facts.disabled,
                  "nova-compute on %s is not disabled" % facts.host)
    moved = {s: p for s, p in facts.placement.items() if p[1] != facts.host}
    wrong = {s: p for s, p in facts.placement.items()
             if s not in moved or p[0] != "ACTIVE"}
    verdict.check("every server ACTIVE on another host", facts.placement and not wrong,
                  "not recovered: %s" % {s: "%s on %s" % p for s, p in wrong.items()},
                  evidence="%d of %d server(s) moved off %s"
                  % (len(moved), len(facts.servers), facts.host))
    unbound = {s: h for s, h in facts.port_hosts.items()
               if s in facts.placement and h != facts.placement[s][1]}
    verdict.check("every port bound on the server's new host",
                  facts.port_hosts and not unbound,
                  "ports bound elsewhere than their server: %s" % unbound)
    missing = set(facts.servers) - facts.alarmed
    verdict.check("an evacuation alarm for every server", not missing,
                  "no rebuild.end alarm for %s" % sorted(missing))
    verdict.check("every alarm delivered once", not facts.duplicates,
                  "delivered more than once: %s" % dict(facts.duplicates))
    verdict.check("no alarm for the server that did not fail", facts.others_quiet,
                  evidence=facts.others_evidence)
    verdict.check("Masakari's notification finished", facts.notification_status == "finished",
                  "Masakari's notification is %s" % facts.notification_status)
    recovery = facts.timeline.figures().get("recovery_ms")
    verdict.check("the recovery time measured", recovery is not None,
                  "not every server's rebuild.end was recorded",
                  evidence="%s ms after detection" % recovery)
    return verdict
