"""The openstacksdk backend against a tiny fake Keystone/Nova/Neutron on 127.0.0.1.

This runs the real openstacksdk + keystoneauth stack (discovery, microversion
headers, URL building, pagination) and checks the exact requests the inspector
makes; a real cloud is exercised by the lab scenarios.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

openstack = pytest.importorskip("openstack")

from doctor_tests.inspector.backend import CloudError, ComputeService, InvalidToken  # noqa: E402
from doctor_tests.inspector.openstack_backend import (  # noqa: E402
    KeystoneTokenValidator,
    OpenStackActions,
)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOpenStack:
    max_compute_mv: str = "2.96"
    neutron_dps: bool = True
    requests: list[Seen] = field(default_factory=list)
    fail: dict[tuple[str, str], int] = field(default_factory=dict)  # (method, path) -> status
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, method: str, prefix: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def catalog(self) -> list[dict[str, Any]]:
        def entry(kind: str, name: str, url: str) -> dict[str, Any]:
            return {"type": kind, "name": name, "id": name, "endpoints": [
                {"interface": iface, "region": "RegionOne", "region_id": "RegionOne",
                 "url": url, "id": f"{name}-{iface}"}
                for iface in ("public", "internal", "admin")]}

        return [
            entry("identity", "keystone", f"{self.base}/identity/v3"),
            entry("compute", "nova", f"{self.base}/compute/v2.1"),
            entry("network", "neutron", f"{self.base}/network"),
        ]

    def token(self) -> dict[str, Any]:
        return {"token": {
            "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2024-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p1", "name": "admin",
                        "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "admin"}, {"id": "r2", "name": "member"}],
            "catalog": self.catalog(),
        }}

    def answer(self, req: Seen) -> tuple[int, Any, dict[str, str]]:
        key = (req.method, req.path)
        if key in self.fail:
            return self.fail[key], {"error": "injected"}, {}
        p, m = req.path.rstrip("/"), req.method
        if p == "/identity/v3" and m == "GET":
            return 200, {"version": {"id": "v3.14", "status": "stable", "links": [
                {"rel": "self", "href": f"{self.base}/identity/v3/"}]}}, {}
        if p == "/identity/v3/auth/tokens" and m == "POST":
            return 201, self.token(), {"X-Subject-Token": "service-token"}
        if p == "/identity/v3/auth/tokens" and m == "GET":
            if req.headers.get("X-Subject-Token") == "good":
                return 200, self.token(), {}
            return 404, {"error": {"code": 404}}, {}
        if p in ("/compute", "/compute/v2.1") and m == "GET":
            version = {"id": "v2.1", "status": "CURRENT", "version": self.max_compute_mv,
                       "min_version": "2.1", "links": [
                           {"rel": "self", "href": f"{self.base}/compute/v2.1/"}]}
            doc = {"version": version} if p.endswith("v2.1") else {"versions": [version]}
            return 200, doc, {}
        if p == "/compute/v2.1/os-services" and m == "GET":
            uuid_ids = req.headers.get("OpenStack-API-Version") == "compute 2.53"
            return 200, {"services": [
                {"id": "5f0c-uuid" if uuid_ids else 7, "binary": "nova-compute",
                 "host": "compute-1", "forced_down": False, "state": "up", "status": "enabled"},
                {"id": "a1b2-uuid" if uuid_ids else 3, "binary": "nova-conductor",
                 "host": "controller", "forced_down": False},
            ]}, {}
        if p.startswith("/compute/v2.1/os-services") and m == "PUT":
            return 200, {"service": {}}, {}
        if p == "/compute/v2.1/servers/detail" and m == "GET":
            return 200, {"servers": [
                {"id": "vm-1", "name": "a", "status": "ACTIVE",
                 "OS-EXT-SRV-ATTR:host": "compute-1"},
                {"id": "vm-2", "name": "b", "status": "DELETED",
                 "OS-EXT-SRV-ATTR:host": "compute-1"},
                {"id": "vm-3", "name": "c", "status": "BUILD", "OS-EXT-SRV-ATTR:host": None},
            ]}, {}
        if p.startswith("/compute/v2.1/servers/") and p.endswith("/action") and m == "POST":
            return 202, None, {}
        if p == "/network" and m == "GET":
            return 200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"{self.base}/network/v2.0/"}]}]}, {}
        if p == "/network/v2.0/extensions/data-plane-status" and m == "GET":
            if self.neutron_dps:
                return 200, {"extension": {"alias": "data-plane-status"}}, {}
            return 404, {"NeutronError": {}}, {}
        if p == "/network/v2.0/ports" and m == "GET":
            return 200, {"ports": [
                {"id": "port-1", "binding:host_id": "compute-1", "device_id": "vm-1",
                 "device_owner": "compute:nova"},
                {"id": "port-2", "binding:host_id": "", "device_id": "", "device_owner": ""},
            ]}, {}
        if p.startswith("/network/v2.0/ports/") and m == "PUT":
            return 200, {"port": {"id": p.rsplit("/", 1)[1], **req.body["port"]}}, {}
        return 404, {"error": f"fake has no {m} {p}"}, {}


def _handler(fake: FakeOpenStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            req = Seen(self.command, parts.path, parse_qs(parts.query),
                       dict(self.headers.items()), json.loads(raw) if raw else None)
            with fake.lock:
                fake.requests.append(req)
            status, body, headers = fake.answer(req)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenStack]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    state = FakeOpenStack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def connect(fake: FakeOpenStack) -> Any:
    return openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="password",
        auth={
            "auth_url": f"{fake.base}/identity/v3",
            "username": "admin",
            "password": "not-a-secret",
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        region_name="RegionOne",
        identity_api_version="3",
    )


def test_microversion_253_path(fake: FakeOpenStack) -> None:
    actions = OpenStackActions(connect(fake), concurrency=32)
    assert actions.uuid_services and actions.data_plane_status
    assert actions.describe()["services_microversion"] == "2.53"

    services = actions.list_services()
    assert services == [ComputeService("5f0c-uuid", "compute-1", False)]
    [listing] = fake.seen("GET", "/compute/v2.1/os-services")
    assert listing.query == {"binary": ["nova-compute"]}
    assert listing.headers["OpenStack-API-Version"] == "compute 2.53"

    actions.force_down(services[0])
    actions.unforce(services[0])
    puts = fake.seen("PUT", "/compute/v2.1/os-services")
    assert [p.path for p in puts] == ["/compute/v2.1/os-services/5f0c-uuid"] * 2
    assert [p.body for p in puts] == [{"forced_down": True}, {"forced_down": False}]
    assert all(p.headers["OpenStack-API-Version"] == "compute 2.53" for p in puts)
    assert all(p.headers["X-Auth-Token"] == "service-token" for p in puts)


def test_legacy_force_down_below_253(fake: FakeOpenStack) -> None:
    fake.max_compute_mv = "2.40"
    actions = OpenStackActions(connect(fake))
    assert not actions.uuid_services
    [service] = actions.list_services()
    assert service.id == "7"
    actions.force_down(service)
    [put] = fake.seen("PUT", "/compute/v2.1/os-services")
    assert put.path == "/compute/v2.1/os-services/force-down"
    assert put.body == {"host": "compute-1", "binary": "nova-compute", "forced_down": True}
    assert put.headers["OpenStack-API-Version"] == "compute 2.11"


def test_no_force_down_api_is_a_clear_error(fake: FakeOpenStack) -> None:
    fake.max_compute_mv = "2.10"
    with pytest.raises(CloudError, match="neither microversion 2.53 nor 2.11"):
        OpenStackActions(connect(fake))


def test_reset_and_port_status_requests(fake: FakeOpenStack) -> None:
    actions = OpenStackActions(connect(fake))
    actions.reset_server_error("vm-1")
    [post] = fake.seen("POST", "/compute/v2.1/servers/")
    assert post.path == "/compute/v2.1/servers/vm-1/action"
    assert post.body == {"os-resetState": {"state": "error"}}
    actions.set_port_status("port-1", "DOWN")
    [put] = fake.seen("PUT", "/network/v2.0/ports/")
    assert put.path == "/network/v2.0/ports/port-1"
    assert put.body == {"port": {"data_plane_status": "DOWN"}}
    with pytest.raises(ValueError):
        actions.set_port_status("port-1", "down")


def test_warm_up_reads_servers_and_ports_in_parallel_twice(fake: FakeOpenStack) -> None:
    actions = OpenStackActions(connect(fake), concurrency=3)
    actions.warm_up(["vm-1", "vm-2"], ["port-1"], 3)
    gets = [r.path for r in fake.seen("GET", "/compute/v2.1/servers/")]
    assert sorted(gets) == sorted(["/compute/v2.1/servers/vm-1", "/compute/v2.1/servers/vm-2",
                                   "/compute/v2.1/servers/vm-1"] * 2)
    assert [r.path for r in fake.seen("GET", "/network/v2.0/ports/")] == [
        "/network/v2.0/ports/port-1"] * 2
    # nothing but reads
    assert not fake.seen("POST", "/compute") and not fake.seen("PUT", "/")


def test_listings(fake: FakeOpenStack) -> None:
    actions = OpenStackActions(connect(fake))
    since = datetime(2024, 5, 1, 12, 0, 30, 500000, tzinfo=timezone.utc)
    servers = {s.id: s for s in actions.list_servers(changes_since=since)}
    assert servers["vm-1"].host == "compute-1" and not servers["vm-1"].deleted
    assert servers["vm-2"].deleted and servers["vm-3"].host is None
    [listing] = fake.seen("GET", "/compute/v2.1/servers/detail")
    assert listing.query["changes-since"] == ["2024-05-01T12:00:30Z"]
    assert listing.query["all_tenants"] in (["True"], ["true"], ["1"])

    ports = {p.id: p for p in actions.list_ports()}
    assert ports["port-1"].host == "compute-1" and ports["port-2"].host is None
    [port_listing] = fake.seen("GET", "/network/v2.0/ports")
    assert set(port_listing.query["fields"]) == {
        "id", "binding:host_id", "device_id", "device_owner",
    }


def test_failures_raise_cloud_error_naming_the_call(fake: FakeOpenStack) -> None:
    actions = OpenStackActions(connect(fake))
    fake.fail[("POST", "/compute/v2.1/servers/vm-9/action")] = 409
    with pytest.raises(CloudError, match=r"POST /servers/vm-9/action .* HTTP 409"):
        actions.reset_server_error("vm-9")
    fake.fail[("PUT", "/network/v2.0/ports/port-9")] = 500
    with pytest.raises(CloudError, match=r"ports/port-9 .* HTTP 500"):
        actions.set_port_status("port-9", "DOWN")
    fake.fail[("PUT", "/compute/v2.1/os-services/x")] = 404
    with pytest.raises(CloudError, match="host compute-1"):
        actions.force_down(ComputeService("x", "compute-1"))


def test_missing_data_plane_status_extension_is_reported(fake: FakeOpenStack) -> None:
    fake.neutron_dps = False
    actions = OpenStackActions(connect(fake))
    assert actions.describe()["data_plane_status_extension"] is False


def test_connection_pool_is_sized_for_the_concurrency(fake: FakeOpenStack) -> None:
    conn = connect(fake)
    OpenStackActions(conn, concurrency=48)
    adapter = conn.session.session.get_adapter(fake.base)
    assert adapter._pool_maxsize == 48  # noqa: SLF001 - requests keeps it private


def test_keystone_token_validation(fake: FakeOpenStack) -> None:
    validator = KeystoneTokenValidator(connect(fake))
    info = validator.validate("good")
    assert "admin" in info.roles and info.user == "admin" and info.project == "admin"
    assert info.expires_at is not None and info.expires_at > 4e9
    [check] = fake.seen("GET", "/identity/v3/auth/tokens")
    assert check.headers["X-Subject-Token"] == "good"
    with pytest.raises(InvalidToken):
        validator.validate("bad")


def test_inspector_round_through_the_sdk(fake: FakeOpenStack) -> None:
    """The whole down round, from worker threads sharing one session."""
    from doctor_tests.inspector import Inspector

    inspector = Inspector(OpenStackActions(connect(fake), concurrency=8), concurrency=8,
                          index_interval=3600)
    inspector.start()
    try:
        entry = inspector.index.lookup("compute-1")
        assert entry is not None and entry.servers == ("vm-1",) and entry.ports == ("port-1",)
        assert entry.service is not None and entry.service.id == "5f0c-uuid"
        fetched = len(fake.requests)
        record = inspector.host_down("compute-1")
        assert record.wait(10) and record.errors == []
    finally:
        inspector.stop()
    acted = [(r.method, r.path) for r in fake.requests[fetched:]]
    assert sorted(acted) == [
        ("POST", "/compute/v2.1/servers/vm-1/action"),
        ("PUT", "/compute/v2.1/os-services/5f0c-uuid"),
        ("PUT", "/network/v2.0/ports/port-1"),
    ]


def test_connect_from_os_variables_with_a_bounded_timeout(
    fake: FakeOpenStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    empty = tmp_path / "clouds.yaml"
    empty.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(empty))
    monkeypatch.delenv("OS_CLOUD", raising=False)
    for name, value in {
        "OS_AUTH_URL": f"{fake.base}/identity/v3", "OS_USERNAME": "admin",
        "OS_PASSWORD": "not-a-secret", "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3",
    }.items():
        monkeypatch.setenv(name, value)
    actions = OpenStackActions.connect(None, concurrency=4, api_timeout=7.5)
    assert actions.connection.session.timeout == 7.5
    assert actions.list_services()[0].host == "compute-1"
