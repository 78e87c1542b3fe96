"""Profiler sources: oslo.log lines, Aodh alarm history, bus envelopes, trace records, clocks."""

from __future__ import annotations

import builtins
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from doctor_tests.profiler.collect import ProfileBuilder
from doctor_tests.profiler.sources.aodh_history import (
    BadHistory,
    alarm_transition,
    history_candidates,
    parse_entry,
)
from doctor_tests.profiler.sources.bus import (
    BadEnvelope,
    alarm_update,
    bus_candidates,
    instance_updates,
    parse_envelope,
    published_events,
)
from doctor_tests.profiler.sources.clock import ClockError, ClockOffset, measure_clock_offset
from doctor_tests.profiler.sources.oslo_log import (
    LogRecord,
    log_candidates,
    match_log,
    match_record,
    parse_oslo_log,
    resolve_tz,
)
from doctor_tests.profiler.sources.trace import (
    consumer_candidates,
    fault_candidate,
    inspector_candidates,
)

VM = "7c8e3d0a-4a8b-4c55-9d7e-0a1b2c3d4e5f"
VM2 = "0b1c2d3e-1111-4222-8333-444455556666"
ALARM = "0d7c5b2e-9a1f-4c3d-8e7f-112233445566"
PROJECT = "9f8e7d6c5b4a49382716a5b4c3d2e1f0"


def epoch(text: str) -> float:
    """``YYYY-mm-dd HH:MM:SS.ffffff`` in UTC -> epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


# --- oslo.log --------------------------------------------------------------------------
AODH_LISTENER_LOG = f"""\
2026-11-24 19:01:02.290 4711 INFO aodh.evaluator.event [-] Triggering the alarm 11111111-2222-3333-4444-555555555555 by event for project {PROJECT}, event_type: compute.instance.update
2026-11-24 19:01:02.318 4711 DEBUG aodh.event [-] Received 1 messages in batch.
2026-11-24 19:01:02.325 4711 DEBUG aodh.event [-] Received 1 messages in batch.
2026-11-24 19:01:02.326 4711 DEBUG aodh.evaluator.event [-] Starting event alarm evaluation: #events = 1
2026-11-24 19:01:02.328 4711 DEBUG aodh.evaluator.event [-] Evaluating alarm (id={ALARM}) triggered by event (message_id=6f1e2d3c-0000-4000-8000-000000000001).
2026-11-24 19:01:02.330 4711 INFO aodh.evaluator.event [-] Triggering the alarm {ALARM} by event for project {PROJECT}, event_type: compute.instance.update
2026-11-24 19:01:02.331 4711 INFO aodh.evaluator [-] alarm {ALARM} transitioning to alarm because Event <id=6f1e2d3c-0000-4000-8000-000000000001,event_type=compute.instance.update> hits the query <query=[{{"field": "traits.instance_id", "op": "eq", "type": "string", "value": "{VM}"}}]>.
2026-11-24 19:01:02.340 4711 ERROR aodh.evaluator [-] alarm state update failed: Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/aodh/evaluator/__init__.py", line 131, in _refresh
"""  # noqa: E501
AODH_NOTIFIER_LOG = f"""\
2026-11-24 19:01:02.349 4720 DEBUG aodh.notifier [-] Received 1 messages in batch.
2026-11-24 19:01:02.350 4720 DEBUG aodh.notifier [-] Notifying alarm {ALARM} with action SplitResult(scheme='http', netloc='127.0.0.1:12346', path='/failure', query='', fragment='')
2026-11-24 19:01:02.352 4720 INFO aodh.notifier.rest [-] Notifying alarm doctor_alarm_7c8e3d0a {ALARM} with severity moderate from insufficient data to alarm with action SplitResult(scheme='http', netloc='127.0.0.1:12346', path='/failure', query='', fragment='') because Event <id=6f1e2d3c-0000-4000-8000-000000000001,event_type=compute.instance.update> hits the query <query=[]>.. request-id: b'req-1650229e-7f36-49a7-9c86-b02c3db490fe'
2026-11-24 19:01:02.373 4720 INFO aodh.notifier.rest [-] Notifying alarm <{ALARM}> gets response: 200 OK.
"""  # noqa: E501
NOVA_API_LOG = f"""\
2026-11-24 19:01:02.251 2211 INFO nova.api.openstack.requestlog [None req-0a1b2c3d-aaaa-4bbb-8ccc-000000000001 admin admin - - default default] 127.0.0.1 "PUT /v2.1/os-services/5a0e2c3b-7d4e-4f60-9a1b-2c3d4e5f6a7b" status: 200 len: 412 microversion: 2.53 time: 0.038512
2026-11-24 19:01:02.289 2211 INFO nova.api.openstack.requestlog [None req-0a1b2c3d-aaaa-4bbb-8ccc-000000000002 admin admin - - default default] 127.0.0.1 "POST /v2.1/servers/{VM}/action" status: 202 len: 0 microversion: 2.53 time: 0.027310
2026-11-24 19:01:02.295 2211 INFO nova.api.openstack.requestlog [None req-0a1b2c3d-aaaa-4bbb-8ccc-000000000003 admin admin - - default default] 127.0.0.1 "POST /v2.1/servers/{VM2}/action" status: 409 len: 120 microversion: 2.53 time: 0.004000
2026-11-24 19:01:02.296 2212 INFO nova.api.openstack.requestlog [req-4 admin admin] 127.0.0.1 "POST /compute/v2.1/servers/{VM2}/action HTTP/1.1" status: 202 len: 0 time: 0.0100000
"""  # noqa: E501


def nova_message(state: str = "error", instance: str = VM,
                 timestamp: str = "2026-11-24 19:01:02.301200") -> dict[str, Any]:
    """A legacy compute.instance.update as Nova's notifier builds it (oslo.messaging)."""
    return {
        "message_id": "b6a9d0c2-5f1e-4a3b-9c8d-7e6f5a4b3c2d",
        "publisher_id": "api.controller",
        "event_type": "compute.instance.update",
        "priority": "INFO",
        "timestamp": timestamp,
        "payload": {
            "instance_id": instance, "tenant_id": PROJECT, "user_id": "u1",
            "display_name": "doctor_vm0", "host": "compute-1", "state": state,
            "old_state": "active", "state_description": "", "old_task_state": None,
            "new_task_state": None, "image_ref_url": "http://127.0.0.1:9292/images/x",
        },
    }


