"""Where the scenarios find what differs per cloud: hosts, SSH, logs, the bus.

Every cloud, the lab included, is described by an installer plugin
(doctor_tests.installer) and its inventory, and reached the same way
(:class:`InstallerEnv`): the nodes by SSH as the inventory's user (sudo for what needs
root), Aodh's configuration and the service logs fetched from the nodes by the
installer-neutral playbooks, clocks measured over SSH. :class:`LabEnv` adds only what
the lab has beyond a user's cloud: repairing the links a killed run left down through
the lab's out-of-band console.
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import yaml

from doctor_tests import lab
from doctor_tests.config import Settings
from doctor_tests.fault import HostShell, SshError, SshTarget, wait_ssh
from doctor_tests.installer import Installer, InstallerError, get_installer
from doctor_tests.paths import data_root
from doctor_tests.playbook import PlaybookFailed
from doctor_tests.profiler.sources.clock import ClockError, ClockOffset, measure_node_clock
from doctor_tests.waiting import WaitTimeout

LOG = logging.getLogger(__name__)

LOG_TAIL_BYTES = 8 * 1024 * 1024
CLOCK_SAMPLES = 15
AODH_DEFAULT_CACHE_TTL = 60  # Aodh's own default for event_alarm_cache_ttl
ROLE_DEFAULTS = data_root() / "roles/doctor_config/defaults/main.yml"
#: the layout's out-of-band console commands (doctor_console_<action>)
CONSOLE_ACTIONS = ("link_up", "power_off", "power_on", "freeze", "thaw")
#: the services whose logs the profiler reads (Nova's API for T03/T04, Aodh for T07/T08)
PROFILE_SERVICES = ("nova", "aodh")
#: and a peer's own, when it handles the fault (its steps, Vitrage's T02)
PEER_LOGS = {"vitrage": ("vitrage",), "masakari": ("masakari",)}


class CloudFactsError(RuntimeError):
    """The scenario cannot work out a fact about this cloud; says what to set."""


class CloudEnv(Protocol):
    """What the scenarios ask of a cloud besides its APIs."""

    def ssh_target(self, host: str) -> SshTarget: ...

    def restore_link(self, host: str) -> None: ...

    def dataplane_address(self, host: str) -> str:
        """The host's data-plane address ("" when the cloud's layout names none)."""
        ...

    def event_alarm_cache_ttl(self) -> int | None: ...

    def bus_url(self) -> str | None: ...

    def log_lines(self, since_epoch: float,
                  services: Sequence[str] = PROFILE_SERVICES) -> Iterable[str]: ...

    def log_clock(self) -> tuple[str, ClockOffset | None]:
        """(the node whose clock stamps the service logs and Aodh's history, its offset
        against the runner; None when it cannot be measured)."""
        ...

    def notifier_address(self) -> str | None:
        """The address of the node that runs Aodh's notifier (None: unknown)."""
        ...

    def notifier_target(self) -> SshTarget | None:
        """SSH to the node that runs Aodh's notifier (None: it cannot be reached by SSH)."""
        ...


#: One remote process answers each line with its clock: a sample's round trip is then one
#: line each way on an open channel (about a millisecond), not a process start per sample,
#: whose cost falls before the clock is read and biased the offset by half of it (22 ms
#: on the lab, where the true offset is 0).
CLOCK_ECHO = ("python3 -u -c 'import sys, time\n"
              "for _ in sys.stdin: print(repr(time.time()), flush=True)'")


def measure_clock(target: SshTarget, samples: int = CLOCK_SAMPLES) -> ClockOffset:
    """``target``'s clock against the runner's, over one SSH connection (the tightest of
    ``samples`` round trips); with ``date`` per sample where the node has no python3."""
    shell = HostShell(target)
    try:
        stdin, stdout = shell.stream(CLOCK_ECHO)

        def ask(_command: str) -> str:
            stdin.write("\n")
            stdin.flush()
            return str(stdout.readline())

        try:
            return measure_node_clock(target.host, ask, samples)
        except ClockError as exc:
            LOG.info("%s; reading the clock with date instead", exc)
            return measure_node_clock(target.host, shell.check, samples)
        finally:
            stdin.close()
    finally:
        shell.close()


