"""The lab (INSTALLER_TYPE=local): a real all-in-one OpenStack on this machine.

The controller is this machine; the compute hosts are the lab's network
namespaces, reached as root with the lab's key (their host keys in the lab's
known_hosts). The layout is ``inventory/local/group_vars/doctor.yml``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from doctor_tests import lab
from doctor_tests.installer.base import Installer, Node, PlaybookResult

LOG = logging.getLogger(__name__)

CONTROLLER_NOVA_HOST = "lab-controller"


class LocalInstaller(Installer):
    """The lab; its compute hosts come from the lab itself (they may be 1..20)."""

    name = "local"
    default_user = "root"

    def __init__(self, *args: Any, lab_hosts: Callable[[], Sequence[lab.LabHost]] = lab.hosts,
                 lab_dir: Callable[[], Path] = lab.lab_dir, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lab_hosts = lab_hosts
        self._lab_dir = lab_dir

    def extra_vars(self) -> dict[str, Any]:
        out = {"lab_dir": str(self._lab_dir())}
        out.update(super().extra_vars())
        return out

    def controllers(self) -> list[Node]:
        hosts = self._lab_hosts()
        address = hosts[0].address.rsplit(".", 1)[0] + ".1" if hosts else "127.0.0.1"
        return [Node(h, address, ("controllers",), CONTROLLER_NOVA_HOST)
                for h in self._hosts() if "controllers" in self.inventory.groups_of(h)]

    def computes(self) -> list[Node]:
        return [Node(h.name, h.address, ("computes",), h.name) for h in self._lab_hosts()]

    def backup_dir(self) -> Path:
        """Where prepare keeps the originals (``doctor_backup_dir``; on this machine)."""
        return Path(str(self.var(self._layout_host(), "doctor_backup_dir")))

    def restore(self) -> PlaybookResult:
        """As :meth:`Installer.restore`, but without starting Ansible when there is nothing to
        put back: the lab comes up prepared, so prepare usually backs nothing up, and
        restore.yml with no backups changes nothing (the backups are on this machine)."""
        backup = self.backup_dir()
        if not (backup.is_dir() and any(backup.iterdir())):
            LOG.info("local: nothing to restore (no backups in %s)", backup)
            return PlaybookResult("restore.yml", 0)
        return super().restore()
