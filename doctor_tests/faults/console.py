"""Faults the host cannot make on itself, made through the layout's out-of-band console.

A power cut and a hang leave the host unable to act or to answer (its sshd is dead or
frozen), so they are made from outside, as a BMC would: the layout names a command per
action (``doctor_console_power_off``, ``doctor_console_power_on``, ``doctor_console_freeze``,
``doctor_console_thaw``; ``{host}`` is replaced), run on the runner. The lab's are
``lab-console.sh`` (its namespaces' processes and its supervisor). A console that prints
``T00 <epoch>`` gives the fault's moment by its clock; else the runner's clock just before
the command is T00.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from doctor_tests.fault import FaultFailed

LOG = logging.getLogger(__name__)

#: (action, host) -> the console's output, or None when the layout has no such command
Console = Callable[[str, str], "str | None"]


class NoConsole(FaultFailed):
    """The layout has no out-of-band command for an action the fault needs."""

    def __init__(self, host: str, action: str, fault: str) -> None:
        super().__init__(host, "-", "doctor_console_%s" % action, "-",
                         "the layout names no out-of-band console command for %s (set "
                         "doctor_console_%s in the inventory; the host cannot do it itself)"
                         % (fault, action))


def console_t00(output: str) -> float | None:
    """The ``T00 <epoch>`` line of a console's output (None: it printed none)."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "T00":
            try:
                return float(parts[1])
            except ValueError:
                return None
    return None


@dataclass
class ConsoleFault:
    """``do`` then ``undo`` through the console, for ``host`` (e.g. power_off/power_on)."""

    host: str
    name: str
    do: str
    undo: str
    console: Console
    #: after the undo: wait until the host is back (answers SSH), within a timeout
    wait_back: Callable[[float], None] | None = None
    attempted: bool = False
    injected: bool = False
    restored: bool = False
    t00: float | None = None
    output: str = ""

    @property
    def clock_host(self) -> str | None:
        """T00 is the runner's (the console command runs there, as a BMC's client would)."""
        return None

    def inject(self) -> None:
        self.attempted = True
        before = time.time()
        out = self.console(self.do, self.host)
        if out is None:
            self.attempted = False  # nothing was done
            raise NoConsole(self.host, self.do, self.name)
        self.output = out
        self.t00 = console_t00(out) or before
        self.injected = True
        LOG.info("fault %s on %s through the console: %s", self.name, self.host,
                 " ".join(out.split())[:200])

    def fault_time(self, timeout: float = 60.0) -> float:
        if self.t00 is None:
            raise FaultFailed(self.host, "-", "doctor_console_%s" % self.do, "?",
                              "the fault was not made")
        return self.t00

    def restore(self, timeout: float = 120.0) -> None:
        """The undo through the console (also after a failed or partial ``do``), then the
        host back."""
        if not self.attempted or self.restored:
            return
        if self.console(self.undo, self.host) is None:
            raise NoConsole(self.host, self.undo, self.name)
        if self.wait_back is not None:
            self.wait_back(timeout)
        self.restored = True
