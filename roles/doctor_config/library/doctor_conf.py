#!/usr/bin/python
"""Ansible module: Doctor's edits of an OpenStack service's configuration file,
with a byte-exact backup taken before the first change, and the restore.

Edits are made on the text, line by line, so everything Doctor does not need
to change stays as it was (comments, order, spacing, line endings). A file is
written only when its content changes; the backup of a file is taken once,
before its first change, and kept until ``state: restored`` puts it back.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import tempfile
import time
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule

try:  # only for checking an edit; the edits work without it
    import yaml
except ImportError:  # pragma: no cover - depends on the node
    yaml = None

DOCUMENTATION = r"""
---
module: doctor_conf
short_description: Doctor's configuration edits with a byte-exact backup, and their restore
description:
  - C(state=present) applies Doctor's edits to one file (an INI option, a Ceilometer event
    pipeline publisher, appended event definitions, policy rules). The file is rewritten
    atomically (mode and owner kept) only when its content changes; before the first change
    the original bytes go to I(backup_dir), and are kept across later runs.
  - C(state=restored) puts back every file recorded in I(backup_dir) byte for byte (or removes
    a file Doctor created), then removes the backups; with no backups it changes nothing.
options:
  state:
    description: C(present) to edit I(path); C(restored) to restore everything in I(backup_dir).
    type: str
    choices: [present, restored]
    default: present
  path:
    description: The file to edit (required with C(state=present)).
    type: path
  format:
    description: What kind of edit.
    type: str
    choices: [ini, event_pipeline, event_definitions, policy]
    default: ini
  settings:
    description:
      - INI settings, each C(section), C(option), C(value), C(mode) and C(accept).
      - C(mode=set) makes the effective value I(value) unless it is one of I(accept); an
        accepted value under a deprecated name (C(deprecated), a list of C(section) and
        C(option), read by oslo.config when the current name is unset) counts as set;
        C(mode=list) makes sure I(value) is an item of a comma-separated list, which
        starts from C(default) (the option's default in the service) when it is unset;
        C(mode=multi) makes sure one of the option's lines (a multi-valued option) is I(value).
    type: list
    elements: dict
    default: []
  publisher:
    description: Event pipeline publisher that must feed the events to Aodh.
    type: str
  sinks:
    description: Sinks to add I(publisher) to (default the sinks of the sources taking every event).
    type: list
    elements: str
    default: []
  definitions:
    description: Event definitions (YAML list text) to append unless the file already has them.
    type: str
  rules:
    description: Policy rules (name to rule) that must be in the policy file.
    type: dict
    default: {}
  create:
    description: Create I(path) if it is missing (restore removes it again).
    type: bool
    default: false
  seed:
    description: Content a created file starts from (the installer's stock file; default empty).
    type: str
    default: ""
  create_mode:
    description: Mode of a file this module creates.
    type: raw
    default: "0644"
  service:
    description: Service the file belongs to (recorded with the backup; restore reports it).
    type: str
    default: ""
  backup_dir:
    description: Where originals are kept until restore (made mode 0700).
    type: path
    required: true
"""

RETURN = r"""
edits:
  description: What was (or would be) changed, one line per edit; no values of other options.
  type: list
  returned: always
restored:
  description: With C(state=restored), the files put back, each with its C(path), C(service)
    and C(removed) (true for a file Doctor had created).
  type: list
  returned: always
"""

MARK_BEGIN = "# BEGIN Doctor event definitions (Doctor's restore removes this block)"
MARK_END = "# END Doctor event definitions"


class EditError(Exception):
    """The file cannot be edited safely; the message says what and where."""


# --------------------------------------------------------------------------- INI

_SECTION = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*$")
_OPTION = re.compile(r"^([^\s#;\[=:][^=:]*?)\s*[=:]\s*(.*?)\s*$")
_COMMENTED = re.compile(r"^\s*[#;]\s*([^\s=:]+)\s*[=:]")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _eol(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


def _sections(lines: list[str]) -> list[tuple[str | None, int, int]]:
    """(name, first line after the header, end) of each section; None for before the first."""
    out: list[tuple[str | None, int, int]] = []
    name: str | None = None
    start = 0
    for i, line in enumerate(lines):
        m = _SECTION.match(line)
        if m:
            out.append((name, start, i))
            name, start = m.group(1), i + 1
    out.append((name, start, len(lines)))
    return out


def _insert_point(lines: list[str], start: int, end: int, option: str) -> int:
    """After the last commented-out line of ``option`` in the section, else after its last
    non-blank line (so trailing blank lines stay before the next section)."""
    commented = [i for i in range(start, end)
                 if (m := _COMMENTED.match(lines[i])) and m.group(1) == option]
    if commented:
        i = commented[-1] + 1
        # a sample's comment block for one option: keep its description lines together
        return i
    last = start
    for i in range(start, end):
        if lines[i].strip():
            last = i + 1
    return last


def _deprecated_value(lines: list[str], deprecated: list[dict]) -> str | None:
    """The effective value under the first deprecated (section, option) that is set."""
    for dep in deprecated:
        section = str(dep.get("section", "DEFAULT"))
        option = str(dep["option"])
        values = [m.group(2) for name, s, e in _sections(lines) if name == section
                  for i in range(s, e) if (m := _OPTION.match(lines[i])) and m.group(1) == option]
        if values:
            return values[-1]
    return None


def _list_items(value: str) -> list[str]:
    """The items of a comma-separated list option, as oslo.config's ListOpt reads them."""
    return [x.strip() for x in value.split(",") if x.strip()]


def edit_ini(text: str, settings: list[dict]) -> tuple[str, list[str]]:
    """Apply INI ``settings`` to ``text``; returns the new text and a line per change."""
    nl = _newline(text)
    lines = text.splitlines(keepends=True)
    changes: list[str] = []
    for setting in settings:
        section, option = str(setting["section"]), str(setting["option"])
        value = str(setting["value"])
        mode = setting.get("mode") or "set"
        accept = [str(a) for a in (setting.get("accept") or [])] or [value]
        if value not in accept:
            accept.append(value)
        where = "[%s] %s" % (section, option)
        spans = [(s, e) for name, s, e in _sections(lines) if name == section]
        active = [i for s, e in spans for i in range(s, e)
                  if (m := _OPTION.match(lines[i])) and m.group(1) == option]
        if not active and mode == "set":
            # oslo.config reads a deprecated name (DevStack's ``[DEFAULT]
            # notify_on_state_change``) when the current one is unset
            old = _deprecated_value(lines, setting.get("deprecated") or [])
            if old is not None and old in accept:
                continue
        if active and mode == "multi":
            values = [_OPTION.match(lines[i]).group(2) for i in active]  # type: ignore[union-attr]
            if any(v in accept for v in values):
                continue
            at = active[-1] + 1
            lines.insert(at, "%s = %s%s" % (option, value, nl))
            changes.append("%s: added %s (beside %s)" % (where, value, ", ".join(values)))
            continue
        if active:
            i = active[-1]
            current = _OPTION.match(lines[i]).group(2)  # type: ignore[union-attr]
            if mode == "list":
                items = _list_items(current)
                if value in items:
                    continue
                new = (current.rstrip() + "," + value) if items else value
                lines[i] = "%s = %s%s" % (option, new, _eol(lines[i]) or nl)
                changes.append("%s: %s -> %s" % (where, current, new))
            else:
                if current in accept:
                    continue
                lines[i] = "%s = %s%s" % (option, value, _eol(lines[i]) or nl)
                changes.append("%s: %s -> %s" % (where, current, value))
            continue
        if mode == "list" and setting.get("default"):
            # unset, the service reads its default list (Nova's notification topics:
            # "notifications", which Ceilometer consumes): keep its items
            items = _list_items(str(setting["default"]))
            if value in items:
                continue
            value = ",".join(items + [value])
        if spans:
            s, e = spans[-1]
            at = _insert_point(lines, s, e, option)
            if at > 0 and at <= len(lines) and not lines[at - 1].endswith(("\n", "\r")):
                lines[at - 1] += nl
            lines.insert(at, "%s = %s%s" % (option, value, nl))
        else:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += nl
            block = ([nl] if lines and lines[-1].strip() else []) + [
                "[%s]%s" % (section, nl), "%s = %s%s" % (option, value, nl)]
            lines.extend(block)
        changes.append("%s: (unset) -> %s" % (where, value))
    return "".join(lines), changes


# ---------------------------------------------------------------- event pipeline

_KEY = re.compile(r"^(\s*)(-\s+)?([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_ITEM = re.compile(r"^(\s*)-\s+(.*?)\s*$")


def _unquote(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _wanted_sinks(doc: object, sinks: list[str]) -> set[str] | None:
    """Sink names to feed (None: every sink), from the parsed pipeline when available."""
    if sinks:
        return set(sinks)
    if not isinstance(doc, dict):
        return None
    wanted: set[str] = set()
    for source in doc.get("sources") or []:
        if isinstance(source, dict) and "*" in (source.get("events") or []):
            wanted.update(str(s) for s in source.get("sinks") or [])
    return wanted or None


_EMPTY = re.compile(r"^(null|Null|NULL|~|\[\s*\])\s*(#.*)?$")


def _flow_items(value: str, line: int) -> list[str]:
    """The items of a flow list of publishers (``[a, 'b']``)."""
    text = value.split(" #", 1)[0].strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise EditError("line %d: 'publishers: %s' is neither a list nor empty" % (line + 1, value))
    if yaml is not None:
        items = _load_yaml(text)
        if not isinstance(items, list):
            raise EditError("line %d: 'publishers: %s' is not a list" % (line + 1, value))
        return [str(x) for x in items]
    return [_unquote(x) for x in text[1:-1].split(",") if x.strip()]


def _publisher_blocks(lines: list[str]) -> list[tuple[str | None, int, list[tuple[int, str]]]]:
    """Each sink's (name, line of ``publishers:``, [(line, publisher), ...]) under ``sinks:``."""
    out: list[tuple[str | None, int, list[tuple[int, str]]]] = []
    in_sinks = False
    name: str | None = None
    item_indent = key_indent = -1
    i = 0
    while i < len(lines):
        line = lines[i]
        if _blank(line):
            i += 1
            continue
        if _indent(line) == 0 and not line.startswith("-"):
            in_sinks = line.split(":", 1)[0].strip() == "sinks"
            item_indent = key_indent = -1
            i += 1
            continue
        m = _KEY.match(line)
        if not in_sinks or not m:
            i += 1
            continue
        indent, dash, key, value = len(m.group(1)), m.group(2) or "", m.group(3), m.group(4)
        if dash and (item_indent < 0 or indent == item_indent):
            item_indent, key_indent, name = indent, indent + len(dash), None
        elif dash or indent != key_indent:
            i += 1  # something nested inside a sink
            continue
        if key == "name":
            name = _unquote(value)
        elif key == "publishers":
            items: list[tuple[int, str]] = []
            if value and not _EMPTY.match(value):
                # a flow list (``publishers: [a, b]``): one line, rewritten as a block if
                # Doctor adds to it
                flow = _flow_items(value, i)
                out.append((name, i, [(i, p) for p in flow]))
                i += 1
                continue
            if value:  # ``publishers: null`` (Kolla's merge_yaml, no publisher), ``~``, ``[]``
                out.append((name, i, []))
                i += 1
                continue
            j = i + 1
            while j < len(lines):
                if _blank(lines[j]):
                    j += 1
                    continue
                im = _ITEM.match(lines[j])
                if im and len(im.group(1)) >= key_indent and (
                        not items or len(im.group(1)) == _indent(lines[items[0][0]])):
                    items.append((j, _unquote(im.group(2))))
                    j += 1
                    continue
                break
            out.append((name, i, items))
            i = j
            continue
        i += 1
    return out


def edit_pipeline(text: str, publisher: str, sinks: list[str]) -> tuple[str, list[str]]:
    """Make sure ``publisher`` is a publisher of the event sinks (a line is added)."""
    doc = _load_yaml(text)
    lines = text.splitlines(keepends=True)
    nl = _newline(text)
    blocks = _publisher_blocks(lines)
    if not blocks:
        raise EditError("no 'sinks:' with 'publishers:' found")
    if any(publisher in [p for _, p in items] for _, _, items in blocks):
        return text, []
    wanted = _wanted_sinks(doc, sinks)
    chosen = [b for b in blocks if wanted is None or b[0] in wanted]
    if not chosen:
        raise EditError("none of the sinks %s is in the file (found: %s)"
                        % (", ".join(sorted(wanted or [])),
                           ", ".join(str(b[0]) for b in blocks)))
    changes = []
    for name, key_line, items in sorted(chosen, key=lambda b: b[1], reverse=True):
        m = _KEY.match(lines[key_line])
        if m and m.group(4):  # ``publishers: null`` or a flow list: made a block list
            indent = " " * (_indent(lines[key_line]) + len(m.group(2) or "") + 4)
            head = lines[key_line][:m.start(4)].rstrip()
            block = [head + nl] + ["%s- %s%s" % (indent, p, nl) for _, p in items]
            block.append("%s- %s%s" % (indent, publisher, nl))
            lines[key_line:key_line + 1] = block
            changes.append("sink %s: publisher %s added (publishers: %s made a list)"
                           % (name, publisher, m.group(4)))
            continue
        if items:
            last = items[-1][0]
            indent = " " * _indent(lines[last])
        else:
            last = key_line
            indent = " " * (_indent(lines[key_line]) + 4)
        if not lines[last].endswith(("\n", "\r")):
            lines[last] += nl
        lines.insert(last + 1, "%s- %s%s" % (indent, publisher, nl))
        changes.append("sink %s: publisher %s added" % (name, publisher))
    new = "".join(lines)
    if yaml is not None:
        after = _load_yaml(new)
        for sink in (after or {}).get("sinks") or []:
            pubs = list(sink.get("publishers") or [])
            if sink.get("name") in [c[0] for c in chosen] and publisher not in pubs:
                raise EditError("the edit did not give sink %s the publisher" % sink.get("name"))
    return new, list(reversed(changes))


# ------------------------------------------------------------- event definitions


def _load_yaml(text: str) -> object:
    if yaml is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EditError("not valid YAML: %s" % str(exc).replace("\n", " ")) from None


def _types(definition: dict) -> tuple[list[str], list[str]]:
    types = definition.get("event_type") or []
    types = [types] if isinstance(types, str) else list(types)
    inc = [t for t in types if not t.startswith("!")]
    exc = [t[1:] for t in types if t.startswith("!")]
    return (inc or ["*"]) if exc else inc, exc


def _matches(definition: dict, event_type: str) -> bool:
    inc, exc = _types(definition)
    return (any(fnmatch.fnmatch(event_type, t) for t in inc)
            and not any(fnmatch.fnmatch(event_type, t) for t in exc))


def definitions_present(current: object, wanted: list) -> bool:
    """Whether, for every event type of ``wanted``, the definition Ceilometer uses (the last
    one that matches) has every trait of ``wanted`` with the same definition."""
    if not isinstance(current, list):
        return False
    defs = [d for d in current if isinstance(d, dict)]
    for want in wanted:
        for event_type in _types(want)[0]:
            effective = next((d for d in reversed(defs) if _matches(d, event_type)), None)
            if effective is None:
                return False
            traits = effective.get("traits") or {}
            for name, spec in (want.get("traits") or {}).items():
                if traits.get(name) != spec:
                    return False
    return True


def _body_lines(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#") and ln.strip() != "---"]


def edit_definitions(text: str, definitions: str) -> tuple[str, list[str]]:
    """Append Doctor's event definitions unless the file already has them."""
    wanted = _load_yaml(definitions)
    if yaml is not None:
        if not isinstance(wanted, list):
            raise EditError("Doctor's event definitions are not a YAML list")
        current = _load_yaml(text)
        if definitions_present(current, wanted):
            return text, []
        if current is not None and not isinstance(current, list):
            raise EditError("the file is not a list of event definitions")
    else:
        body = _body_lines(definitions)
        have = _body_lines(text)
        if any(have[i:i + len(body)] == body for i in range(len(have) - len(body) + 1)):
            return text, []
    nl = _newline(text)
    prefix = text if not text or text.endswith(("\n", "\r")) else text + nl
    block = [MARK_BEGIN] + definitions.strip("\n").splitlines() + [MARK_END]
    new = prefix + nl.join(block) + nl
    if yaml is not None:
        after = _load_yaml(new)
        before = _load_yaml(text) or []
        if after != list(before) + list(wanted):  # type: ignore[arg-type]
            raise EditError("appending the definitions would not give a plain list "
                            "(is the file's list indented?)")
    names = sorted({t for d in (wanted or []) for t in _types(d)[0]}) if wanted else []
    return new, ["event definitions appended for %s" % (", ".join(names) or "Doctor")]


# ------------------------------------------------------------------------ policy

_RULE_QUOTED = re.compile(r"""^(["'])(.+?)\1\s*:(?:\s+|$)(.*?)\s*$""")
_RULE_PLAIN = re.compile(r"""^([^\s"'#-][^\s]*?):(?:\s+|$)(.*?)\s*$""")


def _rule(line: str) -> tuple[str, str] | None:
    """(name, rule text) of a top-level policy line, or None."""
    m = _RULE_QUOTED.match(line)
    if m:
        return m.group(2), m.group(3)
    m = _RULE_PLAIN.match(line)
    return (m.group(1), m.group(2)) if m else None


def edit_policy(text: str, rules: dict) -> tuple[str, list[str]]:
    """Make every rule in ``rules`` part of a YAML policy file."""
    if text.lstrip().startswith("{"):
        raise EditError("a JSON policy file; convert it with oslopolicy-convert-json-to-yaml")
    nl = _newline(text)
    lines = text.splitlines(keepends=True)
    changes = []
    for name, rule in rules.items():
        line = '"%s": "%s"%s' % (name, str(rule).replace('"', '\\"'), nl)
        found = [i for i, ln in enumerate(lines) if (r := _rule(ln)) and r[0] == name]
        if found:
            current = _unquote(_rule(lines[found[-1]])[1])  # type: ignore[index]
            if current == str(rule):
                continue
            lines[found[-1]] = line
            changes.append("rule %s: %s -> %s" % (name, current, rule))
        else:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += nl
            if not lines:
                lines.append("# Rules Doctor's fault-management tests rely on%s" % nl)
            lines.append(line)
            changes.append("rule %s: (unset) -> %s" % (name, rule))
    new = "".join(lines)
    if yaml is not None and changes:
        doc = _load_yaml(new) or {}
        if not isinstance(doc, dict) or any(doc.get(k) != str(v) for k, v in rules.items()):
            raise EditError("the edited policy file would not hold the rules")
    return new, changes


# ------------------------------------------------------------ backup and restore


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write_new(path: str, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` through a file beside it and a rename."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".doctor-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _replace_content(module: AnsibleModule, path: str, data: bytes) -> None:
    """Give the existing ``path`` new content atomically, keeping its mode and owner."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".doctor-", dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    module.atomic_move(tmp, path)


def backup_key(path: str) -> str:
    return quote(os.path.abspath(path), safe="")


def _manifests(backup_dir: str) -> list[str]:
    try:
        names = sorted(os.listdir(backup_dir))
    except FileNotFoundError:
        return []
    return [n for n in names if n.endswith(".json")]


def take_backup(backup_dir: str, path: str, original: bytes | None, service: str) -> bool:
    """Keep ``original`` (None: the file did not exist) unless a backup of ``path`` exists.
    The original is written before its manifest, so a manifest always has its original."""
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    key = backup_key(path)
    manifest = os.path.join(backup_dir, key + ".json")
    if os.path.exists(manifest):
        return False
    record = {"path": os.path.abspath(path), "service": service, "existed": original is not None,
              "sha256": sha256(original), "taken": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if original is not None:
        st = os.stat(path)
        record.update(mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid)
        _write_new(os.path.join(backup_dir, key + ".orig"), original, 0o600)
    _write_new(manifest, json.dumps(record, indent=1).encode(), 0o600)
    return True


def note_prepared(backup_dir: str, path: str, data: bytes) -> None:
    manifest = os.path.join(backup_dir, backup_key(path) + ".json")
    with open(manifest, "rb") as f:
        record = json.load(f)
    record["prepared_sha256"] = sha256(data)
    _write_new(manifest, json.dumps(record, indent=1).encode(), 0o600)


def restore_all(module: AnsibleModule, backup_dir: str, check: bool
                ) -> tuple[bool, list, list, list]:
    """Put back every file recorded in ``backup_dir``, as many as possible.

    Returns (changed, restored, warnings, errors); ``restored`` lists the files whose
    content (or mode/owner) was put back, each with its service.
    """
    changed = False
    restored: list[dict] = []
    warnings: list[str] = []
    errors: list[str] = []
    for name in _manifests(backup_dir):
        manifest = os.path.join(backup_dir, name)
        orig_path = manifest[: -len(".json")] + ".orig"
        try:
            with open(manifest, "rb") as f:
                record = json.load(f)
            path = record["path"]
            current = _read(path)
            original = _read(orig_path) if record["existed"] else None
            if record["existed"] and (original is None or sha256(original) != record["sha256"]):
                raise EditError("its backup %s is missing or damaged" % orig_path)
            if current is not None and sha256(current) not in (
                    record.get("prepared_sha256"), record["sha256"]):
                warnings.append("%s changed after Doctor's prepare; the original is put back "
                                "anyway" % path)
            differs = current != original
            if record["existed"] and current is not None and not differs:
                st = os.stat(path)
                differs = (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (
                    record["mode"], record["uid"], record["gid"])
            changed = True  # at least the backup goes away
            if check:
                if differs:
                    restored.append({"path": path, "service": record.get("service", "")})
                continue
            if differs and original is None:
                os.unlink(path)
            elif differs:
                if current is None:
                    _write_new(path, original, record["mode"])  # type: ignore[arg-type]
                else:
                    _replace_content(module, path, original)  # type: ignore[arg-type]
                os.chmod(path, record["mode"])
                os.chown(path, record["uid"], record["gid"])
            if differs:
                entry = {"path": path, "service": record.get("service", "")}
                if original is None:
                    entry["removed"] = True
                restored.append(entry)
            if os.path.exists(orig_path):
                os.unlink(orig_path)
            os.unlink(manifest)
        except (EditError, OSError, ValueError, KeyError) as exc:
            errors.append("%s: %s" % (name, exc))
    # originals without a manifest: prepare stopped before it changed that file
    kept = set(_manifests(backup_dir))
    try:
        leftovers = [n for n in os.listdir(backup_dir)
                     if n.endswith(".orig") and n[: -len(".orig")] + ".json" not in kept]
    except FileNotFoundError:
        leftovers = []
    for n in leftovers:
        changed = True
        if not check:
            os.unlink(os.path.join(backup_dir, n))
    if not check and not errors:
        try:
            if not os.listdir(backup_dir):
                os.rmdir(backup_dir)
        except FileNotFoundError:
            pass
    return changed, restored, warnings, errors


EDITORS = {
    "ini": lambda text, p: edit_ini(text, p["settings"]),
    "event_pipeline": lambda text, p: edit_pipeline(text, p["publisher"], p["sinks"]),
    "event_definitions": lambda text, p: edit_definitions(text, p["definitions"]),
    "policy": lambda text, p: edit_policy(text, p["rules"]),
}


def run_module() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "restored"], "default": "present"},
            "path": {"type": "path"},
            "format": {"type": "str", "choices": list(EDITORS), "default": "ini"},
            "settings": {"type": "list", "elements": "dict", "default": []},
            "publisher": {"type": "str"},
            "sinks": {"type": "list", "elements": "str", "default": []},
            "definitions": {"type": "str"},
            "rules": {"type": "dict", "default": {}},
            "create": {"type": "bool", "default": False},
            "seed": {"type": "str", "default": ""},
            "create_mode": {"type": "raw", "default": "0644"},
            "service": {"type": "str", "default": ""},
            "backup_dir": {"type": "path", "required": True},
        },
        required_if=[
            ("state", "present", ["path"]),
            ("format", "event_pipeline", ["publisher"]),
            ("format", "event_definitions", ["definitions"]),
        ],
        supports_check_mode=True,
    )
    p = module.params
    backup_dir = p["backup_dir"]
    if p["state"] == "restored":
        changed, restored, warnings, errors = restore_all(module, backup_dir, module.check_mode)
        for w in warnings:
            module.warn(w)
        if errors:
            module.fail_json(msg="restore from %s left %d file(s) as they are: %s"
                             % (backup_dir, len(errors), "; ".join(errors)),
                             changed=changed, restored=restored, edits=[])
        module.exit_json(changed=changed, restored=restored, edits=[])

    path = p["path"]
    original = _read(path)
    if original is None and not p["create"]:
        module.fail_json(msg="%s does not exist on this host (the %s configuration Doctor "
                             "edits); check doctor_files in the installer's inventory"
                         % (path, p["service"] or p["format"]))
    text = (original.decode("utf-8", "surrogateescape") if original is not None
            else p["seed"])
    try:
        new_text, edits = EDITORS[p["format"]](text, p)
    except EditError as exc:
        module.fail_json(msg="%s: %s" % (path, exc))
    new = new_text.encode("utf-8", "surrogateescape")
    if original is None:
        edits.insert(0, "created (%s)" % ("from the installer's stock content" if p["seed"]
                                         else "empty"))
    if new == original:
        module.exit_json(changed=False, edits=[], restored=[], path=path)
    if module.check_mode:
        module.exit_json(changed=True, edits=edits, restored=[], path=path)
    try:
        take_backup(backup_dir, path, original, p["service"])
        if original is None:
            mode = p["create_mode"]
            _write_new(path, new, int(mode, 8) if isinstance(mode, str) else int(mode))
        else:
            _replace_content(module, path, new)
        note_prepared(backup_dir, path, new)
    except OSError as exc:
        module.fail_json(msg="%s: cannot write: %s" % (path, exc))
    module.exit_json(changed=True, edits=edits, restored=[], path=path,
                     backup=os.path.join(backup_dir, backup_key(path)))


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
