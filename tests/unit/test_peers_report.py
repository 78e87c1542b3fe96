"""The monitor's reports to Vitrage and Masakari, against a small HTTP server standing in
for their APIs (the HTTP layer only: the bodies are checked against what Vitrage 15.0.1
and Masakari 22.0.0 accepted when run, docs/peers.md)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from test_monitor import FakeLink, wait_until  # tests/unit is on the path (prepend mode)

from doctor_tests.httpjson import Reply
from doctor_tests.monitor import report
from doctor_tests.monitor.monitor import Monitor, MonitorConfigError
from doctor_tests.peers import masakari, vitrage
from doctor_tests.peers.auth import PeerError, SessionTokens


class _Api(BaseHTTPRequestHandler):
    """Records each request (method, path, headers, JSON body); answers the next scripted
    (status, body), 200 {} when none is left."""

    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        server: Any = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with server.lock:
            server.requests.append((self.command, self.path, dict(self.headers),
                                    json.loads(raw) if raw else None))
            status, body = server.answers.pop(0) if server.answers else (200, {})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.requests, server.answers, server.lock = [], [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def base(server: Any) -> str:
    return "http://127.0.0.1:%d" % server.server_address[1]


class Tokens:
    """A TokenSource: token-1, then token-2 after invalidate(); one endpoint per type."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        self.endpoints = endpoints
        self.issued = 1
        self.asked = 0

    def token(self) -> str:
        self.asked += 1
        return "token-%d" % self.issued

    def endpoint(self, service_type: str) -> str:
        return self.endpoints[service_type]

    def invalidate(self) -> None:
        self.issued += 1


AT = 1_796_425_814.07883  # 2026-12-04T23:10:14.078830Z


# --- Vitrage ----------------------------------------------------------------------------------
def test_vitrage_down_event_is_the_doctor_datasource_form(api: Any) -> None:
    reporter = vitrage.VitrageReporter(Tokens({"rca": base(api)}))
    reply = reporter.send("lab-compute-0", "down", AT, "ev-1", deadline=2)
    assert reply.status == 200 and reporter.url == base(api) + "/v1/event"
    [(method, path, headers, body)] = api.requests
    assert (method, path, headers["X-Auth-Token"]) == ("POST", "/v1/event", "token-1")
    assert headers["Content-Type"] == "application/json"
    assert body == {"time": "2026-12-04T23:10:14.078830", "type": "compute.host.down",
                    "details": {"hostname": "lab-compute-0", "status": "down",
                                "source": "doctor-sample-monitor", "severity": "critical",
                                "cause": "host unreachable",
                                "monitor_id": "doctor-sample-monitor",
                                "monitor_event_id": "ev-1"}}
    # exactly the format the doctor transformer parses (vitrage.common.constants)
    datetime.strptime(body["time"], "%Y-%m-%dT%H:%M:%S.%f")


def test_vitrage_up_event_clears_the_same_alarm(api: Any) -> None:
    """Vitrage keys the alarm by type and host: "up" is compute.host.down, status up."""
    vitrage.VitrageReporter(Tokens({"rca": base(api) + "/"})).send(
        "lab-compute-0", "up", AT, "ev-2", deadline=2)
    [(_, path, _, body)] = api.requests
    assert path == "/v1/event"
    assert body["type"] == "compute.host.down" and body["details"]["status"] == "up"
    assert "severity" not in body["details"]


@pytest.mark.parametrize(("endpoint", "url"), [
    ("http://c:8999", "http://c:8999/v1/event"),
    ("http://c:8999/", "http://c:8999/v1/event"),
    ("http://c:8999/v1", "http://c:8999/v1/event"),
    ("http://c/rca/v1/", "http://c/rca/v1/event"),
])
def test_vitrage_event_url(endpoint: str, url: str) -> None:
    assert vitrage.event_url(endpoint) == url


def test_vitrage_time_keeps_microseconds_and_utc() -> None:
    assert vitrage.vitrage_time(0.5) == "1970-01-01T00:00:00.500000"


def test_a_refused_token_is_renewed_once(api: Any) -> None:
    tokens = Tokens({"rca": base(api)})
    api.answers = [(401, {"error": "expired"}), (200, None)]
    reply = vitrage.VitrageReporter(tokens).send("h", "down", AT, "e", deadline=2)
    assert reply.status == 200
    assert [r[2]["X-Auth-Token"] for r in api.requests] == ["token-1", "token-2"]


