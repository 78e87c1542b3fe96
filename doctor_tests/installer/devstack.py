"""DevStack (INSTALLER_TYPE=devstack): services as systemd units ``devstack@<service>``,
configuration in ``/etc/<service>/``, logs in the journal, the ``stack`` user with
passwordless sudo. The nodes are listed in ``inventory/devstack/hosts.yml`` under the
names Nova uses (``hostname -s``)."""

from __future__ import annotations

import logging

from doctor_tests.installer.base import Installer

LOG = logging.getLogger(__name__)


class DevstackInstaller(Installer):
    """A DevStack cloud: one all-in-one node or a controller and compute nodes."""

    name = "devstack"
    default_user = "stack"
