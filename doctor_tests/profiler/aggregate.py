"""Repeated runs: percentiles of every checkpoint and component over several profiles.

``profile-summary.json``::

    {"runs": 5, "verdicts": {"PASS": 4, "FAIL": 1, "UNKNOWN": 0},
     "notification_ms": {"count", "min", "p50", "p95", "max"},
     "fault_to_notification_ms": {...},
     "checkpoints": {"T01": {...}, ...},      # ms since T00
     "components": {"inspector": {...}, ...}}  # ms per component
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tabulate import tabulate

from doctor_tests.profiler.components import SEGMENTS, breakdown
from doctor_tests.profiler.model import NAMES, Profile
from doctor_tests.profiler.report import write_json
from doctor_tests.profiler.stats import distribution

SUMMARY_JSON = "profile-summary.json"


def aggregate(profiles: Iterable[Profile]) -> dict[str, Any]:
    """Summarise ``profiles`` (see the module docstring); raises ValueError for none."""
    runs = list(profiles)
    if not runs:
        raise ValueError("no profiles to aggregate")
    verdicts = {"PASS": 0, "FAIL": 0, "UNKNOWN": 0}
    notification: list[float] = []
    fault: list[float] = []
    checkpoints: dict[str, list[float]] = {}
    components: dict[str, list[float]] = {}
    for profile in runs:
        verdicts[profile.verdict or "UNKNOWN"] += 1
        if profile.notification_ms is not None:
            notification.append(profile.notification_ms)
        if profile.fault_to_notification_ms is not None:
            fault.append(profile.fault_to_notification_ms)
        for name in NAMES:
            value = profile.ms(name)
            if value is not None:
                checkpoints.setdefault(name, []).append(value)
        for component in breakdown(profile).components:
            components.setdefault(component.name, []).append(component.ms)
    order = {s.name: i for i, s in enumerate(SEGMENTS)}
    return {
        "runs": len(runs),
        "verdicts": verdicts,
        "notification_ms": distribution(notification).to_json() if notification else None,
        "fault_to_notification_ms": distribution(fault).to_json() if fault else None,
        "checkpoints": {n: distribution(checkpoints[n]).to_json() for n in NAMES
                        if n in checkpoints},
        "components": {
            n: distribution(components[n]).to_json()
            for n in sorted(components, key=lambda n: order.get(n.split("+")[0], 99))
        },
    }


def _row(label: str, dist: Mapping[str, Any] | None) -> list[str]:
    if not dist:
        return [label, "0", "-", "-", "-", "-"]
    return [label, str(dist["count"])] + [f"{dist[k]:.1f}" for k in ("min", "p50", "p95", "max")]


def summary_table(summary: Mapping[str, Any]) -> str:
    """The summary as a console table (ms)."""
    rows = [_row("notification (T09-T01)", summary.get("notification_ms")),
            _row("fault to notification (T09-T00)", summary.get("fault_to_notification_ms"))]
    rows += [_row(f"checkpoint {name}", dist)
             for name, dist in summary.get("checkpoints", {}).items()]
    rows += [_row(f"component {name}", dist)
             for name, dist in summary.get("components", {}).items()]
    verdicts = summary.get("verdicts", {})
    head = (f"{summary.get('runs', 0)} runs: {verdicts.get('PASS', 0)} PASS, "
            f"{verdicts.get('FAIL', 0)} FAIL, {verdicts.get('UNKNOWN', 0)} unknown")
    table = tabulate(rows, headers=["ms", "n", "min", "p50", "p95", "max"], tablefmt="simple",
                     disable_numparse=True)
    return f"{head}\n{table}"


def write_summary(profiles: Iterable[Profile], results_dir: str | os.PathLike[str]) -> Path:
    """Aggregate ``profiles`` into ``<results_dir>/profile-summary.json``."""
    return write_json(aggregate(profiles), Path(results_dir) / SUMMARY_JSON)