def test_a_second_401_is_a_failure(api: Any) -> None:
    api.answers = [(401, {}), (401, {"error": "no"})]
    with pytest.raises(report.ReportFailed, match="HTTP 401") as info:
        vitrage.VitrageReporter(Tokens({"rca": base(api)})).send("h", "down", AT, "e",
                                                                  deadline=2)
    assert info.value.status == 401 and info.value.attempts == 2


def test_server_errors_are_retried_client_errors_are_not(api: Any) -> None:
    reporter = vitrage.VitrageReporter(Tokens({"rca": base(api)}))
    api.answers = [(503, {"error": "vitrage-graph is not ready"}), (200, None)]
    assert reporter.send("h", "down", AT, "e", deadline=5).status == 200
    assert len(api.requests) == 2
    api.answers = [(404, {"error": "Failed to post event"})]
    with pytest.raises(report.ReportFailed, match="HTTP 404.*Failed to post event") as info:
        reporter.send("h", "down", AT, "e", deadline=5)
    assert info.value.status == 404 and info.value.attempts == 1 and len(api.requests) == 3


def test_no_answer_gives_up_at_the_deadline() -> None:
    reporter = vitrage.VitrageReporter(Tokens({"rca": "http://127.0.0.1:9"}),
                                       attempt_timeout=0.1)
    started = time.monotonic()
    with pytest.raises(report.ReportFailed) as info:
        reporter.send("h", "down", AT, "e", deadline=0.5)
    assert info.value.status is None and info.value.attempts >= 2
    assert time.monotonic() - started < 3


