"""Real tests in network namespaces of their own: one host namespace with two links (a
management one and a data-plane one, each a veth pair to this namespace), as a lab compute
host has. Root only; names and subnets are the tests' own (DOCTOR_NETNS_PREFIX, default
``dtn``; 10.250.10.0/24 and 10.250.11.0/24), never the lab's. Everything made is removed."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PREFIX = os.environ.get("DOCTOR_NETNS_PREFIX", "dtn")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


@dataclass(frozen=True)
class NetnsHost:
    """A host namespace: eth0 (management) and eth1 (data plane), each the peer of a veth
    in this namespace that holds the runner-side address."""

    name: str
    address: str
    runner_address: str
    data_address: str
    runner_data_address: str
    veth: str
    data_veth: str

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name, *argv, check=check)

    def link(self, dev: str, state: str) -> None:
        sh("ip", "-n", self.name, "link", "set", "dev", dev, state)


def _make(name: str, index: int) -> NetnsHost:
    host = NetnsHost(name, "10.250.10.%d" % (10 + index), "10.250.10.1",
                     "10.250.11.%d" % (10 + index), "10.250.11.1",
                     "%s-m%d" % (PREFIX, index), "%s-d%d" % (PREFIX, index))
    sh("ip", "netns", "add", name)
    for veth, dev, addr, peer in ((host.veth, "eth0", host.address, host.runner_address),
                                  (host.data_veth, "eth1", host.data_address,
                                   host.runner_data_address)):
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", dev, "netns", name)
        sh("ip", "addr", "add", peer + "/32", "dev", veth)
        sh("ip", "link", "set", veth, "up")
        sh("ip", "route", "replace", addr + "/32", "dev", veth)
        sh("ip", "-n", name, "addr", "add", addr + "/24", "dev", dev)
        sh("ip", "-n", name, "link", "set", dev, "up")
    sh("ip", "-n", name, "link", "set", "lo", "up")
    return host


def _remove(host: NetnsHost) -> None:
    for pid in sh("ip", "netns", "pids", host.name, check=False).stdout.split():
        sh("kill", "-KILL", pid, check=False)
    for veth in (host.veth, host.data_veth):
        sh("ip", "link", "del", veth, check=False)
    sh("ip", "netns", "del", host.name, check=False)


@pytest.fixture
def netns_host() -> Iterator[NetnsHost]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    name = "%s-h0" % PREFIX
    if name in sh("ip", "netns", "list").stdout.split():
        pytest.fail("%s exists already (an earlier run's?): remove it with "
                    "'ip netns del %s'" % (name, name))
    host = _make(name, 0)
    try:
        yield host
    finally:
        _remove(host)
