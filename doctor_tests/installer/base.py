"""The installer plugin: what differs between deployments, and the playbooks that act on it.

An installer knows the cloud's controllers and compute hosts (from its inventory,
``inventory/<name>/``), maps a Nova host name to an address, knows the node user
and SSH key, where each service's configuration and logs are and how a service
restarts. ``prepare()``, ``restore()`` and ``collect_logs()`` run the
installer-neutral playbooks with that inventory.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from doctor_tests.config import Settings
from doctor_tests.fault import SshTarget
from doctor_tests.installer.inventory import Inventory, InventoryError

LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_TIMEOUT_S = 1800.0
TAIL_LINES = 25

# Which of the layout's files (doctor_files keys) belong to which service.
SERVICE_FILES: dict[str, tuple[str, ...]] = {
    "nova": ("nova",),
    "ceilometer": ("ceilometer_pipeline", "ceilometer_definitions"),
    "aodh": ("aodh",),
    "neutron": ("neutron_ml2", "neutron_policy"),
}
SERVICES = tuple(SERVICE_FILES)


class InstallerError(Exception):
    """Something about the installer's nodes or playbooks; the message says what."""


class UnknownHost(InstallerError):
    """A Nova host name the inventory does not know."""

    def __init__(self, installer: str, nova_host: str, known: Sequence[str]) -> None:
        self.installer, self.nova_host, self.known = installer, nova_host, list(known)
        super().__init__("%s: Nova host %r is not in the inventory (known: %s)"
                         % (installer, nova_host, ", ".join(known) or "none"))


class PlaybookFailed(InstallerError):
    """A playbook exited non-zero; carries the exit code and the output's last lines."""

    def __init__(self, playbook: str, rc: int, tail: Sequence[str],
                 log: Path | None = None) -> None:
        self.playbook, self.rc, self.tail, self.log = playbook, rc, list(tail), log
        where = "; full output in %s" % log if log else ""
        super().__init__("%s failed (exit %d)%s:\n%s" % (playbook, rc, where, "\n".join(tail)))


@dataclass(frozen=True)
class Node:
    """One node of the cloud: its inventory name, address and the name Nova knows it by."""

    name: str
    address: str
    groups: tuple[str, ...] = ()
    nova_host: str = ""


@dataclass(frozen=True)
class ServiceLayout:
    """Where a service's configuration and logs are, and how it restarts."""

    name: str
    config_files: tuple[str, ...]
    log_files: tuple[str, ...]
    restart_commands: tuple[str, ...]


@dataclass(frozen=True)
class PlaybookResult:
    """A finished playbook run: the recap counts per host and where the output is."""

    playbook: str
    rc: int
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    log: Path | None = None
    seconds: float = 0.0

    def total(self, key: str) -> int:
        return sum(counts.get(key, 0) for counts in self.recap.values())

    @property
    def changed(self) -> int:
        return self.total("changed")


_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")

Runner = Callable[[list[str], Mapping[str, str], Path, Path, float], tuple[int, list[str]]]


def parse_recap(lines: Sequence[str]) -> dict[str, dict[str, int]]:
    """The ``PLAY RECAP`` counts per host from ansible-playbook's output."""
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in lines:
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        m = _RECAP.match(line.strip()) if in_recap else None
        if m:
            recap[m.group("host")] = {k: int(v) for k, v in
                                      (kv.split("=") for kv in m.group("counts").split())}
    return recap


def run_subprocess(cmd: list[str], env: Mapping[str, str], cwd: Path, log: Path,
                   timeout_s: float) -> tuple[int, list[str]]:
    """Run ``cmd``, its output into ``log``; returns the exit code and the output's lines."""
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with open(log, "w", encoding="utf-8") as out, subprocess.Popen(
            cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1) as proc:
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                lines.append(line.rstrip("\n"))
            rc = proc.wait()
        finally:
            timer.cancel()
    if rc < 0:
        lines.append("(killed after %.0f s or by signal %d)" % (timeout_s, -rc))
    return rc, lines


