"""The fault x monitor matrix: each fault of the catalogue with each monitor, K times.

Each run is one ``TEST_CASE=fault_catalogue`` scenario (``DOCTOR_FAULTS=<fault>
MONITOR_TYPE=<monitor>``) in a pytest process of its own, its record read back from its
results directory (``fault_catalogue-<fault>/results.json``: the criteria, every check,
the figures). A cell says: how many runs detected the fault (for a fault that needs no
reaction: how many stayed quiet), detection p50/p95, how many reacted correctly
(criteria PASS) and how many false reactions there were (failed ``absent: ...`` checks).
The matrix goes to ``docs/benchmarks/fault-matrix.json`` and a table beside it.

    python -m doctor_tests.bench.matrix --runs 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from doctor_tests.bench import machine
from doctor_tests.bench.results import pct
from doctor_tests.cleanup import run_child, sigterm_as_interrupt
from doctor_tests.config import MONITOR_TYPES
from doctor_tests.faults import FAULTS, get_fault, sees

LOG = logging.getLogger(__name__)

ABSENT = "absent: "


def applies(fault: str, monitor: str) -> bool:
    """Whether the cell is run: the monitor can see the fault, or the fault must cause no
    reaction (then every monitor must stay quiet)."""
    return sees(monitor, fault) or not get_fault(fault).expected.any_reaction


def detection_ms(record: Mapping[str, Any], monitor: str) -> float | None:
    """The first detection by ``monitor`` in a run's figures (any failed host)."""
    figures = record.get("details", {}).get("figures", {})
    values = [v for k, v in figures.items()
              if k.startswith("detection_ms_%s_" % monitor) and isinstance(v, int | float)]
    if not values and isinstance(figures.get("detection_ms_first"), int | float):
        values = [figures["detection_ms_first"]]  # the data-plane round: the first report
    return min(values) if values else None


def false_reactions(record: Mapping[str, Any]) -> int:
    return sum(1 for c in record.get("details", {}).get("checks", [])
               if c.get("name", "").startswith(ABSENT) and not c.get("passed"))


