"""A picture as plain shapes in pixel coordinates, shared by the SVG and the PNG writers.

The profile's timeline is laid out once (:func:`doctor_tests.profiler.picture.layout_profile`)
into rectangles, lines, polygons and texts; ``svg.py`` writes them as SVG elements and
``png.py`` draws them with Pillow, so both pictures show the same thing in the same place.

Text widths are estimated, not measured (an SVG viewer picks its own font): per character,
the widest advance of DejaVu Sans (the SVG's first font; its Bold for bold text) and Aileron
(the font Pillow bundles, used for the PNG), rounded up to 0.05 em. The layout places texts
by these widths, so a text never runs further than its estimated box in either picture.
A text's box spans ``ASCENT`` em above its baseline and ``DESCENT`` em below.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Union

Anchor = Literal["start", "middle", "end"]

ASCENT = 0.8
DESCENT = 0.25
ELLIPSIS = "…"

_REGULAR: dict[float, str] = {
    0.30: "'Iijl", 0.35: " ,./:;\\|", 0.40: "()-[]ft", 0.45: "!r", 0.50: '"_`',
    0.55: "?Jcsz", 0.60: "*FLkvxy", 0.65: "$0123456789EPSTYabdeghnopqu{}",
    0.70: "ABCKRVXZ", 0.75: "NU", 0.80: "&DGHOQ", 0.85: "#+<=>^w~±", 0.90: "M",
    1.00: "%@Wm…",
}
_BOLD: dict[float, str] = {
    0.35: " 'ijl", 0.40: ",./:;I\\|", 0.45: "-f", 0.50: "!()[]`rt", 0.55: '"_',
    0.60: "*?Jcsz", 0.65: "Lx", 0.70: "$0123456789EFTaekovy",
    0.75: "CPSYZbdghnpqu{}", 0.80: "ABKRVX", 0.85: "#+<=>DGHNU^~±", 0.90: "&OQ",
    0.95: "w", 1.00: "@M…", 1.05: "%m", 1.15: "W",
}
_EM_REGULAR = {c: w for w, chars in _REGULAR.items() for c in chars}
_EM_BOLD = {c: w for w, chars in _BOLD.items() for c in chars}
_EM_OTHER = 1.15  # anything else: as wide as the widest known character


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated width in pixels of ``text`` at font ``size`` (see the module docstring)."""
    table = _EM_BOLD if bold else _EM_REGULAR
    return sum(table.get(c, _EM_OTHER) for c in text) * size


def fit(text: str, size: float, max_w: float, bold: bool = False) -> str:
    """``text``, cut and ended with an ellipsis if it is wider than ``max_w``."""
    if text_width(text, size, bold) <= max_w:
        return text
    cut = text
    while cut and text_width(cut + ELLIPSIS, size, bold) > max_w:
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS if cut else ""


def wrap(text: str, size: float, max_w: float, bold: bool = False) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``max_w`` (long words are cut)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold) <= max_w:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = fit(word, size, max_w, bold)
    if current:
        lines.append(current)
    return lines or [""]


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def intersects(self, other: Box) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.top < other.bottom and other.top < self.bottom)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str | None = None
    stroke_width: float = 0.0
    radius: float = 0.0
    opacity: float = 1.0


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str
    width: float = 1.0
    dash: tuple[float, float] | None = None


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str
    opacity: float = 1.0


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float = 12.0
    fill: str = "#222222"
    anchor: Anchor = "start"
    bold: bool = False
    italic: bool = False
    role: str = "label"  # what the text is (the SVG's class): row-name, bar-label, ...

    @property
    def width(self) -> float:
        return text_width(self.text, self.size, self.bold)

    def box(self) -> Box:
        left = {"start": self.x, "middle": self.x - self.width / 2,
                "end": self.x - self.width}[self.anchor]
        return Box(left, self.y - ASCENT * self.size, left + self.width,
                   self.y + DESCENT * self.size)


Shape = Union[Rect, Line, Polygon, Text]


@dataclass
class Layout:
    """Shapes in drawing order on a white ``width`` x ``height`` canvas."""

    width: int
    height: int = 0
    title: str = ""
    items: list[Shape] = field(default_factory=list)

    def add(self, *shapes: Shape) -> None:
        self.items.extend(shapes)

    def texts(self) -> Iterator[Text]:
        return (item for item in self.items if isinstance(item, Text))


def free(box: Box, taken: Sequence[Box]) -> bool:
    """True if ``box`` meets none of ``taken``."""
    return not any(box.intersects(other) for other in taken)
