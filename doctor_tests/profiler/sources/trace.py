"""Checkpoints from the suite's own trace points: the fault, the inspector, the consumer.

- T00: the scenario stamps the moment it set the link down (:func:`fault_candidate`).
- T01 (without Doctor's inspector, beside a peer): the monitor's own event
  (:func:`monitor_candidate`).
- T01..T04: the inspector's record of the round (``EventRecord.to_json()``): the monitor's
  event time (T01, the monitor took it when the host stopped answering), ``affected_found``
  (T02), ``host_marked_down`` (T03), ``first_server_error`` / ``last_server_error``
  (T04_first / T04) and the per-server reset times.
- T09/T10: the consumer's alarms (``Alarm.to_json()``): ``received_at`` / ``handled_at``,
  per server (the alarm's ``instance_id`` trait).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from doctor_tests.profiler.model import Candidate, candidate
from doctor_tests.timeutil import parse_iso8601

LOG = logging.getLogger(__name__)

_INSPECTOR_TIMES = (
    ("affected_found", "T02"),
    ("host_marked_down", "T03"),
    ("first_server_error", "T04_first"),
    ("last_server_error", "T04"),
)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def fault_candidate(epoch: float, how: str = "link down") -> Candidate:
    return candidate("T00", epoch, "trace:scenario", note=how)


def monitor_candidate(detected_at: float, event_id: str | None = None) -> Candidate:
    """T01 from the monitor's own event, when no inspector of Doctor's carries it (a peer
    received the report)."""
    return candidate("T01", detected_at, "trace:monitor",
                     note=f"event {event_id}" if event_id else None)


def inspector_candidates(record: Mapping[str, Any]) -> list[Candidate]:
    """T01..T04 from one inspector record (a ``down`` round)."""
    out: list[Candidate] = []
    event_time = record.get("event_time")
    if isinstance(event_time, str):
        try:
            out.append(candidate("T01", parse_iso8601(event_time).timestamp(), "trace:monitor",
                                 note=f"event {record.get('monitor_event_id')}"))
        except ValueError:
            LOG.warning("inspector record %s: unreadable event_time %r", record.get("id"),
                        event_time)
    calls = record.get("server_call_s")
    calls = calls if isinstance(calls, Mapping) else {}
    server_times = record.get("server_times")
    server_times = server_times if isinstance(server_times, Mapping) else {}
    # T04 is when a reset call returned; Nova set the state and sent its notification
    # (T05) somewhere inside the call, so the call's duration is T04's uncertainty.
    last_server = max(server_times, key=lambda s: _number(server_times[s]) or 0.0,
                      default=None)
    times = record.get("times")
    if isinstance(times, Mapping):
        for key, name in _INSPECTOR_TIMES:
            epoch = _number(times.get(key))
            if epoch is None:
                continue
            if name == "T04" and last_server is not None:
                out.append(_reset_candidate(name, epoch, _number(calls.get(last_server))))
            else:
                out.append(candidate(name, epoch, "trace:inspector"))
    for server, value in server_times.items():
        epoch = _number(value)
        if epoch is not None:
            out.append(_reset_candidate("T04", epoch, _number(calls.get(server)),
                                        server=str(server)))
    return out


def _reset_candidate(name: str, epoch: float, call_s: float | None,
                     server: str | None = None) -> Candidate:
    if call_s is None:
        return candidate(name, epoch, "trace:inspector", server=server)
    return candidate(name, epoch, "trace:inspector", server=server,
                     uncertainty_ms=round(call_s * 1000.0, 3),
                     note="the reset call's return; Nova set ERROR and notified within "
                          "the call (%.1f ms)" % (call_s * 1000.0))


def consumer_candidates(alarms: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """T09 (received) and T10 (handled) per alarm in state ``alarm``."""
    out: list[Candidate] = []
    for alarm in alarms:
        if alarm.get("current") != "alarm":
            continue
        server = alarm.get("instance_id")
        server = server if isinstance(server, str) else None
        note = f"alarm {alarm.get('alarm_id')}"
        received = _number(alarm.get("received_at"))
        if received is not None:
            out.append(candidate("T09", received, "trace:consumer", server=server, note=note))
        handled = _number(alarm.get("handled_at"))
        if handled is not None:
            out.append(candidate("T10", handled, "trace:consumer", server=server, note=note))
    return out
