"""The JSON clients (doctor_tests.httpjson): replies, failures, keep-alive, proxies.

``JsonClient(direct=True)`` (requests) and ``KeepAliveClient`` (hand-written, for the
monitor's report) promise the same: they are tested alike."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

import pytest

from doctor_tests import httpjson
from doctor_tests.httpjson import (
    BackgroundHTTPServer,
    CallFailed,
    JsonClient,
    JsonRequestHandler,
    KeepAliveClient,
    Reply,
    is_loopback,
)


class Client(Protocol):
    def send(self, method: str, url: str, payload: Any, timeout: float) -> Reply: ...

    def close(self) -> None: ...

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")


class _Recorder(JsonRequestHandler):
    """Answers the status queued in the context (200 when none), recording each request;
    a connection kept idle longer than ``ctx["idle"]`` seconds is closed."""

    def setup(self) -> None:
        self.timeout = self.context.get("idle", JsonRequestHandler.timeout)
        super().setup()

    def finish(self) -> None:
        super().finish()
        with self.context["lock"]:
            self.context["closed"] += 1

    def route(self, method: str, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        ctx = self.context
        body = self.read_json()
        with ctx["lock"]:
            ctx["seen"].append({"method": method, "target": self.path, "body": body,
                                "client_port": self.client_address[1],
                                "host": self.headers.get("Host")})
            status = ctx["statuses"].pop(0) if ctx["statuses"] else 200
        return status, {"status": status}


class Endpoint(NamedTuple):
    url: str
    ctx: dict[str, Any]


def _endpoint(name: str) -> Iterator[Endpoint]:
    ctx: dict[str, Any] = {"lock": threading.Lock(), "seen": [], "statuses": [], "closed": 0}
    with BackgroundHTTPServer(_Recorder, ctx, name=name) as srv:
        yield Endpoint(srv.url, ctx)


@pytest.fixture
def server() -> Iterator[Endpoint]:
    yield from _endpoint("target")


@pytest.fixture
def proxy() -> Iterator[Endpoint]:
    """Stands in for an HTTP proxy: it gets the absolute URL as the request target."""
    yield from _endpoint("proxy")


@pytest.fixture(params=["requests", "hand-written"])
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    made: Client = JsonClient(direct=True) if request.param == "requests" else KeepAliveClient()
    yield made
    made.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def seen(endpoint: Endpoint) -> list[dict[str, Any]]:
    with endpoint.ctx["lock"]:
        return list(endpoint.ctx["seen"])


def free_port() -> int:
    with socket.socket() as sock:  # a loopback port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_any_status_is_a_reply_with_its_body(client: Client, server: Endpoint) -> None:
    server.ctx["statuses"].append(503)
    reply = client.send("PUT", server.url + "/events", [{"a": 1}], timeout=2)
    assert reply.status == 503 and not reply.ok and '"status": 503' in reply.text()
    reply = client.send("POST", server.url + "/events", b'{"raw": true}', timeout=2)
    assert reply.ok and reply.status == 200
    assert [(r["method"], r["body"]) for r in seen(server)] == [
        ("PUT", [{"a": 1}]), ("POST", {"raw": True})]


def test_no_answer_names_the_url_and_the_reason_not_the_transport(client: Client) -> None:
    url = "http://127.0.0.1:%d/events" % free_port()
    with pytest.raises(CallFailed) as info:
        client.send("PUT", url, [], timeout=2)
    assert info.value.url == url and "Connection refused" in info.value.reason
    assert str(info.value) == "PUT %s: %s" % (url, info.value.reason)
    assert "HTTPConnectionPool" not in str(info.value)


def test_an_answer_that_does_not_come_in_time_says_so(client: Client) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = "http://127.0.0.1:%d/" % silent.getsockname()[1]
        with pytest.raises(CallFailed, match=r"no answer within 0\.2 s"):
            client.send("POST", url, {}, timeout=0.2)


def test_calls_from_one_thread_keep_one_connection(client: Client, server: Endpoint) -> None:
    for _ in range(3):
        assert client.send("PUT", server.url + "/events", [], timeout=2).ok
    other: list[int] = []
    thread = threading.Thread(
        target=lambda: other.append(client.send("PUT", server.url + "/x", [], timeout=2).status))
    thread.start()
    thread.join(5)
    ports = [r["client_port"] for r in seen(server)]
    assert other == [200]
    assert ports[0] == ports[1] == ports[2] != ports[3]  # another thread, its own connection


def test_a_connection_the_server_closed_is_replaced(client: Client, server: Endpoint) -> None:
    server.ctx["idle"] = 0.1
    assert client.send("PUT", server.url + "/events", [1], timeout=2).ok
    assert wait_for(lambda: server.ctx["closed"] == 1)  # the server dropped the idle one
    assert client.send("PUT", server.url + "/events", [2], timeout=2).ok
    first, second = seen(server)
    assert first["client_port"] != second["client_port"] and second["body"] == [2]


def test_a_closed_connection_found_only_when_sending_is_tried_once_anew(
        server: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    client = KeepAliveClient()
    server.ctx["idle"] = 0.1
    assert client.send("PUT", server.url + "/events", [1], timeout=2).ok
    assert wait_for(lambda: server.ctx["closed"] == 1)
    monkeypatch.setattr(httpjson, "_dropped", lambda conn: False)  # the race: not seen
    assert client.send("PUT", server.url + "/events", [2], timeout=2).ok
    assert [r["body"] for r in seen(server)] == [[1], [2]]
    client.close()


def test_a_url_that_is_not_http_is_refused_by_name() -> None:
    with pytest.raises(CallFailed, match="ftp://x/: not an http"):
        KeepAliveClient().send("PUT", "ftp://x/", [], timeout=1)


def test_direct_never_goes_through_the_environments_proxy(
        client: Client, clean_env: pytest.MonkeyPatch, server: Endpoint,
        proxy: Endpoint) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        clean_env.setenv(name, proxy.url)
    assert client.send("POST", server.url + "/failure", {"x": 1}, timeout=2).ok
    assert len(seen(server)) == 1 and seen(proxy) == []


def test_the_environment_client_uses_the_proxy_but_not_for_loopback(
        clean_env: pytest.MonkeyPatch, server: Endpoint,
        proxy: Endpoint) -> None:
    clean_env.setenv("http_proxy", proxy.url)
    client = JsonClient(direct=False)
    assert client.send("POST", "http://testapi.example/api/v1/results", {"r": 1}, timeout=2).ok
    [through] = seen(proxy)
    assert through["target"] == "http://testapi.example/api/v1/results"
    assert through["host"] == "testapi.example"
    assert client.send("POST", server.url + "/api/v1/results", {"r": 2}, timeout=2).ok
    assert len(seen(proxy)) == 1 and [r["body"] for r in seen(server)] == [{"r": 2}]


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8080/x", True), ("http://127.0.0.5/", True), ("http://[::1]:80/", True),
    ("http://localhost/", True), ("http://LOCALHOST:1/", True),
    ("http://192.168.122.1:12345/", False), ("https://testapi.example/", False),
    ("http://[fe80::1]/", False), ("http://localhost.example/", False),
])
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_stopped_server_ends_its_kept_alive_connections() -> None:
    """The next server on the same port gets the client's next request, not the old one's
    handler through the connection the client kept alive."""
    from doctor_tests.consumer import ConsumerServer
    from doctor_tests.httpjson import DIRECT

    body = {"alarm_id": "a1", "alarm_name": "n", "severity": "low", "previous": "ok",
            "current": "alarm", "reason": "r",
            "reason_data": {"type": "event", "event": {"event_type": "x", "traits": []}}}
    first = ConsumerServer(bind="127.0.0.1", port=0)
    first.start()
    port = first.port
    try:
        assert DIRECT.send("POST", first.failure_url, body, 5).status == 200
    finally:
        first.stop()
    second = ConsumerServer(bind="127.0.0.1", port=port)
    second.start()
    try:
        assert DIRECT.send("POST", second.failure_url, body, 5).status == 200
        assert [a.alarm_id for a in second.consumer.alarms()] == ["a1"]
        assert len(first.consumer.alarms()) == 1
    finally:
        second.stop()


def test_a_burst_of_connections_waits_in_the_listen_queue_not_on_the_wire() -> None:
    # Aodh's notifier posts a burst of alarms at once. While the server's accept thread is
    # starved of CPU, each handshake must wait in the kernel's queue: with socketserver's
    # backlog of 5 the rest were dropped and waited for SYN-ACK retransmits (1 s and more),
    # and one was reset (an alarm lost). Nothing accepts here, so the queue alone holds them.
    server = httpjson._Server(("127.0.0.1", 0), httpjson.JsonRequestHandler)
    clients: list[socket.socket] = []
    try:
        for _ in range(200):
            clients.append(socket.create_connection(server.server_address[:2], timeout=0.5))
    finally:
        for c in clients:
            c.close()
        server.server_close()
    assert len(clients) == 200
