"""The profile picture's layout drawn with Pillow (the PNG beside ``profile.svg``).

Pillow, not an SVG converter: it installs from PyPI as a wheel that carries FreeType and a
scalable font of its own (Aileron, ``ImageFont.load_default(size=...)``), so a fresh
machine renders the picture with no system package and no font installed. The picture is
drawn at twice its layout size for sharp text; bold is Aileron with a thin stroke (it has
no bold face), and italic is drawn upright.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from doctor_tests.profiler.layout import Layout, Line, Polygon, Rect, Text

LOG = logging.getLogger(__name__)

SCALE = 2
_ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}


@functools.lru_cache(maxsize=16)
def font(size: float) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at ``size`` pixels; ValueError without FreeType."""
    loaded = ImageFont.load_default(size=size)
    if not isinstance(loaded, ImageFont.FreeTypeFont):
        raise ValueError("this Pillow has no FreeType support: it cannot scale its font")
    return loaded


def _rgba(color: str, opacity: float = 1.0) -> tuple[int, int, int, int]:
    value = color.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if len(value) != 6 or not all(c in "0123456789abcdefABCDEF" for c in value):
        raise ValueError(f"colour {color!r} is not #rgb or #rrggbb")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return r, g, b, round(255 * opacity)


def _dashed(draw: ImageDraw.ImageDraw, item: Line, s: float) -> None:
    assert item.dash is not None
    on, off = item.dash
    length = ((item.x2 - item.x1) ** 2 + (item.y2 - item.y1) ** 2) ** 0.5
    if length == 0:
        return
    dx, dy = (item.x2 - item.x1) / length, (item.y2 - item.y1) / length
    at = 0.0
    while at < length:
        end = min(at + on, length)
        draw.line([((item.x1 + dx * at) * s, (item.y1 + dy * at) * s),
                   ((item.x1 + dx * end) * s, (item.y1 + dy * end) * s)],
                  fill=_rgba(item.stroke), width=max(round(item.width * s), 1))
        at = end + off


def render_png(layout: Layout, scale: int = SCALE) -> Image.Image:
    """``layout`` drawn on a white canvas ``scale`` times its size."""
    s = scale
    image = Image.new("RGB", (layout.width * s, max(layout.height, 1) * s), "#FFFFFF")
    draw = ImageDraw.Draw(image, "RGBA")
    for item in layout.items:
        if isinstance(item, Rect):
            box = (item.x * s, item.y * s, (item.x + max(item.w, 0.0)) * s,
                   (item.y + item.h) * s)
            draw.rounded_rectangle(box, radius=item.radius * s,
                                   fill=_rgba(item.fill, item.opacity),
                                   outline=_rgba(item.stroke) if item.stroke else None,
                                   width=round(item.stroke_width * s))
        elif isinstance(item, Line):
            if item.dash:
                _dashed(draw, item, s)
            else:
                draw.line([(item.x1 * s, item.y1 * s), (item.x2 * s, item.y2 * s)],
                          fill=_rgba(item.stroke), width=max(round(item.width * s), 1))
        elif isinstance(item, Polygon):
            draw.polygon([(px * s, py * s) for px, py in item.points],
                         fill=_rgba(item.fill, item.opacity))
        elif isinstance(item, Text):
            draw.text((item.x * s, item.y * s), item.text, font=font(item.size * s),
                      fill=_rgba(item.fill), anchor=_ANCHORS[item.anchor],
                      stroke_width=1 if item.bold else 0, stroke_fill=_rgba(item.fill))
    return image


def write_png(layout: Layout, path: Path) -> Path:
    """Render ``layout`` to ``path`` (PNG); raises OSError or ValueError if it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    render_png(layout).save(tmp, format="PNG")
    tmp.replace(path)
    LOG.debug("profile picture %s (%d x %d)", path, layout.width * SCALE,
              layout.height * SCALE)
    return path
