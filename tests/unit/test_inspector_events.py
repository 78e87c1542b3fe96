"""Validation of the host events the inspector accepts."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from doctor_tests.inspector.events import HostEvent, InvalidEvent, parse_events
from doctor_tests.monitor.report import host_event


def good(host: str = "compute-1", kind: str = "down") -> dict[str, Any]:
    return {
        "time": "2024-05-01T12:00:00.123456+00:00",
        "type": f"compute.host.{kind}",
        "details": {
            "hostname": host,
            "status": kind,
            "monitor": "doctor-sample-monitor",
            "monitor_event_id": "4f1c2a5e-1b7a-4c1e-9a55-9b0d3c7c9f10",
        },
    }


def test_upstream_list_format() -> None:
    [event] = parse_events([good()])
    assert event == HostEvent(
        type="compute.host.down",
        hostname="compute-1",
        status="down",
        time=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
        monitor="doctor-sample-monitor",
        monitor_event_id="4f1c2a5e-1b7a-4c1e-9a55-9b0d3c7c9f10",
    )
    assert event.is_down


def test_what_our_monitor_sends_is_accepted() -> None:
    [event] = parse_events([host_event("compute-7", "up")])
    assert event.hostname == "compute-7" and not event.is_down


def test_single_event_object_and_several_events() -> None:
    assert len(parse_events(good())) == 1
    events = parse_events([good("a"), good("b", "up")])
    assert [(e.hostname, e.status) for e in events] == [("a", "down"), ("b", "up")]


def test_vitrage_form_with_monitor_id_and_naive_time() -> None:
    body = good()
    body["time"] = "2016-04-12T08:00:00"
    del body["details"]["monitor"]
    body["details"].update(monitor_id="monitor-1", source="sample_monitor", cause="link-down",
                           severity="critical")
    [event] = parse_events(body)
    assert event.monitor == "monitor-1"
    assert event.time == datetime(2016, 4, 12, 8, tzinfo=timezone.utc)


def test_zulu_time_and_unknown_fields_are_fine() -> None:
    body = good()
    body["time"] = "2024-05-01T12:00:00Z"
    body["id"] = "extra"
    body["details"]["extra"] = {"nested": [1, 2]}
    assert parse_events([body])[0].time.tzinfo is not None


def mutate(path: list[str], value: Any = None, delete: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(good())
    target = body
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (mutate(["time"], delete=True), "events[0].time is missing"),
        (mutate(["time"], "yesterday"), "events[0].time is not an ISO-8601"),
        (mutate(["time"], 1714564800), "events[0].time must be a string"),
        (mutate(["type"], "compute.host.sideways"), "allowed: compute.host.down, compute.host.up"),
        (mutate(["type"], None), "events[0].type must be a string"),
        (mutate(["details"], "compute-1"), "events[0].details must be an object"),
        (mutate(["details"], delete=True), "events[0].details must be an object"),
        (mutate(["details", "hostname"], ""), "hostname must not be empty"),
        (mutate(["details", "hostname"], 42), "hostname must be a string"),
        (mutate(["details", "hostname"], " compute-1"), "hostname is not a host name"),
        (mutate(["details", "hostname"], "h" * 300), "hostname is not a host name"),
        (mutate(["details", "status"], "up"), "contradicts type compute.host.down"),
        (mutate(["details", "status"], "DOWN"), "contradicts"),
        (mutate(["details", "monitor"], delete=True), "details.monitor is missing"),
        (mutate(["details", "monitor"], ["m"]), "details.monitor must be a string"),
        (mutate(["details", "monitor_event_id"], 7), "monitor_event_id must be a string"),
        (mutate(["details", "monitor_event_id"], delete=True), "monitor_event_id is missing"),
    ],
)
def test_bad_fields_are_named(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_events([body])
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "empty"),
        ("compute.host.down", "must be a list of events or one event"),
        (None, "must be a list of events or one event"),
        (42, "must be a list"),
        ([good(), "x"], "events[1] must be an object"),
        ([good()] * 101, "too many events"),
    ],
)
def test_bad_documents(document: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_events(document)
    assert reason in str(info.value)


def test_one_bad_event_rejects_the_whole_list() -> None:
    with pytest.raises(InvalidEvent, match=r"events\[2\]"):
        parse_events([good("a"), good("b"), mutate(["details", "status"], "up")])