class InstallerEnv:
    """Facts of a cloud described by an installer plugin and its inventory.

    Compute hosts are reached as the plugin says (:meth:`Installer.ssh_target`). Aodh's
    configuration is fetched once from the node that runs Aodh (after prepare), for the
    event-alarm cache and the message bus; the logs are fetched by collect_logs.yml when
    the profile asks for them. What cannot be had is logged with what it costs.
    """

    def __init__(self, settings: Settings, installer: Installer) -> None:
        self.settings = settings
        self.installer = installer
        self.workdir = settings.results_dir / "installer" / installer.name
        self._aodh: configparser.RawConfigParser | None = None
        self._aodh_error = ""

    def ssh_target(self, host: str, user: str | None = None) -> SshTarget:
        """How ``host`` (a Nova host name or an inventory name) is reached: as the
        inventory's node user, or as ``user``."""
        try:
            target = self.installer.ssh_target(host)
        except (InstallerError, PlaybookFailed) as exc:
            raise CloudFactsError(str(exc)) from exc
        return dataclasses.replace(target, user=user) if user else target

    def dataplane_address(self, host: str) -> str:
        """``host``'s address on the data-plane network ("" when the layout names none:
        the data-plane faults and probes need it)."""
        try:
            return self.installer.dataplane_address_of(host)
        except (InstallerError, PlaybookFailed) as exc:
            raise CloudFactsError(str(exc)) from exc

    def console(self, action: str, host: str) -> str | None:
        """Run the layout's out-of-band command for ``action`` (``doctor_console_<action>``:
        link_up, power_off, power_on, freeze, thaw; ``{host}`` replaced) on the runner, as a
        BMC would be used; its output, or None when the layout has none."""
        if action not in CONSOLE_ACTIONS:
            raise CloudFactsError("unknown console action %r; known: %s"
                                  % (action, ", ".join(CONSOLE_ACTIONS)))
        key = "doctor_console_%s" % action
        command = self.installer.layout_var(key)
        if not command:
            return None
        argv = [a.replace("{host}", host) for a in shlex.split(str(command))]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CloudFactsError("the console command for %s (%s: %s) failed: %s"
                                  % (host, key, command, exc)) from exc
        if res.returncode != 0:
            raise CloudFactsError("the console command for %s (%s: %s) exited %d: %s"
                                  % (host, key, command, res.returncode,
                                     (res.stderr or res.stdout).strip()))
        return res.stdout

    def console_link_up(self, host: str) -> bool:
        """Run the inventory's ``doctor_console_link_up`` on the runner for ``host`` (an
        out-of-band way to bring its links up, as a BMC); False when the layout has none."""
        return self.console("link_up", host) is not None

    def restore_link(self, host: str) -> None:
        """Bring ``host``'s link back: through the layout's console command when it has one,
        else the host brings its own back after the fault's duration; then wait for the host
        to answer on SSH again (nothing from here can reach a host whose link is down)."""
        target = self.ssh_target(host)
        by_console = self.console_link_up(host)
        timeout = 30.0 if by_console else self.settings.fault_duration_s + 60.0

        try:
            wait_ssh(target, timeout, interval=0.5)
        except WaitTimeout as exc:
            raise CloudFactsError("%s; its link may still be down: bring it up on the host "
                                  "(ip link set <dev> up)" % exc) from exc
        LOG.info("%s answers again (%s)", host, "its link brought up from the console"
                 if by_console else "it restored its own link")

    def notifier_target(self) -> SshTarget | None:
        node = self.installer.service_host("aodh")
        try:
            return self.installer.ssh_target(node)
        except InstallerError as exc:
            LOG.warning("no SSH to %s (Aodh's node): the consumer's URL is checked from the "
                        "runner only: %s", node, brief(exc))
            return None

    def notifier_address(self) -> str | None:
        try:
            return self.installer.node(self.installer.service_host("aodh")).address
        except InstallerError as exc:
            LOG.warning("no address for Aodh's node: %s", brief(exc))
            return None

    def log_clock(self) -> tuple[str, ClockOffset | None]:
        """The clock of the node that runs Aodh (its logs and history), measured over SSH;
        None (with a warning) when that node cannot be reached."""
        node = self.installer.service_host("aodh")
        try:
            return node, measure_clock(self.installer.ssh_target(node))
        except (InstallerError, SshError, ClockError) as exc:
            LOG.warning("cannot measure the clock of %s (Aodh's node): %s; its timestamps are "
                        "taken as the runner's", node, brief(exc))
            return node, None

    def _aodh_conf(self) -> configparser.RawConfigParser | None:
        if self._aodh is None and not self._aodh_error:
            try:
                copies = self.installer.fetch_config("aodh", self.workdir / "config")
            except (InstallerError, PlaybookFailed) as exc:
                self._aodh_error = brief(exc)
                return None
            if not copies:
                self._aodh_error = "%s not found on %s" % (
                    ", ".join(self.installer.service("aodh").config_files),
                    self.installer.service_host("aodh"))
                return None
            parser = configparser.RawConfigParser(strict=False)
            parser.read(list(copies.values()), encoding="utf-8")
            self._aodh = parser
        return self._aodh

    def event_alarm_cache_ttl(self) -> int | None:
        conf = self._aodh_conf()
        if conf is not None:
            value = conf.get("DEFAULT", "event_alarm_cache_ttl", fallback=None)
            try:
                return AODH_DEFAULT_CACHE_TTL if value is None else int(value)
            except ValueError:
                LOG.warning("aodh.conf: event_alarm_cache_ttl = %r is not a number", value)
        ttl = prepared_cache_ttl(self.installer)
        LOG.warning("cannot read Aodh's configuration (%s); taking event_alarm_cache_ttl = %d, "
                    "the value prepare.yml sets (doctor_config_aodh_cache_ttl)",
                    self._aodh_error or "see above", ttl)
        return ttl

    def bus_url(self) -> str | None:
        explicit = self.installer.var(self.installer.service_host("aodh"), "doctor_bus_url")
        if explicit:
            return str(explicit)
        conf = self._aodh_conf()
        url = None
        if conf is not None:
            url = (conf.get("oslo_messaging_notifications", "transport_url", fallback=None)
                   or conf.get("DEFAULT", "transport_url", fallback=None))
        amqp = kombu_url(url) if url else None
        if amqp is None:
            LOG.warning("no message bus URL for the profiler (%s); T05/T06 come from the logs "
                        "only; the inventory's doctor_bus_url sets one",
                        self._aodh_error or "no rabbit:// transport_url in aodh.conf")
        return amqp

    def log_lines(self, since_epoch: float,
                  services: Sequence[str] = PROFILE_SERVICES) -> Iterable[str]:
        """The logs of ``services`` (by default those the profiler reads: Nova, Aodh; a peer
        that handled the fault adds its own), fetched by collect_logs.yml; none, with a
        warning, when the logs cannot be fetched."""
        dest = self.workdir / "logs"
        shutil.rmtree(dest, ignore_errors=True)  # an earlier run's copies are not this run's
        try:
            self.installer.collect_logs(dest, services=services)
        except (InstallerError, PlaybookFailed) as exc:
            LOG.warning("cannot fetch the service logs for the profile: %s", brief(exc))
            return []
        files = sorted(p for p in dest.rglob("*") if p.is_file())
        if any(p.name.endswith(".journal.log") for p in files):
            LOG.warning("journal exports in %s are not in oslo.log's line format; the profiler "
                        "reads only plain log files", dest)
        if not files:
            LOG.warning("collect_logs.yml fetched no logs into %s (the layout's doctor_log_files)",
                        dest)
        return tail_lines([p for p in files if not p.name.endswith(".journal.log")])


