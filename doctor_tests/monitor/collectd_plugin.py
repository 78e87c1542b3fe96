"""Doctor's collectd plugin: a compute host's heartbeat and link states, sent over the network.

It runs inside collectd (``<Plugin python> Import "doctor_collectd"``) on the compute host
and sends one UDP datagram to Doctor's receiver (doctor_tests.monitor.collectd, on the
runner) every ``Interval`` seconds, and one more at once when collectd's ``connectivity``
plugin reports a monitored link going down or up. Each datagram is a small JSON object::

    {"v": 1, "host": "compute-0", "boot": "<random, per start>", "seq": 42,
     "time": 1700000000.123, "interval": 0.05, "reason": "interval" | "link" | "start",
     "links": {"management": "up", "data": "down"}}

The receiver expects the heartbeat: its absence (the host, or collectd on it, no longer
runs, or the management link is down) is a host failure; ``links.data == "down"`` is a
data-plane failure, reported over the management link while it works.

collectd configuration (keys are case-insensitive; the file copied as doctor_collectd.py)::

    <Module doctor_collectd>
      Host "compute-0"                  # the name Nova knows the host by
      Receiver "10.213.0.1:12350"       # Doctor's receiver, on the management network
      Interval 0.05                     # heartbeat period, seconds (sub-second is fine)
      ManagementInterface "eth0"
      DataInterface "eth1"              # optional
      SourceAddress "10.213.0.10"       # optional: send from this address
    </Module>

Only the standard library is used: collectd embeds the host's own Python (Debian's
collectd-core: the system's python3.11 and its standard library).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOL = 1
NAME = "doctor"
MIN_INTERVAL = 0.005
#: collectd's notification severities (collectd.NOTIF_FAILURE ...)
NOTIF_FAILURE, NOTIF_WARNING, NOTIF_OKAY = 1, 2, 4


class PluginConfigError(ValueError):
    """A key of the plugin's configuration is missing or not valid (the message names it)."""


@dataclass(frozen=True)
class PluginConfig:
    host: str
    receiver: tuple[str, int]
    interval: float
    management_interface: str
    data_interface: str = ""
    source_address: str = ""

    @property
    def interfaces(self) -> dict[str, str]:
        """role -> interface name (management, and data when there is one)."""
        out = {"management": self.management_interface}
        if self.data_interface:
            out["data"] = self.data_interface
        return out


def parse_config(items: Sequence[tuple[str, Sequence[Any]]]) -> PluginConfig:
    """The plugin's configuration from collectd's (key, values) pairs."""
    values: dict[str, Any] = {}
    for key, vals in items:
        if len(vals) != 1:
            raise PluginConfigError("%s takes one value, not %r" % (key, list(vals)))
        values[key.lower()] = vals[0]
    known = ("host", "receiver", "interval", "managementinterface", "datainterface",
             "sourceaddress")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise PluginConfigError("unknown key(s) %s; known: Host, Receiver, Interval, "
                                "ManagementInterface, DataInterface, SourceAddress"
                                % ", ".join(unknown))
    for key in ("host", "receiver", "managementinterface"):
        if not str(values.get(key, "")).strip():
            raise PluginConfigError("%s is required" % key)
    receiver = str(values["receiver"])
    address, _, port = receiver.rpartition(":")
    if not address or not port.isdigit() or not 0 < int(port) < 65536:
        raise PluginConfigError("Receiver must be ADDRESS:PORT, not %r" % receiver)
    try:
        interval = float(values.get("interval", 1.0))
    except (TypeError, ValueError):
        raise PluginConfigError("Interval must be a number of seconds, not %r"
                                % values.get("interval")) from None
    if not interval >= MIN_INTERVAL:
        raise PluginConfigError("Interval must be at least %g s, not %r" % (MIN_INTERVAL,
                                                                            interval))
    return PluginConfig(str(values["host"]).strip(), (address.strip("[]"), int(port)),
                        interval, str(values["managementinterface"]),
                        str(values.get("datainterface", "")),
                        str(values.get("sourceaddress", "")))


