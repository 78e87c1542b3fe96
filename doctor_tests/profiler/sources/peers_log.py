"""Checkpoints and steps of the peers (Vitrage, Masakari) from their own logs.

The lines are oslo.log's default format (:mod:`~doctor_tests.profiler.sources.oslo_log`
parses them); what each step logs was found in the installed sources (vitrage 15.0.1,
masakari 22.0.0) and, where marked *seen*, in the logs of a running vitrage-api,
vitrage-graph, vitrage-notifier, masakari-api and masakari-engine (docs/peers.md):

============================  ==========================================  ===============
step (kind)                   logger, INFO message                         source
============================  ==========================================  ===============
vitrage.api.event             vitrage.api.controllers.v1.event             log:vitrage-api
                              ``Post event called with args: {...}``
                              (a Python dict: time, type, details) *seen*
vitrage.graph.event           vitrage.entity_graph.driver_exec             log:vitrage-graph
                              ``EVENTS ENQUEUED:[api_vm]
                              [vitrage.custom.event.down]`` *seen*
vitrage.evaluator.<action>    vitrage.evaluator.actions.action_executor   log:vitrage-graph
                              ``Action: DO raise_alarm
                              '<template>-scenario1-action0' targets
                              (<source>,<target>)`` (vitrage ids) *seen*
vitrage.notifier.force_down   vitrage.notifier.plugins.nova.nova_notifier  log:vitrage-notifier
                              ``Nova services.force_down - host id: H,
                              is_down: True`` (the call starts) *seen*
vitrage.notifier.reset_state  the same: ``Nova servers.reset_state -       log:vitrage-notifier
                              server: S, state: error`` *seen*
vitrage.notifier.failed       the same, ERROR: ``Failed to                 log:vitrage-notifier
                              services.force_down.`` / ``Failed to
                              execute servers.reset_state.`` *seen*
masakari.api.notification     masakari.masakari_api.wsgi.server            log:masakari-api
                              ``<ip> "POST /v1/notifications HTTP/1.1"
                              status: 202 len: N time: S`` *seen*
masakari.engine.processing    masakari.engine.manager ``Processing         log:masakari-engine
                              notification U of type: COMPUTE_HOST``
                              *seen*
masakari.engine.maintenance   the same: ``Set host H on maintenance.``     log:masakari-engine
                              *seen*
masakari.nova.disable         masakari.compute.nova ``Disable nova-compute  log:masakari-engine
                              on H``
masakari.engine.waiting       masakari.engine.drivers.taskflow.host_failure log:masakari-engine
                              ``Sleeping N sec before starting recovery
                              thread until nova recognizes the node
                              down.``
masakari.nova.servers         masakari.compute.nova ``Fetch Server list    log:masakari-engine
                              on H``
masakari.nova.evacuate        masakari.compute.nova ``Call evacuate        log:masakari-engine
                              command for instance S on host T``
masakari.engine.finished      masakari.engine.manager ``Notification U     log:masakari-engine
                              exits with status: finished.`` *seen*
============================  ==========================================  ===============

Of these, only Vitrage's evaluator raising its deduced alarm on a server of the failed
host is a checkpoint of the fault-management profile: **T02** (affected servers found).
Vitrage's and Masakari's calls to Nova show in nova-api's request log, which
:mod:`~doctor_tests.profiler.sources.oslo_log` already reads as T03 and T04 (the call's
end, as for the sample inspector); their own lines about those calls (the call starting)
are kept as steps. Masakari's steps (disable, the wait, each evacuation) are the recovery
scenario's.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from doctor_tests.profiler.model import Candidate, candidate
from doctor_tests.profiler.sources.clock import ClockOffset
from doctor_tests.profiler.sources.oslo_log import LogRecord

#: The template roles/lab_peers loads (its metadata name) and the scenario of it that
#: raises the deduced alarm on each server of the failed host.
VITRAGE_TEMPLATE = "doctor_host_down"
VITRAGE_SERVER_SCENARIO = 1


@dataclass(frozen=True)
class PeerStep:
    """A peer's log line recognised as one step of its handling of a fault."""

    kind: str
    epoch: float
    source: str
    host: str | None = None
    server_id: str | None = None
    notification: str | None = None  # Masakari's notification uuid
    detail: str = ""
    duration_s: float | None = None  # a request's own duration, when the line gives it

    @property
    def started(self) -> float:
        """When the step began: for a request, the log time minus its duration."""
        return self.epoch - (self.duration_s or 0.0)