# --- Masakari ---------------------------------------------------------------------------------
def test_masakari_notification_is_the_host_monitors(api: Any) -> None:
    api.answers = [(202, {"notification": {"notification_uuid": "n-1", "status": "new"}})]
    reporter = masakari.MasakariReporter(Tokens({"instance-ha": base(api) + "/v1"}))
    reply = reporter.send("lab-compute-1", "down", AT, "ignored", deadline=2)
    assert reply.status == 202 and masakari.notification_uuid(reply) == "n-1"
    [(method, path, headers, body)] = api.requests
    assert (method, path, headers["X-Auth-Token"]) == ("POST", "/v1/notifications", "token-1")
    assert body == {"notification": {
        "type": "COMPUTE_HOST", "hostname": "lab-compute-1",
        "generated_time": "2026-12-04T23:10:14.078830",
        "payload": {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"}}}


def test_masakari_up_is_started_online(api: Any) -> None:
    masakari.MasakariReporter(Tokens({"instance-ha": base(api) + "/v1"})).send(
        "h", "up", AT, "e", deadline=2)
    assert api.requests[0][3]["notification"]["payload"] == {
        "event": "STARTED", "cluster_status": "ONLINE", "host_status": "NORMAL"}


def test_masakari_refusal_is_not_retried(api: Any) -> None:
    api.answers = [(409, {"conflictingRequest": {"message": "host is already under "
                                                 "maintenance"}})]
    with pytest.raises(report.ReportFailed, match="HTTP 409.*maintenance") as info:
        masakari.MasakariReporter(Tokens({"instance-ha": base(api) + "/v1"})).send(
            "h", "down", AT, "e", deadline=2)
    assert info.value.status == 409 and len(api.requests) == 1


@pytest.mark.parametrize(("endpoint", "url"), [
    ("http://c:15868/v1", "http://c:15868/v1/notifications"),
    ("http://c:15868/v1/", "http://c:15868/v1/notifications"),
    ("http://c:15868/v1/8d1f6c", "http://c:15868/v1/8d1f6c/notifications"),
    ("http://c:15868", "http://c:15868/v1/notifications"),
])
def test_masakari_notifications_url(endpoint: str, url: str) -> None:
    assert masakari.notifications_url(endpoint) == url


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'{"notification": {}}', b"\xff"])
def test_notification_uuid_of_odd_bodies(body: bytes) -> None:
    assert masakari.notification_uuid(Reply(202, body)) is None


# --- the monitor with a peer's reporter -------------------------------------------------------
def test_monitor_reports_down_and_up_to_vitrage(api: Any) -> None:
    links: list[FakeLink] = []

    def factory(address: str) -> FakeLink:
        links.append(FakeLink(address))
        return links[-1]

    reporter = vitrage.VitrageReporter(Tokens({"rca": base(api)}))
    monitor = Monitor("lab-compute-0", "192.0.2.10", interval=0.005, timeout=0.02, misses=3,
                      socket_factory=factory, reporter=reporter)
    with monitor:
        assert monitor.wait_alive(2)
        links[0].up.clear()
        down = monitor.wait_down(2)
        assert down is not None
        assert wait_until(lambda: len(api.requests) == 1)
        links[0].up.set()
        assert monitor.wait_up(2)
        assert wait_until(lambda: len(api.requests) == 2 and len(monitor.reports) == 2)
    first, second = (r[3] for r in api.requests)
    assert first["details"]["status"] == "down" and second["details"]["status"] == "up"
    assert first["details"]["monitor_event_id"] == down.event_id
    assert first["time"] == vitrage.vitrage_time(down.detected_at)
    assert [(r.kind, r.ok, r.status, r.url) for r in monitor.reports] == [
        ("down", True, 200, base(api) + "/v1/event"), ("up", True, 200, base(api) + "/v1/event")]


def test_monitor_records_a_refused_report(api: Any) -> None:
    links: list[FakeLink] = []

    def factory(address: str) -> FakeLink:
        links.append(FakeLink(address))
        return links[-1]

    api.answers = [(400, {"badRequest": {"message": "Host with name h could not be found."}})]
    monitor = Monitor("h", "192.0.2.10", interval=0.005, timeout=0.02, misses=3,
                      socket_factory=factory, report_up=False,
                      reporter=masakari.MasakariReporter(Tokens({"instance-ha": base(api)})))
    with monitor:
        assert monitor.wait_alive(2)
        links[0].up.clear()
        assert monitor.wait_down(2) is not None
        assert wait_until(lambda: len(monitor.reports) == 1)
    [result] = monitor.reports
    assert not result.ok and result.status == 400 and "could not be found" in (result.error or "")


def test_monitor_takes_an_inspector_url_or_a_reporter_not_both() -> None:
    reporter = vitrage.VitrageReporter(Tokens({"rca": "http://127.0.0.1:1"}))
    with pytest.raises(MonitorConfigError, match="not both"):
        Monitor("h", "192.0.2.10", "http://127.0.0.1:2", reporter=reporter)


def test_monitor_data_plane_reports_to_the_inspector_keep_their_type(api: Any) -> None:
    links: list[FakeLink] = []

    def factory(address: str) -> FakeLink:
        links.append(FakeLink(address))
        return links[-1]

    monitor = Monitor("h", "192.0.2.10", base(api), interval=0.005, timeout=0.02, misses=3,
                      socket_factory=factory, report_up=False, plane="dataplane")
    with monitor:
        assert monitor.wait_alive(2)
        links[0].up.clear()
        assert monitor.wait_down(2) is not None
        assert wait_until(lambda: len(monitor.reports) == 1)
    [(method, path, _, body)] = api.requests
    assert (method, path) == ("PUT", "/events")
    assert body[0]["type"] == "compute.host.dataplane.down"


def test_monitor_refuses_a_data_plane_report_to_a_peer() -> None:
    reporter = vitrage.VitrageReporter(Tokens({"rca": "http://127.0.0.1:1"}))
    with pytest.raises(MonitorConfigError, match="vitrage receives host reports only"):
        Monitor("h", "192.0.2.10", reporter=reporter, plane="dataplane")


# --- tokens and endpoints from a keystoneauth session -----------------------------------------
class Session:
    """The three keystoneauth Session methods SessionTokens uses."""

    def __init__(self, catalog: dict[tuple[str, str], str], token: str | None = "t") -> None:
        self.catalog = catalog
        self._token = token
        self.lookups: list[tuple[str, str, str | None]] = []
        self.invalidated = 0

    def get_token(self) -> str | None:
        return self._token

    def get_endpoint(self, *, service_type: str, interface: str,
                     region_name: str | None) -> str | None:
        self.lookups.append((service_type, interface, region_name))
        return self.catalog.get((service_type, interface))

    def invalidate(self) -> bool:
        self.invalidated += 1
        return True


def test_session_tokens_look_an_endpoint_up_once() -> None:
    session = Session({("rca", "public"): "http://10.213.0.2:8999"})
    tokens = SessionTokens(session, interface=None, region_name="RegionOne")
    assert tokens.endpoint("rca") == tokens.endpoint("rca") == "http://10.213.0.2:8999"
    assert session.lookups == [("rca", "public", "RegionOne")]
    assert tokens.token() == "t"
    tokens.invalidate()
    assert session.invalidated == 1


def test_session_tokens_name_a_missing_endpoint() -> None:
    tokens = SessionTokens(Session({}), interface="internal", region_name="RegionOne")
    with pytest.raises(PeerError, match="no internal endpoint of service type 'instance-ha' "
                       "in region RegionOne"):
        tokens.endpoint("instance-ha")
    with pytest.raises(PeerError, match="no token"):
        SessionTokens(Session({}, token=None)).token()


def test_monitor_reports_to_each_reporter_in_turn(api: Any) -> None:
    """The recovery scenario: the sample inspector (fencing the host), then Masakari."""
    links: list[FakeLink] = []

    def factory(address: str) -> FakeLink:
        links.append(FakeLink(address))
        return links[-1]

    api.answers = [(200, {}), (202, {"notification": {"notification_uuid": "n-1"}})]
    reporters = [report.InspectorReporter(base(api)),
                 masakari.MasakariReporter(Tokens({"instance-ha": base(api) + "/v1"}))]
    monitor = Monitor("h", "192.0.2.10", interval=0.005, timeout=0.02, misses=3,
                      socket_factory=factory, report_up=False, reporter=reporters)
    assert monitor.reporter is reporters[0]
    with monitor:
        assert monitor.wait_alive(2)
        links[0].up.clear()
        assert monitor.wait_down(2) is not None
        assert wait_until(lambda: len(monitor.reports) == 2)
    assert [(r[0], r[1]) for r in api.requests] == [("PUT", "/events"),
                                                    ("POST", "/v1/notifications")]
    assert [(r.url, r.ok, r.status) for r in monitor.reports] == [
        (base(api) + "/events", True, 200), (base(api) + "/v1/notifications", True, 202)]
    with pytest.raises(MonitorConfigError, match="masakari receives host reports only"):
        Monitor("h", "192.0.2.10", reporter=reporters, plane="dataplane")


# --- Masakari's state through openstacksdk's instance_ha proxy (a small stand-in) ------------
class _Ha:
    """The instance_ha proxy calls the helpers make, over fixed segments and notifications."""

    def __init__(self) -> None:
        from types import SimpleNamespace as NS

        self.ns = NS
        self.hosts_by_segment = {"seg-1": [NS(uuid="u0", name="c0", on_maintenance=True),
                                           NS(uuid="u1", name="c1", on_maintenance=False)]}
        self.notes = [NS(notification_uuid="n1", source_host_uuid="u0", status="finished",
                         generated_time="2026-12-05T00:21:22.000000"),
                      NS(notification_uuid="n2", source_host_uuid="u1", status="error",
                         generated_time="2026-12-05T00:22:00.000000"),
                      NS(notification_uuid="n3", source_host_uuid="u0", status="running",
                         generated_time="2026-12-05T00:23:00.000000")]
        self.queries: list[dict[str, str]] = []
        self.updates: list[tuple[str, str, bool]] = []

    def segments(self) -> list[Any]:
        return [self.ns(uuid="seg-1", name="doctor-lab")]

    def hosts(self, segment: str) -> list[Any]:
        return self.hosts_by_segment[segment]

    def notifications(self, **query: str) -> list[Any]:
        self.queries.append(query)
        host = query.get("source_host_uuid")
        return [n for n in self.notes if host is None or n.source_host_uuid == host]

    def update_host(self, host: str, segment: str, on_maintenance: bool) -> None:
        self.updates.append((host, segment, on_maintenance))


def test_masakari_notifications_of_a_host_by_its_uuid_in_the_segment() -> None:
    from types import SimpleNamespace

    ha = _Ha()
    conn = SimpleNamespace(instance_ha=ha)
    found = masakari.notifications(conn, "c0", since=datetime(2026, 12, 5, 0, 21, 22).replace(
        tzinfo=timezone.utc).timestamp())
    assert [n.notification_uuid for n in found] == ["n1", "n3"]
    assert ha.queries[-1] == {"source_host_uuid": "u0", "sort_key": "generated_time",
                              "sort_dir": "asc",
                              "generated_since": "2026-12-05T00:21:21.000000"}
    assert [n.notification_uuid for n in masakari.unsettled(masakari.notifications(conn))] == [
        "n2", "n3"]  # error is run again by masakari-engine: not settled
    assert masakari.notifications(conn, "c9") == []
    assert masakari.out_of_maintenance(conn, dry_run=True) == [
        "would take Masakari host c0 (segment doctor-lab) out of maintenance"]
    assert ha.updates == []
    assert masakari.out_of_maintenance(conn, "c0") == [
        "took Masakari host c0 (segment doctor-lab) out of maintenance"]
    assert ha.updates == [("u0", "seg-1", False)]
