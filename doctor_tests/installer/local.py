"""The lab (INSTALLER_TYPE=local): a real OpenStack on this machine, reached as a remote cloud.

The controller is the namespace host ``lab-controller-0`` (``inventory/local/hosts.yml``),
reached across the lab bridge by SSH as the node user with sudo; the compute hosts are the
lab's other namespaces (their number is the lab's: they are read from the lab), reached the
same way, their host keys in the lab's known_hosts; each also has an address on the lab's
data-plane bridge (its eth1), read from the lab too. The layout is
``inventory/local/group_vars/doctor.yml``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from doctor_tests import lab
from doctor_tests.installer.base import Installer, Node


class LocalInstaller(Installer):
    """The lab; its compute hosts come from the lab itself (they may be 1..20)."""

    name = "local"
    default_user = "stack"

    def __init__(self, *args: Any, lab_hosts: Callable[[], Sequence[lab.LabHost]] = lab.hosts,
                 lab_dir: Callable[[], Path] = lab.lab_dir, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lab_hosts = lab_hosts
        self._lab_dir = lab_dir

    def extra_vars(self) -> dict[str, Any]:
        out = {"lab_dir": str(self._lab_dir())}
        out.update(super().extra_vars())
        return out

    def computes(self) -> list[Node]:
        return [Node(h.name, h.address, ("computes",), h.name, h.data_address)
                for h in self._lab_hosts()]
