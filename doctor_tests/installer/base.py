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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from doctor_tests.config import Settings
from doctor_tests.fault import SshTarget
from doctor_tests.installer.inventory import Inventory, InventoryError
from doctor_tests.paths import data_root
from doctor_tests.playbook import (
    PlaybookFailed,
    PlaybookResult,
    Runner,
    ansible_playbook_path,
    playbook_env,
    run_command,
)

LOG = logging.getLogger(__name__)

REPO_ROOT = data_root()  # the playbooks, roles and inventories (checkout or installed package)
PLAYBOOK_TIMEOUT_S = 1800.0
__all__ = ["PlaybookFailed", "PlaybookResult", "Runner", "ansible_playbook_path"]

# Which of the layout's files (doctor_files keys) belong to which service.
SERVICE_FILES: dict[str, tuple[str, ...]] = {
    "nova": ("nova",),
    "ceilometer": ("ceilometer_pipeline", "ceilometer_definitions"),
    "aodh": ("aodh",),
    "neutron": ("neutron_ml2", "neutron_policy"),
}
SERVICES = tuple(SERVICE_FILES)
#: The peers (docs/peers.md): Doctor configures nothing of theirs; their logs (the layout's
#: doctor_log_files naming them) are read when they handle a fault.
PEER_SERVICES = ("vitrage", "masakari")


class InstallerError(Exception):
    """Something about the installer's nodes or playbooks; the message says what."""


class UnknownHost(InstallerError):
    """A Nova host name the inventory does not know."""

    def __init__(self, installer: str, nova_host: str, known: Sequence[str]) -> None:
        self.installer, self.nova_host, self.known = installer, nova_host, list(known)
        super().__init__("%s: Nova host %r is not in the inventory (known: %s)"
                         % (installer, nova_host, ", ".join(known) or "none"))


@dataclass(frozen=True)
class Node:
    """One node of the cloud: its inventory name, address and the name Nova knows it by."""

    name: str
    address: str
    groups: tuple[str, ...] = ()
    nova_host: str = ""
    #: its address on the data-plane network, where the layout names one
    #: (``doctor_dataplane_address``; the lab's eth1); "" when unknown
    data_address: str = ""


@dataclass(frozen=True)
class ServiceLayout:
    """Where a service's configuration and logs are, and how it restarts."""

    name: str
    config_files: tuple[str, ...]
    log_files: tuple[str, ...]
    restart_commands: tuple[str, ...]


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
        self._runner: Runner | None = runner
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

    def layout_var(self, name: str, default: Any = None) -> Any:
        """A rendered variable of the layout (the first controller's)."""
        return self.var(self._layout_host(), name, default)

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
        data = self.var(host, "doctor_dataplane_address", "") or ""
        return Node(host, str(address), groups, self.nova_host_name(host), str(data))

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

    def dataplane_address_of(self, nova_host: str) -> str:
        """The node's data-plane address ("" when the layout does not name one)."""
        return self.find_node(nova_host).data_address

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
        if name not in SERVICE_FILES and name not in PEER_SERVICES:
            raise InstallerError("unknown service %r; known: %s"
                                 % (name, ", ".join((*SERVICE_FILES, *PEER_SERVICES))))
        host = self.service_host(name)
        files = self.var(host, "doctor_files", {}) or {}
        config = tuple(str(path) for key in SERVICE_FILES.get(name, ()) if key in files
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
        return playbook_env(self._environ)

    def run_playbook(self, playbook: str, extra_vars: Mapping[str, Any] | None = None,
                     limit: str | None = None) -> PlaybookResult:
        """Run ``playbooks/<playbook>`` (or an absolute path); raises
        :class:`~doctor_tests.playbook.PlaybookFailed` naming the failed task and host."""
        cmd = self.playbook_command(playbook, extra_vars, limit=limit)
        log = (self.settings.results_dir / "ansible"
               / ("%s-%s-%s.log" % (self.name, Path(playbook).stem, time.strftime("%H%M%S"))))
        LOG.info("%s: running %s", self.name, playbook)
        result = run_command(cmd, Path(playbook).name, log=log, env=self.playbook_env(),
                             timeout_s=self.timeout_s, runner=self._runner,
                             progress=lambda line: LOG.info("%s: %s", self.name, line))
        LOG.info("%s: %s done in %.1f s, %d changed", self.name, playbook, result.seconds,
                 result.changed)
        return result

    def prepare(self, inspector: str | None = None) -> PlaybookResult:
        """Make the cloud's configuration what Doctor needs with ``inspector`` (default
        INSPECTOR_TYPE) under test, backing up each file first."""
        return self.run_playbook("prepare.yml", {
            "doctor_inspector": inspector or self.settings.inspector_type})

    def restore(self) -> PlaybookResult:
        """Put back byte for byte what prepare changed; safe to call again."""
        return self.run_playbook("restore.yml")

    def collect_logs(self, dest: Path, services: Sequence[str] | None = None) -> PlaybookResult:
        """Fetch the tails of the service logs into ``dest/<node>/``: all the layout names, or
        only those of ``services`` (their files and journal units)."""
        variables: dict[str, Any] = {"doctor_logs_dest": str(Path(dest).resolve())}
        if services is not None:
            logs = [log for name in services for log in self.service(name).log_files]
            variables["doctor_log_files"] = [f for f in logs if not f.startswith("journal:")]
            variables["doctor_log_units"] = [f[len("journal:"):] for f in logs
                                             if f.startswith("journal:")]
        return self.run_playbook("collect_logs.yml", variables)

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

