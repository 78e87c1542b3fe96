"""Pure logic of the scenario parts: the undo stack, waiting, alarm bodies, host keys."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import paramiko
import pytest
from openstack import exceptions as os_exc

from doctor_tests.cleanup import Cleanup, CleanupFailed
from doctor_tests.cloud import event_alarm_body
from doctor_tests.fault import HostShell, SshError, SshTarget, _script
from doctor_tests.leftovers import RUN_NAME
from doctor_tests.waiting import WaitTimeout, wait_until


def test_cleanup_runs_newest_first_and_survives_failures() -> None:
    done: list[str] = []
    stack = Cleanup()
    stack.add("first", done.append, "first")
    stack.add("gone", lambda: (_ for _ in ()).throw(os_exc.NotFoundException("x")))
    stack.add("broken", lambda: 1 / 0)
    stack.add("last", done.append, "last")
    with pytest.raises(CleanupFailed) as info:
        stack.run()
    assert done == ["last", "first"]
    assert [what for what, _ in info.value.failures] == ["broken"]
    assert len(stack) == 0
    stack.run()  # nothing left: running again does nothing


def test_wait_until_returns_the_value_or_names_what_it_waited_for() -> None:
    calls = iter([0, 0, 5])
    assert wait_until(lambda: next(calls), 5, "a number", interval=0.001) == 5
    with pytest.raises(WaitTimeout, match="the moon"):
        wait_until(lambda: None, 0.05, "the moon", interval=0.01)


def test_event_alarm_body_watches_one_server_going_to_error() -> None:
    body = event_alarm_body("a", "srv-1", "http://127.0.0.1:1/failure")
    assert body["type"] == "event" and body["repeat_actions"] is False
    assert body["alarm_actions"] == ["http://127.0.0.1:1/failure"]
    rule = body["event_rule"]
    assert rule["event_type"] == "compute.instance.update"
    assert {"field": "traits.instance_id", "op": "eq", "type": "string",
            "value": "srv-1"} in rule["query"]
    assert {"field": "traits.state", "op": "eq", "type": "string", "value": "error"} in rule[
        "query"]


def test_fault_script_records_t00_before_taking_the_link_down() -> None:
    script = _script("abc", "10.213.0.10", 7.5)
    assert script.index("date +%s.%N > /tmp/doctor-fault-abc.time") < script.index("down")
    assert "sleep 7.500" in script and "setsid" in script and "'10.213.0.10'" not in script


def test_run_names_match_only_doctor_runs() -> None:
    assert RUN_NAME.match("doctor-0c70ce0c")
    assert RUN_NAME.match("doctor-0c70ce0c-flavor")
    assert not RUN_NAME.match("doctor-lab")
    assert not RUN_NAME.match("doctor-smoke")


@pytest.fixture
def ssh_server(tmp_path: Path):
    """A paramiko SSH server on 127.0.0.1 with a fresh host key (for host-key checks)."""
    host_key = paramiko.RSAKey.generate(1024)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve() -> None:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        transport = paramiko.Transport(conn)
        transport.add_server_key(host_key)
        try:
            transport.start_server(server=paramiko.ServerInterface())
            # the client checks the host key after the key exchange: closing here at once
            # raced it (a loaded machine saw EOF instead of the refusal); wait for it to go
            transport.join(10)
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], host_key
    sock.close()


def _target(tmp_path: Path, known: str) -> SshTarget:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(known)
    key = tmp_path / "id"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(key))
    return SshTarget("compute-9", "127.0.0.1", "root", key, known_hosts)


def test_unknown_host_key_is_refused_naming_the_host(tmp_path: Path, ssh_server) -> None:
    port, _ = ssh_server
    target = _target(tmp_path, "")
    with pytest.raises(SshError, match=r"compute-9 \(127.0.0.1\).*unknown"):
        _connect(target, port)


def test_changed_host_key_is_refused_naming_the_host(tmp_path: Path, ssh_server) -> None:
    port, _ = ssh_server
    other = paramiko.RSAKey.generate(1024)
    target = _target(tmp_path, "[127.0.0.1]:%d ssh-rsa %s\n" % (port, other.get_base64()))
    with pytest.raises(SshError, match=r"compute-9 \(127.0.0.1\).*CHANGED"):
        _connect(target, port)


def test_a_host_that_hangs_up_mid_handshake_is_named(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve() -> None:
        conn, _ = sock.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.recv(256)  # the client's banner, then hang up before the key exchange
        # Hang up cleanly: closing with the client's key exchange unread in the buffer
        # would send a reset ("Connection reset by peer"), not the end of the stream.
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(5)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(SshError, match=r"compute-9 \(127.0.0.1\).*closed the connection"):
            _connect(_target(tmp_path, ""), sock.getsockname()[1])
    finally:
        sock.close()
        thread.join(5)


def _connect(target: SshTarget, port: int) -> None:
    """HostShell against a non-standard port (the test server's)."""
    original = paramiko.SSHClient.connect

    def connect(self, hostname, **kwargs):  # type: ignore[no-untyped-def]
        return original(self, hostname, port=port, **kwargs)

    paramiko.SSHClient.connect = connect  # type: ignore[method-assign]
    try:
        HostShell(target, timeout=5)
    finally:
        paramiko.SSHClient.connect = original  # type: ignore[method-assign]


@pytest.mark.parametrize("case, inspector", [("port_dp_down", "vitrage"),
                                             ("fault_management", "masakari"),
                                             ("recovery", "sample"),
                                             ("fault_catalogue", "masakari")])
def test_a_fault_run_refuses_an_inspector_it_would_not_drive(case: str, inspector: str) -> None:
    from doctor_tests.config import Settings
    from doctor_tests.harness.run import InspectorNotDriven, require_inspector

    require_inspector(Settings(inspector_type="vitrage"), "fault_management")
    require_inspector(Settings(inspector_type="masakari"), "recovery")
    with pytest.raises(InspectorNotDriven, match="INSPECTOR_TYPE=%s: %s drives "
                       % (inspector, case)):
        require_inspector(Settings(inspector_type=inspector), case)
