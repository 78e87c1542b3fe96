"""The lab: bring it up, take it down and report on it (``doctor lab ...``).

The work is done by Ansible (``playbooks/lab.yml`` and ``playbooks/lab_down.yml``
with ``inventory/local``); this module runs the playbooks (doctor_tests.playbook, one
line per task) and reads the lab's state for ``doctor lab status``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psutil
import yaml

from doctor_tests import playbook as playbook_runner
from doctor_tests.monitor import collectd_plugin
from doctor_tests.paths import data_root
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

DEFAULT_LAB_DIR = Path("/var/lib/doctor-lab")
API_PORTS = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774,
             "neutron": 9696, "aodh": 8042}
#: The peers' APIs (roles/lab_peers), checked when the inventory's lab_peers names them.
PEER_PORTS = {"vitrage": 8999, "masakari": 15868}
MAX_COMPUTES = 20


class LabError(Exception):
    """The lab could not do what was asked; the message says what and why."""


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    namespace: bool
    link_up: bool
    #: "controller" (lab-controller-0: the OpenStack services) or "compute"
    role: str = "compute"
    #: the host's address on the data-plane bridge ("" for a host with no data plane)
    data_address: str = ""
    #: its data-plane link (eth1) is up (False also when it has none)
    data_link_up: bool = False

    @property
    def links_up(self) -> bool:
        """Every link the host has is up."""
        return self.link_up and (self.data_link_up or not self.data_address)


def lab_dir() -> Path:
    return Path(os.environ.get("DOCTOR_LAB_DIR", str(DEFAULT_LAB_DIR)))


def inventory_var(name: str, default: str) -> str:
    """A plain value of the lab's inventory (``inventory/local/group_vars/all.yml``)."""
    path = data_root() / "inventory" / "local" / "group_vars" / "all.yml"
    try:
        value = (yaml.safe_load(path.read_text()) or {}).get(name)
    except (OSError, yaml.YAMLError):
        value = None
    return str(value) if value not in (None, "") else default


def peers() -> list[str]:
    """The peers the lab runs (``lab_peers``: vitrage, masakari), known ones only."""
    path = data_root() / "inventory" / "local" / "group_vars" / "all.yml"
    try:
        value = (yaml.safe_load(path.read_text()) or {}).get("lab_peers")
    except (OSError, yaml.YAMLError):
        value = None
    return [p for p in value if p in PEER_PORTS] if isinstance(value, list) else []


def api_ports() -> dict[str, int]:
    """Every API port ``doctor lab status`` checks: the services' and the peers'."""
    return {**API_PORTS, **{p: PEER_PORTS[p] for p in peers()}}


def node_user() -> str:
    """The lab hosts' SSH user: not root, with passwordless sudo (``lab_node_user``)."""
    return inventory_var("lab_node_user", "stack")


def unprivileged_user() -> str:
    """An SSH user of the lab hosts without sudo rights (``lab_node_user_unprivileged``)."""
    return inventory_var("lab_node_user_unprivileged", "doctor-nosudo")


def check_compute_count(value: int) -> int:
    if not 1 <= value <= MAX_COMPUTES:
        raise LabError(
            "--computes = %r is not valid; allowed: a whole number from 1 to %d"
            % (value, MAX_COMPUTES)
        )
    return value


def run_playbook(playbook: str, extra_vars: dict[str, object] | None = None,
                 out: TextIO = sys.stdout) -> dict[str, int]:
    """Run one of Doctor's playbooks on the lab's inventory, one line per task on ``out``.

    Returns the recap counts (ok, changed, failed); raises
    :class:`~doctor_tests.playbook.PlaybookFailed` naming the failed task and host.
    """
    logdir = lab_dir() / "log" if lab_dir().exists() else Path("/tmp")
    vars_ = dict(extra_vars or {})
    # Doctor's collectd plugin is a module of this package (a checkout's or a wheel's)
    vars_.setdefault("doctor_collectd_plugin_src", str(Path(collectd_plugin.__file__)))
    if "DOCTOR_LAB_DIR" in os.environ:
        vars_.setdefault("lab_dir", os.environ["DOCTOR_LAB_DIR"])
    result = playbook_runner.run(
        playbook, [data_root() / "inventory" / "local"], extra_vars=vars_,
        log=logdir / ("ansible-%s.log" % Path(playbook).stem),
        progress=lambda line: print(line, file=out, flush=True))
    recap = {"ok": result.total("ok"), "changed": result.changed,
             "failed": result.total("failures") + result.total("unreachable")}
    print("%s: done in %.1fs (%d steps, %d changed)" % (
        playbook, result.seconds, result.tasks, recap["changed"]), file=out)
    return recap