def brief(exc: Exception, limit: int = 600) -> str:
    """An error's message on one line (a playbook's failure lines included), cut at ``limit``."""
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tail_lines(paths: Sequence[Path]) -> Iterable[str]:
    """The last LOG_TAIL_BYTES of each file, line by line (a cut first line dropped)."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - LOG_TAIL_BYTES))
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError as exc:
            LOG.warning("cannot read %s for the profile: %s", path, exc)
            continue
        yield from data[1:] if size > LOG_TAIL_BYTES else data


def aodh_cache_ttl(conf: Path) -> int | None:
    """``event_alarm_cache_ttl`` of an aodh.conf (Aodh's default when unset; None: unreadable)."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        with open(conf, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error):
        return None
    value = parser.get("DEFAULT", "event_alarm_cache_ttl", fallback=None)
    try:
        return AODH_DEFAULT_CACHE_TTL if value is None else int(value)
    except ValueError:
        return None


def prepared_cache_ttl(installer: Installer) -> int:
    """The cache TTL prepare.yml writes: the inventory's doctor_config_aodh_cache_ttl, else the
    role's default."""
    value = installer.var(installer.service_host("aodh"), "doctor_config_aodh_cache_ttl")
    if value is None:
        try:
            value = (yaml.safe_load(ROLE_DEFAULTS.read_text()) or {}).get(
                "doctor_config_aodh_cache_ttl", 0)
        except (OSError, yaml.YAMLError):
            value = 0
    return int(value)


def kombu_url(transport_url: str) -> str | None:
    """oslo.messaging's ``rabbit://user:pw@host:port/vhost`` (the first of several hosts) as a
    kombu URL ``amqp://user:pw@host:port/vhost``; None for another driver."""
    parts = urlsplit(transport_url.strip())
    if parts.scheme not in ("rabbit", "amqp"):
        return None
    netloc = parts.netloc.split(",")[0]
    if not netloc:
        return None
    vhost = parts.path[1:] if parts.path.startswith("/") else parts.path
    return urlunsplit(("amqp", netloc, "/" + (vhost or "/"), "", ""))


def resolve_inventories(settings: Settings, repo: Path | None = None) -> list[Path] | None:
    """DOCTOR_INVENTORY's paths (relative ones from the current directory, else from
    Doctor's data: the checkout or the installed package); None for the installer's own
    inventory/<INSTALLER_TYPE>."""
    if not settings.inventory:
        return None
    repo = repo or data_root()
    out = []
    for path in settings.inventory:
        found = next((p for p in (path, repo / path) if p.exists()), None)
        if found is None:
            raise CloudFactsError("DOCTOR_INVENTORY (--inventory): %s does not exist (nor %s)"
                                  % (path, repo / path))
        out.append(found.resolve())
    return out


def make_installer(settings: Settings) -> Installer:
    """The installer plugin INSTALLER_TYPE names, with DOCTOR_INVENTORY's inventories."""
    try:
        return get_installer(settings.installer_type, settings,
                             inventories=resolve_inventories(settings))
    except (InstallerError, PlaybookFailed) as exc:
        raise CloudFactsError(str(exc)) from exc


class LabEnv(InstallerEnv):
    """The lab (INSTALLER_TYPE=local), reached as any cloud is (:class:`InstallerEnv` with
    the ``local`` installer); besides, the links a killed run left down are repaired
    through the lab's console."""

    def __init__(self, settings: Settings, installer: Installer | None = None) -> None:
        super().__init__(settings, installer or make_installer(settings))

    def restore_links(self) -> list[str]:
        """Bring up the links of every lab host a killed run left down, continue a host it
        left frozen and power on one it left off (the fault catalogue's hang and power_off);
        says which."""
        done = []
        try:
            for host, action in lab.hosts_to_revive().items():
                lab.console(action, host)
                done.append("%s of %s" % (action, host))
        except (lab.LabError, OSError, subprocess.TimeoutExpired) as exc:
            LOG.warning("cannot revive the lab's hosts: %s", exc)
        down = [h.name for h in lab.all_hosts() if h.namespace and not h.links_up]
        if down:
            lab.links_up()
        return done + ["link of %s up again" % name for name in down]


def environment(settings: Settings, installer: Installer | None = None) -> CloudEnv:
    """The lab's facts for INSTALLER_TYPE=local; the installer plugin's otherwise (the same
    path: the lab is reached as a remote cloud)."""
    if settings.installer_type == "local":
        return LabEnv(settings, installer)
    return InstallerEnv(settings, installer or make_installer(settings))
