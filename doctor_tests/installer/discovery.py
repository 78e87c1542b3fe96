"""Asking an installer for its nodes, and writing them as an inventory.

Only the installers that can be asked (Apex's undercloud, MCP's Salt master) use
this; the answer is written as ``hosts.yml`` beside a copy of the installer's
``group_vars``, an inventory directory the playbooks take like ``inventory/<name>``.
Nothing here runs during a syntax check: discovery is a command a person or CI runs.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from doctor_tests.installer.base import InstallerError, Node

LOG = logging.getLogger(__name__)

DISCOVERY_TIMEOUT_S = 60.0

Run = Callable[[list[str]], str]


def ssh_command(user: str, address: str, remote: str, key: Path | None = None,
                known_hosts: Path | None = None) -> list[str]:
    """``ssh`` to ``user@address`` running ``remote``; host keys are always checked."""
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
           "-o", "ConnectTimeout=10"]
    if key is not None:
        cmd += ["-i", str(key)]
    if known_hosts is not None:
        cmd += ["-o", "UserKnownHostsFile=%s" % known_hosts]
    return cmd + ["%s@%s" % (user, address), remote]


def run_command(cmd: list[str]) -> str:
    """Run ``cmd``; its standard output, or an :class:`InstallerError` with its error."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=DISCOVERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallerError("%s failed: %s" % (cmd[0], exc)) from exc
    if res.returncode != 0:
        raise InstallerError("%s exited %d: %s" % (" ".join(cmd[:1] + cmd[-2:-1]),
                                                   res.returncode, res.stderr.strip()[-500:]))
    return res.stdout


def inventory_document(nodes: Sequence[Node]) -> dict[str, object]:
    """Ansible's YAML inventory for ``nodes`` (each in its groups, with its address)."""
    groups: dict[str, dict[str, dict[str, object]]] = {}
    for node in nodes:
        for group in node.groups:
            hostvars: dict[str, object] = {"ansible_host": node.address}
            if node.nova_host and node.nova_host != node.name:
                hostvars["doctor_nova_host"] = node.nova_host
            groups.setdefault(group, {})[node.name] = hostvars
    return {"all": {"children": {g: {"hosts": hosts} for g, hosts in sorted(groups.items())}}}


def write_inventory(installer: str, nodes: Sequence[Node], dest: Path,
                    repo: Path) -> Path:
    """Write ``nodes`` to ``dest/hosts.yml`` with a copy of ``inventory/<installer>/group_vars``."""
    if not nodes:
        raise InstallerError("%s: the installer named no nodes; nothing written" % installer)
    dest.mkdir(parents=True, exist_ok=True)
    source = repo / "inventory" / installer / "group_vars"
    if (dest / "group_vars").exists():
        shutil.rmtree(dest / "group_vars")
    shutil.copytree(source, dest / "group_vars")
    path = dest / "hosts.yml"
    path.write_text("# Written by doctor_tests.installer discover %s\n" % installer
                    + yaml.safe_dump(inventory_document(nodes), sort_keys=False),
                    encoding="utf-8")
    LOG.info("%s: %d nodes written to %s", installer, len(nodes), path)
    return path
