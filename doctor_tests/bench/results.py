"""The benchmark's figures: one run's measurements, their summary per sweep point, and the
results document (``docs/benchmarks/latest.json``). Pure functions, no cloud.

Names (times in ms; T00 = link down on the host, T01 = the monitor's detection):

- ``detection``: T01 - T00;
- ``notification`` (first alarm): first alarm received at the consumer - T01;
- ``last_alarm``: last alarm received - T01 (the issue's "notification time" targets);
- ``server_latency``: per server, its first alarm received - T01 (pooled over the runs);
- ``duplicate_alarms``: deliveries beyond the first per alarm id, plus every alarm for the
  server on the host that did not fail;
- ``inspector_all_error``: the inspector's own record, last successful reset-state minus
  the moment its HTTP handler received the event;
- ``inspector_peak_rss_mb``: growth of this process's peak RSS (VmHWM, reset before the
  inspector starts) over its RSS at that moment - the inspector runs in-process;
- ``consistency_window``: per server, how long the tenant had been told ERROR before Nova
  said so (the inspector's reset call for it returned minus its first alarm received; 0
  when Nova was first). Only the shortcut opens it; both times are the runner's clock.

Percentiles are linear between closest ranks (numpy's default), over the K runs of a point.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from doctor_tests.profiler.stats import percentile


@dataclass(frozen=True)
class RunFigures:
    """What one fault run measured (ms unless named otherwise)."""

    vm_count: int
    variant: str
    run: int
    detection_ms: float
    first_alarm_ms: float | None
    last_alarm_ms: float | None
    server_latencies_ms: tuple[float, ...]
    alarms_received: int
    missing_servers: int
    duplicates: int
    stray_alarms: int
    inspector_all_error_ms: float | None
    inspector_errors: int
    inspector_peak_rss_mb: float | None
    cpu_ms_per_server: Mapping[str, float] = field(default_factory=dict)
    steps_s: Mapping[str, float] = field(default_factory=dict)
    consistency_windows_ms: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["server_latencies_ms"] = list(self.server_latencies_ms)
        out["consistency_windows_ms"] = list(self.consistency_windows_ms)
        out["cpu_ms_per_server"] = dict(self.cpu_ms_per_server)
        out["steps_s"] = dict(self.steps_s)
        return out


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def first_alarm_latencies(deliveries: Iterable[tuple[str, float]], alarm_servers: Mapping[str, str],
                          servers: Iterable[str], detected_at: float) -> dict[str, float]:
    """server id -> ms from detection to its first alarm, for the ``servers`` that got one.

    ``deliveries`` are (alarm id, received epoch) as the consumer recorded them;
    ``alarm_servers`` maps alarm id -> server id.
    """
    wanted = set(servers)
    first: dict[str, float] = {}
    for alarm_id, received in deliveries:
        server = alarm_servers.get(alarm_id)
        if server in wanted and (server not in first or received < first[server]):
            first[server] = received
    return {sid: ms(at - detected_at) for sid, at in first.items()}


def consistency_windows(deliveries: Iterable[tuple[str, float]],
                        alarm_servers: Mapping[str, str],
                        nova_error_at: Mapping[str, float]) -> tuple[float, ...]:
    """Per server with both an alarm and a reset that returned: ms from its first alarm to
    Nova's ERROR (0 when Nova was first), sorted."""
    first: dict[str, float] = {}
    for alarm_id, received in deliveries:
        server = alarm_servers.get(alarm_id)
        if server is not None and server in nova_error_at and (
                server not in first or received < first[server]):
            first[server] = received
    return tuple(sorted(max(0.0, ms(nova_error_at[sid] - at)) for sid, at in first.items()))


def count_duplicates(alarm_ids: Iterable[str]) -> int:
    """Deliveries beyond the first for each alarm id."""
    seen: dict[str, int] = {}
    for alarm_id in alarm_ids:
        seen[alarm_id] = seen.get(alarm_id, 0) + 1
    return sum(n - 1 for n in seen.values())


def cpu_per_server(spent_s: Mapping[str, float], servers: int) -> dict[str, float]:
    """CPU seconds per component -> CPU ms per server, largest first (components that
    spent nothing measurable left out)."""
    if servers < 1:
        raise ValueError("servers must be >= 1, not %d" % servers)
    out = {name: round(seconds * 1000.0 / servers, 2) for name, seconds in spent_s.items()}
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


def pct(values: Iterable[float | None], q: float) -> float | None:
    """The ``q``-th percentile of the values that are not None (rounded to 0.1), or None."""
    data = [v for v in values if v is not None]
    return round(percentile(data, q), 1) if data else None


