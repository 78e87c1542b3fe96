"""Where a node can reach the runner: the consumer's URL given to Aodh, the inspector's
given to monitors that run on the cloud's nodes.

Aodh's notifier posts the alarm from its own node, and a monitor on a compute host (the
collectd kind) reports from that host, so each URL must be one that node can reach: by
default the runner's own address on the route to that node (what the kernel would use as
the source address to talk to it), bound and advertised; or an explicit URL
(``DOCTOR_CONSUMER_URL``, ``DOCTOR_INSPECTOR_URL``: a NAT, a proxy, a tunnel's far end)
with its own bind address (``DOCTOR_CONSUMER_BIND``, ``DOCTOR_INSPECTOR_BIND``); or a
reverse SSH tunnel from that node (``DOCTOR_CONSUMER_TUNNEL``,
``DOCTOR_INSPECTOR_TUNNEL``). A loopback URL is never handed to a node unless the node is
the runner itself (or its end of a tunnel). Each URL is proved by a request sent from the
node itself, over SSH, before the run changes anything.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paramiko

from doctor_tests.fault import HostShell, SshError, SshTarget

LOG = logging.getLogger(__name__)


class ReachError(RuntimeError):
    """No address of the runner reaches the node; says which node and why."""


def source_address(peer: str) -> str:
    """The runner's address on the route to ``peer`` (the kernel's choice of source).

    A connected UDP socket: ``connect`` only looks the route up, nothing is sent."""
    try:
        infos = socket.getaddrinfo(peer, 9, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ReachError("cannot resolve %s: %s" % (peer, exc)) from exc
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            raise ReachError("no route from the runner to %s: %s" % (peer, exc)) from exc
        return str(sock.getsockname()[0])


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True)
class Callback:
    """A runner service that nodes call back, by the names of its settings."""

    what: str          # "the consumer", "the inspector"
    caller: str        # who calls it: "Aodh's notifier", "the monitor"
    url_option: str    # DOCTOR_CONSUMER_URL
    bind_option: str   # DOCTOR_CONSUMER_BIND
    tunnel_option: str  # DOCTOR_CONSUMER_TUNNEL
    path: str = ""


CONSUMER = Callback("the consumer", "Aodh's notifier", "DOCTOR_CONSUMER_URL",
                    "DOCTOR_CONSUMER_BIND", "DOCTOR_CONSUMER_TUNNEL", "/failure")
INSPECTOR = Callback("the inspector", "the monitor", "DOCTOR_INSPECTOR_URL",
                     "DOCTOR_INSPECTOR_BIND", "DOCTOR_INSPECTOR_TUNNEL")


@dataclass(frozen=True)
class Endpoint:
    """Where a runner service listens and the URL a node is given."""

    bind: str
    url: str
    why: str
    host: str = ""  # the address in a derived URL ("" for an explicit one)

    def for_port(self, port: int) -> str:
        """The URL once the listening port is known (a derived URL with port 0)."""
        return _url(self.host, port, urlsplit(self.url).path) if self.host else self.url


def callback_endpoint(callback: Callback, node: str | None, port: int,
                      bind: str | None = None, explicit_url: str | None = None) -> Endpoint:
    """``callback``'s bind address and the URL given to the caller at ``node``."""
    path = callback.path
    if explicit_url:
        parts = urlsplit(explicit_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReachError("%s = %r is not an http(s) URL with a host"
                             % (callback.url_option, explicit_url))
        return Endpoint(bind or "0.0.0.0", explicit_url, callback.url_option)
    if not node:
        if bind:
            return Endpoint(bind, _url(bind, port, path), callback.bind_option, bind)
        raise ReachError("the node that runs %s is not known, so no address of the runner "
                         "can be chosen for it; set %s" % (callback.caller, callback.url_option))
    address = source_address(node)
    if is_loopback(address) and not is_loopback(node):
        raise ReachError("the route from the runner to %s leaves from loopback (%s); set %s"
                         % (node, address, callback.url_option))
    if bind and bind not in ("0.0.0.0", "::", address):
        LOG.warning("%s=%s is not the runner's address toward %s (%s): %s is given %s",
                    callback.bind_option, bind, node, address, callback.caller, address)
    return Endpoint(bind or address, _url(address, port, path),
                    "the runner's address on the route to %s" % node, address)


def consumer_endpoint(notifier: str | None, port: int, bind: str | None = None,
                      explicit_url: str | None = None) -> Endpoint:
    """The consumer's bind address and advertised URL for a notifier at ``notifier``."""
    return callback_endpoint(CONSUMER, notifier, port, bind, explicit_url)


def _url(host: str, port: int, path: str) -> str:
    shown = "[%s]" % host if ":" in host else host
    return "http://%s:%d%s" % (shown, port, path)


class ReverseTunnel:
    """A port on a node's loopback forwarded, over SSH, to a service of the runner's
    (paramiko's remote forwarding, as ``ssh -R``): for a cloud whose controllers cannot
    route back to the runner, Aodh is given ``http://127.0.0.1:<port>/failure`` on its own
    node."""

    def __init__(self, target: SshTarget, local_host: str, local_port: int) -> None:
        self.target, self.local = target, (local_host, local_port)
        self.shell: HostShell | None = None
        self.remote_port = 0

    def open(self) -> int:
        """Open the tunnel; returns the node's loopback port."""
        self.shell = HostShell(self.target)
        try:
            self.remote_port = int(self.shell.transport.request_port_forward(
                "127.0.0.1", 0, handler=self._forward))
        except paramiko.SSHException as exc:
            self.close()
            raise ReachError("%s (%s) refused the reverse tunnel to the consumer: %s (sshd's "
                             "AllowTcpForwarding)" % (self.target.host, self.target.address,
                                                      exc)) from exc
        LOG.info("reverse tunnel: 127.0.0.1:%d on %s -> %s:%d", self.remote_port,
                 self.target.host, *self.local)
        return self.remote_port

    def _forward(self, channel: Any, origin: Any, server: Any) -> None:
        try:
            sock = socket.create_connection(self.local, timeout=5)
        except OSError as exc:
            LOG.warning("reverse tunnel from %s: cannot reach %s:%d: %s", self.target.host,
                        *self.local, exc)
            channel.close()
            return
        for src, dst in ((channel, sock), (sock, channel)):
            threading.Thread(target=_pump, args=(src, dst), daemon=True,
                             name="tunnel-%s" % self.target.host).start()

    def close(self) -> None:
        if self.shell is not None:
            try:
                if self.remote_port:
                    self.shell.transport.cancel_port_forward("127.0.0.1", self.remote_port)
            except (SshError, paramiko.SSHException, EOFError):
                pass
            self.shell.close()
            self.shell = None


def _pump(src: Any, dst: Any) -> None:
    """Copy ``src`` to ``dst`` until either side ends (one direction of a tunnelled call)."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for end in (src, dst):
            try:
                end.close()
            except OSError:
                pass


def start_consumer(settings: Any, env: Any, cleanup: Any) -> Any:
    """The consumer started where Aodh's notifier reaches it (``env.notifier_address()``, an
    explicit URL, or a reverse SSH tunnel from that node), its stop registered first; the
    advertised URL is proved by a POST from the runner and, where the notifier's node is
    reached by SSH, by one sent from that node."""
    from doctor_tests import preflight
    from doctor_tests.consumer import ConsumerServer

    node = env.notifier_target()
    if settings.consumer_tunnel:
        if node is None:
            raise ReachError("DOCTOR_CONSUMER_TUNNEL=true needs SSH to the node of Aodh's "
                             "notifier, and this cloud's cannot be reached by SSH (see the "
                             "warning above)")
        server = ConsumerServer(bind="127.0.0.1", port=settings.consumer_port)
        cleanup.add("consumer", server.stop)
        server.start()
        tunnel = ReverseTunnel(node, "127.0.0.1", server.port)
        cleanup.add("reverse tunnel from %s" % node.host, tunnel.close)
        server.advertise_url = _url("127.0.0.1", tunnel.open(), "/failure")
        why = "a reverse SSH tunnel from %s" % node.host
    else:
        where = consumer_endpoint(env.notifier_address(), settings.consumer_port,
                                  settings.consumer_bind, settings.consumer_advertise_url)
        server = ConsumerServer(bind=where.bind, port=settings.consumer_port)
        cleanup.add("consumer", server.stop)
        server.start()
        server.advertise_url = where.for_port(server.port)
        why = where.why
        preflight.check_consumer(server.failure_url, server.consumer)
    LOG.info("consumer on port %d; Aodh is given %s (%s)", server.port, server.failure_url, why)
    if node is not None:
        shell = HostShell(node)
        try:
            preflight.check_consumer_from(node.host, shell, server.failure_url, server.consumer)
        finally:
            shell.close()
    else:
        LOG.warning("preflight: the consumer's URL was checked from the runner only (no SSH to "
                    "the node of Aodh's notifier)")
    return server


def inspector_urls(settings: Any, cleanup: Any, start_server: Any,
                   nodes: Sequence[SshTarget]) -> tuple[Any, dict[str, str]]:
    """Start the inspector's HTTP server (``start_server(bind)`` -> a started server with
    ``port`` and ``url``) where the monitors reach it, and the URL each monitor's node is
    given ({node: URL}).

    With no monitor on a node (the sample monitor runs on the runner) it listens on
    ``DOCTOR_INSPECTOR_BIND`` (loopback by default). With monitors on nodes: on the
    runner's address toward the first node (or ``DOCTOR_INSPECTOR_URL`` /
    ``DOCTOR_INSPECTOR_BIND``), or, with ``DOCTOR_INSPECTOR_TUNNEL=true``, on loopback with
    a reverse SSH tunnel from each node. Every node's URL is proved by a request sent from
    that node."""
    from doctor_tests import preflight

    if not nodes:
        server = start_server(settings.inspector_bind or "127.0.0.1")
        return server, {}
    urls: dict[str, str] = {}
    if settings.inspector_tunnel:
        server = start_server("127.0.0.1")
        for node in nodes:
            tunnel = ReverseTunnel(node, "127.0.0.1", server.port)
            cleanup.add("reverse tunnel from %s" % node.host, tunnel.close)
            urls[node.host] = _url("127.0.0.1", tunnel.open(), INSPECTOR.path)
        why = "reverse SSH tunnels from %s" % ", ".join(n.host for n in nodes)
    else:
        where = callback_endpoint(INSPECTOR, nodes[0].address, settings.inspector_port,
                                  settings.inspector_bind, settings.inspector_advertise_url)
        server = start_server(where.bind)
        urls = dict.fromkeys((n.host for n in nodes), where.for_port(server.port))
        why = where.why
    LOG.info("inspector on port %d; the monitors on %s are given %s (%s)", server.port,
             ", ".join(urls), ", ".join(sorted(set(urls.values()))), why)
    for node in nodes:
        shell = HostShell(node)
        try:
            preflight.check_inspector_from(node.host, shell, urls[node.host])
        finally:
            shell.close()
    return server, urls
