"""One call from everything a scenario gathered to a :class:`Profile`.

A scenario (or the lab) passes what it has - the fault time, the inspector's record, the
consumer's alarms, service log lines, recorded bus messages, Aodh alarm histories - and
says why anything is absent; sources it does not pass simply leave their checkpoints
to the others (or missing, with the reason)::

    profile = assemble_profile(
        fault_epoch=t00, inspector_record=record.to_json(),
        consumer_alarms=[a.to_json() for a in consumer.alarms()],
        log_lines=aodh_listener_lines + aodh_notifier_lines + nova_api_lines,
        alarm_servers={alarm_id: server_id}, servers=server_ids,
        threshold_ms=settings.notification_threshold_s * 1000,
        missing={"T06": "bus recorder off: kombu not installed"},
        clocks={"compute-1": measure_node_clock("compute-1", shell.check), ...},
        fault_node="compute-1", log_node="controller", bus_node="controller")

Clocks: ``clocks`` maps node names to their measured offsets against the runner (this
machine: monitor, inspector and consumer run here, offset 0 exactly). ``fault_node`` is
the node whose clock stamped ``fault_epoch`` (T00), ``log_node`` the one that wrote the
service logs and the Aodh alarm history (T06..T08), ``bus_node`` the one whose senders
stamped the bus messages (T05..T07). Every checkpoint from a remote node is moved onto the
runner's clock by that node's offset and carries its node and uncertainty; the profile's
``clocks`` lists every node with its offset. A source whose node is not named keeps a
placeholder node ("fault host", "log host", "bus senders") with the clock the older
arguments give (``log_clock``, ``bus_clock``; none for T00): "given", or "assumed" (offset
0, uncertainty unknown) when there is none.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from doctor_tests.profiler.collect import ProfileBuilder
from doctor_tests.profiler.model import (
    DEFAULT_THRESHOLD_MS,
    RUNNER,
    Candidate,
    NodeClock,
    Profile,
)
from doctor_tests.profiler.sources.aodh_history import history_candidates
from doctor_tests.profiler.sources.bus import Notification, bus_candidates
from doctor_tests.profiler.sources.clock import ClockOffset
from doctor_tests.profiler.sources.oslo_log import (
    TzArg,
    log_candidates,
    match_log,
    parse_oslo_log,
)
from doctor_tests.profiler.sources.peers_log import match_peer_log, vitrage_candidates
from doctor_tests.profiler.sources.trace import (
    consumer_candidates,
    fault_candidate,
    inspector_candidates,
    monitor_candidate,
)

LOG = logging.getLogger(__name__)

FAULT_HOST, LOG_HOST, BUS_SENDERS = "fault host", "log host", "bus senders"


def assemble_profile(
    *,
    fault_epoch: float | None = None,
    inspector_record: Mapping[str, Any] | None = None,
    consumer_alarms: Iterable[Mapping[str, Any]] = (),
    log_lines: Iterable[str] = (),
    log_tz: TzArg = None,
    log_clock: ClockOffset | None = None,
    notifications: Iterable[Notification] = (),
    bus_clock: ClockOffset | None = None,
    alarm_history: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    alarm_servers: Mapping[str, str] | None = None,
    servers: Collection[str] | None = None,
    threshold_ms: float = DEFAULT_THRESHOLD_MS,
    missing: Mapping[str, str] | None = None,
    clocks: Mapping[str, ClockOffset] | None = None,
    fault_node: str | None = None,
    log_node: str | None = None,
    bus_node: str | None = None,
    detected: tuple[float, str | None] | None = None,
    vitrage_host: str | None = None,
    notes: Sequence[str] = (),
) -> Profile:
    """The profile of one fault from every source given (see the module docstring).

    ``alarm_history`` maps alarm ids to their history entries; ``alarm_servers`` maps
    alarm ids to the server each watches; ``servers`` limits per-server readings to the
    test's servers. ``clocks`` / ``fault_node`` / ``log_node`` / ``bus_node`` say whose
    clock took what (the module docstring); ``log_clock`` / ``bus_clock`` are the older way
    to give the log host's and the bus senders' offsets. Service-log lines and history
    entries from before the fault are ignored (the Aodh host's clock is taken to be the
    log clock). Raises ValueError when a clock is given twice or the runner's is not 0.

    Beside a peer (no ``inspector_record``): ``detected`` (the monitor's detection epoch and
    event id) gives T01; ``vitrage_host`` (the failed host) takes T02 from Vitrage's own log
    lines among ``log_lines`` (its evaluator raising the deduced alarm on the host's
    servers, :mod:`~doctor_tests.profiler.sources.peers_log`, named ``log:vitrage-graph``);
    T03/T04 come from nova-api's request log as for any caller.
    """
    offsets = _check_clocks(clocks or {})
    node_clocks: dict[str, NodeClock] = {
        RUNNER: NodeClock(RUNNER, 0.0, 0.0, kind="reference"),
        **{node: _node_clock(node, offset) for node, offset in offsets.items()},
    }
    fault_at, fault_clock = _resolve("fault_epoch", fault_node, None, FAULT_HOST, offsets)
    log_at, log_clock = _resolve("log_clock", log_node, log_clock, LOG_HOST, offsets)
    bus_at, bus_clock = _resolve("bus_clock", bus_node, bus_clock, BUS_SENDERS, offsets)

    builder = ProfileBuilder(threshold_ms=threshold_ms, servers=servers)
    alarm_servers = alarm_servers or {}
    since = None
    if fault_epoch is not None:
        t00 = fault_candidate(fault_epoch)
        if fault_clock is not None:
            t00 = _moved(t00, fault_clock)
        builder.add(_on(fault_at, [t00])[0])
        # the first log line that can be about the fault, on the log host's clock
        since = t00.checkpoint.epoch - (fault_clock.uncertainty_s if fault_clock else 0.0)
        if log_clock is not None:
            since = log_clock.to_remote(since) - log_clock.uncertainty_s
    if inspector_record is not None:
        builder.extend(_on(RUNNER, inspector_candidates(inspector_record)))
    elif detected is not None:
        builder.add(_on(RUNNER, [monitor_candidate(*detected)])[0])
    builder.extend(_on(RUNNER, consumer_candidates(consumer_alarms)))
    records = list(parse_oslo_log(log_lines, since_epoch=since, tz=log_tz))
    builder.extend(_on(log_at, log_candidates(match_log(records), alarm_servers, log_clock)))
    if vitrage_host is not None:
        found = vitrage_candidates(match_peer_log(records), vitrage_host, log_clock)
        if not found:
            builder.missing("T02", "no line of vitrage-graph's evaluator raising its deduced "
                            "alarm on %s's servers (Vitrage's log not read?)" % vitrage_host)
        builder.extend(_on(log_at, found))
    builder.extend(_on(bus_at, bus_candidates(notifications, bus_clock)))
    for alarm_id, entries in (alarm_history or {}).items():
        builder.extend(_on(log_at, history_candidates(
            entries, server=alarm_servers.get(alarm_id), since_epoch=since, clock=log_clock)))
    for name, reason in (missing or {}).items():
        builder.missing(name, reason)
    profile = builder.build()
    used = profile.nodes()
    for server in profile.servers.values():
        for cp in server.times.values():
            if cp.node is not None:
                used.setdefault(cp.node, [])
    for node, clock in ((fault_at, fault_clock), (log_at, log_clock), (bus_at, bus_clock)):
        if node in used and node not in node_clocks:
            node_clocks[node] = (_node_clock(node, clock) if clock is not None
                                 else NodeClock(node, 0.0, 0.0, kind="assumed"))
    profile.clocks = node_clocks
    profile.notes.extend(notes)
    return profile


def _check_clocks(clocks: Mapping[str, ClockOffset]) -> dict[str, ClockOffset]:
    out = {}
    for node, offset in clocks.items():
        if not isinstance(offset, ClockOffset):
            raise ValueError(f"clocks[{node!r}] must be a ClockOffset, got {offset!r}")
        if node == RUNNER:
            if offset.offset_s != 0.0 or offset.uncertainty_s != 0.0:
                raise ValueError(f"the {RUNNER} is the reference clock (offset 0 exactly), "
                                 f"got {offset!r}")
            continue
        out[node] = offset
    return out


def _node_clock(node: str, offset: ClockOffset) -> NodeClock:
    return NodeClock(node, offset.offset_s * 1000.0, offset.uncertainty_ms,
                     samples=offset.samples, kind="measured" if offset.samples else "given")


def _resolve(argument: str, node: str | None, legacy: ClockOffset | None, placeholder: str,
             offsets: Mapping[str, ClockOffset]) -> tuple[str, ClockOffset | None]:
    """The node a source's times come from and that node's offset (None: not known)."""
    if node is None:
        return placeholder, legacy
    if node == RUNNER:
        if legacy is not None:
            raise ValueError(f"{argument}: {node} is the reference clock; pass no offset")
        return RUNNER, None
    if node in offsets:
        if legacy is not None:
            raise ValueError(f"{argument} and clocks[{node!r}] both give {node}'s clock: "
                             "pass one")
        return node, offsets[node]
    if legacy is None:
        LOG.warning("no clock offset for %s (%s): its times are taken as they are", node,
                    argument)
    return node, legacy


def _moved(item: Candidate, clock: ClockOffset) -> Candidate:
    cp = item.checkpoint
    return dataclasses.replace(item, checkpoint=dataclasses.replace(
        cp, epoch=clock.to_local(cp.epoch), uncertainty_ms=clock.uncertainty_ms))


def _on(node: str, items: Iterable[Candidate]) -> list[Candidate]:
    """``items`` marked as taken on ``node``'s clock."""
    return [dataclasses.replace(item, checkpoint=dataclasses.replace(item.checkpoint,
                                                                     node=node))
            for item in items]
