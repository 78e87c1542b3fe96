"""The catalogue of faults: each fault's name, what it does, what the cloud must do about it
(its expected reaction) and which monitors can see it. One registry, by name.

The expected reactions follow the seed's use cases: a host that fails (its links, its power,
its processes) is forced down, its servers are set ERROR, its ports' data plane DOWN and the
tenants are told; a data-plane failure marks the ports only (the port data-plane-status
blueprint: instances on the same host may still reach each other); what is not a host
failure (the compute agent gone, a link that flaps for less than the detection threshold)
must cause no reaction at all.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the monitors (MONITOR_TYPE names, upstream's: sample is the ICMP monitor)
MONITOR_TYPES = ("sample", "collectd")


class UnknownFault(KeyError):
    """A fault name not in the catalogue; the message lists the valid ones."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__("unknown fault %r; valid faults: %s" % (name, ", ".join(FAULTS)))

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Expected:
    """What the cloud must show after the fault, on the failed host(s)."""

    host_forced_down: bool
    servers_error: bool
    ports_down: bool
    server_alarms: bool
    port_alarms: bool

    @property
    def any_reaction(self) -> bool:
        return any((self.host_forced_down, self.servers_error, self.ports_down,
                    self.server_alarms, self.port_alarms))


HOST_FAILURE = Expected(host_forced_down=True, servers_error=True, ports_down=True,
                        server_alarms=True, port_alarms=True)
DATA_PLANE = Expected(host_forced_down=False, servers_error=False, ports_down=True,
                      server_alarms=False, port_alarms=True)
NOTHING = Expected(host_forced_down=False, servers_error=False, ports_down=False,
                   server_alarms=False, port_alarms=False)


@dataclass(frozen=True)
class FaultSpec:
    """One fault of the catalogue."""

    name: str
    #: what is done to the host
    action: str
    expected: Expected
    #: the monitors that can see it (an empty tuple: none must report anything)
    detected_by: tuple[str, ...]
    #: how it is done: "host" (on the host, over SSH with sudo) or "console" (out of band,
    #: through the layout's console on the runner: the host cannot do it to itself)
    via: str
    #: the links taken down ("management", "data"), for link faults
    links: tuple[str, ...] = ()
    #: how many hosts fail at once
    hosts: int = 1
    #: the layout's console commands it needs (doctor_console_<name>)
    console: tuple[str, ...] = ()

    @property
    def needs_data_plane(self) -> bool:
        return "data" in self.links


FAULTS: dict[str, FaultSpec] = {spec.name: spec for spec in (
    FaultSpec("link_down", "every link of the host down", HOST_FAILURE,
              ("sample", "collectd"), "host", links=("management", "data")),
    FaultSpec("management_down", "the management link only down", HOST_FAILURE,
              ("sample", "collectd"), "host", links=("management",)),
    FaultSpec("power_off", "every process of the host killed and its links down, as a power "
              "cut", HOST_FAILURE, ("sample", "collectd"), "console",
              console=("power_off", "power_on")),
    FaultSpec("hang", "every process of the host frozen; its kernel still answers ICMP",
              HOST_FAILURE, ("collectd",), "console", console=("freeze", "thaw")),
    FaultSpec("data_plane_down", "the data-plane link only down", DATA_PLANE,
              ("sample", "collectd"), "host", links=("data",)),
    FaultSpec("compute_agent_down", "nova-compute killed, the host otherwise healthy", NOTHING,
              (), "host"),
    FaultSpec("flap", "every link down for less than the detection threshold, several times",
              NOTHING, (), "host", links=("management", "data")),
    FaultSpec("two_hosts", "link_down on two hosts at the same moment", HOST_FAILURE,
              ("sample", "collectd"), "host", links=("management", "data"), hosts=2),
)}


def get_fault(name: str) -> FaultSpec:
    """The catalogue's fault ``name``; :class:`UnknownFault` lists the valid names."""
    try:
        return FAULTS[name]
    except KeyError:
        raise UnknownFault(name) from None


def sees(monitor: str, fault: str) -> bool:
    """Whether ``monitor`` can detect ``fault`` (for a fault no monitor must report, False)."""
    if monitor not in MONITOR_TYPES:
        raise ValueError("unknown monitor %r; valid: %s" % (monitor, ", ".join(MONITOR_TYPES)))
    return monitor in get_fault(fault).detected_by