def median_by_key(dicts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median over the dicts that have it."""
    keys = {k for d in dicts for k in d}
    out = {k: round(statistics.median(d[k] for d in dicts if k in d), 2) for k in keys}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def reset_rate(vm_count: int, all_error_ms: float | None) -> float | None:
    """Servers set to error per second by the inspector (None without a time)."""
    if all_error_ms is None or all_error_ms <= 0:
        return None
    return round(vm_count / (all_error_ms / 1000.0), 2)


def summarise(runs: Sequence[RunFigures]) -> dict[str, Any]:
    """One variant's K runs at one server count -> percentiles and totals."""
    if not runs:
        raise ValueError("no runs to summarise")
    latencies = [v for r in runs for v in r.server_latencies_ms]
    windows = [v for r in runs for v in r.consistency_windows_ms]
    all_error_p50 = pct((r.inspector_all_error_ms for r in runs), 50)
    return {
        "runs": len(runs),
        "detection_p50_ms": pct((r.detection_ms for r in runs), 50),
        "detection_p95_ms": pct((r.detection_ms for r in runs), 95),
        "notification_p50_ms": pct((r.first_alarm_ms for r in runs), 50),
        "notification_p95_ms": pct((r.first_alarm_ms for r in runs), 95),
        "last_alarm_p50_ms": pct((r.last_alarm_ms for r in runs), 50),
        "last_alarm_p95_ms": pct((r.last_alarm_ms for r in runs), 95),
        "server_latency_p50_ms": pct(latencies, 50),
        "server_latency_p95_ms": pct(latencies, 95),
        "duplicate_alarms": sum(r.duplicates + r.stray_alarms for r in runs),
        "stray_alarms": sum(r.stray_alarms for r in runs),
        "missing_alarms": sum(r.missing_servers for r in runs),
        "inspector_all_error_ms": all_error_p50,
        "inspector_reset_per_s": reset_rate(runs[0].vm_count, all_error_p50),
        "inspector_errors": sum(r.inspector_errors for r in runs),
        "inspector_peak_rss_mb": (max(r.inspector_peak_rss_mb for r in runs
                                      if r.inspector_peak_rss_mb is not None)
                                  if any(r.inspector_peak_rss_mb is not None for r in runs)
                                  else None),
        "cpu_ms_per_server": median_by_key([r.cpu_ms_per_server for r in runs]),
        "consistency_window_p50_ms": pct(windows, 50),
        "consistency_window_p95_ms": pct(windows, 95),
        "consistency_window_max_ms": max(windows) if windows else None,
    }


SWEEP_KEYS = ("detection_p50_ms", "detection_p95_ms", "notification_p50_ms",
              "notification_p95_ms", "last_alarm_p50_ms", "last_alarm_p95_ms",
              "duplicate_alarms", "inspector_all_error_ms", "inspector_peak_rss_mb")


def sweep_entry(vm_count: int, variants: Mapping[str, Sequence[RunFigures]], primary: str,
                shortcut: str | None, skipped: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One point of the sweep: the issue's keys from the ``primary`` variant,
    ``shortcut_last_alarm_p50_ms`` from the ``shortcut`` variant (None when it did not
    run), and every variant's summary under ``variants``."""
    summaries = {name: summarise(runs) for name, runs in variants.items() if runs}
    main = summaries.get(primary)
    if main is None:
        raise ValueError("no runs of the primary variant %r at %d servers" % (primary, vm_count))
    entry: dict[str, Any] = {"vm_count": vm_count, "runs": main["runs"]}
    entry.update({key: main[key] for key in SWEEP_KEYS})
    cut = summaries.get(shortcut) if shortcut else None
    entry["shortcut_last_alarm_p50_ms"] = cut["last_alarm_p50_ms"] if cut else None
    if cut is not None:
        entry["duplicate_alarms_shortcut"] = cut["duplicate_alarms"]
        entry["missing_alarms_shortcut"] = cut["missing_alarms"]
        entry["shortcut_consistency_window_p95_ms"] = cut["consistency_window_p95_ms"]
        entry["shortcut_consistency_window_max_ms"] = cut["consistency_window_max_ms"]
    entry.update({
        "server_latency_p50_ms": main["server_latency_p50_ms"],
        "server_latency_p95_ms": main["server_latency_p95_ms"],
        "missing_alarms": main["missing_alarms"],
        "inspector_reset_per_s": main["inspector_reset_per_s"],
        "cpu_ms_per_server": main["cpu_ms_per_server"],
        "variants": summaries,
    })
    if skipped:
        entry["variants_skipped"] = dict(skipped)
    return entry


EFFICIENCY_AT = 200  # the efficiency target is at 200 servers


def swept_count(counts: Sequence[int], at_count: int | None = EFFICIENCY_AT) -> int:
    """``at_count`` when it is among the counts swept, else the largest count: where the
    efficiency (and the ceiling, and the strategies compared) are taken."""
    return at_count if at_count is not None and at_count in counts else max(counts)


def efficiency(sweep: Sequence[Mapping[str, Any]], ceiling_per_s: float | None,
               at_count: int | None = EFFICIENCY_AT) -> tuple[float | None, int | None]:
    """(inspector rate / ceiling, the server count it was taken at): at ``at_count`` when
    swept, else the largest count swept."""
    if not sweep or not ceiling_per_s:
        return None, None
    points = {int(p["vm_count"]): p for p in sweep}
    count = swept_count(list(points), at_count)
    rate = points[count].get("inspector_reset_per_s")
    if rate is None:
        return None, count
    return round(float(rate) / ceiling_per_s, 3), count


def document(*, machine: Mapping[str, Any], date: str, command: str,
             sweep: Sequence[Mapping[str, Any]], ceiling: Mapping[str, Any] | None,
             soak: Mapping[str, Any] | None, settings: Mapping[str, Any],
             timings: Mapping[str, Any], efficiency_at: int | None = EFFICIENCY_AT,
             note: str | None = None, source: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    """The results document, in the issue's shape (plus what explains it)."""
    best = float(ceiling["best_per_s"]) if ceiling else None
    eff, eff_count = efficiency(sweep, best, efficiency_at)
    doc: dict[str, Any] = {
        "machine": dict(machine),
        "date": date,
        "command": command,
        "source": dict(source) if source is not None else None,
        "sweep": [dict(p) for p in sweep],
        "nova_reset_ceiling_per_s": best,
        "inspector_efficiency": eff,
        "inspector_efficiency_vm_count": eff_count,
        "soak": dict(soak) if soak is not None else None,
        "ceiling": dict(ceiling) if ceiling is not None else None,
        "settings": dict(settings),
        "timings": dict(timings),
    }
    if note:
        doc["note"] = note
    return doc
