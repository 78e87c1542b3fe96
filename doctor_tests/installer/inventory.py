"""A reader of Doctor's static YAML inventories (``inventory/<installer>/``).

It reads what the installer plugins need to know without running Ansible: the
hosts and their groups (``hosts.yml``, Ansible's YAML inventory format), and
the variables of each host, merged the way Ansible merges them for this
layout: ``group_vars/all``, then the other groups' ``group_vars`` (parents
before children, then by name), then the hosts file's own group and host
variables. Every host is also in the group ``doctor``, as the playbooks put
it there (``inventory/local`` keeps its layout in ``group_vars/doctor.yml``).

Values are rendered on request, and only plain references are understood
(``{{ name }}``, ``{{ name.key }}``, ``{{ name['key'] }}``); anything else is
an :class:`InventoryError` naming the variable, as the playbooks are then the
place that uses it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOG = logging.getLogger(__name__)

DOCTOR_GROUP = "doctor"
_REF = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*|\[['\"][^'\"]+['\"]\])*)$")
_PART = re.compile(r"\.([A-Za-z_]\w*)|\[['\"]([^'\"]+)['\"]\]")
_MAX_DEPTH = 20


class InventoryError(Exception):
    """The inventory cannot be read or a value cannot be worked out; says which."""


@dataclass
class _Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InventoryError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc
    except yaml.YAMLError as exc:
        raise InventoryError("%s is not valid YAML: %s" % (path, exc)) from exc


class Inventory:
    """Hosts, groups and variables of one or more inventory directories or files."""

    def __init__(self, sources: Iterable[Path]) -> None:
        self.sources = [Path(s) for s in sources]
        self._groups: dict[str, _Group] = {"all": _Group("all")}
        self._group_files: dict[str, dict[str, Any]] = {}
        for source in self.sources:
            self._read_source(source)
        for host in self.hosts():
            self._group(DOCTOR_GROUP).hosts.setdefault(host, {})

    # -- reading ------------------------------------------------------------------------

    def _group(self, name: str) -> _Group:
        return self._groups.setdefault(name, _Group(name))

    def _read_source(self, source: Path) -> None:
        if source.is_dir():
            files = sorted(p for p in source.iterdir()
                           if p.suffix in (".yml", ".yaml") and p.is_file())
            base = source
        elif source.is_file():
            files, base = [source], source.parent
        else:
            raise InventoryError("inventory %s does not exist" % source)
        for path in files:
            data = _load_yaml(path) or {}
            if not isinstance(data, dict):
                raise InventoryError("%s: an inventory is a mapping of groups" % path)
            for name, body in data.items():
                self._read_group(str(name), body or {}, path)
        group_vars = base / "group_vars"
        if group_vars.is_dir():
            for path in sorted(group_vars.iterdir()):
                if path.suffix in (".yml", ".yaml") and path.is_file():
                    data = _load_yaml(path) or {}
                    if not isinstance(data, dict):
                        raise InventoryError("%s: group variables are a mapping" % path)
                    self._group_files.setdefault(path.stem, {}).update(data)

    def _read_group(self, name: str, body: Any, path: Path) -> None:
        if not isinstance(body, dict):
            raise InventoryError("%s: group %s is not a mapping" % (path, name))
        group = self._group(name)
        group.vars.update(body.get("vars") or {})
        for host, hvars in (body.get("hosts") or {}).items():
            group.hosts.setdefault(str(host), {}).update(hvars or {})
        for child, cbody in (body.get("children") or {}).items():
            child = str(child)
            if child not in group.children:
                group.children.append(child)
            if name not in self._group(child).parents:
                self._group(child).parents.append(name)
            self._read_group(child, cbody or {}, path)

    # -- queries ------------------------------------------------------------------------

    def hosts(self, group: str = "all") -> list[str]:
        """Hosts of ``group`` and its children, in the order the inventory names them."""
        seen: dict[str, None] = {}
        todo = [group]
        visited: set[str] = set()
        while todo:
            name = todo.pop(0)
            if name in visited or name not in self._groups:
                continue
            visited.add(name)
            for host in self._groups[name].hosts:
                seen.setdefault(host, None)
            todo.extend(self._groups[name].children)
        return list(seen)

    def groups_of(self, host: str) -> list[str]:
        """Every group ``host`` is in, directly or through a child group (with ``all``)."""
        direct = [g.name for g in self._groups.values() if host in g.hosts]
        out: list[str] = []
        todo = list(direct)
        while todo:
            name = todo.pop(0)
            if name not in out:
                out.append(name)
                todo.extend(self._groups[name].parents)
        if "all" not in out:
            out.append("all")
        return out

    def _depth(self, name: str) -> int:
        parents = self._groups[name].parents if name in self._groups else []
        return 0 if name == "all" else 1 + max((self._depth(p) for p in parents), default=0)

    def host_vars(self, host: str) -> dict[str, Any]:
        """The variables of ``host``, merged (raw: templates are not rendered)."""
        if host not in self.hosts():
            raise InventoryError("host %s is not in the inventory %s (hosts: %s)" % (
                host, ", ".join(map(str, self.sources)), ", ".join(self.hosts()) or "none"))
        groups = sorted(self.groups_of(host), key=lambda g: (self._depth(g), g))
        merged: dict[str, Any] = {}
        for name in groups:
            merged.update(self._groups[name].vars)
            merged.update(self._group_files.get(name, {}))
        for name in groups:
            merged.update(self._groups[name].hosts.get(host, {}))
        merged.setdefault("inventory_hostname", host)
        return merged

    def value(self, host: str, name: str, default: Any = None,
              extra: Mapping[str, Any] | None = None) -> Any:
        """The rendered value of variable ``name`` for ``host`` (``default`` if unset);
        ``extra`` (like ``-e``) comes before everything else."""
        variables = dict(self.host_vars(host))
        variables.update(extra or {})
        if name not in variables:
            return default
        return render(variables[name], variables, name)


def _lookup(expr: str, variables: Mapping[str, Any], name: str, depth: int) -> Any:
    m = _NAME.match(expr)
    if not m:
        raise InventoryError("%s: %r is more than a variable reference; only the playbooks "
                             "evaluate it" % (name, "{{ %s }}" % expr))
    root = m.group(1)
    if root not in variables:
        raise InventoryError("%s refers to %s, which is not set" % (name, root))
    value = render(variables[root], variables, root, depth + 1)
    for part in _PART.finditer(m.group(2)):
        key = part.group(1) or part.group(2)
        if not isinstance(value, Mapping) or key not in value:
            raise InventoryError("%s refers to %s, which has no %r" % (name, expr, key))
        value = render(value[key], variables, expr, depth + 1)
    return value


def render(value: Any, variables: Mapping[str, Any], name: str = "value", depth: int = 0) -> Any:
    """Render plain ``{{ ref }}`` templates in ``value`` (strings, lists, dicts)."""
    if depth > _MAX_DEPTH:
        raise InventoryError("%s: references nest too deep (a loop?)" % name)
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole and value.strip() == value:
            return _lookup(whole.group(1), variables, name, depth)
        return _REF.sub(lambda m: str(_lookup(m.group(1), variables, name, depth)), value)
    if isinstance(value, list):
        return [render(v, variables, name, depth) for v in value]
    if isinstance(value, dict):
        return {k: render(v, variables, "%s.%s" % (name, k), depth) for k, v in value.items()}
    return value
