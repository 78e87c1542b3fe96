#!/usr/bin/env python3
"""Stands in for systemctl, docker and podman in the layout tests: the units or
containers of the layout are those in $LAYOUT_ROOT/units.txt; a restart of one
that exists is recorded in $LAYOUT_ROOT/restarts.log, of one that does not fails as
the real tool does. ``podman exec <container> python3 -c ...`` prints the stock
file named by $LAYOUT_STOCK_DEFINITIONS (what the real command reads inside the
container); other execs are recorded."""

import os
import sys
from pathlib import Path

root = Path(os.environ["LAYOUT_ROOT"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
units = (root / "units.txt").read_text().split()


def record(line: str) -> None:
    with open(root / "restarts.log", "a", encoding="utf-8") as log:
        log.write(line + "\n")


if tool == "systemctl" and args[:1] == ["list-units"]:
    for unit in units:
        print("%s loaded active running %s" % (unit, unit))
elif tool in ("docker", "podman") and args[:1] == ["ps"]:
    print("\n".join(units))
elif args[:1] == ["restart"]:
    unit = args[1]
    if unit not in units:
        if tool == "systemctl":
            sys.exit("Failed to restart %s: Unit %s not found." % (unit, unit))
        sys.exit("Error response from daemon: No such container: %s" % unit)
    record("%s restart %s" % (tool, unit))
elif tool == "podman" and args[:1] == ["exec"] and "-c" in args:
    sys.stdout.write(Path(os.environ["LAYOUT_STOCK_DEFINITIONS"]).read_text())
elif args[:1] == ["exec"]:
    record("%s %s" % (tool, " ".join(args)))
else:
    sys.exit("fake %s: %s not understood" % (tool, args))
