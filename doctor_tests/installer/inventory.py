"""The installers' inventories, read by Ansible itself.

The Python side and the playbooks must see the same hosts, groups and variables, so
this reads an inventory with Ansible's own inventory manager and variable manager
(YAML or INI hosts files, ``group_vars/`` and ``host_vars/`` as files or folders, the
precedence Ansible documents: inline group vars, then ``group_vars/all``, then the other
groups' ``group_vars``, then host vars) and renders values with Ansible's templar. Every
host is also in the group ``doctor``, as the playbooks put it there (``inventory/local``
keeps its layout in ``group_vars/doctor.yml``).

Why in-process rather than ``ansible-inventory --list``: the same library, without a
subprocess per cloud, and values rendered with the host's own variables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager

try:  # ansible-core >= 2.19 renders only strings marked as trusted templates
    from ansible.template import trust_as_template as _trust
except ImportError:  # older ansible-core renders every string
    def _trust(value: Any) -> Any:
        return value

LOG = logging.getLogger(__name__)

DOCTOR_GROUP = "doctor"


class InventoryError(Exception):
    """The inventory cannot be read or a value cannot be worked out; says which."""


class Inventory:
    """Hosts, groups and variables of one or more inventory directories or files."""

    def __init__(self, sources: Iterable[Path]) -> None:
        self.sources = [Path(s) for s in sources]
        for source in self.sources:
            if not source.exists():
                raise InventoryError("inventory %s does not exist" % source)
        self._loader = DataLoader()
        try:
            self._inventory = InventoryManager(loader=self._loader,
                                               sources=[str(s) for s in self.sources])
        except AnsibleError as exc:
            raise InventoryError("cannot read the inventory %s: %s" % (
                ", ".join(map(str, self.sources)), exc)) from exc
        self._inventory.add_group(DOCTOR_GROUP)
        for host in self._inventory.get_hosts():
            self._inventory.add_host(host.name, group=DOCTOR_GROUP)
        self._variables = VariableManager(loader=self._loader, inventory=self._inventory)
        self._cache: dict[str, dict[str, Any]] = {}

    def hosts(self, group: str = "all") -> list[str]:
        """Hosts of ``group`` and its children, in the order the inventory names them."""
        found = self._inventory.groups.get(group)
        return [h.name for h in found.get_hosts()] if found is not None else []

    def groups_of(self, host: str) -> list[str]:
        """Every group ``host`` is in, directly or through a child group (with ``all``)."""
        return [g.name for g in self._host(host).get_groups()]

    def _host(self, host: str) -> Any:
        found = self._inventory.get_host(host)
        if found is None:
            raise InventoryError("host %s is not in the inventory %s (hosts: %s)" % (
                host, ", ".join(map(str, self.sources)), ", ".join(self.hosts()) or "none"))
        return found

    def host_vars(self, host: str) -> dict[str, Any]:
        """The variables of ``host`` as Ansible merges them (raw: not rendered)."""
        if host not in self._cache:
            merged = self._variables.get_vars(host=self._host(host), include_hostvars=False)
            self._cache[host] = dict(merged)
        return dict(self._cache[host])

    def value(self, host: str, name: str, default: Any = None,
              extra: Mapping[str, Any] | None = None) -> Any:
        """The rendered value of variable ``name`` for ``host`` (``default`` if unset);
        ``extra`` (like ``-e``) comes before everything else."""
        variables = self.host_vars(host)
        variables.update(extra or {})
        if name not in variables:
            return default
        return render(variables[name], variables, name, self._loader)


def render(value: Any, variables: Mapping[str, Any], name: str = "value",
           loader: DataLoader | None = None) -> Any:
    """``value`` rendered by Ansible's templar with ``variables``; an error names the
    variable."""
    templar = Templar(loader=loader or DataLoader(), variables=_trusted(dict(variables)))
    try:
        return _plain(templar.template(_trusted(value)))
    except AnsibleError as exc:
        raise InventoryError("%s: %s" % (name, str(exc).splitlines()[0])) from exc


def _trusted(value: Any) -> Any:
    """Strings (also inside lists and dicts) marked as templates Doctor means to render:
    the inventory's own values and the ``-e`` variables Doctor passes."""
    if isinstance(value, str):
        return _trust(value)
    if isinstance(value, Mapping):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_trusted(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Ansible's tagged str/list/dict values as plain Python ones."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