def ansible_playbook_path() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise InstallerError("ansible-playbook not found: run 'make venv' "
                             "(or pip install ansible-core)")
    return found


class Installer(abc.ABC):
    """One deployment tool's layout of a cloud, and the playbooks run against it."""

    #: the INSTALLER_TYPE value
    name: ClassVar[str]
    #: the node user when the inventory does not name one
    default_user: ClassVar[str] = "root"

    def __init__(self, settings: Settings, *, inventories: Sequence[Path] | None = None,
                 limit: str | None = None, extra_vars: Mapping[str, Any] | None = None,
                 runner: Runner | None = None, repo: Path = REPO_ROOT,
                 environ: Mapping[str, str] | None = None,
                 timeout_s: float = PLAYBOOK_TIMEOUT_S) -> None:
        self.settings = settings
        self.repo = repo
        self.inventories = [Path(p) for p in inventories] if inventories else [
            repo / "inventory" / self.name]
        self.limit = limit
        self._extra_vars = dict(extra_vars or {})
        self._runner: Runner = runner or run_subprocess
        self._environ = dict(os.environ if environ is None else environ)
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return "<%s installer, inventory %s>" % (self.name, ", ".join(map(str, self.inventories)))

    # -- the inventory ----------------------------------------------------------------------

    @cached_property
    def inventory(self) -> Inventory:
        try:
            return Inventory(self.inventories)
        except InventoryError as exc:
            raise InstallerError("%s: %s" % (self.name, exc)) from exc

    def _hosts(self) -> list[str]:
        hosts = self.inventory.hosts()
        if self.limit:
            wanted = set(self.limit.split(":"))
            hosts = [h for h in hosts if h in wanted or wanted & set(self.inventory.groups_of(h))]
        return hosts

    def var(self, host: str, name: str, default: Any = None) -> Any:
        """A rendered inventory variable of ``host`` (extra vars win, as with ``-e``)."""
        try:
            return self.inventory.value(host, name, default, self.extra_vars())
        except InventoryError as exc:
            raise InstallerError("%s: %s" % (self.name, exc)) from exc

    def _layout_host(self) -> str:
        """A host whose variables describe the layout (the first controller)."""
        hosts = [h for h in self._hosts() if "controllers" in self.inventory.groups_of(h)]
        hosts = hosts or self._hosts()
        if not hosts:
            raise InstallerError("%s: the inventory %s has no hosts"
                                 % (self.name, ", ".join(map(str, self.inventories))))
        return hosts[0]

    def node(self, host: str) -> Node:
        address = self.var(host, "ansible_host", host)
        groups = tuple(g for g in self.inventory.groups_of(host) if g not in ("all", "doctor"))
        return Node(host, str(address), groups, self.nova_host_name(host))

    def nova_host_name(self, host: str) -> str:
        """The name Nova knows inventory host ``host`` by (``doctor_nova_host`` or the name)."""
        return str(self.var(host, "doctor_nova_host", host))

    def controllers(self) -> list[Node]:
        return [self.node(h) for h in self._hosts()
                if "controllers" in self.inventory.groups_of(h)]

    def computes(self) -> list[Node]:
        return [self.node(h) for h in self._hosts() if "computes" in self.inventory.groups_of(h)]

    def find_node(self, nova_host: str) -> Node:
        """The node Nova calls ``nova_host``: the same name, or the same short name (Nova
        often has the FQDN where an inventory has the short name, or the reverse)."""
        nodes = {n.name: n for n in self.controllers() + self.computes()}
        for node in nodes.values():
            if nova_host in (node.nova_host, node.name):
                return node
        short = nova_host.split(".", 1)[0]
        for node in nodes.values():
            if short in (node.nova_host.split(".", 1)[0], node.name.split(".", 1)[0]):
                return node
        raise UnknownHost(self.name, nova_host, sorted(n.nova_host for n in nodes.values()))

    def address_of(self, nova_host: str) -> str:
        """The address Doctor reaches the node Nova calls ``nova_host`` at."""
        return self.find_node(nova_host).address

    @property
    def node_user(self) -> str:
        return str(self.var(self._layout_host(), "doctor_node_user", self.default_user))

    @property
    def ssh_key(self) -> Path | None:
        """SSH_KEY if set, else the inventory's ``doctor_ssh_key``."""
        if self.settings.ssh_key is not None:
            return self.settings.ssh_key
        key = self.var(self._layout_host(), "doctor_ssh_key")
        return Path(str(key)).expanduser() if key else None

    @property
    def known_hosts(self) -> Path | None:
        path = self.var(self._layout_host(), "doctor_known_hosts")
        return Path(str(path)).expanduser() if path else None

    def ssh_target(self, nova_host: str) -> SshTarget:
        """How the scenarios reach the node Nova calls ``nova_host`` (fault injection)."""
        node = self.find_node(nova_host)
        key = self.ssh_key
        known = self.known_hosts
        if key is None or known is None:
            raise InstallerError("%s: no SSH key or known_hosts for %s; set SSH_KEY and the "
                                 "inventory's doctor_ssh_key / doctor_known_hosts"
                                 % (self.name, nova_host))
        return SshTarget(nova_host, node.address, self.node_user, key, known)

    def services(self) -> dict[str, ServiceLayout]:
        return {name: self.service(name) for name in SERVICE_FILES}

    def service(self, name: str) -> ServiceLayout:
        """Where service ``name`` keeps its configuration and logs, and its restarts."""
        if name not in SERVICE_FILES:
            raise InstallerError("unknown service %r; known: %s"
                                 % (name, ", ".join(SERVICE_FILES)))
        host = self.service_host(name)
        files = self.var(host, "doctor_files", {}) or {}
        config = tuple(str(path) for key in SERVICE_FILES[name] if key in files
                       for path in _paths(files[key]))
        units = [str(u) for u in (self.var(host, "doctor_restart_units", {}) or {}).get(name, [])]
        command = str(self.var(host, "doctor_restart_command", "systemctl restart {unit}"))
        logs = [str(p) for p in self.var(host, "doctor_log_files", []) or [] if name in str(p)]
        journal = [str(u) for u in self.var(host, "doctor_log_units", []) or [] if u in units]
        return ServiceLayout(name, config, tuple(logs + ["journal:" + u for u in journal]),
                             tuple(command.replace("{unit}", u) for u in units))

    def files(self, service: str = "nova") -> dict[str, str]:
        """The layout's logical file names and paths, on a node that runs ``service`` (the
        first path where a logical file is several, as Kolla's ml2_conf.ini)."""
        layout = self.var(self.service_host(service), "doctor_files", {}) or {}
        return {str(k): str(_paths(v)[0]) for k, v in layout.items() if _paths(v)}

    def service_host(self, name: str) -> str:
        """A host that runs service ``name`` (by the layout's doctor_service_groups)."""
        layout = self._layout_host()
        group = (self.var(layout, "doctor_service_groups", {}) or {}).get(name, "controllers")
        for host in self._hosts():
            if group in self.inventory.groups_of(host):
                return host
        return layout

    def discover(self, run: Callable[[list[str]], str] | None = None) -> list[Node]:
        """Ask the installer for its nodes (where it can be asked; see apex and mcp)."""
        raise InstallerError("%s: the installer cannot be asked for its nodes; list them in %s"
                             % (self.name, self.repo / "inventory" / self.name / "hosts.yml"))

    # -- the playbooks ----------------------------------------------------------------------

    def extra_vars(self) -> dict[str, Any]:
        """Variables given to every playbook (``-e``): the settings that change the layout."""
        out: dict[str, Any] = {}
        if self.settings.ssh_key is not None:
            out["doctor_ssh_key"] = str(self.settings.ssh_key)
        out.update(self._extra_vars)
        return out

    def playbook_command(self, playbook: str, extra_vars: Mapping[str, Any] | None = None,
                         ansible_playbook: str | None = None,
                         limit: str | None = None) -> list[str]:
        """The ansible-playbook command line for ``playbooks/<playbook>`` (or an absolute path);
        ``limit`` (hosts of this installer's, ``:``-separated) narrows the installer's own."""
        cmd = [ansible_playbook or ansible_playbook_path()]
        for inventory in self.inventories:
            cmd += ["-i", str(inventory)]
        if limit or self.limit:
            cmd += ["--limit", limit or str(self.limit)]
        variables = self.extra_vars()
        variables.update(extra_vars or {})
        if variables:
            cmd += ["-e", json.dumps(variables, sort_keys=True)]
        cmd.append(str(self.repo / "playbooks" / playbook))
        return cmd

    def playbook_env(self) -> dict[str, str]:
        env = dict(self._environ)
        env.update(ANSIBLE_CONFIG=str(self.repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1")
        return env

    def run_playbook(self, playbook: str, extra_vars: Mapping[str, Any] | None = None,
                     limit: str | None = None) -> PlaybookResult:
        """Run ``playbooks/<playbook>`` (or an absolute path); raises :class:`PlaybookFailed`
        with the output's tail."""
        cmd = self.playbook_command(playbook, extra_vars, limit=limit)
        log = (self.settings.results_dir / "ansible"
               / ("%s-%s-%s.log" % (self.name, Path(playbook).stem, time.strftime("%H%M%S"))))
        LOG.info("%s: running %s", self.name, playbook)
        LOG.debug("command: %s", cmd)
        started = time.monotonic()
        rc, lines = self._runner(cmd, self.playbook_env(), self.repo, log, self.timeout_s)
        seconds = time.monotonic() - started
        if rc != 0:
            raise PlaybookFailed(playbook, rc, _interesting_tail(lines), log)
        result = PlaybookResult(playbook, rc, parse_recap(lines), log, seconds)
        LOG.info("%s: %s done in %.1f s, %d changed", self.name, playbook, seconds,
                 result.changed)
        return result

    def prepare(self) -> PlaybookResult:
        """Make the cloud's configuration what Doctor needs (backing up each file first)."""
        return self.run_playbook("prepare.yml")

    def restore(self) -> PlaybookResult:
        """Put back byte for byte what prepare changed; safe to call again."""
        return self.run_playbook("restore.yml")

    def collect_logs(self, dest: Path) -> PlaybookResult:
        """Fetch the tails of the service logs into ``dest/<node>/``."""
        return self.run_playbook("collect_logs.yml",
                                 {"doctor_logs_dest": str(Path(dest).resolve())})

    def fetch_config(self, service: str, dest: Path) -> dict[str, Path]:
        """Copy service ``service``'s configuration files from the node that runs it into
        ``dest/<node>/`` (collect_logs.yml, given those files instead of the logs); returns
        each remote path that was found and its local copy."""
        host = self.service_host(service)
        paths = self.service(service).config_files
        if not paths:
            raise InstallerError("%s: the layout names no configuration file of %s (doctor_files)"
                                 % (self.name, service))
        dest = Path(dest).resolve()
        self.run_playbook("collect_logs.yml", {"doctor_logs_dest": str(dest),
                                               "doctor_log_files": list(paths),
                                               "doctor_log_units": []}, limit=host)
        copies = {p: dest / host / Path(p).name for p in paths}
        return {p: local for p, local in copies.items() if local.is_file()}


def _paths(value: Any) -> list[str]:
    """A doctor_files value as a list of paths (it may be one path or several)."""
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _interesting_tail(lines: Sequence[str]) -> list[str]:
    """The failure lines if there are any, else the last lines of the output."""
    failures = [ln for ln in lines if ln.startswith(("fatal:", "failed:", "ERROR", "[ERROR]"))]
    return (failures or list(lines))[-TAIL_LINES:]
