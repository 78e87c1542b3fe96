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
        missing={"T06": "bus recorder off: kombu not installed"})
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from doctor_tests.profiler.collect import ProfileBuilder
from doctor_tests.profiler.model import DEFAULT_THRESHOLD_MS, Profile
from doctor_tests.profiler.sources.aodh_history import history_candidates
from doctor_tests.profiler.sources.bus import Notification, bus_candidates
from doctor_tests.profiler.sources.clock import ClockOffset
from doctor_tests.profiler.sources.oslo_log import (
    TzArg,
    log_candidates,
    match_log,
    parse_oslo_log,
)
from doctor_tests.profiler.sources.trace import (
    consumer_candidates,
    fault_candidate,
    inspector_candidates,
)


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
) -> Profile:
    """The profile of one fault from every source given (see the module docstring).

    ``alarm_history`` maps alarm ids to their history entries; ``alarm_servers`` maps
    alarm ids to the server each watches; ``servers`` limits per-server readings to the
    test's servers; ``log_clock`` / ``bus_clock`` are the remote clocks' offsets.
    Service-log lines and history entries from before the fault are ignored (the Aodh
    host's clock is taken to be the log clock).
    """
    builder = ProfileBuilder(threshold_ms=threshold_ms, servers=servers)
    alarm_servers = alarm_servers or {}
    if fault_epoch is not None:
        builder.add(fault_candidate(fault_epoch))
    if inspector_record is not None:
        builder.extend(inspector_candidates(inspector_record))
    builder.extend(consumer_candidates(consumer_alarms))
    since = None
    if fault_epoch is not None:
        since = fault_epoch
        if log_clock is not None:
            since = fault_epoch + log_clock.offset_s - log_clock.uncertainty_s
    records = parse_oslo_log(log_lines, since_epoch=since, tz=log_tz)
    builder.extend(log_candidates(match_log(records), alarm_servers, log_clock))
    builder.extend(bus_candidates(notifications, bus_clock))
    for alarm_id, entries in (alarm_history or {}).items():
        builder.extend(history_candidates(entries, server=alarm_servers.get(alarm_id),
                                          since_epoch=since, clock=log_clock))
    for name, reason in (missing or {}).items():
        builder.missing(name, reason)
    return builder.build()
