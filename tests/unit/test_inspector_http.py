"""The inspector's HTTP API on 127.0.0.1: events, errors, idempotence, auth, the index."""

from __future__ import annotations

import copy
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from doctor_tests.inspector import Inspector, InspectorServer, TokenAuth
from doctor_tests.inspector.backend import InvalidToken, TokenInfo, TokenValidator
from doctor_tests.inspector.fake_backend import FakeCloud
from doctor_tests.timeutil import parse_iso8601

Response = tuple[int, Any]


def call(
    url_port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", url_port, timeout=10)
    try:
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.getheader("Content-Type") == "application/json"
        return resp.status, json.loads(data)
    finally:
        conn.close()


def put_json(port: int, path: str, doc: Any, **kw: Any) -> Response:
    return call(port, "PUT", path, json.dumps(doc).encode(), **kw)


def event(host: str = "compute-1", kind: str = "down") -> dict[str, Any]:
    return {
        "time": "2024-05-01T12:00:00.123456+00:00",
        "type": f"compute.host.{kind}",
        "details": {"hostname": host, "status": kind, "monitor": "doctor-sample-monitor",
                    "monitor_event_id": f"id-{host}-{kind}"},
    }


def make_cloud() -> FakeCloud:
    cloud = FakeCloud()
    for host in ("compute-1", "compute-2"):
        cloud.add_host(host)
        for i in range(3):
            cloud.add_server(f"{host}-vm-{i}", host)
            cloud.add_port(f"{host}-port-{i}", host)
    return cloud


class Service:
    def __init__(self, auth: TokenAuth | None = None) -> None:
        self.cloud = make_cloud()
        self.inspector = Inspector(self.cloud, concurrency=4, index_interval=3600)
        self.inspector.start()
        self.server = InspectorServer(self.inspector, "127.0.0.1", 0, auth)
        self.server.start()
        self.port = self.server.port

    def close(self) -> None:
        self.server.stop()
        self.inspector.stop()

    def untouched(self) -> bool:
        return self.cloud.action_calls() == [] and self.inspector.records() == []


@pytest.fixture
def svc() -> Iterator[Service]:
    service = Service()
    yield service
    service.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[Service]:
    """One server for the property tests (they must never change anything)."""
    service = Service()
    yield service
    service.close()


# --- the happy path ------------------------------------------------------------------------


def test_down_event_is_accepted_and_acted_on(svc: Service) -> None:
    status, body = put_json(svc.port, "/events", [event()])
    assert status == 202, body
    assert body["duplicate"] is False
    [summary] = body["results"]
    assert summary["host"] == "compute-1" and summary["servers"] == 3 and summary["ports"] == 3
    record = svc.inspector.records()[0]
    assert record.wait(5)
    assert svc.cloud.services["compute-1"].forced_down

    status, body = call(svc.port, "GET", "/actions")
    assert status == 200
    [action] = body["actions"]
    assert action["host"] == "compute-1" and action["complete"] is True
    times = action["times"]
    assert times["received"] <= times["affected_found"] <= times["host_marked_down"]
    assert times["first_server_error"] <= times["last_server_error"] <= times["done"]
    assert parse_iso8601(action["times_iso"]["received"]).tzinfo is not None


def test_wait_answers_with_the_complete_record(svc: Service) -> None:
    status, body = put_json(svc.port, "/events?wait=5", event())  # a single event object
    assert status == 200 and body["complete"] is True
    [record] = body["results"]
    assert sorted(record["server_times"]) == [f"compute-1-vm-{i}" for i in range(3)]
    assert record["errors"] == []


def test_post_is_accepted_too(svc: Service) -> None:
    status, _ = call(svc.port, "POST", "/events?wait=5", json.dumps([event()]).encode())
    assert status == 200
    assert svc.cloud.services["compute-1"].forced_down


def test_duplicate_down_then_up_then_down_again(svc: Service) -> None:
    assert put_json(svc.port, "/events?wait=5", [event()])[0] == 200
    status, body = put_json(svc.port, "/events", [event()])
    assert status == 200 and body["duplicate"] is True
    assert len(svc.cloud.calls_named("force_down")) == 1

    status, body = call(svc.port, "POST", "/hosts/compute-1/up?wait=5")
    assert status == 200 and body["results"][0]["kind"] == "up"
    assert not svc.cloud.services["compute-1"].forced_down
    assert svc.cloud.port_status["compute-1-port-0"] == "ACTIVE"

    assert put_json(svc.port, "/events?wait=5", [event()])[0] == 200
    assert len(svc.cloud.calls_named("force_down")) == 2


def test_up_event_from_the_monitor_clears_the_host(svc: Service) -> None:
    put_json(svc.port, "/events?wait=5", [event()])
    status, body = put_json(svc.port, "/events?wait=5", [event(kind="up")])
    assert status == 200 and body["duplicate"] is False
    status, health = call(svc.port, "GET", "/")
    assert health["hosts_down"] == []


def test_what_the_monitor_sends_is_acted_on(svc: Service) -> None:
    from doctor_tests.monitor import report

    url = f"http://127.0.0.1:{svc.port}"
    assert report.put_events(url, [report.host_event("compute-2", "down")]) == 202
    assert svc.inspector.records()[0].wait(5)
    assert svc.cloud.services["compute-2"].forced_down
    assert report.put_events(url, [report.host_event("compute-2", "down")]) == 200  # duplicate
    with pytest.raises(report.ReportFailed, match="HTTP 404"):
        report.put_events(url, [report.host_event("compute-3", "down")])


def test_unknown_host_is_404_and_nothing_happens(svc: Service) -> None:
    status, body = put_json(svc.port, "/events", [event(), event("compute-99")])
    assert status == 404 and "compute-99" in body["error"]
    assert svc.untouched()
    status, body = call(svc.port, "POST", "/hosts/nope/down")
    assert status == 404 and svc.untouched()


def test_health_index_and_refresh(svc: Service) -> None:
    status, health = call(svc.port, "GET", "/")
    assert status == 200 and health["status"] == "ok" and health["hosts_down"] == []
    assert health["index"]["servers"] == 6 and health["uptime_s"] >= 0

    svc.cloud.add_server("late-vm", "compute-2")
    status, stats = call(svc.port, "POST", "/index/refresh")
    assert status == 200 and stats["error"] is None
    status, index = call(svc.port, "GET", "/index")
    assert status == 200 and index["ready"] is True
    assert "late-vm" in index["hosts"]["compute-2"]["servers"]
    assert index["hosts"]["compute-1"]["port_count"] == 3
    assert index["hosts"]["compute-1"]["service_id"] == "svc-compute-1"


def test_failed_index_refresh_is_502_not_500(svc: Service) -> None:
    def broken() -> list:
        raise RuntimeError("neutron down")

    svc.cloud.list_ports = broken  # type: ignore[method-assign]
    status, body = call(svc.port, "POST", "/index/refresh")
    assert status == 502 and "neutron down" in body["error"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/nope", 404),
        ("GET", "/events", 405),
        ("DELETE", "/events", 405),
        ("PUT", "/index", 405),
        ("GET", "/index/refresh", 405),
        ("GET", "/hosts/compute-1/down", 405),
        ("POST", "/hosts/compute-1/sideways", 404),
        ("PUT", "/events?wait=forever", 400),
        ("PUT", "/events?wait=-1", 400),
        ("PUT", "/events?wait=nan", 400),
    ],
)
def test_routing_errors(svc: Service, method: str, path: str, expected: int) -> None:
    body = json.dumps([event()]).encode() if method == "PUT" else None
    status, answer = call(svc.port, method, path, body)
    assert status == expected and isinstance(answer["error"], str)
    assert svc.untouched()


