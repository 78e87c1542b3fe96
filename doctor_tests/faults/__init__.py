"""The catalogue of faults and the means to make each one on a cloud's hosts.

``get_fault(name)`` is the catalogue's entry (its expected reaction, the monitors that see
it); ``make_fault(name, hosts, console, options)`` the fault itself, ready to ``inject``,
``restore`` (register it first: it undoes a partial injection too, and is safe twice) and
read back its ``fault_time`` (T00 per host).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from doctor_tests.fault import FaultFailed, HostShell, SshTarget, wait_ssh
from doctor_tests.faults.catalogue import (
    FAULTS,
    MONITOR_TYPES,
    Expected,
    FaultSpec,
    UnknownFault,
    get_fault,
    sees,
)
from doctor_tests.faults.console import Console, ConsoleFault, NoConsole, console_t00
from doctor_tests.faults.host import AgentFault, LinksFault
from doctor_tests.profiler.sources.clock import ClockOffset

LOG = logging.getLogger(__name__)

__all__ = ["FAULTS", "MONITOR_TYPES", "AgentFault", "Console", "ConsoleFault", "Expected",
           "Fault", "FaultHost", "FaultOptions", "FaultSpec", "LinksFault", "NoConsole",
           "UnknownFault", "console_t00", "get_fault", "make_fault", "sees"]


class Part(Protocol):
    def inject(self) -> None: ...

    def restore(self) -> None: ...

    def fault_time(self, timeout: float = 60.0) -> float: ...

    @property
    def clock_host(self) -> str | None:
        """The host whose clock :meth:`fault_time` is read by (None: the runner's)."""
        ...


@dataclass(frozen=True)
class FaultHost:
    """A host to fail: how it is reached, and its data-plane address ("" if unknown)."""

    target: SshTarget
    data_address: str = ""


@dataclass(frozen=True)
class FaultOptions:
    """How long and how: the fault's duration (links held down, when the host restores them
    itself), the flap's shape, the lead time that lets two hosts act at one moment, the
    compute agent's process name and the layout's command to start it again."""

    duration_s: float = 20.0
    flap_down_s: float = 0.01
    flap_up_s: float = 0.3
    flap_cycles: int = 5
    simultaneous_lead_s: float = 1.5
    agent_process: str = "nova-compute"
    agent_start: str = ""


@dataclass
class Fault:
    """One fault of the catalogue on its host(s)."""

    spec: FaultSpec
    hosts: tuple[str, ...]
    parts: tuple[Part, ...]

    def inject(self) -> None:
        for part in self.parts:
            part.inject()

    def restore(self) -> None:
        """Undo every part (each safe before, during and after its injection); the first
        failure is raised once every part was tried."""
        errors: list[Exception] = []
        for part in self.parts:
            try:
                part.restore()
            except Exception as exc:  # noqa: BLE001 - every part gets its undo
                LOG.error("restoring %s: %s", self.spec.name, exc)
                errors.append(exc)
        if errors:
            raise errors[0]

    def fault_times(self, timeout: float = 60.0,
                    clocks: Mapping[str, ClockOffset] | None = None) -> dict[str, float]:
        """T00 of each host on the runner's clock: a part's time read by a host's clock is
        moved by that host's offset in ``clocks`` (measured before the fault); one read by
        the runner (the console's) is taken as it is."""
        times = {}
        for host, part in zip(self.hosts, self.parts, strict=True):
            t00 = part.fault_time(timeout)
            clock = (clocks or {}).get(part.clock_host or "")
            times[host] = clock.to_local(t00) if clock is not None else t00
        return times


def _reachable(target: SshTarget) -> Callable[[float], None]:
    return functools.partial(wait_ssh, target, interval=0.5)


def make_fault(name: str, hosts: Sequence[FaultHost], console: Console,
               options: FaultOptions = FaultOptions(),
               shell_factory: Callable[[SshTarget], HostShell] = HostShell) -> Fault:
    """The fault ``name`` on ``hosts`` (as many as the fault fails). ``console(action,
    host)`` runs the layout's out-of-band command (None: the layout has none)."""
    spec = get_fault(name)
    if len(hosts) != spec.hosts:
        raise ValueError("fault %s fails %d host(s), not %d" % (name, spec.hosts, len(hosts)))
    names = tuple(h.target.host for h in hosts)
    if spec.via == "console":
        do, undo = spec.console
        return Fault(spec, names, tuple(
            ConsoleFault(h.target.host, name, do, undo, console, _reachable(h.target))
            for h in hosts))
    if not spec.links:
        return Fault(spec, names, tuple(
            AgentFault(h.target, options.agent_process, options.agent_start,
                       shell_factory=shell_factory) for h in hosts))
    start_at = time.time() + options.simultaneous_lead_s if spec.hosts > 1 else None
    parts = []
    for h in hosts:
        addresses = []
        if "management" in spec.links:
            addresses.append(h.target.address)
        if "data" in spec.links:
            if h.data_address:
                addresses.append(h.data_address)
            elif spec.links == ("data",):
                raise FaultFailed(h.target.host, h.target.address, "-", "-",
                                  "%s needs the host's data-plane address, and the layout "
                                  "names none (doctor_dataplane_address)" % name)
            else:
                LOG.warning("%s: %s has no data-plane address in the layout; only its "
                            "management link goes down", name, h.target.host)
        flap = name == "flap"

        def link_up(host: str = h.target.host) -> bool:
            return console("link_up", host) is not None

        parts.append(LinksFault(
            h.target, tuple(addresses),
            options.flap_down_s if flap else options.duration_s,
            restore_links=link_up,
            cycles=options.flap_cycles if flap else 1,
            up_s=options.flap_up_s if flap else 0.0,
            start_at=start_at, reachable_during=spec.links == ("data",),
            shell_factory=shell_factory))
    return Fault(spec, names, tuple(parts))
