"""The profile as a picture: a Gantt-style timeline, laid out once for the SVG and the PNG.

One lane per component in flow order, a bar per segment labelled with its duration, the
slowest bar outlined, the bars chained by connectors (the flow is sequential, so the chain
is the critical path), checkpoint markers with their names (and each reading's
uncertainty as a band on the axis), an axis in ms since T00, a notification row
(T01 -> T09) against the limit, the clocks of the nodes, and a legend.

No text overlaps another or the row-name column: the column is as wide as its longest
name (up to a limit, beyond which names are cut); a bar's label goes inside the bar,
else right of it, else left of it (never into the column), shortened step by step until
it fits; checkpoint names are staggered into rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from doctor_tests.profiler.components import Breakdown, Component, breakdown
from doctor_tests.profiler.layout import (
    Box,
    Layout,
    Line,
    Polygon,
    Rect,
    Text,
    fit,
    text_width,
    wrap,
)
from doctor_tests.profiler.model import Profile, Step, clock_line

WIDTH = 1000
MIN_LEFT = 170
MAX_LEFT = 360
RIGHT = 40
MARGIN = 20
LANE_H = 36
BAR_H = 22
PAD = 6  # between a label and what it labels
COLORS = {
    "monitor": "#4C78A8", "inspector": "#F58518", "nova": "#54A24B", "ceilometer": "#B279A2",
    "aodh": "#E45756", "delivery": "#72B7B2", "consumer": "#9D755D",
}
LANE_LABELS = {
    "monitor": "monitor", "inspector": "inspector", "nova": "Nova (controller)",
    "ceilometer": "Ceilometer (notifier)", "aodh": "Aodh (evaluator)",
    "delivery": "delivery (HTTP)", "consumer": "consumer",
}
PART_LABELS = {"find affected": "find", "mark host down": "host down",
               "set servers error": "servers", "aodh-listener": "listener",
               "aodh-notifier": "notifier"}
PASS_COLOR, FAIL_COLOR, GREY, WARN_COLOR = "#2E7D32", "#C62828", "#666666", "#B35900"
UNCERTAIN_MARK = "*"


def nice_step(span: float, target_ticks: int = 8) -> float:
    """A 1/2/5 x 10^k tick step giving about ``target_ticks`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _lane_color(comp: Component) -> str:
    return COLORS.get(comp.merged[0], "#888888")


def _lane_label(comp: Component) -> str:
    if len(comp.merged) > 1:
        return " + ".join(LANE_LABELS.get(n, n).split(" (")[0] for n in comp.merged)
    return LANE_LABELS.get(comp.name, comp.name)


def _bar_labels(comp: Component, slowest: bool) -> list[str]:
    """The bar's label, longest first: with its parts, with its share, the time alone."""
    prefix = "slowest: " if slowest else ""
    short = f"{comp.ms:.1f} ms ({comp.percent:.0f}%)"
    out = []
    if comp.parts:
        out.append(prefix + short + " = " + " + ".join(
            f"{PART_LABELS.get(p.name, p.name)} {p.ms:.1f}" for p in comp.parts))
    out += [prefix + short, short, f"{comp.ms:.1f} ms"]
    return out


def place_label(variants: Sequence[str], x1: float, x2: float, baseline: float,
                bounds: tuple[float, float], *, inside: bool = True, size: float = 11,
                fill: str = "#222222", inside_fill: str = "#FFFFFF", bold: bool = False,
                role: str = "bar-label") -> Text:
    """A label for the span ``x1..x2``: inside it (``inside_fill``, bold) if it fits, else
    right of it, else left of it, all within ``bounds`` (left, right); each variant in
    turn, then the last one cut to the wider side."""
    lo, hi = bounds
    for text in variants:
        if inside and text_width(text, size, True) + 2 * PAD <= x2 - x1:
            return Text(x1 + PAD, baseline, text, size, inside_fill, bold=True, role=role)
        w = text_width(text, size, bold)
        if x2 + PAD + w <= hi:
            return Text(x2 + PAD, baseline, text, size, fill, bold=bold, role=role)
        if x1 - PAD - w >= lo:
            return Text(x1 - PAD, baseline, text, size, fill, "end", bold=bold, role=role)
    right, left = hi - x2 - PAD, x1 - PAD - lo
    if right >= left:
        return Text(x2 + PAD, baseline, fit(variants[-1], size, right, bold), size, fill,
                    bold=bold, role=role)
    return Text(x1 - PAD, baseline, fit(variants[-1], size, left, bold), size, fill, "end",
                bold=bold, role=role)


def layout_profile(profile: Profile) -> Layout:
    """The timeline of ``profile`` as shapes (see the module docstring)."""
    parts = breakdown(profile)
    slowest = parts.by_cost()[0] if parts.components else None
    present = profile.present()
    steps = profile.steps()
    several = len(profile.servers) > 1

    # --- rows and the row-name column -----------------------------------------------------
    rows: list[tuple[Component | str, str, bool]] = []  # (lane, row name, bold)
    rows += [(c, _lane_label(c), c is slowest) for c in parts.components]
    rows += [(f"unmeasured:{n}", n, False) for n in parts.unmeasured]
    rows.append(("notification", "notification T01-T09", True))
    if several:
        rows.append(("servers", f"alarms ({len(profile.servers)} servers)", False))
    widest = max(text_width(name, 12, bold) for _, name, bold in rows)
    left = min(max(MIN_LEFT, MARGIN + widest + 10), MAX_LEFT)
    name_w = left - 10 - MARGIN
    plot_w = WIDTH - left - RIGHT

    # --- the scale ------------------------------------------------------------------------
    values = [profile.ms(cp.name) or 0.0 for cp in present] or [0.0]
    values += [ms for ms in profile.server_ms("T09", profile.origin or "T00").values()]
    lo, hi = min(0.0, min(values)), max(values)
    threshold_at = None
    t01 = profile.ms("T01")
    if t01 is not None:
        threshold_at = t01 + profile.threshold_ms
        if threshold_at <= hi * 1.25:  # show the limit when it is close enough to matter
            hi = max(hi, threshold_at)
        else:
            threshold_at = None
    span = (hi - lo) or 1.0

    def x(ms: float) -> float:
        return left + (ms - lo) / span * plot_w

    layout = Layout(WIDTH)
    _header(layout, profile, parts, slowest)

    # --- checkpoint names, staggered so close ones do not overlap -------------------------
    label_top = 72
    row_ends: list[float] = []
    markers: list[tuple[float, int, Text]] = []
    for cp in present:
        step = steps.get(cp.name)
        uncertain = step is not None and step.uncertain
        name = cp.name.replace("_first", "f") + (UNCERTAIN_MARK if uncertain else "")
        cx = x(profile.ms(cp.name) or 0.0)
        w = text_width(name, 11, True)
        tx = min(max(cx, MARGIN + w / 2), WIDTH - 4 - w / 2)
        row = next((i for i, end in enumerate(row_ends) if tx - w / 2 - PAD > end), None)
        if row is None:
            row = len(row_ends)
            row_ends.append(-math.inf)
        row_ends[row] = tx + w / 2
        markers.append((cx, row, Text(tx, label_top + row * 14, name, 11,
                                      WARN_COLOR if uncertain else "#333333", "middle",
                                      bold=True, role="checkpoint")))
    lanes_top = label_top + max(len(row_ends), 1) * 14 + 6
    lanes_bottom = lanes_top + len(rows) * LANE_H
    axis_y = lanes_bottom + 8

    for i in range(len(rows)):  # lane backgrounds
        if i % 2 == 0:
            layout.add(Rect(left, lanes_top + i * LANE_H, plot_w, LANE_H, "#F4F5F7"))
    banded = any(cp.uncertainty_ms for cp in present)
    _axis(layout, lo, hi, span, x, lanes_top, axis_y, left, plot_w,
          "ms since T00 (fault injected)" + ("; bands: ± uncertainty" if banded else ""))
    for cx, row, label in markers:
        layout.add(Line(cx, label_top + row * 14 + 3, cx, axis_y, "#9E9E9E", 1.0, (3, 3)),
                   label)
    for cp in present:  # each reading's uncertainty, as a band on the axis
        if cp.uncertainty_ms:
            ms = profile.ms(cp.name) or 0.0
            a, b = x(max(ms - cp.uncertainty_ms, lo)), x(min(ms + cp.uncertainty_ms, hi))
            layout.add(Rect(a, axis_y - 4, max(b - a, 1.0), 8, WARN_COLOR, opacity=0.35))

    bounds = (left + 4, WIDTH - 4)
    previous_end: tuple[float, float] | None = None
    for i, (lane, name, bold) in enumerate(rows):
        y = lanes_top + i * LANE_H
        layout.add(Text(left - 10, y + LANE_H / 2 + 4, fit(name, 12, name_w, bold), 12,
                        "#222222" if isinstance(lane, Component) or not lane.startswith(
                            "unmeasured:") else GREY, "end", bold=bold, role="row-name"))
        if isinstance(lane, Component):
            previous_end = _bar(layout, profile, lane, lane is slowest, y, x, bounds,
                                previous_end)
        elif lane == "notification":
            _notification(layout, profile, y, x, threshold_at, bounds)
        elif lane == "servers":
            _servers(layout, profile, y, x, bounds)
        else:
            layout.add(Text(left + 6, y + LANE_H / 2 + 4,
                            "not measured (a boundary is missing)", 11, GREY, italic=True,
                            role="bar-label"))

    # --- below the axis: notes, clocks, legend --------------------------------------------
    y = axis_y + 44
    full = WIDTH - 2 * MARGIN
    notes = parts.notes + [f"out of order (clock offset?): {v.to_json()['message']}"
                           for v in profile.order_violations()]
    for note in notes:
        for line in wrap(f"note: {note}", 11, full):
            layout.add(Text(MARGIN, y, line, 11, GREY, italic=True, role="note"))
            y += 16
    nodes = profile.nodes()
    if profile.clocks:
        y += 4
        layout.add(Text(MARGIN, y, "clocks (node - runner; a node's times are moved onto "
                        "the runner's by its offset):", 11, "#333333", bold=True,
                        role="clock"))
        y += 15
        for node, clock in profile.clocks.items():
            text = clock_line(clock, nodes.get(node, [])).replace("+/- ", "±")
            for line in wrap(text, 10.5, full - 12):
                layout.add(Text(MARGIN + 12, y, line, 10.5, "#444444", role="clock"))
                y += 15
    y += 6
    _legend(layout, profile, steps, y)
    return layout


def _header(layout: Layout, profile: Profile, parts: Breakdown,
            slowest: Component | None) -> None:
    note_ms = profile.notification_ms
    title = ("Doctor fault management: notification "
             + (f"{note_ms:.1f} ms" if note_ms is not None else "unknown"))
    badge = profile.verdict or "UNKNOWN"
    layout.title = f"{title} {badge}"
    limit = f"limit {profile.threshold_ms:.0f} ms (T09 - T01)"
    limit_x = WIDTH - MARGIN
    badge_w = text_width(badge, 14, True) + 16
    bx = limit_x - text_width(limit, 12) - 10 - badge_w
    layout.add(Text(MARGIN, 30, fit(title, 18, bx - MARGIN - 12, True), 18, bold=True,
                    role="title"))
    color = {"PASS": PASS_COLOR, "FAIL": FAIL_COLOR}.get(badge, GREY)
    layout.add(Rect(bx, 13, badge_w, 22, color, radius=4),
               Text(bx + 8, 29, badge, 14, "#FFFFFF", bold=True, role="title"),
               Text(limit_x, 29, limit, 12, GREY, "end", role="title"))
    f2n = profile.fault_to_notification_ms
    sub = [f"fault to notification {f2n:.1f} ms" if f2n is not None else
           "fault to notification unknown"]
    if parts.components:
        sub.append(f"{parts.start} to {parts.end}: {parts.total_ms:.1f} ms")
    if slowest is not None:
        sub.append(f"slowest: {slowest.name} {slowest.ms:.1f} ms ({slowest.percent:.0f}%)")
    layout.add(Text(MARGIN, 52, fit("   |   ".join(sub), 12, WIDTH - 2 * MARGIN), 12, GREY,
                    role="title"))


def _axis(layout: Layout, lo: float, hi: float, span: float, x: Callable[[float], float],
          top: float, axis_y: float, left: float, plot_w: float, caption: str) -> None:
    step = nice_step(span)
    tick = math.ceil(lo / step) * step
    taken: list[Box] = []
    while tick <= hi + 1e-9:
        tx = x(tick)
        layout.add(Line(tx, top, tx, axis_y, "#E0E0E0"), Line(tx, axis_y, tx, axis_y + 5, "#444"))
        label = Text(tx, axis_y + 18, f"{tick:g}", 11, "#444444", "middle", role="axis")
        if not any(label.box().intersects(b) for b in taken):
            layout.add(label)
            taken.append(Box(label.box().left - PAD, 0, label.box().right + PAD, 1e9))
        tick += step
    layout.add(Line(left, axis_y, left + plot_w, axis_y, "#444"),
               Text(left + plot_w, axis_y + 34, caption, 11, "#444444", "end", role="axis"))


def _bar(layout: Layout, profile: Profile, lane: Component, slowest: bool, y: float,
         x: Callable[[float], float], bounds: tuple[float, float],
         previous_end: tuple[float, float] | None) -> tuple[float, float]:
    bar_y = y + (LANE_H - BAR_H) / 2
    x1, x2 = sorted((x(profile.ms(lane.start) or 0.0), x(profile.ms(lane.end) or 0.0)))
    width = max(x2 - x1, 2.0)
    layout.add(Rect(x1, bar_y, width, BAR_H, _lane_color(lane) if lane.us >= 0 else FAIL_COLOR,
                    stroke="#111111" if slowest else None, stroke_width=2.5 if slowest else 0,
                    radius=3))
    for part in lane.parts[1:]:  # white separators between the parts
        px = x(profile.ms(part.start) or 0.0)
        layout.add(Line(px, bar_y, px, bar_y + BAR_H, "#FFFFFF", 2.0))
    if previous_end is not None:  # connector: the chain is the critical path
        layout.add(Line(*previous_end, x1, bar_y, "#111111", 1.2))
    layout.add(place_label(_bar_labels(lane, slowest), x1, x1 + width, bar_y + BAR_H / 2 + 4,
                           bounds))
    return x1 + width, bar_y + BAR_H


def _notification(layout: Layout, profile: Profile, y: float, x: Callable[[float], float],
                  threshold_at: float | None, bounds: tuple[float, float]) -> None:
    t01, t09 = profile.ms("T01"), profile.ms("T09")
    bar_y = y + (LANE_H - BAR_H) / 2
    baseline = bar_y + BAR_H / 2 + 4
    if t01 is None or t09 is None:
        layout.add(Text(bounds[0] + 2, baseline, "unknown: T01 or T09 missing", 11, GREY,
                        italic=True, role="bar-label"))
        return
    color = PASS_COLOR if profile.verdict == "PASS" else FAIL_COLOR
    x1, x2 = sorted((x(t01), x(t09)))
    layout.add(Rect(x1, bar_y + 4, max(x2 - x1, 2.0), BAR_H - 8, color, opacity=0.85),
               Line(x1, bar_y, x1, bar_y + BAR_H, color, 2.0),
               Line(x2, bar_y, x2, bar_y + BAR_H, color, 2.0))
    label = f"{profile.notification_ms:.1f} ms {profile.verdict}"
    variants = [label]
    if threshold_at is not None:
        tx = x(threshold_at)
        layout.add(Line(tx, bar_y - 4, tx, bar_y + BAR_H + 4, FAIL_COLOR, 2.0, (5, 3)))
        limit = f"limit {profile.threshold_ms:.0f} ms"
        if tx - 4 - text_width(limit, 10) >= bounds[0]:
            layout.add(Text(tx - 4, bar_y - 1, limit, 10, FAIL_COLOR, "end", role="bar-label"))
        else:
            layout.add(Text(tx + 4, bar_y - 1, limit, 10, FAIL_COLOR, role="bar-label"))
    else:
        variants.insert(0, f"{label} (limit {profile.threshold_ms:.0f} ms is off the scale)")
    layout.add(place_label(variants, x1, x2, baseline, bounds, fill=color, bold=True))


def _servers(layout: Layout, profile: Profile, y: float, x: Callable[[float], float],
             bounds: tuple[float, float]) -> None:
    received = profile.server_ms("T09", profile.origin or "T00")
    mid = y + LANE_H / 2
    for ms in received.values():
        cx = x(ms)
        layout.add(Polygon(((cx, mid - 6), (cx + 5, mid), (cx, mid + 6), (cx - 5, mid)),
                           COLORS["consumer"], opacity=0.7))
    first_last = profile.first_last_alarm()
    if first_last:
        (_, first), (_, last) = first_last
        variants = [f"first {first:.1f} ms, last {last:.1f} ms", f"{first:.1f}-{last:.1f} ms"]
        layout.add(place_label(variants, x(first) - 5, x(last) + 5, mid + 4, bounds,
                               inside=False))


def _legend(layout: Layout, profile: Profile, steps: dict[str, Step], top: float) -> None:
    entries = []
    for cp in profile.present():
        where = cp.source + (f", {cp.node}" if cp.node else "")
        entry = f"{cp.name} at {profile.ms(cp.name) or 0.0:.1f} ms"
        if cp.uncertainty_ms:
            entry += f" ±{cp.uncertainty_ms:.1f} ms"
        entry += f": {cp.description} ({where})"
        step = steps.get(cp.name)
        if step is not None and step.uncertain:
            entry = (f"{entry} {UNCERTAIN_MARK} ±{step.uncertainty_ms:.1f} ms > delta "
                     f"{abs(step.ms):.1f} ms")
        entries.append(entry)
    column_w = (WIDTH - 2 * MARGIN) / 2 - 10
    columns = 2 if all(text_width(e, 10.5) <= column_w for e in entries) else 1
    per_column = math.ceil(len(entries) / columns) if entries else 0
    for i, entry in enumerate(entries):  # in flow order down each column
        column, row = divmod(i, per_column)
        layout.add(Text(MARGIN + column * (WIDTH - 2 * MARGIN) / 2, top + 15 * row,
                        fit(entry, 10.5, column_w if columns == 2 else WIDTH - 2 * MARGIN),
                        10.5, "#444444", role="legend"))
    y = top + 15 * (per_column - 1)
    if any(step.uncertain for step in steps.values()):
        y += 15
        layout.add(Text(MARGIN, y, f"{UNCERTAIN_MARK} the step from the previous checkpoint "
                        "is smaller than its uncertainty: the order may be the other way",
                        10.5, WARN_COLOR, role="legend"))
    layout.height = int(y + 14)