#: What decides the lab's make-up: a change to any of these means the playbook must run.
FINGERPRINT_PATHS = ("ansible.cfg", "playbooks/lab*.yml", "roles/lab_*", "roles/doctor_collectd",
                     "inventory/local", "requirements", "plugins")


def fingerprint(computes: int | None) -> str:
    """A digest of everything lab.yml would act on: its playbooks, roles, inventory,
    constraints and the options given (a different one means something to change)."""
    digest = hashlib.sha256()
    root = data_root()
    digest.update(("computes=%s lab_dir=%s\n" % (computes, lab_dir())).encode())
    for pattern in FINGERPRINT_PATHS:
        files: list[Path] = []
        for path in sorted(root.glob(pattern)):
            files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    digest.update(Path(collectd_plugin.__file__).read_bytes())  # installed on every host
    return digest.hexdigest()


def _fingerprint_file() -> Path:
    return lab_dir() / "state" / "lab-up.fingerprint"


def up(computes: int | None = None, force: bool = False,
       out: TextIO = sys.stdout) -> dict[str, int]:
    """Provision or refresh the lab. When the last successful run had the same playbooks,
    roles, inventory and options and every service and host is healthy now, there is
    nothing to change: say so and skip the playbook (``force`` runs it anyway)."""
    extra: dict[str, object] = {}
    if computes is not None:
        extra["lab_compute_count"] = check_compute_count(computes)
    started = time.monotonic()
    wanted = fingerprint(computes)
    if not force:
        try:
            recorded = _fingerprint_file().read_text().strip()
        except OSError:
            recorded = ""
        if recorded == wanted:
            _, _, healthy = status_rows()
            if healthy:
                print("lab: up, healthy and unchanged since its last bring-up; nothing to do "
                      "(%.1f s; --force runs the playbook anyway)" % (time.monotonic() - started),
                      file=out, flush=True)
                return {"ok": 0, "changed": 0, "failed": 0}
            print("lab: not healthy; running the playbook", file=out, flush=True)
    _fingerprint_file().unlink(missing_ok=True)
    recap = run_playbook("lab.yml", extra, out=out)
    _fingerprint_file().parent.mkdir(parents=True, exist_ok=True)
    _fingerprint_file().write_text(wanted + "\n")
    return recap


def down(purge: bool = False) -> dict[str, int]:
    _fingerprint_file().unlink(missing_ok=True)
    return run_playbook("lab_down.yml", {"lab_purge": purge})


def supervisorctl(*args: str) -> subprocess.CompletedProcess[str]:
    ctl = lab_dir() / "venv" / "bin" / "supervisorctl"
    conf = lab_dir() / "etc" / "supervisord.conf"
    if not ctl.exists() or not conf.exists():
        raise LabError("the lab is not installed in %s: run 'doctor lab up'" % lab_dir())
    return subprocess.run([str(ctl), "-c", str(conf), *args], capture_output=True, text=True,
                          timeout=60)


def programs() -> list[dict[str, str]]:
    """The supervised programs: name, state, detail (pid and uptime, or the reason)."""
    res = supervisorctl("status")
    if "refused connection" in res.stdout or "no such file" in res.stdout.lower():
        return []
    rows = []
    for line in res.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            rows.append({"name": parts[0], "state": parts[1],
                         "detail": parts[2] if len(parts) > 2 else ""})
    return rows


#: masakari-engine's setting the recovery waits on after disabling a failed host's service
MASAKARI_WAIT = "wait_period_after_service_update"
_MASAKARI_WAIT_LINE = re.compile(r"^%s\s*=\s*(\d+)\s*$" % MASAKARI_WAIT, re.MULTILINE)


