"""The benchmark for people: a markdown table, a plot of notification time against server
count (hand-written SVG, like the profiler's timeline) and the README around them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from xml.sax.saxutils import escape, quoteattr

from tabulate import tabulate

from doctor_tests.profiler.svg import FONT, nice_step

# The targets: last alarm after detection, median, path through Nova (ms).
TARGETS_MS = {1: 120.0, 10: 400.0, 50: 1400.0, 200: 5000.0}
SHORTCUT_TARGETS_MS = {1: 60.0}

COLUMNS = (
    ("servers", "vm_count"),
    ("runs", "runs"),
    ("detection p50/p95 ms", ("detection_p50_ms", "detection_p95_ms")),
    ("first alarm p50/p95 ms", ("notification_p50_ms", "notification_p95_ms")),
    ("last alarm p50/p95 ms", ("last_alarm_p50_ms", "last_alarm_p95_ms")),
    ("per server p50/p95 ms", ("server_latency_p50_ms", "server_latency_p95_ms")),
    ("shortcut last p50 ms", "shortcut_last_alarm_p50_ms"),
    ("shortcut told before Nova p95/max ms", ("shortcut_consistency_window_p95_ms",
                                              "shortcut_consistency_window_max_ms")),
    ("target ms", "target"),
    ("duplicates", "duplicate_alarms"),
    ("inspector all ERROR ms", "inspector_all_error_ms"),
    ("resets/s", "inspector_reset_per_s"),
    ("inspector peak RSS MB", "inspector_peak_rss_mb"),
)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return "%.0f" % value
        return "%.1f" % value if abs(value) >= 1 or value == 0 else "%.3g" % value
    return str(value)


def _ratio(value: object) -> str:
    """A ratio such as the efficiency, to three figures (1.051 -> 1.05, not 1.1)."""
    return "%.3g" % value if isinstance(value, float) else _fmt(value)


def _cell(point: Mapping[str, Any], key: str | tuple[str, str]) -> str:
    if key == "target":
        target = TARGETS_MS.get(int(point["vm_count"]))
        return "≤ %s" % _fmt(target) if target is not None else "-"
    if isinstance(key, tuple):
        return " / ".join(_fmt(point.get(k)) for k in key)
    return _fmt(point.get(key))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 0) -> str:
    """A markdown table of ready-made cells: the first ``left`` columns aligned left, the
    others (figures) right; all left is GitHub's plain ``---``. The cells are printed as
    given (no number parsing: "0.10" stays "0.10")."""
    if left >= len(headers):
        return tabulate(list(rows), headers=list(headers), tablefmt="github",
                        disable_numparse=True)
    align = ["left"] * left + ["right"] * (len(headers) - left)
    return tabulate(list(rows), headers=list(headers), tablefmt="pipe", colalign=align,
                    disable_numparse=True)


def markdown_table(sweep: Sequence[Mapping[str, Any]]) -> str:
    """The sweep as a markdown table (one row per server count)."""
    return _table([title for title, _ in COLUMNS],
                  ([_cell(point, key) for _, key in COLUMNS] for point in sweep))


def cpu_table(sweep: Sequence[Mapping[str, Any]], top: int = 8) -> str:
    """CPU ms per server by component (medians of the runs), the ``top`` busiest overall."""
    totals: dict[str, float] = {}
    for point in sweep:
        for name, value in (point.get("cpu_ms_per_server") or {}).items():
            totals[name] = totals.get(name, 0.0) + float(value)
    names = [n for n, _ in sorted(totals.items(), key=lambda kv: -kv[1])][:top]
    if not names:
        return "(no CPU figures)"
    rows = []
    for point in sweep:
        cpu = point.get("cpu_ms_per_server") or {}
        rows.append([str(point["vm_count"]), *(_fmt(cpu.get(n)) for n in names)])
    return _table(["servers", *names], rows)


# --- the plot -----------------------------------------------------------------------------
WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 80, 190, 40, 60
SERIES = (
    ("last_alarm_p50_ms", "last alarm (p50)", "#E45756", None),
    ("last_alarm_p95_ms", "last alarm (p95)", "#E45756", "5,4"),
    ("notification_p50_ms", "first alarm (p50)", "#4C78A8", None),
    ("shortcut_last_alarm_p50_ms", "last alarm, shortcut (p50)", "#54A24B", None),
)


def _x_scale(counts: Sequence[int]) -> Any:
    lo, hi = math.log10(min(counts)), math.log10(max(counts))
    span = hi - lo or 1.0
    width = WIDTH - LEFT - RIGHT

    def x(count: float) -> float:
        if hi == lo:
            return LEFT + width / 2
        return LEFT + (math.log10(count) - lo) / span * width

    return x


def render_plot(sweep: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """Notification time (ms) against servers on the failed host (log scale), as SVG."""
    counts = [int(p["vm_count"]) for p in sweep]
    out: list[str] = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family=%s>' % (WIDTH, HEIGHT, WIDTH, HEIGHT, quoteattr(FONT)),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>'
        % (LEFT, escape(title or "Notification time against servers on the failed host")),
    ]
    if not counts:
        out.append('<text x="%d" y="%d" font-size="13">no data</text></svg>'
                   % (LEFT, HEIGHT // 2))
        return "\n".join(out)
    values = [float(p[key]) for p in sweep for key, *_ in SERIES if p.get(key) is not None]
    values += [t for c, t in TARGETS_MS.items() if c in counts]
    top = max(values) if values else 1.0
    step = nice_step(top, 6)
    y_max = step * math.ceil(top / step) if top > 0 else 1.0
    height = HEIGHT - TOP - BOTTOM
    x = _x_scale(counts)

    def y(value: float) -> float:
        return TOP + height - value / y_max * height

    # axes and grid
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#222"/>'
               % (LEFT, TOP + height, WIDTH - RIGHT, TOP + height))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#222"/>'
               % (LEFT, TOP, LEFT, TOP + height))
    tick = 0.0
    while tick <= y_max + 1e-9:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                   % (LEFT, y(tick), WIDTH - RIGHT, y(tick)))
        out.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>'
                   % (LEFT - 6, y(tick) + 4, "%g" % tick))
        tick += step
    for count in counts:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222"/>'
                   % (x(count), TOP + height, x(count), TOP + height + 5))
        out.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%d</text>'
                   % (x(count), TOP + height + 18, count))
    out.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">servers on the '
               'failed host (log scale)</text>' % ((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 18))
    out.append('<text x="18" y="%.1f" font-size="12" text-anchor="middle" '
               'transform="rotate(-90 18 %.1f)">ms after detection</text>'
               % (TOP + height / 2, TOP + height / 2))
    # targets
    for count, target in TARGETS_MS.items():
        if count in counts:
            out.append('<path d="M %.1f %.1f l 6 -6 l 6 6 l -6 6 z" fill="none" '
                       'stroke="#888"/>' % (x(count) - 6, y(target)))
    # series
    legend_y = TOP + 10
    for key, label, color, dash in SERIES:
        points = [(x(int(p["vm_count"])), y(float(p[key]))) for p in sweep
                  if p.get(key) is not None]
        if not points:
            continue
        dash_attr = ' stroke-dasharray="%s"' % dash if dash else ""
        if len(points) > 1:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>'
                       % (color, dash_attr, " ".join("%.1f,%.1f" % pt for pt in points)))
        for px, py in points:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (px, py, color))
        lx = WIDTH - RIGHT + 14
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                   % (lx, legend_y, lx + 24, legend_y, color, dash_attr))
        out.append('<text x="%d" y="%d" font-size="11">%s</text>'
                   % (lx + 30, legend_y + 4, escape(label)))
        legend_y += 20
    lx = WIDTH - RIGHT + 14
    out.append('<path d="M %d %d l 6 -6 l 6 6 l -6 6 z" fill="none" stroke="#888"/>'
               % (lx + 6, legend_y))
    out.append('<text x="%d" y="%d" font-size="11">target (issue 7)</text>'
               % (lx + 30, legend_y + 4))
    out.append("</svg>")
    return "\n".join(out)


def source_text(source: Mapping[str, Any] | None) -> str:
    """Which commit ran, and whether tracked files differed from it."""
    if not source or not source.get("commit"):
        return "Source: not recorded (not run from a git checkout)."
    changed = source.get("changed_files") or []
    text = "Source: commit `%s`" % str(source["commit"])[:12]
    if changed:
        return text + ", with uncommitted changes to %s." % ", ".join(
            "`%s`" % f for f in changed)
    return text + ", no uncommitted changes."


def ceiling_text(ceiling: Mapping[str, Any]) -> str:
    """How the ceiling was measured, and every sample taken."""
    def points(block: Mapping[str, Any]) -> str:
        return ", ".join("%s: %s/s" % (p.get("concurrency"), _fmt(p.get("per_s")))
                         for p in block.get("points") or [])

    if not ceiling.get("state_changes"):
        return "Concurrency: calls/s - %s." % points(ceiling)
    rounds = ceiling.get("rounds", 1)
    how = ("once each" if rounds == 1 else
           "%s rounds, every second one back to `active`" % rounds)
    where = (" right after the fault runs at %s servers" % ceiling["vm_count"]
             if ceiling.get("vm_count") else "")
    text = ("Measured%s as the inspector works: %s servers put ACTIVE with their alarms "
            "armed before each sample, then reset to `error` (%s), so Nova notifies every "
            "call and Ceilometer, Aodh and the consumer share the two cores as in a fault. "
            "Scan, one sample per concurrency (concurrency: calls/s) - %s."
            % (where, ceiling.get("servers", "?"), how, points(ceiling)))
    finalists = ceiling.get("finalists") or []
    if finalists:
        text += (" The two fastest were then sampled %s more times each, interleaved; the "
                 "ceiling is the better **median of those repeats** (the scan sample that "
                 "chose a finalist is left out, as it was picked for being high): %s."
                 % (ceiling.get("repeats"), "; ".join(
                     "concurrency %s: %s, median %s" % (
                         f.get("concurrency"), ", ".join(_fmt(x) for x in f.get("samples", [])),
                         _fmt(f.get("median_per_s"))) for f in finalists)))
    else:
        text += " The ceiling is the best single sample of the scan."
    unchanged = ceiling.get("without_state_changes")
    if unchanged:
        text += (" Without state changes (servers already in ERROR: Nova notifies nothing, "
                 "the API alone; one scan of %s calls, for reference) the best was %s "
                 "calls/s at concurrency %s: %s."
                 % (int(unchanged.get("servers", ceiling.get("servers", 0)))
                    * int(unchanged.get("rounds", rounds)) or "?",
                    _fmt(unchanged.get("best_per_s")), unchanged.get("best_concurrency"),
                    points(unchanged)))
    return text


STRATEGY_COLUMNS = (
    ("last alarm p50/p95 ms", ("last_alarm_p50_ms", "last_alarm_p95_ms")),
    ("first alarm p50 ms", "notification_p50_ms"),
    ("inspector all ERROR ms", "inspector_all_error_ms"),
    ("resets/s", "inspector_reset_per_s"),
    ("duplicates", "duplicate_alarms"),
    ("missing", "missing_alarms"),
    ("told before Nova p95 ms", "consistency_window_p95_ms"),
)


def strategies_table(doc: Mapping[str, Any]) -> str:
    """Every variant run at each of the strategies' server counts, side by side ("" when
    none ran)."""
    settings = doc.get("settings") or {}
    counts = settings.get("strategies_vm_counts")
    if counts is None:  # documents written before the strategies ran at several counts
        counts = [settings["strategies_vm_count"]] if settings.get("strategies_vm_count") else []
    if not settings.get("strategies") or not counts:
        return ""
    options = {**(settings.get("variants") or {}), **settings["strategies"]}
    parts = []
    for count in counts:
        entry = next((p for p in doc.get("sweep") or [] if p.get("vm_count") == count), None)
        if entry is None or not entry.get("variants"):
            continue
        rows = []
        for name, summary in entry["variants"].items():
            given = options.get(name) or {}
            rows.append([name, ", ".join("%s=%s" % kv for kv in sorted(given.items()))
                         or "(defaults)",
                         *(_cell(summary, key) for _, key in STRATEGY_COLUMNS)])
        table = _table(["variant", "inspector options", *(t for t, _ in STRATEGY_COLUMNS)],
                       rows, left=2)
        parts += ["Strategies compared at %s server%s, in the same run (their runs "
                  "interleaved with the variants' above; medians of %s):"
                  % (count, "" if count == 1 else "s", entry.get("runs")), "", table, ""]
    return "\n".join(parts).rstrip("\n")


def calibration_text(calibration: Mapping[str, Any] | None) -> str:
    """How fast one core of the machine ran the fixed loop, to compare machines by ratio."""
    if not calibration:
        return "No CPU calibration in this run (its figures compare only with each other)."
    return ("CPU calibration: the fixed Python loop (%s iterations) took **%s ms** of CPU at "
            "best (samples %s ms). Another machine's figures compare with these by the ratio "
            "of the two calibrations, not one to one."
            % ("{:,}".format(int(calibration.get("loop", 0))),
               _fmt(calibration.get("python_loop_ms")),
               ", ".join(_fmt(v) for v in calibration.get("samples_ms", []))))


def render_readme(doc: Mapping[str, Any], plot_name: str, json_name: str) -> str:
    """The benchmark page: how it was made, the table, the plot, ceiling, soak."""
    machine = doc.get("machine") or {}
    sweep = doc.get("sweep") or []
    soak = doc.get("soak")
    ceiling = doc.get("ceiling") or {}
    lines = ["# Benchmark: notification time against server count", ""]
    if doc.get("note"):
        lines += ["> **%s**" % doc["note"], ""]
    lines += [
        "Produced by `doctor bench` on %s (%s CPUs, %s GiB, %s) on %s; the figures are in "
        "[`%s`](%s). Command:" % (machine.get("hostname", "?"), machine.get("cpus", "?"),
                                  machine.get("memory_gib", "?"), machine.get("cpu_model", "?"),
                                  doc.get("date", "?"), json_name, json_name),
        "",
        "```sh",
        str(doc.get("command", "")),
        "```",
        "",
        calibration_text(machine.get("calibration")),
        "",
        source_text(doc.get("source")),
        "",
        "Each point: the fault (the host's link taken down, on the host) run K times, "
        "the servers put back to ACTIVE and their alarms to `insufficient data` in between. "
        "Times in ms after the monitor's detection (T01); detection is T01 - T00. "
        "\"first/last alarm\" is the first/last alarm received at the consumer; \"per server\" "
        "pools every server's first alarm over the runs; duplicates are deliveries beyond the "
        "first per alarm, plus any alarm for the server on the other host. \"inspector all "
        "ERROR\" is the inspector's own record (event received -> last reset-state accepted); "
        "its peak RSS is the growth of the benchmark process's VmHWM (the inspector runs "
        "in-process).",
        "",
        markdown_table(sweep),
        "",
        "![notification time against server count](%s)" % plot_name,
        "",
    ]
    best = doc.get("nova_reset_ceiling_per_s")
    if best is not None:
        lines.append("Nova's reset-state ceiling: **%s calls/s** (a plain concurrent client, "
                     "best concurrency %s); inspector efficiency **%s** at %s servers."
                     % (_fmt(best), ceiling.get("best_concurrency", "?"),
                        _ratio(doc.get("inspector_efficiency")),
                        doc.get("inspector_efficiency_vm_count", "?")))
        lines += ["", ceiling_text(ceiling)]
    else:
        lines.append("Nova's reset-state ceiling: not measured in this run.")
    lines.append("")
    if soak:
        lines.append("Soak: %s false alarm(s) in %s min watching %s with %s CPU hog(s) "
                     "(%s probes sent, %s missed)." % (
                         soak.get("false_alarms"), soak.get("minutes"),
                         ", ".join(soak.get("hosts", [])), soak.get("cpu_hogs"),
                         soak.get("probes_sent"), soak.get("probes_missed")))
        if soak.get("collectd_heartbeats") is not None:
            lines[-1] += (" The collectd monitor over the same time: %s false alarm(s) "
                          "(host or data plane), %s heartbeats received."
                          % (soak.get("collectd_false_alarms"),
                             soak.get("collectd_heartbeats")))
    else:
        lines.append("Soak: not run.")
    lines += ["", "CPU ms per server by component (fault to last alarm, medians):", "",
              cpu_table(sweep), ""]
    compared = strategies_table(doc)
    if compared:
        lines += [compared, ""]
    lines += ["## Against the targets (issues 7, 18 and 19)", "", targets_table(doc), ""]
    return "\n".join(lines)


# the targets on the lab: what, limit, how to read it off the document
def _point(doc: Mapping[str, Any], count: int, key: str) -> Any:
    for entry in doc.get("sweep") or []:
        if entry.get("vm_count") == count:
            return entry.get(key)
    return None


def _max_over(doc: Mapping[str, Any], key: str) -> Any:
    values = [e.get(key) for e in doc.get("sweep") or [] if e.get(key) is not None]
    return max(values) if values else None


def _max_over_keys(doc: Mapping[str, Any], keys: Sequence[str]) -> Any:
    values = [v for v in (_max_over(doc, key) for key in keys) if v is not None]
    return max(values) if values else None


def _against_at_once(doc: Mapping[str, Any], count: int) -> Any:
    """Our last alarm's median minus the predecessor's design's (``strategy-at_once``) at
    ``count`` servers, in the same run (None when it did not run there)."""
    for entry in doc.get("sweep") or []:
        if entry.get("vm_count") == count:
            ours = entry.get("last_alarm_p50_ms")
            theirs = ((entry.get("variants") or {}).get("strategy-at_once") or {}).get(
                "last_alarm_p50_ms")
            if ours is not None and theirs is not None:
                return round(float(ours) - float(theirs), 1)
    return None


def _signed(value: object) -> str:
    return "-" if value is None else "%+.1f" % float(value)  # type: ignore[arg-type]


class Target(NamedTuple):
    what: str
    limit: float
    op: str                                      # "<=" or ">="
    read: Callable[[Mapping[str, Any]], Any]
    show: Callable[[object], str] = _fmt         # how the measured value is printed


TARGETS: tuple[Target, ...] = (
    Target("last alarm, 1 server (ms)", 120, "<=",
           lambda d: _point(d, 1, "last_alarm_p50_ms")),
    Target("last alarm, 1 server, shortcut (ms)", 60, "<=",
           lambda d: _point(d, 1, "shortcut_last_alarm_p50_ms")),
    Target("last alarm, 1 server, against the predecessor's design in the same run (ms)", 0,
           "<=", lambda d: _against_at_once(d, 1), _signed),
    Target("last alarm, 10 servers (ms)", 400, "<=",
           lambda d: _point(d, 10, "last_alarm_p50_ms")),
    Target("last alarm, 20 servers (ms)", 1000, "<=",
           lambda d: _point(d, 20, "last_alarm_p50_ms")),
    Target("last alarm, 50 servers (ms)", 1400, "<=",
           lambda d: _point(d, 50, "last_alarm_p50_ms")),
    Target("last alarm, 50 servers, shortcut (ms)", 1000, "<=",
           lambda d: _point(d, 50, "shortcut_last_alarm_p50_ms")),
    Target("last alarm, 200 servers (ms)", 5000, "<=",
           lambda d: _point(d, 200, "last_alarm_p50_ms")),
    Target("alarms delivered twice (any point)", 0, "<=",
           lambda d: _max_over(d, "duplicate_alarms")),
    Target("alarms delivered twice, shortcut (any point)", 0, "<=",
           lambda d: _max_over(d, "duplicate_alarms_shortcut")),
    Target("alarms missing, with or without the shortcut (any point)", 0, "<=",
           lambda d: _max_over_keys(d, ("missing_alarms", "missing_alarms_shortcut"))),
    Target("detection p95, worst point (ms)", 100, "<=",
           lambda d: _max_over(d, "detection_p95_ms")),
    Target("inspector efficiency", 0.95, ">=",
           lambda d: d.get("inspector_efficiency"), _ratio),
    Target("false alarms in the soak", 0, "<=",
           lambda d: (d.get("soak") or {}).get("false_alarms")),
    Target("false alarms in the soak, collectd monitor", 0, "<=",
           lambda d: (d.get("soak") or {}).get("collectd_false_alarms")),
)


def targets_table(doc: Mapping[str, Any]) -> str:
    """Each target of the issue with the measured value and whether it is met."""
    rows = []
    for what, limit, op, read, show in TARGETS:
        value = read(doc)
        if value is None:
            met = "not measured"
        elif op == "<=":
            met = "yes" if value <= limit else "**no**"
        else:
            met = "yes" if value >= limit else "**no**"
        rows.append([what, "%s %s" % (op, _fmt(limit)), show(value), met])
    return _table(["target", "limit", "measured", "met"], rows, left=4)
