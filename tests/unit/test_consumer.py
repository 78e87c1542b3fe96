"""The sample consumer: Aodh bodies, validation over HTTP, waits and the scenario checks."""

from __future__ import annotations

import copy
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doctor_tests.consumer import Consumer, ConsumerServer, InvalidAlarm, parse_alarm

VM = "7c8e3d0a-4a8b-4c55-9d7e-0a1b2c3d4e5f"


def aodh_body(instance_id: str = VM, alarm_id: str = "a1", state: str = "error") -> dict[str, Any]:
    """What aodh-notifier's REST action posts for an event alarm (Doctor's alarm)."""
    return {
        "severity": "moderate",
        "alarm_name": f"doctor_alarm_{instance_id[:8]}",
        "current": "alarm",
        "alarm_id": alarm_id,
        "reason": (
            "Event <id=3b1c, event_type=compute.instance.update> hits the query "
            f'<query=[{{"field": "traits.instance_id", "value": "{instance_id}", "op": "eq", '
            '"type": "string"}, {"field": "traits.state", "value": "error", "op": "eq", '
            '"type": "string"}]>.'
        ),
        "reason_data": {
            "type": "event",
            "event": {
                "message_id": "3b1c2d3e-0000-4000-8000-000000000001",
                "event_type": "compute.instance.update",
                "generated": "2024-05-01T12:00:00.654321",
                "traits": [
                    ["tenant_id", 1, "0a1b2c"],
                    ["user_id", 1, "9f8e7d"],
                    ["state", 1, state],
                    ["service", 1, "compute"],
                    ["host", 1, "compute-1"],
                    ["instance_id", 1, instance_id],
                    ["memory_mb", 2, 64],
                    ["launched_at", 4, "2024-05-01T11:59:00"],
                ],
                "raw": {},
                "message_signature": "f00d",
            },
        },
        "previous": "insufficient data",
    }


def port_body(port_id: str, alarm_id: str) -> dict[str, Any]:
    body = aodh_body(alarm_id=alarm_id)
    body["reason_data"]["event"]["event_type"] = "port.update.end"
    body["reason_data"]["event"]["traits"] = [["resource_id", 1, port_id], ["status", 1, "DOWN"]]
    return body


# --- parsing ------------------------------------------------------------------------------


def test_parse_realistic_aodh_body() -> None:
    alarm = parse_alarm(aodh_body(), received_at=1000.5, path="/failure")
    assert alarm.alarm_id == "a1" and alarm.alarm_name == "doctor_alarm_7c8e3d0a"
    assert (alarm.previous, alarm.current, alarm.severity) == ("insufficient data", "alarm",
                                                              "moderate")
    assert alarm.reason_type == "event" and alarm.event_type == "compute.instance.update"
    assert alarm.instance_id == VM
    assert alarm.traits["state"] == "error" and alarm.traits["memory_mb"] == 64
    assert alarm.generated == "2024-05-01T12:00:00.654321"
    assert alarm.received_at == 1000.5 and alarm.handled_at is None and alarm.path == "/failure"
    assert alarm.raw["alarm_id"] == "a1"
    assert json.loads(json.dumps(alarm.to_json()))["traits"]["host"] == "compute-1"


def test_port_alarm_resource_id() -> None:
    assert parse_alarm(port_body("p-1", "a9"), 0).instance_id == "p-1"


def test_threshold_alarm_has_no_event() -> None:
    body = {"alarm_id": "t", "current": "alarm", "reason_data": {"type": "threshold",
            "disposition": "outside", "count": 1, "most_recent": 90.0}}
    alarm = parse_alarm(body, 0)
    assert alarm.event_type is None and dict(alarm.traits) == {} and alarm.instance_id is None


def mutated(path: list[str], value: Any = None, delete: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(aodh_body())
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
        ([aodh_body()], "body must be a JSON object"),
        (mutated(["alarm_id"], delete=True), "alarm_id must be a non-empty string"),
        (mutated(["alarm_id"], 5), "alarm_id must be a non-empty string"),
        (mutated(["current"], None), "current must be a string"),
        (mutated(["severity"], 3), "severity must be a string"),
        (mutated(["reason_data"], "event"), "reason_data must be an object"),
        (mutated(["reason_data", "event"], []), "reason_data.event must be an object"),
        (mutated(["reason_data", "event", "event_type"], ""), "event_type must be a non-empty"),
        (mutated(["reason_data", "event", "traits"], {}), "traits must be a list"),
        (mutated(["reason_data", "event", "traits"], [["a", 1]]), "traits[0] must be [name"),
        (mutated(["reason_data", "event", "traits"], [[1, 1, "x"]]), "traits[0] name"),
        (mutated(["reason_data", "event", "traits"], [["a", "1", "x"]]), "traits[0] type"),
        (mutated(["reason_data", "event", "raw"], "raw"), "raw must be an object"),
    ],
)
def test_bad_bodies_name_the_field(body: Any, reason: str) -> None:
    with pytest.raises(InvalidAlarm) as info:
        parse_alarm(body, 0)
    assert reason in str(info.value)


# --- the record, waits and checks --------------------------------------------------------------


def test_wait_for_wakes_on_arrival_without_polling() -> None:
    consumer = Consumer()
    result: list[Any] = []
    waiter = threading.Thread(
        target=lambda: result.append(consumer.wait_for(lambda a: a.instance_id == "vm-2", 1, 10))
    )
    waiter.start()
    consumer.receive(aodh_body("vm-1", "a1"), 1.0)
    consumer.receive(aodh_body("vm-2", "a2"), 2.0)
    waiter.join(10)
    assert not waiter.is_alive()
    [[alarm]] = result
    assert alarm.alarm_id == "a2" and alarm.handled_at is not None
    assert alarm.handled_at >= alarm.received_at