def test_parse_oslo_log_fields_and_timezone() -> None:
    records = list(parse_oslo_log(AODH_LISTENER_LOG.splitlines()))
    assert len(records) == 8  # the traceback line is skipped
    first = records[1]
    assert first == LogRecord(epoch("2026-11-24 19:01:02.318"), 4711, "DEBUG", "aodh.event",
                              "Received 1 messages in batch.")
    # the same line written on a host at UTC+01:00 is an hour earlier in UTC
    paris = list(parse_oslo_log(AODH_LISTENER_LOG.splitlines()[:1], tz="Europe/Paris"))
    assert paris[0].epoch == pytest.approx(records[0].epoch - 3600)
    offset = list(parse_oslo_log(AODH_LISTENER_LOG.splitlines()[:1], tz=-5 * 3600))
    assert offset[0].epoch == pytest.approx(records[0].epoch + 5 * 3600)
    with pytest.raises(ValueError, match="unknown time zone"):
        resolve_tz("Mars/Olympus_Mons")


def test_parse_oslo_log_window() -> None:
    lines = AODH_LISTENER_LOG.splitlines()
    since, until = epoch("2026-11-24 19:01:02.325"), epoch("2026-11-24 19:01:02.330")
    records = list(parse_oslo_log(lines, since_epoch=since, until_epoch=until))
    assert [r.epoch for r in records] == pytest.approx(
        [since, epoch("2026-11-24 19:01:02.326"), epoch("2026-11-24 19:01:02.328"), until])


def test_aodh_listener_lines() -> None:
    events = list(match_log(parse_oslo_log(AODH_LISTENER_LOG.splitlines())))
    kinds = [(e.kind, e.checkpoint, e.alarm_id) for e in events]
    assert kinds == [
        ("aodh.listener.triggering", "T07", "11111111-2222-3333-4444-555555555555"),
        ("aodh.listener.received", "T06", None),
        ("aodh.listener.received", "T06", None),
        ("aodh.listener.evaluating", None, ALARM),
        ("aodh.listener.triggering", "T07", ALARM),
        ("aodh.listener.transition", "T07", ALARM),
    ]
    assert all(e.source == "log:aodh-listener" for e in events)


def test_aodh_notifier_lines() -> None:
    events = list(match_log(parse_oslo_log(AODH_NOTIFIER_LOG.splitlines())))
    assert [(e.kind, e.checkpoint, e.alarm_id) for e in events] == [
        ("aodh.notifier.notifying", "T08", ALARM),
        ("aodh.notifier.rest", "T08", ALARM),
        ("aodh.notifier.response", None, ALARM),
    ]
    assert events[1].epoch == pytest.approx(epoch("2026-11-24 19:01:02.352"))


