"""The sample monitor: packets, matching, the miss state machine, reporting, real pings."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doctor_tests.httpjson import BackgroundHTTPServer, JsonRequestHandler
from doctor_tests.monitor import DownEvent, Monitor, MonitorConfigError, UpEvent, icmp, report
from doctor_tests.monitor.tracker import ProbeTracker
from doctor_tests.timeutil import parse_iso8601

# --- helpers --------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or the deadline; Event.wait between polls."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        tick.wait(0.005)
    return predicate()


def to_reply(request: bytes) -> bytes:
    """Turn an echo request into the echo reply a host would send."""
    body = b"\x00\x00\x00\x00" + request[4:]
    csum = icmp.checksum(body)
    return body[:2] + struct.pack("!H", csum) + body[4:]


def ip_wrap(icmp_packet: bytes, proto: int = 1, version: int = 4) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", (version << 4) | 5, 0, 20 + len(icmp_packet), 0, 0, 64, proto, 0,
        socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"),
    )
    return header + icmp_packet


# --- packets --------------------------------------------------------------------------------


def test_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3: the sum of these words is 0xddf2, so the checksum is ~0xddf2.
    assert icmp.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert icmp.checksum(b"") == 0xFFFF
    assert icmp.checksum(b"\x01") == icmp.checksum(b"\x01\x00")  # odd length is padded


def test_echo_request_layout_and_checksum() -> None:
    packet = icmp.build_echo_request(0x1234, 0x0102, b"payload!")
    assert packet[0] == icmp.ICMP_ECHO_REQUEST and packet[1] == 0
    assert struct.unpack("!HH", packet[4:8]) == (0x1234, 0x0102)
    assert packet[8:] == b"payload!"
    assert icmp.checksum(packet) == 0  # a packet including its checksum sums to zero


@given(
    ident=st.integers(0, 0xFFFF),
    seq=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=64),
    raw=st.booleans(),
)
def test_request_reply_round_trip(ident: int, seq: int, payload: bytes, raw: bool) -> None:
    reply_packet = to_reply(icmp.build_echo_request(ident, seq, payload))
    wire = ip_wrap(reply_packet) if raw else reply_packet
    reply = icmp.parse_echo_reply(wire, "192.0.2.7", ip_header=raw)
    assert reply == icmp.EchoReply(ident, seq, payload, "192.0.2.7")


def test_build_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        icmp.build_echo_request(0x10000, 1)
    with pytest.raises(ValueError):
        icmp.build_echo_request(1, -1)


@pytest.mark.parametrize(
    ("packet", "ip_header"),
    [
        (icmp.build_echo_request(1, 1, b"x"), False),  # our own request seen on loopback
        (ip_wrap(icmp.build_echo_request(1, 1, b"x")), True),
        (b"\x00\x00\x00", False),  # truncated
        (b"", True),
        (ip_wrap(to_reply(icmp.build_echo_request(1, 1)), proto=17), True),  # not ICMP
        (ip_wrap(to_reply(icmp.build_echo_request(1, 1)), version=6), True),
        (to_reply(icmp.build_echo_request(1, 1, b"ab"))[:-1] + b"c", False),  # bad checksum
        (bytes([3, 1]) + bytes(6), False),  # destination unreachable
    ],
)
def test_parse_rejects_everything_but_echo_replies(packet: bytes, ip_header: bool) -> None:
    assert icmp.parse_echo_reply(packet, "127.0.0.1", ip_header=ip_header) is None


@given(st.binary(max_size=100), st.booleans())
def test_parse_never_raises_on_junk(data: bytes, ip_header: bool) -> None:
    result = icmp.parse_echo_reply(data, "127.0.0.1", ip_header=ip_header)
    assert result is None or isinstance(result, icmp.EchoReply)


PROBE = icmp.Probe(identifier=7, sequence=42, address="10.0.0.5", payload=b"token-1")


def test_matches_the_right_reply() -> None:
    assert icmp.matches_probe(icmp.EchoReply(7, 42, b"token-1", "10.0.0.5"), PROBE)


@pytest.mark.parametrize(
    "reply",
    [
        icmp.EchoReply(8, 42, b"token-1", "10.0.0.5"),  # another pinger's identifier
        icmp.EchoReply(7, 43, b"token-1", "10.0.0.5"),  # another sequence
        icmp.EchoReply(7, 42, b"token-1", "10.0.0.6"),  # another host answered
        icmp.EchoReply(7, 42, b"token-2", "10.0.0.5"),  # same id/seq from another monitor
    ],
)
def test_matching_rejects_other_replies(reply: icmp.EchoReply) -> None:
    assert not icmp.matches_probe(reply, PROBE)


def test_check_ipv4() -> None:
    assert icmp.check_ipv4("127.0.0.1") == "127.0.0.1"
    for bad in ("localhost", "::1", "300.1.1.1", ""):
        with pytest.raises(ValueError, match="IPv4"):
            icmp.check_ipv4(bad)


# --- the state machine -----------------------------------------------------------------------


def drive(tracker: ProbeTracker, answered: list[bool], interval: float = 0.01) -> list[str]:
    """Send one probe per interval; answered[i] says whether probe i gets a reply."""
    return [t for t, _ in drive_timed(tracker, answered, interval)]


def drive_timed(
    tracker: ProbeTracker, answered: list[bool], interval: float = 0.01
) -> list[tuple[str, int]]:
    """Like drive, with the index of the last probe sent when each transition happened."""
    transitions: list[tuple[str, int]] = []
    now = 0.0
    for seq, ok in enumerate(answered):
        tracker.probe_sent(seq, now)
        if ok:
            t = tracker.reply_received(seq, now + interval / 2)
            if t:
                transitions.append((t.kind, seq))
        now += interval
        t = tracker.expire(now)
        if t:
            transitions.append((t.kind, seq))
    t = tracker.expire(now + 10)
    if t:
        transitions.append((t.kind, len(answered)))
    return transitions


def test_single_losses_never_raise_an_alarm() -> None:
    tracker = ProbeTracker(timeout=0.05, misses=3)
    pattern = [True, False, True, False, False, True, False, True] * 20
    assert drive(tracker, pattern) == []
    assert not tracker.is_down
    assert tracker.missed == pattern.count(False)
    assert tracker.received == pattern.count(True)


def test_consecutive_misses_declare_down_once() -> None:
    tracker = ProbeTracker(timeout=0.05, misses=3)
    now = 0.0
    for seq in range(5):
        tracker.probe_sent(seq, now)
        assert tracker.reply_received(seq, now + 0.001) is None
        now += 0.01
    assert tracker.last_reply_at == pytest.approx(0.041)
    for seq in range(5, 20):  # link down from here
        tracker.probe_sent(seq, now)
        now += 0.01
    assert tracker.expire(0.0999) is None  # probe 5 (sent at 0.05) expires at 0.10
    assert tracker.expire(0.115) is None  # 5 and 6 missed: two is not enough
    assert tracker.consecutive_misses == 2
    down = tracker.expire(0.125)  # probes 5, 6, 7 expired
    assert down is not None and down.kind == "down"
    assert down.last_reply_at == pytest.approx(0.041) and down.consecutive_misses == 3
    assert tracker.expire(10) is None  # more misses: no second down
    assert tracker.is_down and tracker.missed == 15


def test_down_needs_timeout_to_pass() -> None:
    tracker = ProbeTracker(timeout=0.05, misses=1)
    tracker.probe_sent(1, 1.0)
    assert tracker.next_deadline() == pytest.approx(1.05)
    assert tracker.expire(1.049) is None
    assert tracker.expire(1.05) is not None


def test_reply_recovers_and_a_later_fault_is_reported_again() -> None:
    tracker = ProbeTracker(timeout=0.005, misses=2)
    assert drive(tracker, [True, False, False, False, True, True, False, False, True]) == [
        "down", "up", "down", "up",
    ]


def test_late_reply_is_counted_but_changes_nothing() -> None:
    tracker = ProbeTracker(timeout=0.05, misses=2)
    tracker.probe_sent(1, 0.0)
    tracker.probe_sent(2, 0.01)
    down = tracker.expire(1.0)
    assert down is not None and down.kind == "down"
    assert tracker.reply_received(1, 1.1) is None  # late: does not bring the host back
    assert tracker.late == 1 and tracker.is_down and tracker.received == 0
    assert tracker.reply_received(99, 1.1) is None  # never sent: ignored, not even late
    assert tracker.late == 1


def test_tracker_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ProbeTracker(timeout=0, misses=3)
    with pytest.raises(ValueError):
        ProbeTracker(timeout=0.05, misses=0)


def _expected_transitions(answered: list[bool], misses: int) -> list[str]:
    out, run, down = [], 0, False
    for ok in answered:
        if ok:
            run = 0
            if down:
                out.append("up")
                down = False
        else:
            run += 1
            if run >= misses and not down:
                out.append("down")
                down = True
    return out


@given(st.lists(st.booleans(), max_size=200), st.integers(1, 5))
def test_down_iff_a_run_of_misses(answered: list[bool], misses: int) -> None:
    tracker = ProbeTracker(timeout=0.005, misses=misses)  # timeout < interval: in-order
    assert drive(tracker, answered) == _expected_transitions(answered, misses)
    assert tracker.sent == len(answered)
    assert tracker.received + tracker.missed == len(answered)


def test_misses_are_consecutive_in_send_order_not_arrival_order() -> None:
    # timeout = 5 intervals: probe 5's reply is processed before probes 3 and 4 expire.
    # Misses 3, 4 and 6 are not a run of three (5 was answered in between).
    tracker = ProbeTracker(timeout=0.05, misses=3)
    assert drive(tracker, [True, True, True, False, False, True, False, True, True]) == []
    assert tracker.missed == 3 and not tracker.is_down


@given(st.lists(st.booleans(), max_size=120), st.integers(1, 4), st.integers(1, 8))
def test_overlapping_probes_never_false_alarm(
    answered: list[bool], misses: int, timeout_intervals: int
) -> None:
    """With several probes in flight: down only after a real run of misses in send order."""
    tracker = ProbeTracker(timeout=0.01 * timeout_intervals - 0.001, misses=misses)
    transitions = drive_timed(tracker, answered)
    kinds = [kind for kind, _ in transitions]
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))  # alternate
    assert kinds[:1] in ([], ["down"])
    runs = [len(r) for r in "".join("x" if ok else "-" for ok in answered).split("x")]
    if "down" in kinds:
        assert max(runs) >= misses
    if runs[-1] >= misses:  # misses up to the end: nothing can save the host
        assert kinds[-1] == "down" and tracker.is_down
    if max(runs, default=0) < misses:
        assert kinds == []


# --- reporting to a local inspector ------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:  # type: ignore[attr-defined]
            server.requests.append((self.path, self.headers.get("Content-Type"), body))  # type: ignore[attr-defined]
            status = server.statuses.pop(0) if server.statuses else 200  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def inspector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    server.statuses = []  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def bodies(server: ThreadingHTTPServer) -> list[list[dict[str, object]]]:
    with server.lock:  # type: ignore[attr-defined]
        return [json.loads(body) for _, _, body in server.requests]  # type: ignore[attr-defined]


def check_event_shape(events: object, hostname: str, status: str) -> dict[str, object]:
    assert isinstance(events, list) and len(events) == 1
    event = events[0]
    assert set(event) == {"time", "type", "details"}
    assert event["type"] == f"compute.host.{status}"
    stamp = event["time"]
    assert isinstance(stamp, str) and "." in stamp and len(stamp.split(".")[1]) >= 6
    assert parse_iso8601(stamp).utcoffset() == timezone.utc.utcoffset(None)
    details = event["details"]
    assert details["hostname"] == hostname and details["status"] == status
    assert details["monitor"] == "doctor-sample-monitor"
    assert uuid.UUID(details["monitor_event_id"]).version == 4
    return event


def test_put_events_body_shape(inspector: ThreadingHTTPServer) -> None:
    event = report.host_event("compute-1", "down", at=1_700_000_000.25)
    assert report.put_events(url_of(inspector), [event]) == 200
    path, ctype, raw = inspector.requests[0]  # type: ignore[attr-defined]
    assert path == "/events" and ctype == "application/json"
    sent = check_event_shape(json.loads(raw), "compute-1", "down")
    assert sent["time"] == "2023-11-14T22:13:20.250000+00:00"


def test_put_events_retries_5xx_then_succeeds(inspector: ThreadingHTTPServer) -> None:
    inspector.statuses.extend([503, 502])  # type: ignore[attr-defined]
    event = report.host_event("compute-1", "down")
    assert report.put_events(url_of(inspector), [event], deadline=5) == 200
    assert len(inspector.requests) == 3  # type: ignore[attr-defined]


def test_put_events_does_not_retry_4xx(inspector: ThreadingHTTPServer) -> None:
    inspector.statuses.append(404)  # type: ignore[attr-defined]
    with pytest.raises(report.ReportFailed, match="HTTP 404") as info:
        report.put_events(url_of(inspector), [report.host_event("x", "down")])
    assert info.value.attempts == 1 and len(inspector.requests) == 1  # type: ignore[attr-defined]


def test_put_events_gives_up_at_the_deadline() -> None:
    with socket.socket() as closed:  # a port on loopback that nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(report.ReportFailed) as info:
        report.put_events(
            f"http://127.0.0.1:{port}", [report.host_event("x", "down")], deadline=0.3
        )
    assert info.value.attempts >= 2
    assert time.monotonic() - started < 2.0
    assert info.value.url == f"http://127.0.0.1:{port}/events"
    assert "Connection refused" in info.value.last_error and info.value.url in str(info.value)


def test_put_events_goes_direct_whatever_the_proxy_says(
    inspector: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as dead:  # a proxy nobody runs: the report must not try it
        dead.bind(("127.0.0.1", 0))
        proxy = "http://127.0.0.1:%d" % dead.getsockname()[1]
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert report.put_events(url_of(inspector), [report.host_event("x", "down")]) == 200


class _PortRecorder(JsonRequestHandler):
    def route(self, method: str, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        self.read_json()
        self.context.append(self.client_address[1])
        return 200, {}


def test_reports_from_one_thread_keep_their_connection_alive() -> None:
    """The report is on the critical path: no new TCP connection per report."""
    ports: list[int] = []
    with BackgroundHTTPServer(_PortRecorder, ports) as server:
        for _ in range(3):
            assert report.put_events(server.url, [report.host_event("x", "down")]) == 200
    assert len(ports) == 3 and len(set(ports)) == 1, ports


# --- the monitor loop with a fake socket ---------------------------------------------------------


class FakeLink:
    """A ProbeSocket whose 'host' answers while ``up`` is set (replies go through a socketpair)."""

    kind = "fake"

    def __init__(self, address: str) -> None:
        self.address = address
        self.identifier = 4242
        self.up = threading.Event()
        self.up.set()
        self._r, self._w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._r.setblocking(False)
        self.foreign = 0

    def fileno(self) -> int:
        return self._r.fileno()

    def send_probe(self, sequence: int, payload: bytes) -> icmp.Probe:
        if self.up.is_set():
            # a stranger's reply first (other identifier), then ours
            for ident in (self.identifier + 1, self.identifier):
                self._w.send(struct.pack("!HHH", ident, sequence, len(payload)) + payload)
        return icmp.Probe(self.identifier, sequence, self.address, payload)

    def receive(self) -> list[icmp.EchoReply]:
        replies: list[icmp.EchoReply] = []
        while True:
            try:
                data = self._r.recv(65536)
            except BlockingIOError:
                return replies
            ident, seq, size = struct.unpack_from("!HHH", data)
            replies.append(icmp.EchoReply(ident, seq, data[6 : 6 + size], self.address))

    def close(self) -> None:
        self._r.close()
        self._w.close()


def test_monitor_detects_down_reports_once_and_recovers(inspector: ThreadingHTTPServer) -> None:
    links: list[FakeLink] = []
    downs: list[DownEvent] = []
    ups: list[UpEvent] = []

    def factory(address: str) -> FakeLink:
        links.append(FakeLink(address))
        return links[-1]

    monitor = Monitor(
        "compute-1", "192.0.2.10", url_of(inspector), interval=0.005, timeout=0.02, misses=3,
        on_down=downs.append, on_up=ups.append, socket_factory=factory,
    )
    with monitor:
        assert monitor.wait_alive(2)
        assert wait_until(lambda: monitor.replies_received >= 10)
        assert monitor.wait_down(0.05) is None
        fault_at = time.time()
        links[0].up.clear()
        down = monitor.wait_down(2)
        assert down is not None
        assert down.hostname == "compute-1" and down.consecutive_misses == 3
        assert down.last_reply_at is not None
        assert down.last_reply_at <= fault_at + 0.01 <= down.detected_at + 0.01
        assert monitor.detected_at == down.detected_at and monitor.is_down
        # the link stays down: many more misses, still exactly one report
        missed = monitor.probes_missed
        assert wait_until(lambda: monitor.probes_missed >= missed + 20)
        assert wait_until(lambda: len(downs) == 1)
        assert [b[0]["type"] for b in bodies(inspector)] == ["compute.host.down"]
        sent = check_event_shape(bodies(inspector)[0], "compute-1", "down")
        assert sent["details"]["monitor_event_id"] == down.event_id  # type: ignore[index]

        links[0].up.set()
        assert monitor.wait_up(2)
        assert wait_until(lambda: len(bodies(inspector)) == 2 and len(ups) == 1)
        check_event_shape(bodies(inspector)[1], "compute-1", "up")
        assert not monitor.is_down
    assert monitor.replies_received <= monitor.probes_sent  # the stranger's replies never count
    assert [r.kind for r in monitor.reports] == ["down", "up"]
    assert all(r.ok and r.status == 200 for r in monitor.reports)
    assert [type(e) for e in monitor.events] == [DownEvent, UpEvent]


def test_monitor_without_inspector_only_calls_back() -> None:
    links: list[FakeLink] = []
    seen = threading.Event()

    def factory(address: str) -> FakeLink:
        links.append(FakeLink(address))
        return links[-1]

    monitor = Monitor("h", "192.0.2.1", interval=0.005, timeout=0.01, misses=2,
                      on_down=lambda e: seen.set(), socket_factory=factory)
    with monitor:
        assert monitor.wait_alive(2)
        links[0].up.clear()
        assert seen.wait(2)
    assert monitor.reports == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hostname": ""}, "hostname"),
        ({"address": "example.org"}, "IPv4"),
        ({"interval": 0}, "interval"),
        ({"timeout": -1}, "timeout"),
        ({"misses": 0}, "misses"),
        ({"inspector_url": "127.0.0.1:12345"}, "inspector URL"),
    ],
)
def test_monitor_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"hostname": "h", "address": "127.0.0.1", **kwargs}
    with pytest.raises(MonitorConfigError, match=match):
        Monitor(**args)  # type: ignore[arg-type]


# --- real ICMP on loopback (we run as root) ---------------------------------------------------


def _can_open_raw() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True
    except PermissionError:
        return False


needs_raw = pytest.mark.skipif(not _can_open_raw(), reason="needs root for a raw ICMP socket")


@needs_raw
def test_real_ping_of_loopback_sees_replies_and_no_down() -> None:
    # Two monitors at once: each raw socket sees the other's replies too, and ignores them.
    with Monitor("lo-a", "127.0.0.1") as a, Monitor("lo-b", "127.0.0.1") as b:
        assert a.socket_kind == "raw" and a.identifier != b.identifier
        assert a.wait_alive(2) and b.wait_alive(2)
        assert wait_until(lambda: a.replies_received >= 20 and b.replies_received >= 20)
        assert a.wait_down(0) is None and b.wait_down(0) is None
    for m in (a, b):
        assert not m.is_down and m.detected_at is None
        assert m.replies_received <= m.probes_sent
        assert m.probes_missed <= 1  # at most the probe in flight when stopped
        assert m.last_reply_at is not None and abs(m.last_reply_at - time.time()) < 5


def test_datagram_fallback_when_raw_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real_socket = socket.socket

    def no_raw(family: int = -1, type: int = -1, proto: int = -1) -> socket.socket:
        if type == socket.SOCK_RAW:
            raise PermissionError(1, "Operation not permitted")
        return real_socket(family, type, proto)

    monkeypatch.setattr(icmp.socket, "socket", no_raw)
    try:
        sock = icmp.IcmpSocket("127.0.0.1")
    except icmp.IcmpUnavailable as exc:  # ping sockets not allowed for our group here
        assert "ping_group_range" in str(exc) and "raw" in str(exc)
        return
    try:
        assert sock.kind == "dgram"
        probe = sock.send_probe(1, b"doctor-dgram")
        assert probe.identifier == sock.identifier  # the kernel's identifier, not ours
        replies: list[icmp.EchoReply] = []

        def got_reply() -> bool:
            replies.extend(sock.receive())
            return bool(replies)

        assert wait_until(got_reply, 2)
        assert any(icmp.matches_probe(r, probe) for r in replies)
    finally:
        sock.close()
