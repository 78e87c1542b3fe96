"""Kolla-Ansible (INSTALLER_TYPE=kolla): every service in its own container, its
configuration in ``/etc/kolla/<container>/`` (copied in when the container starts, so a
change takes a ``docker restart <container>``), logs in ``/var/log/kolla/<service>/``.
The node names are those of Kolla-Ansible's own inventory, which are the Nova host names.
"""

from __future__ import annotations

import logging

from doctor_tests.installer.base import Installer, InstallerError

LOG = logging.getLogger(__name__)


class KollaInstaller(Installer):
    """A Kolla-Ansible cloud."""

    name = "kolla"
    default_user = "root"

    def container_of(self, service: str) -> list[str]:
        """The containers Doctor restarts for ``service`` (those reading its files)."""
        host = self.service_host(service)
        units = (self.var(host, "doctor_restart_units", {}) or {}).get(service)
        if not units:
            raise InstallerError("kolla: the layout names no container for %s "
                                 "(doctor_restart_units.%s)" % (service, service))
        return [str(u) for u in units]