def test_nova_api_request_log() -> None:
    events = list(match_log(parse_oslo_log(NOVA_API_LOG.splitlines())))
    # the 409 (a failed reset) is not a checkpoint
    assert [(e.kind, e.checkpoint, e.server_id) for e in events] == [
        ("nova.api.force_down", "T03", None),
        ("nova.api.reset_state", "T04", VM),
        ("nova.api.reset_state", "T04", VM2),
    ]
    reset = events[1]
    assert reset.duration_s == pytest.approx(0.027310)
    assert reset.started == pytest.approx(epoch("2026-11-24 19:01:02.289") - 0.027310)
    assert reset.detail == f"POST /v2.1/servers/{VM}/action 202"


def test_nova_log_notification_driver_line() -> None:
    line = ("2026-11-24 19:01:02.302 2211 INFO oslo.messaging.notification."
            "compute.instance.update [None req-2 admin admin - - default default] "
            + json.dumps(nova_message()))
    event = match_record(next(parse_oslo_log([line])))
    assert event is not None and event.checkpoint == "T05" and event.server_id == VM
    assert event.epoch == pytest.approx(epoch("2026-11-24 19:01:02.301200"))  # message time
    active = line.replace('"state": "error"', '"state": "active"')
    other = match_record(next(parse_oslo_log([active])))
    assert other is not None and other.checkpoint is None
    broken = line.split(" [None", 1)[0] + " [-] {not json"
    assert match_record(next(parse_oslo_log([broken]))) is None


def test_log_candidates_map_alarms_to_servers_and_pick_the_triggering_batch() -> None:
    lines = AODH_LISTENER_LOG.splitlines() + AODH_NOTIFIER_LOG.splitlines()
    events = list(match_log(parse_oslo_log(lines)))
    clock = ClockOffset(offset_s=0.002, uncertainty_s=0.0004)
    found = log_candidates(events, alarm_servers={ALARM: VM}, clock=clock)
    ours = [(c.checkpoint.name, c.server) for c in found if c.server == VM]
    assert ("T06", VM) in ours and ("T07", VM) in ours and ("T08", VM) in ours
    t06 = next(c.checkpoint for c in found if c.server == VM and c.checkpoint.name == "T06")
    # the last batch received before the triggering, moved onto the local clock
    assert t06.epoch == pytest.approx(epoch("2026-11-24 19:01:02.325") - 0.002)
    assert t06.uncertainty_ms == pytest.approx(0.4)
    profile = ProfileBuilder(servers=[VM]).extend(found).build()
    assert profile.checkpoints["T07"].epoch == pytest.approx(
        epoch("2026-11-24 19:01:02.330") - 0.002)  # Triggering: the first T07 line
    assert profile.checkpoints["T08"].source == "log:aodh-notifier"


# --- Aodh alarm history ----------------------------------------------------------------
HISTORY = [
    {"alarm_id": ALARM, "event_id": "e2", "type": "state transition",
     "detail": json.dumps({"state": "alarm", "transition_reason": "Event <id=6f1e> hits"}),
     "timestamp": "2026-11-24T19:01:02.331904", "severity": "moderate",
     "on_behalf_of": PROJECT, "project_id": PROJECT, "user_id": "u1"},
    {"alarm_id": ALARM, "event_id": "e1", "type": "creation",
     "detail": json.dumps({"name": "doctor_alarm_7c8e3d0a", "state": "insufficient data"}),
     "timestamp": "2026-11-24T18:59:40.120000", "severity": "moderate"},
    {"alarm_id": ALARM, "type": "state transition", "timestamp": "yesterday"},
]


def test_alarm_history_transition() -> None:
    entry = alarm_transition(HISTORY)  # the broken entry is skipped, with a warning
    assert entry is not None and entry.state == "alarm" and entry.alarm_id == ALARM
    assert entry.epoch == pytest.approx(epoch("2026-11-24 19:01:02.331904"))
    assert alarm_transition(HISTORY, since_epoch=entry.epoch + 1) is None
    found = history_candidates(HISTORY, server=VM)
    assert [(c.checkpoint.name, c.checkpoint.source, c.server) for c in found] == [
        ("T07", "aodh:alarm-history", VM)]
    with pytest.raises(BadHistory, match="timestamp"):
        parse_entry({"type": "state transition"})


