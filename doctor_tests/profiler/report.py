"""The profile as console tables and as ``profile.json`` (and back, for re-rendering).

``profile.json``::

    {"checkpoints": {"T00": {"ms": 0.0, "epoch": 1795..., "source": "trace:scenario",
                             "description": "fault injected", "uncertainty_ms": 0.4,
                             "node": "compute-1", "delta_ms": null, "note": ...},
                     "T01": {..., "delta_ms": 212.4, "delta_uncertainty_ms": 0.4,
                             "uncertain": false}, ...},
     "clocks": {"runner": {"offset_ms": 0.0, "uncertainty_ms": 0.0, "round_trip_ms": null,
                           "samples": 0, "kind": "reference", "checkpoints": ["T01", ...]},
                "compute-1": {"offset_ms": 2500.1, "uncertainty_ms": 0.4,
                              "round_trip_ms": 0.8, "samples": 5, "kind": "measured",
                              "checkpoints": ["T00"]}, ...},
     "missing": {"T06": "why"}, "origin": "T00", "threshold_ms": 1000.0, "verdict": "PASS",
     "notification_ms": ..., "fault_to_notification_ms": ..., "total_ms": ...,
     "components": [{"name", "ms", "percent", "from", "to", "role", ...}, ...],
     "unmeasured": [...], "servers": {"count": n, "per_server": {...}, "distribution": {...},
     "first_alarm": {...}, "last_alarm": {...}}, "order_violations": [...], "notes": [...]}

A step is ``uncertain`` when its uncertainty (both readings', and both nodes' clock offsets
unless they share the node) is larger than the step itself. Profiles written before the
clocks were recorded (no ``clocks``, no ``node``) still load.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tabulate import tabulate

from doctor_tests.profiler.components import breakdown
from doctor_tests.profiler.model import (
    DEFAULT_THRESHOLD_MS,
    NAMES,
    Checkpoint,
    NodeClock,
    Profile,
    Step,
    clock_line,
)
from doctor_tests.profiler.svg import to_png, write_svg

LOG = logging.getLogger(__name__)

PROFILE_JSON = "profile.json"


class BadProfile(ValueError):
    """A profile JSON document that cannot be read back."""


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def uncertainty_text(step: Step) -> str:
    """``+/-3.1 > delta 1.2`` for an uncertain step (the console's marker)."""
    return f"+/-{step.uncertainty_ms:.1f} > delta {abs(step.ms):.1f}"


def _clocks_json(profile: Profile) -> dict[str, Any]:
    nodes = profile.nodes()
    out: dict[str, Any] = {}
    for name, clock in profile.clocks.items():
        entry = clock.to_json()
        entry["checkpoints"] = nodes.get(name, [])
        out[name] = entry
    return out


def _servers_json(profile: Profile) -> dict[str, Any]:
    if not profile.servers:
        return {}
    per_server = {
        sid: {name: {"ms": profile.relative_ms(cp.epoch), "epoch": cp.epoch,
                     "source": cp.source, "node": cp.node}
              for name, cp in sorted(st.times.items())}
        for sid, st in sorted(profile.servers.items())
    }
    out: dict[str, Any] = {
        "count": len(profile.servers),
        "per_server": per_server,
        "distribution": {k: d.to_json() for k, d in profile.server_distributions().items()},
    }
    first_last = profile.first_last_alarm()
    if first_last:
        (first_id, first_ms), (last_id, last_ms) = first_last
        out["first_alarm"] = {"server": first_id, "ms": first_ms}
        out["last_alarm"] = {"server": last_id, "ms": last_ms}
    return out


def to_json(profile: Profile) -> dict[str, Any]:
    """The JSON document (see the module docstring)."""
    steps = profile.steps()
    parts = breakdown(profile)
    checkpoints = {}
    for cp in profile.present():
        step = steps.get(cp.name)
        entry: dict[str, Any] = {
            "ms": profile.ms(cp.name), "epoch": cp.epoch, "source": cp.source,
            "description": cp.description, "uncertainty_ms": cp.uncertainty_ms,
            "node": cp.node, "delta_ms": step.ms if step else None,
        }
        if step is not None:
            entry["delta_uncertainty_ms"] = step.uncertainty_ms
            entry["uncertain"] = step.uncertain
        if cp.note:
            entry["note"] = cp.note
        checkpoints[cp.name] = entry
    return {
        "checkpoints": checkpoints,
        "clocks": _clocks_json(profile),
        "missing": profile.missing,
        "origin": profile.origin,
        "threshold_ms": profile.threshold_ms,
        "verdict": profile.verdict,
        "notification_ms": profile.notification_ms,
        "fault_to_notification_ms": profile.fault_to_notification_ms,
        "total_ms": parts.total_ms if parts.components else None,
        "total_from": parts.start,
        "total_to": parts.end,
        "components": [c.to_json() for c in parts.by_cost()],
        "unmeasured": parts.unmeasured,
        "servers": _servers_json(profile),
        "order_violations": [v.to_json() for v in profile.order_violations()],
        "notes": list(profile.notes) + parts.notes,
    }


def from_json(data: object) -> Profile:
    """Rebuild a profile from :func:`to_json`'s document (epochs are authoritative)."""
    if not isinstance(data, Mapping):
        raise BadProfile("profile must be a JSON object")
    raw = data.get("checkpoints")
    if not isinstance(raw, Mapping):
        raise BadProfile("profile has no 'checkpoints' object")
    threshold = data.get("threshold_ms", DEFAULT_THRESHOLD_MS)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise BadProfile(f"threshold_ms must be a number, got {threshold!r}")
    profile = Profile(threshold_ms=float(threshold))
    try:
        for name, entry in raw.items():
            if not isinstance(entry, Mapping) or "epoch" not in entry:
                raise BadProfile(f"checkpoint {name} must be an object with an epoch")
            profile.add(Checkpoint(name, entry["epoch"], entry.get("source") or "?",
                                   entry.get("uncertainty_ms"), entry.get("note"),
                                   entry.get("node")))
        clocks = data.get("clocks") or {}  # absent before per-node clocks were recorded
        if not isinstance(clocks, Mapping):
            raise BadProfile("'clocks' must be an object")
        for node, entry in clocks.items():
            if not isinstance(entry, Mapping):
                raise BadProfile(f"clock {node} must be an object")
            profile.clocks[str(node)] = NodeClock(
                str(node), entry["offset_ms"], entry["uncertainty_ms"],
                int(entry.get("samples") or 0), str(entry.get("kind") or "given"))
        missing = data.get("missing") or {}
        if isinstance(missing, Mapping):
            for name, reason in missing.items():
                if name in NAMES:
                    profile.mark_missing(name, str(reason))
        servers = (data.get("servers") or {}).get("per_server") or {}
        for sid, times in servers.items():
            for name, entry in times.items():
                profile.add_server(sid, Checkpoint(name, entry["epoch"],
                                                   entry.get("source") or "?",
                                                   node=entry.get("node")))
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        if isinstance(exc, BadProfile):
            raise
        raise BadProfile(f"unreadable profile: {exc}") from exc
    return profile


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read ``profile.json``; raises BadProfile (with the path) if it is missing or bad."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadProfile(f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadProfile(f"{file} is not JSON: {exc}") from exc
    try:
        return from_json(data)
    except BadProfile as exc:
        raise BadProfile(f"{file}: {exc}") from exc


def write_json(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` atomically (temp file + rename), creating the directory."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n",
                   encoding="utf-8")
    tmp.replace(file)
    return file


# --- console --------------------------------------------------------------------------
def checkpoint_table(profile: Profile) -> str:
    steps = profile.steps()
    rows = []
    for name in NAMES:
        cp = profile.checkpoints.get(name)
        if cp is None:
            rows.append([name, "", "-", "-", "", "", f"missing: {profile.missing[name]}"])
            continue
        step = steps.get(name)
        delta = _fmt(step.ms) if step else "-"
        if step is not None and step.uncertain:
            delta += f" ({uncertainty_text(step)}: uncertain)"
        rows.append([name, cp.description, _fmt(profile.ms(name)), delta,
                     _fmt(cp.uncertainty_ms) if cp.uncertainty_ms else "", cp.node or "",
                     cp.source])
    return tabulate(rows, headers=["checkpoint", "what", "ms since T00", "delta ms", "+/- ms",
                                   "node", "source"],
                    tablefmt="simple", disable_numparse=True)


def clock_table(profile: Profile) -> str:
    nodes = profile.nodes()
    return "\n".join(["clocks (node - runner):"]
                     + [f"  {clock_line(c, nodes.get(n, []))}"
                        for n, c in profile.clocks.items()])


def component_table(profile: Profile) -> str:
    parts = breakdown(profile)
    rows = [[c.name, f"{c.ms:.1f}", f"{c.percent:.1f}%", f"{c.start}->{c.end}"]
            for c in parts.by_cost()]
    rows.append(["total", f"{parts.total_ms:.1f}", "100.0%" if parts.components else "-",
                 f"{parts.start}->{parts.end}" if parts.components else "-"])
    return tabulate(rows, headers=["component", "time ms", "share", "span"], tablefmt="simple",
                    disable_numparse=True)


def server_table(profile: Profile) -> str:
    labels = {"T04": "T04 set error", "T05": "T05 Nova notified", "T06": "T06 transformed",
              "T07": "T07 evaluated", "T08": "T08 fired", "T09": "T09 received",
              "T10": "T10 handled", "notification": "notification (T09-T01)"}
    rows = [[labels.get(k, k), d.count, _fmt(d.min), _fmt(d.p50), _fmt(d.p95), _fmt(d.max)]
            for k, d in profile.server_distributions().items()]
    return tabulate(rows, headers=["per server (ms)", "n", "min", "p50", "p95", "max"],
                    tablefmt="simple", disable_numparse=True)


def render_text(profile: Profile) -> str:
    """Everything a person needs on the console, in one string."""
    lines = [f"Notification time (T09-T01): {_fmt(profile.notification_ms)} ms"
             f"  [{profile.verdict or 'UNKNOWN'}, limit {profile.threshold_ms:.0f} ms]",
             f"Fault to notification (T09-T00): {_fmt(profile.fault_to_notification_ms)} ms",
             "", checkpoint_table(profile)]
    if profile.clocks:
        lines += ["", clock_table(profile)]
    lines += ["", component_table(profile)]
    if len(profile.servers) > 1:
        lines += ["", server_table(profile)]
        first_last = profile.first_last_alarm()
        if first_last:
            (fid, fms), (lid, lms) = first_last
            lines.append(f"first alarm {fid} at {fms:.1f} ms, last {lid} at {lms:.1f} ms")
    for violation in profile.order_violations():
        lines.append(f"ORDER: {violation.to_json()['message']}")
    for note in profile.notes + breakdown(profile).notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def write_profile(profile: Profile, results_dir: str | os.PathLike[str],
                  stem: str = "profile", png: bool = True) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.svg`` and ``<stem>.png`` into ``results_dir``;
    returns the paths written (no ``png`` when it failed: the log's warning says why)."""
    folder = Path(results_dir)
    written = {"json": write_json(to_json(profile), folder / f"{stem}.json")}
    written["svg"] = write_svg(profile, folder / f"{stem}.svg", png=False)
    if png:
        picture = to_png(profile, folder / f"{stem}.png")
        if picture is not None:
            written["png"] = picture
    LOG.info("profile written to %s (%s)", folder, ", ".join(sorted(written)))
    return written
