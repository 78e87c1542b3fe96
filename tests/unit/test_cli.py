"""The command line: a cloud that does not answer is one clear line, not a traceback."""

from __future__ import annotations

import pytest
from keystoneauth1 import exceptions as ksa_exc

from doctor_tests import cli, cloud

REFUSED = (
    "Unable to establish connection to http://10.213.0.2:5000/v3/auth/tokens: "
    "HTTPConnectionPool(host='10.213.0.2', port=5000): Max retries exceeded with url: "
    "/v3/auth/tokens (Caused by NewConnectionError(\"HTTPConnection(host='10.213.0.2', "
    "port=5000): Failed to establish a new connection: [Errno 111] Connection refused\"))")


def _refuse(name: str | None) -> None:
    raise ksa_exc.ConnectFailure(REFUSED)


def test_cleanup_names_the_endpoint_that_refused(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cloud, "admin_connection", _refuse)
    monkeypatch.delenv("OS_CLOUD", raising=False)
    rc = cli.main(["cleanup", "--dry-run", "--cloud", "mycloud"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.splitlines() == [
        "doctor: error: the cloud did not answer: Unable to establish connection to "
        "http://10.213.0.2:5000/v3/auth/tokens: connection refused"]


def test_lab_hint_when_no_cloud_is_configured(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cloud, "admin_connection", _refuse)
    monkeypatch.setattr(cli.lab, "all_hosts", lambda: [])
    for var in ("OS_CLOUD", "OS_AUTH_URL"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["cleanup", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "connection refused" in err and "`doctor lab status`" in err


def test_other_errors_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str | None) -> None:
        raise ValueError("a bug, not the cloud")

    monkeypatch.setattr(cloud, "admin_connection", broken)
    with pytest.raises(ValueError):
        cli.main(["cleanup", "--dry-run", "--cloud", "mycloud"])
