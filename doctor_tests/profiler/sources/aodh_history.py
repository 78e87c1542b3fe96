"""Checkpoints from Aodh's alarm history (``GET /v2/alarms/{alarm_id}/history``).

Each entry is an ``AlarmChange``::

    {"alarm_id": "...", "event_id": "...", "type": "state transition",
     "detail": "{\\"state\\": \\"alarm\\", \\"transition_reason\\": \\"Event <id=...> hits ...\\"}",
     "timestamp": "2026-11-24T19:01:02.345678", "severity": "moderate", ...}

The timestamp is ``timeutils.utcnow()`` on the Aodh host (UTC, no zone), taken by
aodh-listener in ``Evaluator._record_change`` *after* it stored the new state and
*before* it hands the alarm to aodh-notifier: between T07 (evaluated) and T08 (fired),
so it is used as T07 when no log line is available. Needs ``[DEFAULT] record_history =
True`` in aodh.conf (the default).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from doctor_tests.profiler.model import Candidate, candidate
from doctor_tests.profiler.sources.clock import ClockOffset
from doctor_tests.timeutil import parse_iso8601

LOG = logging.getLogger(__name__)

SOURCE = "aodh:alarm-history"


class BadHistory(ValueError):
    """An alarm-history entry without the fields the profiler needs."""


@dataclass(frozen=True)
class HistoryEntry:
    alarm_id: str | None
    type: str
    epoch: float
    state: str | None
    reason: str | None
    detail: Mapping[str, Any]


def parse_entry(entry: Mapping[str, Any]) -> HistoryEntry:
    """One history entry; raises BadHistory naming the field."""
    if not isinstance(entry, Mapping):
        raise BadHistory(f"history entry must be an object, got {type(entry).__name__}")
    kind = entry.get("type")
    if not isinstance(kind, str):
        raise BadHistory(f"history entry type must be a string, got {kind!r}")
    stamp = entry.get("timestamp")
    if not isinstance(stamp, str):
        raise BadHistory(f"history entry timestamp must be a string, got {stamp!r}")
    try:
        epoch = parse_iso8601(stamp).timestamp()
    except ValueError as exc:
        raise BadHistory(f"history entry timestamp is not ISO-8601: {stamp!r}") from exc
    raw_detail = entry.get("detail")
    detail: Mapping[str, Any] = {}
    if isinstance(raw_detail, str):
        try:
            parsed = json.loads(raw_detail)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            detail = parsed
    elif isinstance(raw_detail, Mapping):
        detail = raw_detail
    state = detail.get("state")
    reason = detail.get("transition_reason")
    alarm_id = entry.get("alarm_id")
    return HistoryEntry(
        alarm_id=alarm_id if isinstance(alarm_id, str) else None, type=kind, epoch=epoch,
        state=state if isinstance(state, str) else None,
        reason=reason if isinstance(reason, str) else None, detail=detail,
    )


def parse_history(entries: Iterable[Mapping[str, Any]]) -> list[HistoryEntry]:
    """All readable entries, oldest first; unreadable ones are logged and skipped."""
    out = []
    for index, raw in enumerate(entries):
        try:
            out.append(parse_entry(raw))
        except BadHistory as exc:
            LOG.warning("alarm history entry %d skipped: %s", index, exc)
    return sorted(out, key=lambda e: e.epoch)


def alarm_transition(entries: Iterable[Mapping[str, Any]], since_epoch: float | None = None,
                     state: str = "alarm") -> HistoryEntry | None:
    """The first ``state transition`` into ``state`` at or after ``since_epoch``."""
    for entry in parse_history(entries):
        if entry.type != "state transition" or entry.state != state:
            continue
        if since_epoch is not None and entry.epoch < since_epoch:
            continue
        return entry
    return None


def history_candidates(
    entries: Iterable[Mapping[str, Any]],
    server: str | None = None,
    since_epoch: float | None = None,
    clock: ClockOffset | None = None,
) -> list[Candidate]:
    """T07 from one alarm's history (the alarm watching ``server``), or nothing."""
    entry = alarm_transition(entries, since_epoch=since_epoch)
    if entry is None:
        return []
    epoch = clock.to_local(entry.epoch) if clock is not None else entry.epoch
    return [candidate("T07", epoch, SOURCE, server=server,
                      uncertainty_ms=clock.uncertainty_ms if clock is not None else None,
                      note=f"alarm {entry.alarm_id} state recorded")]
