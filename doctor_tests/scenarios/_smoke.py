"""Helpers of the lab smoke scenario (``test_lab_smoke.py``).

Polls with a deadline, a LIFO clean-up stack, a local HTTP receiver for
Aodh's REST actions, a detached command over SSH, and the few raw API calls
openstacksdk has no typed form for (Nova's 2.53 force-down, Aodh alarms).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import paramiko
from openstack import connection
from openstack import exceptions as os_exc

LOG = logging.getLogger(__name__)

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not come true before its deadline."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        self.what, self.timeout, self.last = what, timeout, last
        super().__init__(
            "timed out after %.1f s waiting for %s (last seen: %r)" % (timeout, what, last)
        )


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.2,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Raises :class:`WaitTimeout` naming ``what`` when ``timeout`` seconds pass;
    the last value the predicate returned goes into the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, value)
        time.sleep(min(interval, remaining))


class Observed:
    """A falsy-or-truthy poll result that still says what was seen."""

    def __init__(self, ok: bool, seen: object) -> None:
        self.ok, self.seen = ok, seen

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return repr(self.seen)


class CleanupFailed(Exception):
    """One or more clean-up calls failed (other than with NotFound)."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        self.failures = failures
        super().__init__(
            "clean-up failed: " + "; ".join("%s: %s" % (what, exc) for what, exc in failures)
        )


class Cleanups:
    """A LIFO stack of clean-up calls; a call that finds its resource gone is fine."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, func: Callable[[], object]) -> None:
        self._stack.append((what, func))

    def run(self) -> None:
        """Run every call, newest first, even when some fail; then raise if any failed."""
        failures: list[tuple[str, BaseException]] = []
        while self._stack:
            what, func = self._stack.pop()
            LOG.debug("clean-up: %s", what)
            try:
                func()
            except os_exc.NotFoundException:
                LOG.debug("clean-up: %s: already gone", what)
            except Exception as exc:  # keep cleaning; report them all at the end
                LOG.error("clean-up: %s failed: %s", what, exc)
                failures.append((what, exc))
        if failures:
            raise CleanupFailed(failures)


# --- the alarm receiver -----------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One HTTP POST the receiver got: when (``time.monotonic()``), where, what."""

    at: float
    path: str
    body: Any


class AlarmReceiver:
    """Aodh's ``alarm_actions`` target: a ThreadingHTTPServer on 127.0.0.1, free port."""

    def __init__(self, path: str = "/alarm") -> None:
        self.path = path
        self._calls: queue.Queue[Received] = queue.Queue()
        calls = self._calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.monotonic()
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                LOG.info("alarm receiver: POST %s (%d bytes)", self.path, len(raw))
                calls.put(Received(at, self.path, body))

            def log_message(self, format: str, *args: Any) -> None:
                pass  # do_POST logs each call

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="alarm-receiver", daemon=True,
        )

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return "http://127.0.0.1:%d%s" % (port, self.path)

    def start(self) -> AlarmReceiver:
        self._thread.start()
        LOG.info("alarm receiver listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_for(self, match: Callable[[Received], bool], timeout: float, what: str) -> Received:
        """The first call that ``match`` accepts; others are logged and dropped."""
        deadline = time.monotonic() + timeout
        others: list[Received] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(what, timeout, others[-1] if others else None)
            try:
                call = self._calls.get(timeout=remaining)
            except queue.Empty:
                continue
            if match(call):
                return call
            LOG.warning("alarm receiver: ignoring %s %r", call.path, call.body)
            others.append(call)


# --- compute hosts: SSH and the namespace's link ----------------------------------------


def ssh_start_detached(
    address: str, command: str, *, key: Path, known_hosts: Path, timeout: float = 10.0
) -> int | None:
    """Run ``command`` as root on ``address``; its exit status, or None if the link went first.

    The host key must be in ``known_hosts`` (RejectPolicy). ``command`` is expected
    to background its work, so the session ends at once; a command that cuts the
    host's own link may cut the session before its status arrives (then None).
    """
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        address, username="root", key_filename=str(key), look_for_keys=False,
        allow_agent=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
    )
    try:
        _, stdout, _ = client.exec_command(command, timeout=timeout)
        channel = stdout.channel
        if not channel.status_event.wait(timeout):
            LOG.warning("ssh %s: no exit status within %.1f s", address, timeout)
            return None
        status: int = channel.exit_status
        return None if status == -1 else status
    finally:
        client.close()


