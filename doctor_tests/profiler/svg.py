"""The profile picture as SVG, and as PNG next to it (see ``picture.py`` for what it shows).

Both come from one layout (:func:`doctor_tests.profiler.picture.layout_profile`): the SVG
writes its shapes as elements, the PNG is drawn by Pillow (``png.py``), a declared
dependency, so every machine that has the suite installed writes it. A PNG that cannot be
written is logged as a warning with the reason; the SVG is written regardless.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from doctor_tests.profiler.layout import Layout, Line, Polygon, Rect, Shape, Text
from doctor_tests.profiler.model import Profile
from doctor_tests.profiler.picture import layout_profile, nice_step

__all__ = ["FONT", "nice_step", "render_svg", "svg_document", "to_png", "write_svg"]

LOG = logging.getLogger(__name__)

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _element(item: Shape) -> str:
    if isinstance(item, Rect):
        extra = f' rx="{item.radius:g}"' if item.radius else ""
        if item.stroke:
            extra += f" stroke={quoteattr(item.stroke)} stroke-width=\"{item.stroke_width:g}\""
        if item.opacity < 1:
            extra += f' opacity="{item.opacity:g}"'
        return (f'<rect x="{item.x:.1f}" y="{item.y:.1f}" width="{max(item.w, 0.0):.1f}" '
                f'height="{item.h:.1f}" fill={quoteattr(item.fill)}{extra}/>')
    if isinstance(item, Line):
        dash = f' stroke-dasharray="{item.dash[0]:g},{item.dash[1]:g}"' if item.dash else ""
        return (f'<line x1="{item.x1:.1f}" y1="{item.y1:.1f}" x2="{item.x2:.1f}" '
                f'y2="{item.y2:.1f}" stroke={quoteattr(item.stroke)} '
                f'stroke-width="{item.width:g}"{dash}/>')
    if isinstance(item, Polygon):
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in item.points)
        return (f'<polygon points="{points}" fill={quoteattr(item.fill)} '
                f'fill-opacity="{item.opacity:g}"/>')
    assert isinstance(item, Text)
    return (f'<text class={quoteattr(item.role)} x="{item.x:.1f}" y="{item.y:.1f}" '
            f'font-size="{item.size:g}" fill={quoteattr(item.fill)} '
            f'text-anchor="{item.anchor}" font-weight="{"bold" if item.bold else "normal"}" '
            f'font-style="{"italic" if item.italic else "normal"}">{escape(item.text)}</text>')


def svg_document(layout: Layout) -> str:
    """``layout`` as an SVG document (a string)."""
    body = "\n  ".join(_element(item) for item in layout.items)
    w, h = layout.width, layout.height
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="{FONT}">\n'
            f"  <title>{escape(layout.title)}</title>\n"
            f'  <rect x="0" y="0" width="{w}" height="{h}" fill="#FFFFFF"/>\n'
            f"  {body}\n</svg>\n")


def render_svg(profile: Profile) -> str:
    """The timeline as an SVG document (a string)."""
    return svg_document(layout_profile(profile))


def write_svg(profile: Profile, path: str | os.PathLike[str], png: bool = True) -> Path:
    """Write the SVG, and the PNG of the same layout beside it unless ``png`` is False;
    returns the SVG's path (a PNG that fails is a logged warning, see :func:`to_png`)."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    layout = layout_profile(profile)
    file.write_text(svg_document(layout), encoding="utf-8")
    if png:
        to_png(layout, file.with_suffix(".png"))
    return file


def to_png(picture: Profile | Layout, path: str | os.PathLike[str]) -> Path | None:
    """Draw ``picture`` (a profile, or its layout) as a PNG at ``path``; returns the path,
    or None after logging a warning that says why it could not be written."""
    out = Path(path)
    layout = picture if isinstance(picture, Layout) else layout_profile(picture)
    try:
        from doctor_tests.profiler.png import write_png
    except ImportError as exc:
        LOG.warning("profile picture %s not written: Pillow is missing (%s); it is a declared "
                    "dependency: reinstall the suite (pip install -e .)", out, exc)
        return None
    try:
        return write_png(layout, out)
    except (OSError, ValueError) as exc:
        LOG.warning("profile picture %s not written: %s", out, exc)
        return None
