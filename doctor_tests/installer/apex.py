"""Apex / TripleO (INSTALLER_TYPE=apex).

The undercloud (``INSTALLER_IP``) knows the overcloud: its nodes and their
control-plane addresses (``openstack server list`` with ``stackrc``). The
overcloud nodes are reached through it (SSH ProxyJump) as ``heat-admin``. Services
run in containers; their configuration is generated into
``/var/lib/config-data/puppet-generated/<service>/etc/<service>/`` and copied into
the container when it starts, so a change takes a container restart. Nova knows
the nodes by their FQDN (``overcloud-novacompute-0.localdomain``); the inventory by
the short name.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from doctor_tests.fault import SshTarget
from doctor_tests.installer import discovery
from doctor_tests.installer.base import Installer, InstallerError, Node

LOG = logging.getLogger(__name__)

SERVER_LIST = "source ~/stackrc && openstack server list -f json -c Name -c Networks"
CONTROL_PLANE = "ctlplane"


class ApexInstaller(Installer):
    """A TripleO overcloud, reached through its undercloud."""

    name = "apex"
    default_user = "heat-admin"

    def extra_vars(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.settings.installer_ip:
            out["doctor_undercloud_ip"] = self.settings.installer_ip
        out.update(super().extra_vars())
        return out

    @property
    def undercloud(self) -> str:
        """The undercloud's address: INSTALLER_IP, else the inventory's."""
        address = self.settings.installer_ip or self.var(self._layout_host(),
                                                         "doctor_undercloud_ip")
        if not address:
            raise InstallerError("apex: the undercloud's address is not known; set INSTALLER_IP")
        return str(address)

    def ssh_target(self, nova_host: str) -> SshTarget:
        """Overcloud nodes are only reachable through the undercloud, which the scenarios'
        direct SSH (doctor_tests.fault) cannot do yet; say so instead of a timeout."""
        node = self.find_node(nova_host)
        raise InstallerError(
            "apex: %s (%s) is reached through the undercloud %s (ProxyJump); the scenarios' "
            "fault injection connects directly and cannot do that yet"
            % (nova_host, node.address, self.undercloud))

    def discovery_command(self) -> list[str]:
        user = str(self.var(self._layout_host(), "doctor_undercloud_user", "stack"))
        return discovery.ssh_command(user, self.undercloud, SERVER_LIST, self.ssh_key,
                                     self.known_hosts)

    def discover(self, run: discovery.Run | None = None) -> list[Node]:
        """The overcloud's nodes, as the undercloud lists them."""
        return parse_servers((run or discovery.run_command)(self.discovery_command()))


def _ctlplane(networks: object) -> str | None:
    """The control-plane address from a server's Networks (old and new client formats)."""
    if isinstance(networks, dict):
        addresses = networks.get(CONTROL_PLANE) or []
        return str(addresses[0]) if addresses else None
    if isinstance(networks, str):
        for part in networks.split(";"):
            name, _, addresses = part.strip().partition("=")
            if name == CONTROL_PLANE and addresses:
                return addresses.split(",")[0].strip()
    return None


def parse_servers(output: str) -> list[Node]:
    """Nodes from ``openstack server list -f json`` on the undercloud."""
    try:
        servers = json.loads(output)
    except ValueError as exc:
        raise InstallerError("apex: the undercloud's server list is not JSON: %s" % exc) from exc
    nodes = []
    for server in servers:
        name = str(server.get("Name", ""))
        address = _ctlplane(server.get("Networks"))
        if "controller" in name:
            groups: tuple[str, ...] = ("controllers",)
        elif "compute" in name:
            groups = ("computes",)
        else:
            LOG.info("apex: %s is neither a controller nor a compute; left out", name)
            continue
        if not address:
            raise InstallerError("apex: server %s has no %s address" % (name, CONTROL_PLANE))
        nodes.append(Node(name, address, groups, name + ".localdomain"))
    return nodes
