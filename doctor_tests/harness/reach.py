"""Where a cloud service can reach the runner: the consumer's URL given to Aodh.

Aodh's notifier posts the alarm from its own node, so the URL must be one that node can
reach: by default the runner's own address on the route to that node (what the kernel
would use as the source address to talk to it), bound and advertised; or an explicit
``DOCTOR_CONSUMER_URL`` (a NAT, a proxy, a tunnel's far end) with its own bind address
(``DOCTOR_CONSUMER_BIND``). A loopback URL is never handed to a cloud service unless the
notifier's node is the runner itself.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
class Endpoint:
    """Where the consumer listens and the URL the cloud is given."""

    bind: str
    url: str
    why: str


def consumer_endpoint(notifier: str | None, port: int, bind: str | None = None,
                      explicit_url: str | None = None, path: str = "/failure") -> Endpoint:
    """The consumer's bind address and advertised URL for a notifier at ``notifier``."""
    if explicit_url:
        parts = urlsplit(explicit_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReachError("DOCTOR_CONSUMER_URL = %r is not an http(s) URL with a host"
                             % explicit_url)
        return Endpoint(bind or "0.0.0.0", explicit_url, "DOCTOR_CONSUMER_URL")
    if not notifier:
        if bind:
            return Endpoint(bind, _url(bind, port, path), "DOCTOR_CONSUMER_BIND")
        raise ReachError("the node that runs Aodh's notifier is not known, so no address "
                         "of the runner can be chosen for it; set DOCTOR_CONSUMER_URL")
    address = source_address(notifier)
    if is_loopback(address) and not is_loopback(notifier):
        raise ReachError("the route from the runner to %s leaves from loopback (%s); set "
                         "DOCTOR_CONSUMER_URL" % (notifier, address))
    if bind and bind not in ("0.0.0.0", "::", address):
        LOG.warning("DOCTOR_CONSUMER_BIND=%s is not the runner's address toward %s (%s): "
                    "Aodh is given %s", bind, notifier, address, address)
    return Endpoint(bind or address, _url(address, port, path),
                    "the runner's address on the route to %s" % notifier)


def _url(host: str, port: int, path: str) -> str:
    shown = "[%s]" % host if ":" in host else host
    return "http://%s:%d%s" % (shown, port, path)


def start_consumer(settings: Any, env: Any, cleanup: Any) -> Any:
    """The consumer started where Aodh's notifier (``env.notifier_address()``) reaches it,
    its stop registered first, answering a POST of its advertised URL."""
    from doctor_tests import preflight
    from doctor_tests.consumer import ConsumerServer

    where = consumer_endpoint(env.notifier_address(), settings.consumer_port,
                              settings.consumer_bind, settings.consumer_advertise_url)
    server = ConsumerServer(bind=where.bind, port=settings.consumer_port,
                            advertise_url=where.url)
    cleanup.add("consumer", server.stop)
    server.start()
    LOG.info("consumer on %s:%d; Aodh is given %s (%s)", where.bind, server.port, where.url,
             where.why)
    preflight.check_consumer(server.failure_url, server.consumer)
    return server
