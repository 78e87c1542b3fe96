"""Fuel / MCP (INSTALLER_TYPE=mcp).

The Salt master (``INSTALLER_IP``) holds every node's address in its pillar
(``_param:single_address``); controllers are ``ctl*``, the telemetry nodes
running Ceilometer and Aodh ``mdb*``, the compute hosts ``cmp*``. Services are
packages with systemd units, configuration in ``/etc/<service>/``, logs in
``/var/log/<service>/``; the node user is ``ubuntu`` with sudo, its key
``/var/lib/opnfv/mcp.rsa`` on the jump host. Salt owns the files: a later
highstate writes its own content back.
"""

from __future__ import annotations

import json
import logging

from doctor_tests.installer import discovery
from doctor_tests.installer.base import Installer, InstallerError, Node

LOG = logging.getLogger(__name__)

PILLAR_QUERY = ("sudo salt --out=json --static "
                "-C 'I@nova:controller or I@nova:compute or I@aodh:server' "
                "pillar.get _param:single_address")
GROUP_BY_PREFIX = {"ctl": "controllers", "mdb": "telemetry", "cmp": "computes"}


class McpInstaller(Installer):
    """A Fuel / MCP cloud, its addresses from the Salt master's pillar."""

    name = "mcp"
    default_user = "ubuntu"

    @property
    def salt_master(self) -> str:
        address = self.settings.installer_ip or self.var(self._layout_host(),
                                                         "doctor_salt_master_ip")
        if not address:
            raise InstallerError("mcp: the Salt master's address is not known; set INSTALLER_IP")
        return str(address)

    def discovery_command(self) -> list[str]:
        return discovery.ssh_command(self.node_user, self.salt_master, PILLAR_QUERY,
                                     self.ssh_key, self.known_hosts)

    def discover(self, run: discovery.Run | None = None) -> list[Node]:
        """The controllers, telemetry nodes and compute hosts from the pillar."""
        return parse_pillar((run or discovery.run_command)(self.discovery_command()))


def parse_pillar(output: str) -> list[Node]:
    """Nodes from ``salt --out=json --static ... pillar.get _param:single_address``."""
    try:
        minions = json.loads(output)
    except ValueError as exc:
        raise InstallerError("mcp: the Salt master's answer is not JSON: %s" % exc) from exc
    if not isinstance(minions, dict):
        raise InstallerError("mcp: the Salt master's answer is not a mapping of minions")
    nodes = []
    for minion, address in sorted(minions.items()):
        short = str(minion).split(".", 1)[0]
        group = GROUP_BY_PREFIX.get(short[:3])
        if group is None:
            LOG.info("mcp: minion %s is not a controller, telemetry node or compute; left out",
                     minion)
            continue
        if not address:
            raise InstallerError("mcp: minion %s has no _param:single_address" % minion)
        nodes.append(Node(short, str(address), (group,), short))
    return nodes