@dataclass(frozen=True)
class _Pattern:
    kind: str
    logger: str
    level: str
    regex: re.Pattern[str]
    source: str


_ACTION = re.compile(r"^Action: (?P<mode>DO|UNDO) (?P<action>\w+) '(?P<template>.+)-scenario"
                     r"(?P<scenario>\d+)-action(?P<n>\d+)' targets \((?P<src>[^,]*),"
                     r"(?P<target>[^)]*)\)$")
_NOVA_NOTIFIER = "vitrage.notifier.plugins.nova.nova_notifier"

PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("vitrage.api.event", "vitrage.api.controllers.v1.event", "INFO",
             re.compile(r"^Post event called with args: (?P<args>\{.*\})$"), "log:vitrage-api"),
    _Pattern("vitrage.graph.event", "vitrage.entity_graph.driver_exec", "INFO",
             re.compile(r"^EVENTS ENQUEUED:\[(?P<publisher>[^\]]*)\] "
                        r"\[vitrage\.custom\.event\.(?P<status>down|up)\]\s*$"),
             "log:vitrage-graph"),
    _Pattern("vitrage.evaluator", "vitrage.evaluator.actions.action_executor", "INFO", _ACTION,
             "log:vitrage-graph"),
    _Pattern("vitrage.notifier.force_down", _NOVA_NOTIFIER, "INFO",
             re.compile(r"^Nova services\.force_down - host id: (?P<host>\S+), "
                        r"is_down: (?P<down>True|False)$"), "log:vitrage-notifier"),
    _Pattern("vitrage.notifier.reset_state", _NOVA_NOTIFIER, "INFO",
             re.compile(r"^Nova servers\.reset_state - server: (?P<server>\S+), "
                        r"state: (?P<state>\S+)$"), "log:vitrage-notifier"),
    _Pattern("vitrage.notifier.failed", _NOVA_NOTIFIER, "ERROR",
             re.compile(r"^Failed to (?P<call>services\.force_down|execute servers\.reset_state)"
                        r"\.(?::? ?(?P<reason>.*))$"), "log:vitrage-notifier"),
    _Pattern("masakari.api.notification", "masakari.masakari_api.wsgi.server", "INFO",
             re.compile(r'^(?P<remote>\S+) "POST (?P<uri>\S*/notifications)(?: HTTP/[\d.]+)?" '
                        r"status: (?P<status>\d+) len: \d+ time: (?P<time>[\d.]+)$"),
             "log:masakari-api"),
    _Pattern("masakari.engine.processing", "masakari.engine.manager", "INFO",
             re.compile(r"^Processing notification (?P<uuid>\S+) of type: (?P<type>\S+)$"),
             "log:masakari-engine"),
    _Pattern("masakari.engine.maintenance", "masakari.engine.manager", "INFO",
             re.compile(r"^Set host (?P<host>\S+) on maintenance\.$"), "log:masakari-engine"),
    _Pattern("masakari.nova.disable", "masakari.compute.nova", "INFO",
             re.compile(r"^Disable nova-compute on (?P<host>\S+)$"), "log:masakari-engine"),
    _Pattern("masakari.engine.waiting", "masakari.engine.drivers.taskflow.host_failure", "INFO",
             re.compile(r"^Sleeping (?P<wait>\d+) sec before starting recovery thread until "
                        r"nova recognizes the node down\.$"), "log:masakari-engine"),
    _Pattern("masakari.nova.servers", "masakari.compute.nova", "INFO",
             re.compile(r"^Fetch Server list on (?P<host>\S+)$"), "log:masakari-engine"),
    _Pattern("masakari.nova.evacuate", "masakari.compute.nova", "INFO",
             re.compile(r"^Call evacuate command for instance (?P<server>\S+) on host "
                        r"(?P<target>\S+)$"), "log:masakari-engine"),
    _Pattern("masakari.engine.finished", "masakari.engine.manager", "INFO",
             re.compile(r"^Notification (?P<uuid>\S+) exits with status: (?P<status>\w+)\.$"),
             "log:masakari-engine"),
)


