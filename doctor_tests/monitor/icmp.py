"""ICMP echo: pure packet functions and a small socket wrapper (IPv4 only).

The pure part (:func:`checksum`, :func:`build_echo_request`, :func:`parse_echo_reply`,
:func:`matches_probe`) has no I/O and is what the unit tests exercise.

:class:`IcmpSocket` opens a raw ICMP socket (needs root / CAP_NET_RAW) and falls back
to an unprivileged ``SOCK_DGRAM`` "ping socket" when raw sockets are not permitted.
With a ping socket the kernel owns the echo identifier: it rewrites the identifier of
every request to the socket's local "port" and delivers only replies carrying it, so
the identifier to match on is read back from ``getsockname()``.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Protocol

LOG = logging.getLogger(__name__)

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_SOL_RAW = 255
_ICMP_FILTER = 1


class IcmpUnavailable(OSError):
    """Neither a raw nor a datagram ICMP socket could be opened."""


@dataclass(frozen=True)
class Probe:
    """One echo request that was sent: what a matching reply must carry."""

    identifier: int
    sequence: int
    address: str
    payload: bytes


@dataclass(frozen=True)
class EchoReply:
    """A parsed ICMP echo reply and the address it came from."""

    identifier: int
    sequence: int
    payload: bytes
    source: str


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo_request(identifier: int, sequence: int, payload: bytes = b"") -> bytes:
    """An ICMP echo request (type 8) with a correct checksum."""
    if not 0 <= identifier <= 0xFFFF or not 0 <= sequence <= 0xFFFF:
        raise ValueError(f"identifier {identifier} / sequence {sequence} must be 0..65535")
    header = _HEADER.pack(ICMP_ECHO_REQUEST, 0, 0, identifier, sequence)
    csum = checksum(header + payload)
    return _HEADER.pack(ICMP_ECHO_REQUEST, 0, csum, identifier, sequence) + payload


def parse_echo_reply(packet: bytes, source: str, *, ip_header: bool) -> EchoReply | None:
    """Parse an echo reply; ``None`` for anything else (other types, bad checksum, junk).

    ``ip_header`` is True for raw sockets (the IPv4 header comes first) and False for
    datagram ping sockets (the ICMP message only).
    """
    if ip_header:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        ihl = (packet[0] & 0x0F) * 4
        if ihl < 20 or len(packet) < ihl or packet[9] != socket.IPPROTO_ICMP:
            return None
        packet = packet[ihl:]
    if len(packet) < _HEADER.size:
        return None
    icmp_type, code, _csum, identifier, sequence = _HEADER.unpack_from(packet)
    if icmp_type != ICMP_ECHO_REPLY or code != 0 or checksum(packet) != 0:
        return None
    return EchoReply(identifier, sequence, bytes(packet[_HEADER.size :]), source)


def matches_probe(reply: EchoReply, probe: Probe) -> bool:
    """True only for the reply to exactly this probe: identifier, sequence, source, payload."""
    return (
        reply.identifier == probe.identifier
        and reply.sequence == probe.sequence
        and reply.source == probe.address
        and reply.payload == probe.payload
    )


def check_ipv4(address: str) -> str:
    """Return ``address`` normalised, or raise ValueError if it is not an IPv4 address."""
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError(f"not an IPv4 address: {address!r}") from None


class ProbeSocket(Protocol):
    """What the monitor needs from a socket (:class:`IcmpSocket`, or a fake in tests)."""

    kind: str
    identifier: int

    def fileno(self) -> int: ...

    def send_probe(self, sequence: int, payload: bytes) -> Probe: ...

    def receive(self) -> list[EchoReply]: ...

    def close(self) -> None: ...


class IcmpSocket:
    """A non-blocking ICMP socket connected to one IPv4 address."""

    def __init__(self, address: str, identifier: int | None = None) -> None:
        self.address = check_ipv4(address)
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            self.kind = "raw"
        except PermissionError as raw_exc:
            try:
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            except OSError as dgram_exc:
                raise IcmpUnavailable(
                    dgram_exc.errno,
                    f"no ICMP socket: raw: {raw_exc}; datagram: {dgram_exc} "
                    "(run as root, or allow ping sockets via net.ipv4.ping_group_range)",
                ) from dgram_exc
            self.kind = "dgram"
        try:
            if self.kind == "raw":
                self.identifier = (
                    identifier if identifier is not None else int.from_bytes(os.urandom(2), "big")
                )
                self._filter_echo_replies()
            else:
                self._sock.bind(("0.0.0.0", 0))
                self.identifier = int(self._sock.getsockname()[1])
            self._sock.connect((self.address, 0))
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise
        LOG.debug("ICMP %s socket to %s, identifier %d", self.kind, self.address, self.identifier)

    def _filter_echo_replies(self) -> None:
        """Ask the kernel to pass only echo replies to this raw socket (best effort)."""
        mask = ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF
        try:
            self._sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", mask))
        except OSError as exc:
            LOG.debug("ICMP_FILTER not available: %s", exc)

    def fileno(self) -> int:
        return self._sock.fileno()

    def send_probe(self, sequence: int, payload: bytes) -> Probe:
        """Send one echo request; raises OSError when the kernel refuses (no route ...)."""
        self._sock.send(build_echo_request(self.identifier, sequence, payload))
        return Probe(self.identifier, sequence, self.address, payload)

    def receive(self) -> list[EchoReply]:
        """Drain every pending packet without blocking; return the echo replies among them."""
        replies: list[EchoReply] = []
        while True:
            try:
                packet, (source, _port) = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return replies
            except OSError as exc:
                # A connected socket reports ICMP errors (host unreachable ...) here.
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return replies
                LOG.debug("ICMP receive from %s: %s", self.address, exc)
                return replies
            reply = parse_echo_reply(packet, source, ip_header=self.kind == "raw")
            if reply is not None:
                replies.append(reply)

    def close(self) -> None:
        self._sock.close()


def answers_echo(address: str, timeout: float = 0.2) -> bool:
    """One echo request to ``address``: True when its reply comes within ``timeout``
    seconds (raises IcmpUnavailable when no ICMP socket can be opened)."""
    sock = IcmpSocket(address)
    try:
        payload = os.urandom(8)
        probe = sock.send_probe(1, payload)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([sock.fileno()], [], [], left)
            if readable and any(matches_probe(r, probe) for r in sock.receive()):
                return True
    except OSError as exc:  # no route ...
        LOG.debug("echo to %s: %s", address, exc)
        return False
    finally:
        sock.close()