def masakari_conf() -> Path:
    return lab_dir() / "etc" / "masakari" / "masakari.conf"


def masakari_wait() -> int | None:
    """The lab's masakari-engine wait after disabling a host (None: no Masakari)."""
    try:
        match = _MASAKARI_WAIT_LINE.search(masakari_conf().read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def set_masakari_wait(seconds: int, timeout_s: float = 120.0) -> int:
    """Set masakari-engine's wait (``wait_period_after_service_update``) to ``seconds`` and
    restart it (the engine reads it at start), waiting until it consumes its RPC queue
    again; returns the value it had. ``doctor lab up --force`` writes the inventory's
    (lab_peers_masakari_wait_after_service_update) back."""
    conf = masakari_conf()
    text = conf.read_text()
    match = _MASAKARI_WAIT_LINE.search(text)
    if match is None:
        raise LabError("%s has no %s line: is Masakari in the lab (lab_peers)?"
                       % (conf, MASAKARI_WAIT))
    before = int(match.group(1))
    if before != seconds:
        conf.write_text(_MASAKARI_WAIT_LINE.sub("%s = %d" % (MASAKARI_WAIT, seconds), text))
        res = supervisorctl("restart", "peers:masakari-engine")
        if res.returncode != 0:
            raise LabError("restarting masakari-engine failed: %s" % (res.stdout + res.stderr))
        consumers = lab_dir() / "bin" / "lab-bus-consumers"
        wait_until(lambda: subprocess.run([str(consumers), "ha_engine"], capture_output=True,
                                          timeout=30).returncode == 0,
                   timeout_s, "masakari-engine to consume its queue (ha_engine) again",
                   interval=1.0)
        LOG.info("masakari-engine restarted with %s = %d (was %d)", MASAKARI_WAIT, seconds,
                 before)
    return before


def runs_collectd() -> bool:
    """Whether the lab's compute hosts run collectd with Doctor's plugin (every one does
    once the lab is up)."""
    return any(p["name"].startswith("computes:collectd-") and p["state"] == "RUNNING"
               for p in programs())


def all_hosts() -> list[LabHost]:
    """Every namespace host of the lab: the controller first, then the compute hosts."""
    script = lab_dir() / "bin" / "lab-net.sh"
    if not script.exists():
        return []
    res = subprocess.run([str(script), "status"], capture_output=True, text=True, timeout=30)
    out = []
    for line in res.stdout.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        name, address, state = fields[:3]
        # a lab-net.sh written before the controller had a namespace has no role column,
        # one written before the data plane has no data-plane columns
        role = fields[3] if len(fields) > 3 else "compute"
        data_address = fields[4] if len(fields) > 4 and fields[4] != "-" else ""
        data_up = len(fields) > 5 and fields[5] == "up"
        out.append(LabHost(name, address, state != "absent", state == "up", role,
                           data_address, data_up))
    return out


def hosts() -> list[LabHost]:
    """The lab's compute hosts."""
    return [h for h in all_hosts() if h.role == "compute"]


def controller() -> LabHost | None:
    """The lab's controller host (None: the lab's network was never made)."""
    return next((h for h in all_hosts() if h.role == "controller"), None)


def links_up() -> None:
    """Bring every link of every lab host up, management and data plane (from this machine,
    through the namespaces: the lab's out-of-band console)."""
    script = lab_dir() / "bin" / "lab-net.sh"
    subprocess.run([str(script), "up"], check=True, capture_output=True, timeout=60)


def console(action: str, host: str) -> str:
    """Run the lab's out-of-band console (``lab-console.sh ACTION HOST``: power-off,
    power-on, freeze, thaw, pids); its output. Raises :class:`LabError` naming the command."""
    script = lab_dir() / "bin" / "lab-console.sh"
    res = subprocess.run([str(script), action, host], capture_output=True, text=True,
                         timeout=120)
    if res.returncode != 0:
        raise LabError("%s %s %s exited %d: %s" % (script, action, host, res.returncode,
                                                    (res.stderr or res.stdout).strip()))
    return res.stdout


def hosts_to_revive() -> dict[str, str]:
    """Compute hosts a killed run left frozen (``thaw``) or powered off (``power-on``)."""
    script = lab_dir() / "bin" / "lab-console.sh"
    if not script.exists():
        return {}
    stopped = {p["name"].split(":", 1)[-1] for p in programs() if p["state"] == "STOPPED"}
    out: dict[str, str] = {}
    for h in hosts():
        if not h.namespace:
            continue
        if any(name.endswith("-" + h.name) for name in stopped):
            out[h.name] = "power-on"
        elif any(line.split()[1:2] == ["T"] for line in console("pids", h.name).splitlines()):
            out[h.name] = "thaw"
    return out


def ping(address: str, timeout_s: float = 1.0) -> bool:
    res = subprocess.run(["ping", "-c", "1", "-W", str(max(1, int(timeout_s))), address],
                         capture_output=True, timeout=timeout_s + 5)
    return res.returncode == 0


def tcp_open(address: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def controller_address() -> str | None:
    """The controller's address on the lab bridge (where every API listens)."""
    host = controller()
    return host.address if host else None


def status_rows() -> tuple[list[list[str]], list[list[str]], bool]:
    """Rows for the services table and the hosts table, and whether all is healthy."""
    healthy = True
    svc_rows = []
    progs = programs()
    if not progs:
        healthy = False
    for p in progs:
        ok = p["state"] == "RUNNING"
        healthy &= ok
        svc_rows.append([p["name"], p["state"], p["detail"]])
    addr = controller_address()
    for name, port in api_ports().items():
        ok = bool(addr) and tcp_open(addr or "", port)
        healthy &= ok
        svc_rows.append(["api:%s" % name, "LISTENING" if ok else "CLOSED",
                         "%s:%d" % (addr or "?", port)])
    host_rows = []
    for h in all_hosts():
        pinged = h.link_up and ping(h.address)
        ssh = h.link_up and tcp_open(h.address, 22)
        data = "-"
        if h.data_address:
            data_pinged = h.data_link_up and ping(h.data_address)
            healthy &= data_pinged
            data = "%s %s%s" % (h.data_address, "up" if h.data_link_up else "DOWN",
                                "" if data_pinged else " (no ping)")
        healthy &= h.namespace and h.link_up and pinged and ssh
        host_rows.append([h.name, h.address, "yes" if h.namespace else "no",
                          "up" if h.link_up else "DOWN", "yes" if pinged else "no",
                          "yes" if ssh else "no", data])
    if not host_rows:
        healthy = False
    return svc_rows, host_rows, healthy


def _process_tree(root: int) -> list[psutil.Process]:
    """``root`` and all its descendants (those that are still there)."""
    parent = psutil.Process(root)
    return [parent, *parent.children(recursive=True)]


def memory_rss_mib() -> tuple[int, float] | None:
    """(process count, summed RSS in MiB) of everything the lab's supervisor runs."""
    pidfile = lab_dir() / "run" / "supervisord.pid"
    try:
        procs = _process_tree(int(pidfile.read_text().strip()))
    except (OSError, ValueError, psutil.Error):
        return None
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss  # VmRSS, in bytes
        except psutil.Error:  # gone meanwhile (or not ours to read)
            continue
    return len(procs), total / 1024.0 / 1024.0


def log_names() -> list[str]:
    logdir = lab_dir() / "log"
    if not logdir.is_dir():
        return []
    names = set()
    for p in logdir.iterdir():
        if p.suffix in (".log", ".out") and p.is_file():
            names.add(p.stem)
    return sorted(names)


def log_path(service: str) -> Path:
    logdir = lab_dir() / "log"
    for candidate in (logdir / (service + ".log"), logdir / (service + ".out"),
                      logdir / ("nova-" + service + ".log")):
        if candidate.is_file():
            return candidate
    raise LabError("no log for %r; known: %s" % (service, ", ".join(log_names()) or "none"))


def tail(path: Path, lines: int) -> Iterable[str]:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 256 * 1024))
        data = f.read().decode("utf-8", "replace").splitlines()
    return data[-lines:]