def netns_link_up(namespace: str, device: str = "eth0") -> bool:
    """Whether ``device`` in network namespace ``namespace`` is administratively up."""
    out = subprocess.run(
        ["ip", "-n", namespace, "-o", "link", "show", device],
        check=True, capture_output=True, text=True, timeout=10,
    ).stdout
    flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
    return "UP" in flags


def netns_stop_command(namespace: str, argv: list[str]) -> list[int]:
    """SIGTERM the processes in ``namespace`` whose command line is exactly ``argv``."""
    pids = subprocess.run(
        ["ip", "netns", "pids", namespace],
        check=True, capture_output=True, text=True, timeout=10,
    ).stdout.split()
    stopped = []
    for pid in map(int, pids):
        try:
            cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")[:-1]
        except OSError:
            continue  # already gone
        if [part.decode(errors="replace") for part in cmdline] == argv:
            LOG.info("stopping %s (pid %d) in namespace %s", argv, pid, namespace)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(pid)
    return stopped


def netns_set_link_up(namespace: str, device: str = "eth0") -> None:
    LOG.info("setting %s up in namespace %s", device, namespace)
    subprocess.run(
        ["ip", "netns", "exec", namespace, "ip", "link", "set", device, "up"],
        check=True, capture_output=True, text=True, timeout=10,
    )


# --- raw API calls ------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeService:
    id: str
    host: str
    state: str
    status: str
    forced_down: bool


def compute_service(conn: connection.Connection, host: str) -> ComputeService:
    """The nova-compute service of ``host`` as Nova reports it now."""
    found = list(conn.compute.services(binary="nova-compute", host=host))
    if len(found) != 1:
        raise AssertionError("expected one nova-compute on %s, Nova lists %r" % (host, found))
    svc = found[0]
    return ComputeService(svc.id, svc.host, svc.state, svc.status, bool(svc.is_forced_down))


def set_forced_down(conn: connection.Connection, service_id: str, forced: bool) -> None:
    """``PUT /os-services/{id} {"forced_down": ...}`` (the 2.53 form)."""
    LOG.info("forced_down=%s on nova-compute service %s", forced, service_id)
    resp = conn.compute.put(
        "/os-services/%s" % service_id, json={"forced_down": forced},
        microversion="2.53", raise_exc=False,
    )
    os_exc.raise_from_response(resp)
    got = resp.json()["service"]["forced_down"]
    if got is not forced:
        raise AssertionError("forced_down reads %r after setting %r" % (got, forced))


def create_alarm(conn: connection.Connection, body: dict[str, Any]) -> dict[str, Any]:
    resp = conn.alarm.post("/alarms", json=body, raise_exc=False)
    os_exc.raise_from_response(resp)
    alarm: dict[str, Any] = resp.json()
    return alarm


def get_alarm(conn: connection.Connection, alarm_id: str) -> dict[str, Any]:
    resp = conn.alarm.get("/alarms/%s" % alarm_id, raise_exc=False)
    os_exc.raise_from_response(resp)
    alarm: dict[str, Any] = resp.json()
    return alarm


def delete_alarm(conn: connection.Connection, alarm_id: str) -> None:
    resp = conn.alarm.delete("/alarms/%s" % alarm_id, raise_exc=False)
    os_exc.raise_from_response(resp)


def alarm_names(conn: connection.Connection) -> list[str]:
    resp = conn.alarm.get("/alarms", raise_exc=False)
    os_exc.raise_from_response(resp)
    return [a["name"] for a in resp.json()]


def leftovers(conn: connection.Connection, prefix: str) -> dict[str, list[str]]:
    """Names starting with ``prefix`` still listed, by kind (empty lists when clean)."""
    def named(items: Any) -> list[str]:
        return sorted(i.name for i in items if (i.name or "").startswith(prefix))

    return {
        "servers": named(conn.compute.servers(all_projects=True)),
        "ports": named(conn.network.ports()),
        "networks": named(conn.network.networks()),
        "flavors": named(conn.compute.flavors(is_public=None)),
        "alarms": sorted(n for n in alarm_names(conn) if n.startswith(prefix)),
    }
