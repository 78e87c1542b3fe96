"""The profile as a picture: a Gantt-style timeline, hand-written SVG (no plotting library).

One lane per component in flow order, a bar per segment labelled with its duration, the
slowest bar outlined, the bars chained by connectors (the flow is sequential, so the chain
is the critical path), checkpoint markers with their names, an axis in ms since T00, and
a notification row (T01 -> T09) against the limit. ``write_svg`` also renders a PNG when
``rsvg-convert`` or ImageMagick's ``convert`` is on PATH (skipped silently otherwise).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from doctor_tests.profiler.components import Breakdown, Component, breakdown
from doctor_tests.profiler.model import Profile

LOG = logging.getLogger(__name__)

WIDTH = 1000
LEFT = 170
RIGHT = 40
LANE_H = 36
BAR_H = 22
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
COLORS = {
    "monitor": "#4C78A8", "inspector": "#F58518", "nova": "#54A24B", "ceilometer": "#B279A2",
    "aodh": "#E45756", "delivery": "#72B7B2", "consumer": "#9D755D",
}
LANE_LABELS = {
    "monitor": "monitor", "inspector": "inspector", "nova": "Nova (controller)",
    "ceilometer": "Ceilometer (notifier)", "aodh": "Aodh (evaluator)",
    "delivery": "delivery (HTTP)", "consumer": "consumer",
}
PASS_COLOR, FAIL_COLOR, GREY = "#2E7D32", "#C62828", "#666666"


def _text_w(text: str, size: float) -> float:
    return len(text) * size * 0.6


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


class _Canvas:
    def __init__(self) -> None:
        self.items: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, **extra: str) -> None:
        attrs = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in extra.items())
        self.items.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" '
                          f'height="{h:.1f}" fill={quoteattr(fill)}{attrs}/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str,
             width: float = 1.0, dash: str | None = None) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                          f'stroke={quoteattr(stroke)} stroke-width="{width}"{extra}/>')

    def text(self, x: float, y: float, text: str, size: float = 12, fill: str = "#222",
             anchor: str = "start", weight: str = "normal", style: str = "normal") -> None:
        self.items.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill={quoteattr(fill)} '
            f'text-anchor="{anchor}" font-weight="{weight}" font-style="{style}">'
            f"{escape(text)}</text>")


def _lane_color(comp: Component) -> str:
    return COLORS.get(comp.merged[0], "#888888")


def _lane_label(comp: Component) -> str:
    if len(comp.merged) > 1:
        return " + ".join(LANE_LABELS.get(n, n).split(" (")[0] for n in comp.merged)
    return LANE_LABELS.get(comp.name, comp.name)


PART_LABELS = {"find affected": "find", "mark host down": "host down",
               "set servers error": "servers", "aodh-listener": "listener",
               "aodh-notifier": "notifier"}


def _bar_label(comp: Component) -> str:
    label = f"{comp.ms:.1f} ms ({comp.percent:.0f}%)"
    if comp.parts:
        label += " = " + " + ".join(f"{PART_LABELS.get(p.name, p.name)} {p.ms:.1f}"
                                    for p in comp.parts)
    return label


def render_svg(profile: Profile) -> str:
    """The timeline as an SVG document (a string)."""
    parts = breakdown(profile)
    canvas = _Canvas()
    present = profile.present()
    values = [profile.ms(cp.name) or 0.0 for cp in present] or [0.0]
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
    plot_w = WIDTH - LEFT - RIGHT

    def x(ms: float) -> float:
        return LEFT + (ms - lo) / span * plot_w

    # --- title ------------------------------------------------------------------------
    verdict = profile.verdict
    note_ms = profile.notification_ms
    title = ("Doctor fault management: notification "
             + (f"{note_ms:.1f} ms" if note_ms is not None else "unknown (T01 or T09 missing)"))
    canvas.text(20, 30, title, size=18, weight="bold")
    badge = verdict or "UNKNOWN"
    badge_color = {"PASS": PASS_COLOR, "FAIL": FAIL_COLOR}.get(badge, GREY)
    bx = 20 + _text_w(title, 18) * 0.98 + 12
    canvas.rect(bx, 13, _text_w(badge, 14) + 16, 22, badge_color, rx="4")
    canvas.text(bx + 8, 29, badge, size=14, fill="#FFFFFF", weight="bold")
    canvas.text(bx + _text_w(badge, 14) + 26, 29,
                f"limit {profile.threshold_ms:.0f} ms (T09 - T01)", size=12, fill=GREY)
    f2n = profile.fault_to_notification_ms
    slowest = parts.by_cost()[0] if parts.components else None
    sub = [f"fault to notification {f2n:.1f} ms" if f2n is not None else
           "fault to notification unknown"]
    if parts.components:
        sub.append(f"{parts.start} to {parts.end}: {parts.total_ms:.1f} ms")
    if slowest is not None:
        sub.append(f"slowest: {slowest.name} {slowest.ms:.1f} ms ({slowest.percent:.0f}%)")
    canvas.text(20, 52, "   |   ".join(sub), size=12, fill=GREY)

    # --- checkpoint labels (staggered so close ones do not overlap) -------------------
    label_top = 72
    rows_end: list[float] = []
    label_pos: list[tuple[float, int, str]] = []
    for cp in present:
        ms = profile.ms(cp.name) or 0.0
        name = cp.name.replace("_first", "f")
        cx = x(ms)
        width = _text_w(name, 11) + 6
        row = next((i for i, end in enumerate(rows_end) if cx - width / 2 > end), None)
        if row is None:
            row = len(rows_end)
            rows_end.append(-1e9)
        rows_end[row] = cx + width / 2
        label_pos.append((cx, row, name))
    label_rows = max(len(rows_end), 1)
    lanes_top = label_top + label_rows * 14 + 6
    lanes: list[Component | str] = list(parts.components)
    lanes += [f"not measured: {name}" for name in parts.unmeasured]
    several = len(profile.servers) > 1
    extra_rows = 1 + (1 if several else 0)
    lanes_bottom = lanes_top + (len(lanes) + extra_rows) * LANE_H
    axis_y = lanes_bottom + 8
    notes = parts.notes + [f"out of order (clock offset?): {v.to_json()['message']}"
                           for v in profile.order_violations()]
    legend = [f"{cp.name} at {profile.ms(cp.name) or 0.0:.1f} ms: {cp.description} ({cp.source})"
              for cp in present]
    legend_rows = math.ceil(len(legend) / 2)
    legend_top = axis_y + 50 + 16 * len(notes)
    height = int(legend_top + 15 * legend_rows + 12)

    # lane backgrounds
    for i in range(len(lanes) + extra_rows):
        if i % 2 == 0:
            canvas.rect(LEFT, lanes_top + i * LANE_H, plot_w, LANE_H, "#F4F5F7")

    # axis ticks + grid
    step = nice_step(span)
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-9:
        tx = x(tick)
        canvas.line(tx, lanes_top, tx, axis_y, "#E0E0E0")
        canvas.line(tx, axis_y, tx, axis_y + 5, "#444")
        canvas.text(tx, axis_y + 18, f"{tick:g}", size=11, anchor="middle", fill="#444")
        tick += step
    canvas.line(LEFT, axis_y, LEFT + plot_w, axis_y, "#444")
    canvas.text(LEFT + plot_w, axis_y + 34, "ms since T00 (fault injected)", size=11,
                anchor="end", fill="#444")

    # checkpoint markers
    for cx, row, name in label_pos:
        canvas.line(cx, label_top + row * 14 + 3, cx, axis_y, "#9E9E9E", 1.0, "3,3")
        canvas.text(cx, label_top + row * 14, name, size=11, anchor="middle", weight="bold",
                    fill="#333")

    _draw_lanes(canvas, profile, parts, lanes, lanes_top, x)
    row_y = lanes_top + len(lanes) * LANE_H
    _draw_notification(canvas, profile, row_y, x, threshold_at)
    if several:
        _draw_servers(canvas, profile, row_y + LANE_H, x)

    for i, note in enumerate(notes):
        canvas.text(20, axis_y + 44 + 16 * i, f"note: {note}", size=11, fill=GREY,
                    style="italic")
    for i, entry in enumerate(legend):  # two columns, in flow order down each column
        column, row = divmod(i, legend_rows)
        canvas.text(20 + column * (WIDTH - 40) / 2, legend_top + 15 * row, entry, size=10.5,
                    fill="#444")
    body = "\n  ".join(canvas.items)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}">\n'
            f"  <title>{escape(title)} {badge}</title>\n"
            f'  <rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#FFFFFF"/>\n'
            f"  {body}\n</svg>\n")


def _draw_lanes(canvas: _Canvas, profile: Profile, parts: Breakdown,
                lanes: list[Component | str], top: float, x: Callable[[float], float]) -> None:
    slowest = parts.by_cost()[0] if parts.components else None
    previous_end: tuple[float, float] | None = None
    for i, lane in enumerate(lanes):
        y = top + i * LANE_H
        bar_y = y + (LANE_H - BAR_H) / 2
        if isinstance(lane, str):
            canvas.text(LEFT - 10, y + LANE_H / 2 + 4, lane.split(": ", 1)[1], size=12,
                        anchor="end", fill=GREY)
            canvas.text(LEFT + 6, y + LANE_H / 2 + 4, "not measured (a boundary is missing)",
                        size=11, fill=GREY, style="italic")
            continue
        canvas.text(LEFT - 10, y + LANE_H / 2 + 4, _lane_label(lane), size=12, anchor="end",
                    weight="bold" if lane is slowest else "normal")
        start_ms, end_ms = profile.ms(lane.start) or 0.0, profile.ms(lane.end) or 0.0
        x1, x2 = sorted((x(start_ms), x(end_ms)))
        width = max(x2 - x1, 2.0)
        color = _lane_color(lane)
        extra = {"stroke": "#111111", "stroke_width": "2.5"} if lane is slowest else {}
        canvas.rect(x1, bar_y, width, BAR_H, color if lane.us >= 0 else FAIL_COLOR, rx="3",
                    **extra)
        for part in lane.parts[1:]:  # white separators between the parts
            px = x(profile.ms(part.start) or 0.0)
            canvas.line(px, bar_y, px, bar_y + BAR_H, "#FFFFFF", 2.0)
        if previous_end is not None:  # connector: the chain is the critical path
            px, py = previous_end
            canvas.line(px, py, x1, bar_y, "#111111", 1.2)
        previous_end = (x1 + width, bar_y + BAR_H)
        label = _bar_label(lane)
        if lane is slowest:
            label = "slowest: " + label
        if _text_w(label, 11) + 8 <= width:
            canvas.text(x1 + 5, bar_y + BAR_H / 2 + 4, label, size=11, fill="#FFFFFF",
                        weight="bold")
        elif x1 + width + 6 + _text_w(label, 11) <= WIDTH - 4:
            canvas.text(x1 + width + 6, bar_y + BAR_H / 2 + 4, label, size=11)
        else:
            canvas.text(x1 - 6, bar_y + BAR_H / 2 + 4, label, size=11, anchor="end")


def _draw_notification(canvas: _Canvas, profile: Profile, y: float, x: Callable[[float], float],
                       threshold_at: float | None) -> None:
    canvas.text(LEFT - 10, y + LANE_H / 2 + 4, "notification T01-T09", size=12, anchor="end",
                weight="bold")
    t01, t09 = profile.ms("T01"), profile.ms("T09")
    bar_y = y + (LANE_H - BAR_H) / 2
    if t01 is None or t09 is None:
        canvas.text(LEFT + 6, bar_y + BAR_H / 2 + 4, "unknown: T01 or T09 missing", size=11,
                    fill=GREY, style="italic")
        return
    color = PASS_COLOR if profile.verdict == "PASS" else FAIL_COLOR
    x1, x2 = sorted((x(t01), x(t09)))
    canvas.rect(x1, bar_y + 4, max(x2 - x1, 2.0), BAR_H - 8, color, opacity="0.85")
    canvas.line(x1, bar_y, x1, bar_y + BAR_H, color, 2.0)
    canvas.line(x2, bar_y, x2, bar_y + BAR_H, color, 2.0)
    label = f"{profile.notification_ms:.1f} ms {profile.verdict}"
    if threshold_at is not None:
        tx = x(threshold_at)
        canvas.line(tx, bar_y - 4, tx, bar_y + BAR_H + 4, FAIL_COLOR, 2.0, "5,3")
        canvas.text(tx - 4, bar_y - 1, f"limit {profile.threshold_ms:.0f} ms", size=10,
                    fill=FAIL_COLOR, anchor="end")
    else:
        label += f" (limit {profile.threshold_ms:.0f} ms is off the scale)"
    if _text_w(label, 11) + 8 <= x2 - x1:
        canvas.text(x1 + 5, bar_y + BAR_H / 2 + 4, label, size=11, fill="#FFFFFF",
                    weight="bold")
    else:
        canvas.text(x2 + 6, bar_y + BAR_H / 2 + 4, label, size=11, fill=color, weight="bold")


def _draw_servers(canvas: _Canvas, profile: Profile, y: float, x: Callable[[float], float]) -> None:
    received = profile.server_ms("T09", profile.origin or "T00")
    canvas.text(LEFT - 10, y + LANE_H / 2 + 4, f"alarms ({len(received)} servers)", size=12,
                anchor="end")
    mid = y + LANE_H / 2
    for ms in received.values():
        cx = x(ms)
        canvas.items.append(f'<path d="M {cx:.1f} {mid - 6:.1f} L {cx + 5:.1f} {mid:.1f} '
                            f'L {cx:.1f} {mid + 6:.1f} L {cx - 5:.1f} {mid:.1f} Z" '
                            f'fill="{COLORS["consumer"]}" fill-opacity="0.7"/>')
    first_last = profile.first_last_alarm()
    if first_last:
        (_, first), (_, last) = first_last
        label = f"first {first:.1f} ms, last {last:.1f} ms"
        lx = x(last) + 10
        if lx + _text_w(label, 11) > WIDTH - 4:
            canvas.text(x(first) - 10, mid + 4, label, size=11, anchor="end")
        else:
            canvas.text(lx, mid + 4, label, size=11)


def write_svg(profile: Profile, path: str | os.PathLike[str], png: bool = True) -> Path:
    """Write the SVG (and a PNG next to it when a converter exists); returns the SVG path."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(render_svg(profile), encoding="utf-8")
    if png:
        to_png(file)
    return file


def to_png(svg: Path, timeout: float = 30.0) -> Path | None:
    """Render ``svg`` to PNG with rsvg-convert or ImageMagick; None if neither works."""
    out = svg.with_suffix(".png")
    for tool, args in (("rsvg-convert", ["-o", str(out), str(svg)]),
                       ("convert", [str(svg), str(out)])):
        exe = shutil.which(tool)
        if exe is None:
            continue
        try:
            subprocess.run([exe, *args], check=True, capture_output=True, timeout=timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            LOG.debug("%s could not render %s: %s", tool, svg, exc)
            continue
        return out
    return None
