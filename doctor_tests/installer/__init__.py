"""Installer plugins: what differs per deployment tool, chosen by ``INSTALLER_TYPE``.

::

    installer = get_installer(settings.installer_type, settings)
    request.addfinalizer(installer.restore)     # registered before prepare runs
    installer.prepare()
    installer.address_of("overcloud-novacompute-0.localdomain")

Each plugin reads ``inventory/<name>/`` (hosts, groups and the layout variables)
and runs the installer-neutral playbooks (``playbooks/prepare.yml``,
``restore.yml``, ``collect_logs.yml``) with it.
"""

from __future__ import annotations

import logging
from typing import Any

from doctor_tests.config import Settings
from doctor_tests.installer.apex import ApexInstaller
from doctor_tests.installer.base import (
    SERVICES,
    Installer,
    InstallerError,
    Node,
    PlaybookFailed,
    PlaybookResult,
    ServiceLayout,
    UnknownHost,
)
from doctor_tests.installer.devstack import DevstackInstaller
from doctor_tests.installer.kolla import KollaInstaller
from doctor_tests.installer.local import LocalInstaller
from doctor_tests.installer.mcp import FuelInstaller, McpInstaller

LOG = logging.getLogger(__name__)

INSTALLERS: dict[str, type[Installer]] = {
    cls.name: cls
    for cls in (LocalInstaller, DevstackInstaller, ApexInstaller, McpInstaller, KollaInstaller)
}
# The upstream CI calls Fuel/MCP "fuel": the MCP plugin with inventory/mcp.
INSTALLERS["fuel"] = FuelInstaller


class UnknownInstaller(InstallerError):
    """An installer name that is not registered; lists the valid ones."""

    def __init__(self, name: str) -> None:
        self.installer = name
        super().__init__("INSTALLER_TYPE = %r is not valid; allowed: %s"
                         % (name, ", ".join(INSTALLERS)))


def get_installer(name: str, settings: Settings, **kwargs: Any) -> Installer:
    """The installer plugin called ``name`` (``kwargs`` go to its constructor)."""
    try:
        cls = INSTALLERS[name]
    except KeyError:
        raise UnknownInstaller(name) from None
    return cls(settings, **kwargs)


__all__ = [
    "INSTALLERS",
    "SERVICES",
    "Installer",
    "InstallerError",
    "Node",
    "PlaybookFailed",
    "PlaybookResult",
    "ServiceLayout",
    "UnknownHost",
    "UnknownInstaller",
    "get_installer",
]
