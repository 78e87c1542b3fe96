"""Fail, naming the port and the process holding it, when a port the lab needs is taken.

Usage: check_ports.py SUPERVISOR_PID ADDRESS:PORT:WHAT [...]
A listener counts as the lab's own when it belongs to the lab's supervisor
or one of its descendants (or is the shared Erlang port mapper, epmd).
Prints nothing and exits 0 when every port is free or the lab's own.
"""

import os
import re
import subprocess
import sys


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def listeners() -> list[tuple[str, int, list[tuple[str, int]]]]:
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    result = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        addr, _, port = local.rpartition(":")
        procs = [(name, int(pid)) for name, pid in re.findall(r'"([^"]+)",pid=(\d+)', line)]
        result.append((addr.strip("[]"), int(port), procs))
    return result


def main(argv: list[str]) -> int:
    supervisor = int(argv[0]) if argv and argv[0].isdigit() else 0
    ours = descendants(supervisor) if supervisor else set()
    problems = []
    for spec in argv[1:]:
        address, port_s, what = spec.split(":", 2)
        port = int(port_s)
        for addr, lport, procs in listeners():
            if lport != port or addr not in (address, "*", "0.0.0.0", "::", "127.0.0.1"):
                continue
            if addr == "127.0.0.1" and address != "127.0.0.1":
                continue
            if procs and all(pid in ours or name == "epmd" for name, pid in procs):
                continue
            holder = ", ".join("%s (pid %d)" % p for p in procs) or "an unknown process"
            problems.append(
                "port %d (%s, needed on %s) is already taken by %s listening on %s"
                % (port, what, address, holder, addr)
            )
    if problems:
        print("; ".join(sorted(set(problems))))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