def _event_args(text: str) -> dict[str, object]:
    """vitrage-api logs the event's arguments as a Python dict (``repr``)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


def match_peer_record(record: LogRecord) -> PeerStep | None:
    """The peer step ``record`` shows, or None."""
    for pattern in PATTERNS:
        if record.logger != pattern.logger or record.level != pattern.level:
            continue
        match = pattern.regex.match(record.message)
        if match is None:
            continue
        g = match.groupdict()
        kind, host, server, uuid, duration = pattern.kind, g.get("host"), g.get("server"), \
            g.get("uuid"), None
        detail = record.message[:200]
        if kind == "vitrage.api.event":
            args = _event_args(g["args"])
            details = args.get("details")
            details = details if isinstance(details, dict) else {}
            host = str(details["hostname"]) if "hostname" in details else None
            detail = "%s %s %s" % (args.get("type"), details.get("status"),
                                   details.get("monitor_event_id"))
        elif kind == "vitrage.graph.event":
            detail = "doctor event %s" % g["status"]
        elif kind == "vitrage.evaluator":
            kind = "vitrage.evaluator.%s" % g["action"]
            detail = "%s %s %s-scenario%s target %s" % (g["mode"], g["action"], g["template"],
                                                        g["scenario"], g["target"])
        elif kind == "vitrage.notifier.force_down":
            detail = "forced_down %s" % g["down"]
        elif kind == "vitrage.notifier.reset_state":
            detail = "state %s" % g["state"]
        elif kind == "masakari.api.notification":
            if not g["status"].startswith("2"):
                return None
            duration = float(g["time"])
            detail = "POST %s %s" % (g["uri"], g["status"])
        elif kind == "masakari.nova.evacuate":
            detail = "to %s" % g["target"]
        elif kind == "masakari.engine.waiting":
            detail = "waits %s s" % g["wait"]
        elif kind == "masakari.engine.finished":
            detail = g["status"]
        return PeerStep(kind, record.epoch, pattern.source, host=host, server_id=server,
                        notification=uuid, detail=detail, duration_s=duration)
    return None


def match_peer_log(records: Iterable[LogRecord]) -> Iterator[PeerStep]:
    """Every peer step found in ``records``."""
    for record in records:
        step = match_peer_record(record)
        if step is not None:
            yield step


def vitrage_candidates(steps: Iterable[PeerStep], host: str,
                       clock: ClockOffset | None = None,
                       template: str = VITRAGE_TEMPLATE) -> list[Candidate]:
    """T02 from Vitrage: its evaluator raising the deduced alarm on a server of ``host``,
    after vitrage-api took that host's "down" event (lines of other hosts' faults, or from
    before the event, are not this fault's). ``clock`` is the offset of the host that wrote
    the log. The earliest reading wins in the profile (all servers are found at once: the
    evaluator acts on the host's servers in one pass)."""
    ordered = sorted(steps, key=lambda s: s.epoch)
    received = [s for s in ordered if s.kind == "vitrage.api.event" and s.host == host
                and " down " in s.detail]
    if not received:
        return []
    since = received[0].epoch
    marker = "DO raise_alarm %s-scenario%d " % (template, VITRAGE_SERVER_SCENARIO)
    found = [s for s in ordered if s.kind == "vitrage.evaluator.raise_alarm"
             and s.epoch >= since and s.detail.startswith(marker)]
    if not found:
        return []
    local = clock.to_local if clock is not None else (lambda epoch: epoch)
    return [candidate("T02", local(found[0].epoch), found[0].source,
                      uncertainty_ms=clock.uncertainty_ms if clock is not None else None,
                      note="vitrage-graph raised its deduced alarm on the host's servers "
                           "(%d)" % len(found))]
