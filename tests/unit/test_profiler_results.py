"""Profiler results record: the TestAPI shape, results.json, upload over HTTP and file://."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_profiler_model import T0, make_profile

from doctor_tests.profiler.results_db import (
    REQUIRED,
    build_record,
    format_date,
    upload_record,
    write_record,
)

ENV = {"INSTALLER_TYPE": "local", "DEPLOY_SCENARIO": "os-nosdn-nofeature-noha",
       "NODE_NAME": "lab-1", "BUILD_TAG": "jenkins-doctor-verify-42"}


def record(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "result": make_profile(), "case_name": "fault_management", "installer": None,
        "criteria": "PASS", "start": T0 - 5, "stop": T0 + 30, "version": "0.1.0", "env": ENV,
    }
    args.update(overrides)
    return build_record(**args)


def test_build_record_fields() -> None:
    rec = record()
    assert set(REQUIRED) <= set(rec)
    assert rec["project_name"] == "doctor"
    assert rec["case_name"] == "fault_management"
    assert rec["installer"] == "local"  # from INSTALLER_TYPE
    assert rec["scenario"] == "os-nosdn-nofeature-noha"
    assert rec["pod_name"] == "lab-1"
    assert rec["build_tag"] == "jenkins-doctor-verify-42"
    assert rec["version"] == "0.1.0"
    assert rec["criteria"] == "PASS"
    assert rec["start_date"] == format_date(T0 - 5)
    assert rec["start_date"] == datetime.fromtimestamp(T0 - 5, timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")
    assert rec["details"]["checkpoints"]["T00"]["ms"] == 0.0
    assert rec["details"]["notification_ms"] == pytest.approx(158.9)
    json.dumps(rec)  # a JSON document


def test_build_record_defaults_and_validation() -> None:
    rec = record(installer="devstack", env={}, criteria=False, version=None,
                 result={"runs": 3}, start=datetime(2026, 11, 24, 19, 1, 2, 999000))
    assert rec["installer"] == "devstack"
    assert (rec["scenario"], rec["pod_name"], rec["build_tag"], rec["version"]) == (
        "unknown", "unknown", "unknown", "unknown")
    assert rec["criteria"] == "FAIL"
    assert rec["details"] == {"runs": 3}
    assert rec["start_date"] == "2026-11-24 19:01:02"
    with pytest.raises(ValueError, match="criteria"):
        record(criteria="passed")


def test_write_record(tmp_path: Path) -> None:
    path = write_record(record(), tmp_path / "results")
    assert path == tmp_path / "results" / "results.json"
    assert json.loads(path.read_text())["case_name"] == "fault_management"


class _Collector(BaseHTTPRequestHandler):
    statuses: list[int] = []
    received: list[dict[str, Any]] = []
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        doc = json.loads(body)
        type(self).received.append(doc)
        type(self).paths.append(self.path)
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        missing = [key for key in REQUIRED if key not in doc]
        if missing or self.headers.get("Content-Type") != "application/json":
            status = 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        payload = json.dumps({"href": "/api/v1/results/1", "missing": missing}).encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def results_api() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Handler", (_Collector,), {"statuses": [], "received": [], "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/results", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_upload_http_success(results_api: tuple[str, type[_Collector]]) -> None:
    url, handler = results_api
    assert upload_record(record(), url, timeout=5) is True
    [doc] = handler.received
    assert doc["project_name"] == "doctor" and doc["criteria"] == "PASS"
    assert doc["details"]["components"][0]["name"] == "monitor"


def test_upload_http_500_is_retried_once_then_false(
        results_api: tuple[str, type[_Collector]], caplog: pytest.LogCaptureFixture) -> None:
    url, handler = results_api
    handler.statuses = [500, 500, 500]
    assert upload_record(record(), url, timeout=5) is False
    assert len(handler.received) == 2  # one retry at most
    assert "HTTP 500" in caplog.text


def test_upload_http_recovers_on_the_retry(results_api: tuple[str, type[_Collector]]) -> None:
    url, handler = results_api
    handler.statuses = [503]
    assert upload_record(record(), url, timeout=5) is True
    assert len(handler.received) == 2


def test_upload_http_400_is_not_retried(results_api: tuple[str, type[_Collector]]) -> None:
    url, handler = results_api
    bad = record()
    del bad["pod_name"]
    assert upload_record(bad, url, timeout=5) is False
    assert len(handler.received) == 1


def test_upload_connection_refused_returns_false() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    assert upload_record(record(), f"http://127.0.0.1:{port}/results", timeout=2) is False


def test_upload_connection_refused_is_retried_once_and_warns_with_the_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    url = "http://127.0.0.1:%d/results" % server.server_address[1]
    server.server_close()
    with caplog.at_level(logging.WARNING, "doctor_tests.profiler.results_db"):
        assert upload_record(record(), url, timeout=2) is False
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all(url in w and "Connection refused" in w for w in warnings)


def test_upload_honours_the_environments_proxy_but_not_for_loopback(
        monkeypatch: pytest.MonkeyPatch, results_api: tuple[str, type[_Collector]]) -> None:
    url, handler = results_api
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as dead:  # a proxy that nobody runs: loopback must not use it
        dead.bind(("127.0.0.1", 0))
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % dead.getsockname()[1])
        assert upload_record(record(), url, timeout=2) is True
    # the collector as the proxy: a remote database is reached through it
    monkeypatch.setenv("http_proxy", url.rsplit("/api", 1)[0])
    assert upload_record(record(), "http://testapi.example/api/v1/results", timeout=2) is True
    assert handler.paths == ["/api/v1/results", "http://testapi.example/api/v1/results"]


def test_upload_file_appends_json_lines(tmp_path: Path) -> None:
    target = tmp_path / "db" / "results.jsonl"
    assert upload_record(record(), target.as_uri()) is True
    assert upload_record(record(criteria="FAIL"), target.as_uri()) is True
    lines = target.read_text().splitlines()
    assert [json.loads(line)["criteria"] for line in lines] == ["PASS", "FAIL"]


def test_upload_file_unwritable_returns_false(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert upload_record(record(), (blocker / "results.jsonl").as_uri()) is False


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/results", "127.0.0.1:8000/results", ""])
def test_upload_other_schemes_are_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match=r"TEST_DB_URL must be an http://, https:// or file://"):
        upload_record(record(), url)
