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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from doctor_tests.config import Settings
from doctor_tests.installer import discovery
from doctor_tests.installer.base import REPO_ROOT, Installer, InstallerError, Node

LOG = logging.getLogger(__name__)

# Each node's address and the roles its pillar gives it (reclass classes
# openstack.control, openstack.telemetry, openstack.compute set these keys): in
# a non-HA deployment Ceilometer and Aodh run on ctl01, in an HA one on mdb*.
ROLE_KEYS = {
    "nova:controller:enabled": "controllers",
    "aodh:server:enabled": "telemetry",
    "ceilometer:server:enabled": "telemetry",
    "nova:compute:enabled": "computes",
}
PILLAR_QUERY = ("sudo salt --out=json --static "
                "-C 'I@nova:controller or I@nova:compute or I@aodh:server' "
                "pillar.item _param:single_address " + " ".join(ROLE_KEYS))
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


class FuelInstaller(McpInstaller):
    """INSTALLER_TYPE=fuel, the upstream CI's name for Fuel/MCP: the MCP plugin and its
    inventory (``inventory/mcp``)."""

    name = "fuel"

    def __init__(self, settings: Settings, *, inventories: Sequence[Path] | None = None,
                 repo: Path = REPO_ROOT, **kwargs: Any) -> None:
        super().__init__(settings, inventories=inventories or [repo / "inventory" / "mcp"],
                         repo=repo, **kwargs)


def _enabled(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def parse_pillar(output: str) -> list[Node]:
    """Nodes from ``salt --out=json --static ... pillar.item _param:single_address <roles>``:
    each in the groups of the roles its pillar enables (a controller that also runs
    Ceilometer and Aodh is in controllers and telemetry). An answer with addresses only (the
    older ``pillar.get``) falls back to the name prefixes (ctl, mdb, cmp)."""
    try:
        minions = json.loads(output)
    except ValueError as exc:
        raise InstallerError("mcp: the Salt master's answer is not JSON: %s" % exc) from exc
    if not isinstance(minions, dict):
        raise InstallerError("mcp: the Salt master's answer is not a mapping of minions")
    nodes = []
    for minion, answer in sorted(minions.items()):
        short = str(minion).split(".", 1)[0]
        if isinstance(answer, dict):
            address = answer.get("_param:single_address")
            groups = tuple(dict.fromkeys(group for key, group in ROLE_KEYS.items()
                                         if _enabled(answer.get(key))))
        else:
            address = answer
            prefix = GROUP_BY_PREFIX.get(short[:3])
            groups = (prefix,) if prefix else ()
        if not groups:
            LOG.info("mcp: minion %s is not a controller, telemetry node or compute; left out",
                     minion)
            continue
        if not address:
            raise InstallerError("mcp: minion %s has no _param:single_address" % minion)
        nodes.append(Node(short, str(address), groups, short))
    telemetry = [n.name for n in nodes if "telemetry" in n.groups]
    if nodes and not telemetry:
        raise InstallerError("mcp: no minion runs Ceilometer or Aodh (aodh:server, "
                             "ceilometer:server in the pillar); Doctor's alarms need them")
    return nodes