# --- malformed input: always 400, never a 5xx, never a state change ---------------------------


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # the client sends nothing more
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"Content-Type": "text/plain"}, json.dumps([event()]).encode(), "Content-Type"),
        ({}, b"", "not valid JSON"),
        ({}, b"[" * 50_000 + b"]" * 50_000, "too large"),
        ({}, b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        ({}, b'[{"time": NaN}]', "not valid JSON"),
        ({}, b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_bodies(svc: Service, headers: dict[str, str], body: bytes, reason: str) -> None:
    status, answer = call(svc.port, "PUT", "/events", body, headers)
    assert status == 400 and reason in answer["error"]
    assert svc.untouched()


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"PUT /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "Content-Length"),
        (b"PUT /events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "not a number"),
        (b"PUT /events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "negative"),
        (b"PUT /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "chunked"),
        (b"PUT /events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n[1,", "shorter"),
    ],
)
def test_bad_framing(svc: Service, request_bytes: bytes, reason: str) -> None:
    status, answer = raw_request(svc.port, request_bytes)
    assert status == 400 and reason in answer["error"]
    assert svc.untouched()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
non_strings = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(
    st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
REQUIRED = [["time"], ["type"], ["details"], ["details", "hostname"], ["details", "status"],
            ["details", "monitor"], ["details", "monitor_event_id"]]
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_rejected(service: Service, body: bytes) -> None:
    status, answer = call(service.port, "PUT", "/events", body)
    assert status == 400, (status, answer, body[:200])
    assert isinstance(answer.get("error"), str) and answer["error"]
    assert service.untouched()


@PROPERTY
@given(doc=json_values)
def test_random_json_is_rejected(shared: Service, doc: Any) -> None:
    assert_rejected(shared, json.dumps(doc).encode())


@PROPERTY
@given(data=st.binary(max_size=300))
def test_random_bytes_are_rejected(shared: Service, data: bytes) -> None:
    assert_rejected(shared, data)


@PROPERTY
@given(path=st.sampled_from(REQUIRED), as_list=st.booleans())
def test_missing_fields_are_rejected(shared: Service, path: list[str], as_list: bool) -> None:
    body = copy.deepcopy(event())
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    assert_rejected(shared, json.dumps([body] if as_list else body).encode())


@PROPERTY
@given(path=st.sampled_from(REQUIRED), value=non_strings, position=st.integers(0, 2))
def test_wrong_typed_fields_are_rejected(
    shared: Service, path: list[str], value: Any, position: int
) -> None:
    bad = copy.deepcopy(event())
    target = bad
    for key in path[:-1]:
        target = target[key]
    if path == ["details"] and isinstance(value, dict):
        value = None  # a dict would only be "missing fields", covered above
    target[path[-1]] = value
    docs = [event("compute-1"), event("compute-2")]
    docs.insert(position, bad)  # valid events around it must not be acted on either
    assert_rejected(shared, json.dumps(docs).encode())


@PROPERTY
@given(path=st.sampled_from([["time"], ["type"], ["details", "status"]]), text=st.text())
def test_wrong_string_values_are_rejected(shared: Service, path: list[str], text: str) -> None:
    if path == ["time"]:
        try:
            parse_iso8601(text)
            assume(False)
        except ValueError:
            pass
    assume(text not in ("compute.host.down", "down"))
    bad = copy.deepcopy(event())
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = text
    assert_rejected(shared, json.dumps([event("compute-2"), bad]).encode())


# --- auth ------------------------------------------------------------------------------------


class FakeKeystone(TokenValidator):
    def __init__(self) -> None:
        self.calls = 0

    def validate(self, token: str) -> TokenInfo:
        self.calls += 1
        roles = {"admin-token": {"admin", "member"}, "member-token": {"member"}}
        if token not in roles:
            raise InvalidToken("token not found")
        return TokenInfo("u", "p", frozenset(roles[token]), None)


@pytest.fixture
def secured() -> Iterator[tuple[Service, FakeKeystone]]:
    keystone = FakeKeystone()
    service = Service(TokenAuth(keystone, ttl=60))
    yield service, keystone
    service.close()


def test_auth_required_and_checked(secured: tuple[Service, FakeKeystone]) -> None:
    svc, keystone = secured
    body = json.dumps([event()]).encode()
    status, answer = call(svc.port, "PUT", "/events", body)
    assert status == 401 and "X-Auth-Token" in answer["error"]
    status, _ = call(svc.port, "PUT", "/events", body, {"X-Auth-Token": "bogus"})
    assert status == 401
    status, answer = call(svc.port, "PUT", "/events", body, {"X-Auth-Token": "member-token"})
    assert status == 403 and "admin" in answer["error"]
    assert call(svc.port, "GET", "/actions")[0] == 401
    assert svc.untouched()

    assert call(svc.port, "GET", "/")[0] == 200  # health needs no token
    status, _ = call(svc.port, "PUT", "/events?wait=5", body, {"X-Auth-Token": "admin-token"})
    assert status == 200
    calls = keystone.calls
    status, _ = call(svc.port, "GET", "/actions", headers={"X-Auth-Token": "admin-token"})
    assert status == 200 and keystone.calls == calls  # cached


def test_token_cache_expires() -> None:
    keystone = FakeKeystone()
    now = [0.0]
    auth = TokenAuth(keystone, ttl=10, clock=lambda: now[0])
    auth.check("admin-token")
    auth.check("admin-token")
    assert keystone.calls == 1
    now[0] = 11.0
    auth.check("admin-token")
    assert keystone.calls == 2