def link_state(interface: str, sys_net: Path = Path("/sys/class/net")) -> str:
    """``up``, ``down`` (administratively down, or no carrier) or ``absent``, from sysfs
    (in a network namespace, the sysfs mounted for it: ``ip netns exec`` does that)."""
    try:
        flags = int((sys_net / interface / "flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return "absent"
    if not flags & 0x1:  # IFF_UP
        return "down"
    try:
        carrier = (sys_net / interface / "carrier").read_text().strip()
    except OSError:  # no carrier to read while down
        return "down"
    return "up" if carrier == "1" else "down"


def datagram(config: PluginConfig, boot: str, seq: int, links: dict[str, str], reason: str,
             now: float) -> bytes:
    """One heartbeat, encoded."""
    return json.dumps({"v": PROTOCOL, "host": config.host, "boot": boot, "seq": seq,
                       "time": now, "interval": config.interval, "reason": reason,
                       "links": links}, separators=(",", ":")).encode()


class DoctorPlugin:
    """The plugin's state: the socket, the sequence, what was last sent."""

    def __init__(self, config: PluginConfig,
                 read_link: Callable[[str], str] = link_state,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.boot = os.urandom(6).hex()
        self.seq = 0
        self.sent = 0
        self.send_errors = 0
        self.last_error = ""
        self._read_link = read_link
        self._clock = clock
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if self.config.source_address:
            sock.bind((self.config.source_address, 0))
        sock.setblocking(False)
        self._sock = sock

    def links(self) -> dict[str, str]:
        return {role: self._read_link(dev) for role, dev in self.config.interfaces.items()}

    def beat(self, reason: str = "interval") -> bool:
        """Send one heartbeat now (False: the network refused it, e.g. the link is down)."""
        with self._lock:
            self.seq += 1
            data = datagram(self.config, self.boot, self.seq, self.links(), reason,
                            self._clock())
            sock = self._sock
            if sock is None:
                return False
            try:
                sock.sendto(data, self.config.receiver)
            except OSError as exc:  # ENETUNREACH while the management link is down ...
                self.send_errors += 1
                self.last_error = str(exc)
                return False
            self.sent += 1
            return True

    def notified(self, plugin: str, plugin_instance: str, severity: int) -> bool:
        """A collectd notification: a monitored link's change (collectd's ``connectivity``
        plugin) is sent at once instead of at the next beat. True when it was one."""
        if plugin != "connectivity" or plugin_instance not in self.config.interfaces.values():
            return False
        if severity not in (NOTIF_FAILURE, NOTIF_WARNING, NOTIF_OKAY):
            return False
        self.beat("link")
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _register(collectd: Any) -> None:  # pragma: no cover - runs inside collectd only
    """Hook the plugin into collectd: configuration, init (the first beat and the periodic
    one at the configured interval), notifications, shutdown."""
    state: dict[str, DoctorPlugin] = {}

    def configure(conf: Any) -> None:
        try:
            config = parse_config([(node.key, node.values) for node in conf.children])
        except PluginConfigError as exc:
            collectd.error("%s plugin: %s" % (NAME, exc))
            raise
        state["plugin"] = DoctorPlugin(config)

    def init() -> None:
        plugin = state.get("plugin")
        if plugin is None:
            collectd.error("%s plugin: no <Module> configuration: nothing is sent" % NAME)
            return
        plugin.open()
        plugin.beat("start")
        collectd.register_read(read, plugin.config.interval, name=NAME)
        collectd.info("%s plugin: %s heartbeat to %s:%d every %.3f s, links %s (boot %s)"
                      % (NAME, plugin.config.host, plugin.config.receiver[0],
                         plugin.config.receiver[1], plugin.config.interval,
                         plugin.config.interfaces, plugin.boot))

    def read(data: Any = None) -> None:
        plugin = state["plugin"]
        before = plugin.send_errors
        plugin.beat()
        if plugin.send_errors > before and plugin.send_errors % 100 == 1:
            collectd.warning("%s plugin: heartbeat not sent: %s (%d so far)"
                             % (NAME, plugin.last_error, plugin.send_errors))

    def notification(notif: Any, data: Any = None) -> None:
        plugin = state.get("plugin")
        if plugin is not None and plugin.notified(notif.plugin, notif.plugin_instance,
                                                  notif.severity):
            collectd.info("%s plugin: link %s %s, sent at once" % (
                NAME, notif.plugin_instance, "up" if notif.severity == NOTIF_OKAY else "down"))

    def shutdown() -> None:
        plugin = state.get("plugin")
        if plugin is not None:
            plugin.close()

    collectd.register_config(configure)
    collectd.register_init(init)
    collectd.register_notification(notification)
    collectd.register_shutdown(shutdown)


try:  # inside collectd
    import collectd as _collectd
except ImportError:  # imported elsewhere (the receiver's tests, the lab's tooling)
    _collectd = None
if _collectd is not None:  # pragma: no cover
    _register(_collectd)
