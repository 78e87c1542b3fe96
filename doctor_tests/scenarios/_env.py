"""Where the scenarios find what differs per cloud: hosts, SSH, logs, the bus.

On the lab (INSTALLER_TYPE=local) every fact comes from the lab directory;
elsewhere from the installer plugin (doctor_tests.installer).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from doctor_tests import lab
from doctor_tests.config import Settings
from doctor_tests.fault import SshTarget

LOG = logging.getLogger(__name__)

LOG_TAIL_BYTES = 8 * 1024 * 1024


class CloudFactsError(RuntimeError):
    """The scenario cannot work out a fact about this cloud; says what to set."""


class LabEnv:
    """Facts of the local lab."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = lab.lab_dir()

    def ssh_target(self, host: str) -> SshTarget:
        for h in lab.hosts():
            if h.name == host:
                return SshTarget(host, h.address, "root",
                                 Path(self.settings.ssh_key or self.dir / "ssh" / "id_ed25519"),
                                 self.dir / "ssh" / "known_hosts")
        raise CloudFactsError("host %r is not one of the lab's hosts (%s)"
                                % (host, ", ".join(h.name for h in lab.hosts()) or "none"))

    def restore_link(self, host: str) -> None:
        """Bring every lab host's link up from the controller (netns), whatever its state."""
        lab.links_up()
        LOG.info("link of %s up again (from the controller)", host)

    def event_alarm_cache_ttl(self) -> int | None:
        conf = self.dir / "etc" / "aodh" / "aodh.conf"
        try:
            for line in conf.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "event_alarm_cache_ttl":
                    return int(value.strip())
        except OSError:
            return None
        return 60  # Aodh's default

    def bus_url(self) -> str | None:
        try:
            password = (self.dir / "secrets" / "rabbit").read_text().split()[0]
        except (OSError, IndexError):
            return None
        controller = lab.controller_address() or "127.0.0.1"
        return "amqp://doctorlab:%s@%s:5672//" % (password, controller)

    def log_lines(self, since_epoch: float) -> Iterable[str]:
        """Lines of the services' logs the profiler reads (Nova's API, Aodh)."""
        for name in ("nova-controller.log", "aodh.log"):
            path = self.dir / "log" / name
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    f.seek(max(0, size - LOG_TAIL_BYTES))
                    data = f.read().decode("utf-8", "replace").splitlines()
            except OSError as exc:
                LOG.warning("cannot read %s for the profile: %s", path, exc)
                continue
            yield from data[1:] if size > LOG_TAIL_BYTES else data


def environment(settings: Settings) -> LabEnv:
    if settings.installer_type == "local":
        return LabEnv(settings)
    raise CloudFactsError(
        "INSTALLER_TYPE=%s: the scenarios reach that installer's hosts through its plugin in "
        "doctor_tests.installer, which does not provide SSH targets yet; allowed today: local"
        % settings.installer_type)