def cell(fault: str, monitor: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One fault x monitor cell from its runs' records."""
    reacts = get_fault(fault).expected.any_reaction
    times = [detection_ms(r, monitor) for r in records]
    return {
        "fault": fault, "monitor": monitor, "runs": len(records),
        "detected": sum(t is not None for t in times) if reacts else None,
        "quiet": None if reacts else sum(false_reactions(r) == 0 for r in records),
        "detection_p50_ms": pct(times, 50), "detection_p95_ms": pct(times, 95),
        "reaction_correct": sum(r.get("criteria") == "PASS" for r in records),
        "false_reactions": sum(false_reactions(r) for r in records),
    }


def unseen(faults: Sequence[str], monitors: Sequence[str]) -> list[tuple[str, str]]:
    """The (fault, monitor) pairs not run because the monitor cannot see the fault."""
    return [(f, m) for f in faults for m in monitors if not applies(f, m)]


def table(cells: Sequence[Mapping[str, Any]],
          not_run: Sequence[tuple[str, str]] = ()) -> str:
    """The matrix; a pair the monitor cannot see is a row saying so, in the fault's place."""
    rows = []
    for c in cells:
        seen = ("%d/%d" % (c["detected"], c["runs"]) if c["detected"] is not None
                else "quiet %d/%d" % (c["quiet"], c["runs"]))
        rows.append([c["fault"], c["monitor"], seen, c["detection_p50_ms"],
                     c["detection_p95_ms"], "%d/%d" % (c["reaction_correct"], c["runs"]),
                     c["false_reactions"]])
    for fault, monitor in not_run:
        row = [fault, monitor, "cannot see it (not run)", None, None, "-", "-"]
        after = max((i for i, r in enumerate(rows) if r[0] == fault), default=len(rows) - 1)
        rows.insert(after + 1, row)
    return tabulate(rows, headers=["fault", "monitor", "detected", "p50 ms", "p95 ms",
                                   "reaction correct", "false reactions"], tablefmt="github")


def render(doc: Mapping[str, Any]) -> str:
    """The page of a matrix document (``python -m doctor_tests.bench.matrix --render``)."""
    cells = doc["cells"]
    faults = doc.get("faults") or list(dict.fromkeys(c["fault"] for c in cells))
    monitors = doc.get("monitors") or list(dict.fromkeys(c["monitor"] for c in cells))
    lines = ["# Fault x monitor (%d runs each, %s)" % (doc["runs"], doc["date"]), ""]
    m = doc.get("machine")
    if m:
        lines += ["On %s (%s CPUs, %s GiB, %s)%s. Each run is one `TEST_CASE=fault_catalogue`"
                  " scenario in a pytest process of its own; detection in ms after the"
                  " fault (T00, the host's own clock corrected by its measured offset)."
                  % (m.get("hostname", "?"), m.get("cpus", "?"), m.get("memory_gib", "?"),
                     m.get("cpu_model", "?"),
                     ", %.0f min in all" % (doc["duration_s"] / 60) if doc.get("duration_s")
                     else ""), ""]
    lines += [table(cells, unseen(faults, monitors)), ""]
    return "\n".join(lines)


def run_one(fault: str, monitor: str, results: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """One scenario run in a pytest process of its own; its record (a FAIL record naming
    the error when the run wrote none)."""
    results.mkdir(parents=True, exist_ok=True)
    child = dict(env, TEST_CASE="fault_catalogue", DOCTOR_FAULTS=fault, MONITOR_TYPE=monitor,
                 DOCTOR_RESULTS_DIR=str(results))
    rc, output = run_child([sys.executable, "-m", "pytest", "--pyargs", "doctor_tests.scenarios",
                            "-m", "fault", "-q", "-p", "no:cacheprovider",
                            "-k", "fault_catalogue and %s" % fault], child, 1800.0)
    path = results / ("fault_catalogue-%s" % fault) / "results.json"
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        tail = output.strip().splitlines()[-5:]
        record = {"criteria": "FAIL", "details": {"error": "no record (pytest exited %d): %s"
                                                  % (rc, " | ".join(tail))}}
    return record


def run_matrix(runs: int, faults: Sequence[str], monitors: Sequence[str], results: Path,
               out: Path) -> list[dict[str, Any]]:
    started = time.monotonic()
    cells = []
    for fault in faults:
        for monitor in monitors:
            if not applies(fault, monitor):
                LOG.info("%s x %s: the monitor cannot see it; not run", fault, monitor)
                continue
            records = []
            for i in range(runs):
                LOG.info("%s x %s: run %d/%d", fault, monitor, i + 1, runs)
                records.append(run_one(fault, monitor, results / fault / monitor / str(i),
                                       os.environ))
            cells.append(cell(fault, monitor, records))
    out.mkdir(parents=True, exist_ok=True)
    doc = {"date": time.strftime("%Y-%m-%d"), "runs": runs, "faults": list(faults),
           "monitors": list(monitors), "machine": machine.describe(),
           "duration_s": round(time.monotonic() - started, 1), "cells": cells}
    (out / "fault-matrix.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "fault-matrix.md").write_text(render(doc))
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m doctor_tests.bench.matrix",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--monitors", default=",".join(MONITOR_TYPES))
    parser.add_argument("--results", type=Path, default=Path("results/fault-matrix"))
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--render", type=Path, metavar="FILE.json",
                        help="write FILE.md from a saved matrix, run nothing")
    args = parser.parse_args(argv)
    if args.render:
        try:
            doc = json.loads(args.render.read_text())
        except (OSError, ValueError) as err:
            parser.error("--render %s: %s" % (args.render, err))
        args.render.with_suffix(".md").write_text(render(doc))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    faults = [f.strip() for f in args.faults.split(",")]
    monitors = [m.strip() for m in args.monitors.split(",")]
    for fault in faults:
        get_fault(fault)
    unknown = [m for m in monitors if m not in MONITOR_TYPES]
    if unknown or args.runs < 1:
        parser.error("--monitors: %s not in %s; --runs >= 1" % (unknown, MONITOR_TYPES))
    try:
        with sigterm_as_interrupt():
            cells = run_matrix(args.runs, faults, monitors, args.results, args.output)
    except KeyboardInterrupt:
        print("python -m doctor_tests.bench.matrix: interrupted; nothing written to %s"
              % args.output, file=sys.stderr)
        return 130
    print(table(cells, unseen(faults, monitors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