# --- bus envelopes -----------------------------------------------------------------------
def envelope(message: dict[str, Any]) -> str:
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


CEILOMETER_PUBLICATION = {
    "message_id": "c0ffee00-1234-4567-89ab-cdef01234567",
    "publisher_id": "telemetry.publisher.controller",
    "event_type": "event",
    "priority": "SAMPLE",
    "timestamp": "2026-11-24 19:01:02.318700",
    "payload": [{
        "message_id": "b6a9d0c2-5f1e-4a3b-9c8d-7e6f5a4b3c2d",
        "event_type": "compute.instance.update",
        "generated": "2026-11-24T19:01:02.301200",
        "traits": [["instance_id", 1, VM], ["state", 1, "error"], ["host", 1, "compute-1"],
                   ["tenant_id", 1, PROJECT]],
        "raw": {},
        "message_signature": "0f3e",
    }],
}
AODH_HANDOFF = {
    "message_id": "a1", "publisher_id": "alarming.evaluator", "event_type": "alarm.update",
    "priority": "SAMPLE", "timestamp": "2026-11-24 19:01:02.332000",
    "payload": {"actions": ["http://127.0.0.1:12346/failure"], "alarm_id": ALARM,
                "alarm_name": "doctor_alarm_7c8e3d0a", "severity": "moderate",
                "previous": "insufficient data", "current": "alarm", "reason": "Event hits",
                "reason_data": {"type": "event",
                                "event": CEILOMETER_PUBLICATION["payload"][0]}},  # type: ignore[index]
}


def test_parse_envelope_nova_update() -> None:
    note = parse_envelope(envelope(nova_message()))
    assert note.event_type == "compute.instance.update"
    assert note.epoch == pytest.approx(epoch("2026-11-24 19:01:02.301200"))
    assert note.publisher_id == "api.controller"
    [update] = instance_updates(note)
    assert (update.instance_id, update.state, update.old_state) == (VM, "error", "active")
    # a 1.0 (bare) message and bytes work too
    assert parse_envelope(json.dumps(nova_message()).encode()).message_id == note.message_id


def test_parse_envelope_versioned_instance_update() -> None:
    message = {
        "message_id": "m2", "publisher_id": "nova-api:controller", "priority": "INFO",
        "event_type": "instance.update", "timestamp": "2026-11-24 19:01:02.301300",
        "payload": {"nova_object.name": "InstanceUpdatePayload", "nova_object.data": {
            "uuid": VM, "state": "error", "state_update": {
                "nova_object.data": {"old_state": "active", "state": "error"}}}},
    }
    [update] = instance_updates(parse_envelope(envelope(message)))
    assert (update.instance_id, update.state, update.old_state) == (VM, "error", "active")


def test_ceilometer_publication_and_aodh_handoff() -> None:
    note = parse_envelope(envelope(CEILOMETER_PUBLICATION))
    [event] = published_events(note)
    assert event.instance_id == VM and event.traits["state"] == "error"
    assert event.published == pytest.approx(epoch("2026-11-24 19:01:02.318700"))
    assert event.generated == pytest.approx(epoch("2026-11-24 19:01:02.301200"))
    handoff = alarm_update(parse_envelope(envelope(AODH_HANDOFF)))
    assert handoff is not None and handoff.alarm_id == ALARM and handoff.instance_id == VM


def test_bus_candidates() -> None:
    notes = [parse_envelope(envelope(m)) for m in (
        nova_message(state="active", timestamp="2026-11-24 19:00:00.000000"),
        nova_message(), CEILOMETER_PUBLICATION, AODH_HANDOFF)]
    found = bus_candidates(notes)
    assert [(c.checkpoint.name, c.checkpoint.source, c.server) for c in found] == [
        ("T05", "bus:nova compute.instance.update", VM),
        ("T06", "bus:ceilometer alarm.all", VM),
        ("T07", "bus:aodh alarming", VM),
    ]


@pytest.mark.parametrize("body,message", [
    ("not json", "not JSON"),
    (json.dumps({"oslo.version": "3.0", "oslo.message": "{}"}), "unsupported oslo.version"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "{nope"}), "oslo.message is not JSON"),
    (json.dumps({"timestamp": "2026-11-24 19:01:02"}), "no event_type"),
    (json.dumps({"event_type": "x", "timestamp": "soon"}), "not a timestamp"),
    (json.dumps([1, 2]), "must be an object"),
])
def test_bad_envelopes(body: str, message: str) -> None:
    with pytest.raises(BadEnvelope, match=message):
        parse_envelope(body)