def test_wait_for_times_out_with_what_matched() -> None:
    consumer = Consumer()
    consumer.receive(aodh_body("vm-1", "a1"), 1.0)
    assert len(consumer.wait_for(count=2, timeout=0.05)) == 1
    assert consumer.wait_for(lambda a: a.alarm_id == "zz", timeout=0.01) == []
    with pytest.raises(ValueError):
        consumer.wait_for(count=0)


def test_checks_for_the_scenarios() -> None:
    consumer = Consumer()
    consumer.receive(aodh_body("vm-1", "a1"), 1.0)
    consumer.receive(aodh_body("vm-2", "a2"), 2.0)
    consumer.receive(aodh_body("vm-1", "a1"), 3.0)  # the same alarm again
    consumer.receive(aodh_body("stranger", "a3"), 4.0)
    consumer.receive(port_body("port-1", "a4"), 5.0)
    assert [a.received_at for a in consumer.alarms_for("vm-1")] == [1.0, 3.0]
    assert [a.alarm_id for a in consumer.alarms_for("port-1")] == ["a4"]
    dups = consumer.duplicates()
    assert list(dups) == ["a1"] and len(dups["a1"]) == 2
    assert [a.instance_id for a in consumer.unexpected({"vm-1", "vm-2", "port-1"})] == ["stranger"]
    assert consumer.unexpected({"vm-1", "vm-2", "stranger", "port-1"}) == []
    assert [a.received_at for a in consumer.alarms()] == [1.0, 2.0, 3.0, 4.0, 5.0]
    consumer.clear()
    assert consumer.alarms() == []


def test_invalid_notifications_are_kept_as_rejected() -> None:
    consumer = Consumer()
    with pytest.raises(InvalidAlarm):
        consumer.receive({"alarm_id": 1}, 7.0, "/x")
    [rejected] = consumer.rejected()
    assert rejected.path == "/x" and rejected.received_at == 7.0 and "alarm_id" in rejected.reason
    assert consumer.alarms() == []


# --- over HTTP on 127.0.0.1 --------------------------------------------------------------------


def post(port: int, path: str, body: bytes, ctype: str = "application/json") -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def get(port: int, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[ConsumerServer]:
    srv = ConsumerServer(port=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ConsumerServer]:
    srv = ConsumerServer(port=0)
    srv.start()
    yield srv
    srv.stop()


def test_post_failure_records_the_alarm(server: ConsumerServer) -> None:
    assert server.failure_url == f"http://127.0.0.1:{server.port}/failure"
    status, answer = post(server.port, "/failure", json.dumps(aodh_body()).encode())
    assert status == 200 and answer["recorded"] == "a1"
    status, answer = post(server.port, "/", json.dumps(aodh_body("vm-9", "a9")).encode())
    assert status == 200
    status, answer = post(server.port, "/other/path", json.dumps(port_body("p", "a5")).encode())
    assert status == 200
    [first, second, third] = server.consumer.alarms()
    assert (first.path, second.path, third.path) == ("/failure", "/", "/other/path")
    assert first.instance_id == VM and first.handled_at is not None
    status, listing = get(server.port, "/alarms")
    assert status == 200 and [a["alarm_id"] for a in listing["alarms"]] == ["a1", "a9", "a5"]
    assert get(server.port, "/")[1] == {"status": "ok", "alarms": 3}
    assert get(server.port, "/nothing")[0] == 404


def test_http_bad_bodies(server: ConsumerServer) -> None:
    status, answer = post(server.port, "/failure", b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]
    status, answer = post(server.port, "/failure", json.dumps({"alarm_id": "x"}).encode())
    assert status == 400 and "current" in answer["error"]
    status, answer = post(server.port, "/failure", json.dumps(aodh_body()).encode(), "text/html")
    assert status == 400 and "Content-Type" in answer["error"]
    assert server.consumer.alarms() == [] and len(server.consumer.rejected()) == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
non_strings = st.none() | st.booleans() | st.integers() | st.lists(
    st.integers(), min_size=1, max_size=2)  # [] would be a valid (empty) traits list
PROPERTY = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_rejected(srv: ConsumerServer, body: bytes) -> None:
    before = len(srv.consumer.alarms())
    status, answer = post(srv.port, "/failure", body)
    assert status == 400, (status, answer, body[:200])
    assert isinstance(answer["error"], str) and answer["error"]
    assert len(srv.consumer.alarms()) == before == 0


@PROPERTY
@given(doc=json_values)
def test_random_json_is_rejected(shared_server: ConsumerServer, doc: Any) -> None:
    assert_rejected(shared_server, json.dumps(doc).encode())


@PROPERTY
@given(data=st.binary(max_size=200))
def test_random_bytes_are_rejected(shared_server: ConsumerServer, data: bytes) -> None:
    assert_rejected(shared_server, data)


@PROPERTY
@given(
    path=st.sampled_from([["alarm_id"], ["current"], ["reason_data"], ["reason_data", "event"],
                          ["reason_data", "event", "traits"],
                          ["reason_data", "event", "event_type"]]),
    value=non_strings,
)
def test_wrong_typed_fields_are_rejected(
    shared_server: ConsumerServer, path: list[str], value: Any
) -> None:
    assert_rejected(shared_server, json.dumps(mutated(path, value)).encode())