def test_bus_recorder_without_kombu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from doctor_tests.profiler.sources import recorder

    real_import = builtins.__import__

    def no_kombu(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "kombu":
            raise ImportError("No module named 'kombu'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_kombu)
    with pytest.raises(recorder.BusUnavailable, match="needs kombu"):
        recorder.BusRecorder("amqp://guest:guest@127.0.0.1:5672//")


# --- trace records -----------------------------------------------------------------------
def test_inspector_and_consumer_records() -> None:
    t0 = epoch("2026-11-24 19:01:02.000")
    record = {
        "id": "r1", "kind": "down", "host": "compute-1", "monitor_event_id": "m1",
        "event_time": "2026-11-24T19:01:02.212400+00:00",
        "times": {"received": t0 + 0.2130, "affected_found": t0 + 0.2131,
                  "host_marked_down": t0 + 0.2519, "first_server_error": t0 + 0.262,
                  "last_server_error": t0 + 0.2905, "ports_down": None, "done": t0 + 0.3},
        "server_times": {VM: t0 + 0.262, VM2: t0 + 0.2905},
    }
    alarms = [
        {"alarm_id": "a1", "current": "alarm", "instance_id": VM, "received_at": t0 + 0.3713,
         "handled_at": t0 + 0.372},
        {"alarm_id": "a2", "current": "alarm", "instance_id": VM2, "received_at": t0 + 0.3655,
         "handled_at": t0 + 0.366},
        {"alarm_id": "a3", "current": "ok", "instance_id": VM2, "received_at": t0 + 0.1},
    ]
    builder = ProfileBuilder(servers=[VM, VM2])
    builder.add(fault_candidate(t0))
    builder.extend(inspector_candidates(record)).extend(consumer_candidates(alarms))
    profile = builder.build()
    assert profile.ms("T01") == pytest.approx(212.4, abs=1e-3)
    assert profile.checkpoints["T01"].source == "trace:monitor"
    assert profile.ms("T03") == pytest.approx(251.9, abs=1e-3)
    assert profile.ms("T04_first") == pytest.approx(262.0, abs=1e-3)
    assert profile.ms("T04") == pytest.approx(290.5, abs=1e-3)
    assert profile.ms("T09") == pytest.approx(371.3, abs=1e-3)  # the last alarm
    assert profile.ms("T10") == pytest.approx(372.0, abs=1e-3)
    assert profile.first_last_alarm() == ((VM2, pytest.approx(365.5, abs=1e-3)),
                                          (VM, pytest.approx(371.3, abs=1e-3)))
    assert set(profile.missing) == {"T05", "T06", "T07", "T08"}


# --- clock offset --------------------------------------------------------------------------
class FakeClocks:
    """A local clock and a remote one ``offset`` ahead; round trips of varying length."""

    def __init__(self, offset: float, trips: list[float]) -> None:
        self.now = 1_795_000_000.0
        self.offset = offset
        self.trips = list(trips)
        self.asked = 0

    def local(self) -> float:
        return self.now

    def remote(self) -> float:
        trip = self.trips[self.asked]
        self.asked += 1
        self.now += trip * 0.7  # the remote answers 70 % into the round trip
        reading = self.now + self.offset
        self.now += trip * 0.3
        return reading


def test_clock_offset_uses_the_tightest_round_trip() -> None:
    clocks = FakeClocks(offset=0.250, trips=[0.040, 0.004, 0.020, 0.010, 0.030])
    result = measure_clock_offset(clocks.remote, samples=5, clock=clocks.local)
    assert clocks.asked == 5
    assert result.uncertainty_s == pytest.approx(0.002, abs=1e-6)
    # true offset 250 ms; the midpoint estimate is off by 20 % of the 4 ms trip
    assert result.offset_s == pytest.approx(0.250 + 0.004 * 0.2, abs=1e-6)
    assert abs(result.offset_s - 0.250) <= result.uncertainty_s
    assert result.to_local(1000.25) == pytest.approx(1000.25 - result.offset_s)
    offset_s, uncertainty_s = result  # a plain (offset, uncertainty) pair too
    assert (offset_s, uncertainty_s) == (result.offset_s, result.uncertainty_s)


def test_clock_offset_errors() -> None:
    with pytest.raises(ValueError, match="samples"):
        measure_clock_offset(lambda: 0.0, samples=0)
    with pytest.raises(ClockError, match="not epoch seconds"):
        measure_clock_offset(lambda: "12:00")  # type: ignore[arg-type,return-value]
