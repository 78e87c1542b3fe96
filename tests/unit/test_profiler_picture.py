"""The profile picture: no text overlaps another or the row-name column, in the SVG and in
the PNG (drawn by Pillow from the same layout), and a PNG that fails says why."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest
from PIL import Image, ImageFont
from test_profiler_clocks import skewed_profile
from test_profiler_model import MS, T0, make_profile

from doctor_tests.profiler import png, svg
from doctor_tests.profiler.layout import ASCENT, DESCENT, Box, Layout, Text, text_width
from doctor_tests.profiler.model import Checkpoint, Profile
from doctor_tests.profiler.picture import layout_profile
from doctor_tests.profiler.report import write_profile
from doctor_tests.profiler.sources.clock import ClockOffset

SVG_NS = "{http://www.w3.org/2000/svg}"

TINY_AFTER_LONG = {  # a 900 ms monitor, then components of 0.3 ms and less
    "T00": 0.0, "T01": 900.0, "T02": 900.1, "T03": 900.2, "T04_first": 900.25,
    "T04": 900.3, "T05": 900.6, "T06": 901.0, "T07": 901.2, "T08": 901.5, "T09": 902.0,
    "T10": 902.3}
TINY_FIRST = {  # a 0.3 ms monitor beside the row names, then 900 ms of inspector
    "T00": 0.0, "T01": 0.3, "T02": 0.4, "T03": 450.0, "T04_first": 899.0, "T04": 900.3,
    "T05": 900.6, "T06": 901.0, "T07": 901.2, "T08": 901.5, "T09": 902.0, "T10": 902.3}
#: The lab's shape with a quicker monitor: the inspector's long label has to go left of
#: its bar, towards the row names (where it ran over "inspector" before).
QUICK_MONITOR = {name: ms - 100.0 if ms else ms for name, ms in MS.items()}
DELAYED_NOVA = dict(MS, T05=289.5)  # Nova notified inside the reset call (before T04)


def many_servers(profile: Profile, count: int = 60) -> Profile:
    for i in range(count):
        server = f"vm-{i:03d}-with-a-rather-long-name"
        profile.add_server(server, Checkpoint("T04", T0 + 0.262 + i * 0.0004,
                                              "trace:inspector"))
        profile.add_server(server, Checkpoint("T09", T0 + 0.340 + i * 0.0005,
                                              "trace:consumer"))
    return profile


PROFILES = {
    "tiny after long": lambda: make_profile(TINY_AFTER_LONG),
    "tiny first": lambda: make_profile(TINY_FIRST),
    "inspector label left": lambda: make_profile(QUICK_MONITOR),
    "tiny, failing, limit in view": lambda: make_profile(TINY_FIRST, threshold_ms=600.0),
    "long merged names": lambda: make_profile(skip=("T01", "T05", "T06")),
    "longest merged name": lambda: make_profile(skip=("T01", "T04", "T04_first", "T05", "T06",
                                                      "T08")),
    "not measured rows": lambda: make_profile(skip=("T00", "T10")),
    "many servers": lambda: many_servers(make_profile()),
    "Nova inside the call": lambda: make_profile(DELAYED_NOVA),
    "clocks, uncertain steps": lambda: skewed_profile(
        controller=ClockOffset(-1.2, 0.025, samples=3)),
    "long source names": lambda: make_profile(
        source="log:a-service-with-a-remarkably-long-name-for-its-log-source on controller-1"),
    "nothing": Profile,
}


def svg_text_boxes(document: str) -> list[tuple[str, str, Box]]:
    """(class, text, box) of every text element, from its x, y, size, anchor and weight."""
    root = ET.fromstring(document.encode())
    out = []
    for el in root.iter(f"{SVG_NS}text"):
        x, y, size = float(el.get("x", 0)), float(el.get("y", 0)), float(el.get("font-size", 0))
        text = el.text or ""
        width = text_width(text, size, el.get("font-weight") == "bold")
        left = {"start": x, "middle": x - width / 2, "end": x - width}[el.get("text-anchor",
                                                                              "start")]
        out.append((el.get("class", ""), text,
                    Box(left, y - ASCENT * size, left + width, y + DESCENT * size)))
    return out


@pytest.mark.parametrize("name", list(PROFILES))
def test_no_text_overlaps_another_or_the_row_names(name: str) -> None:
    document = svg.render_svg(PROFILES[name]())
    root = ET.fromstring(document.encode())
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    boxes = svg_text_boxes(document)
    for (_, a, box_a), (_, b, box_b) in combinations(boxes, 2):
        assert not box_a.intersects(box_b), f"{a!r} overlaps {b!r}"
    names = [box for role, _, box in boxes if role == "row-name"]
    assert names
    column = Box(0, min(b.top for b in names) - 10, max(b.right for b in names) + 10,
                 max(b.bottom for b in names) + 10)
    for role, text, box in boxes:
        assert 0 <= box.left and box.right <= width, f"{text!r} leaves the picture"
        assert 0 <= box.top and box.bottom <= height, f"{text!r} leaves the picture"
        if role != "row-name":
            assert not box.intersects(column), f"{text!r} runs into the row names"


def test_a_short_bar_takes_its_label_beside_it_not_over_the_row_names() -> None:
    layout = layout_profile(make_profile(TINY_FIRST))
    name = next(t for t in layout.texts() if t.role == "row-name" and t.text == "monitor")
    label = next(t for t in layout.texts() if t.role == "bar-label"
                 and t.y == name.y and "0.3 ms" in t.text)
    assert label.anchor == "start" and label.box().left > name.box().right + 10
    merged = layout_profile(PROFILES["longest merged name"]())
    row = next(t for t in merged.texts() if t.role == "row-name" and "monitor" in t.text)
    assert row.text.endswith("…") and row.box().left >= 20  # cut, not off the picture


def test_clocks_and_uncertain_steps_are_in_the_picture() -> None:
    texts = [t.text for t in layout_profile(PROFILES["clocks, uncertain steps"]()).texts()]
    assert "T09*" in texts
    assert any(t.startswith("compute-1: offset +2500.000 ms ±0.400 ms (best of 5") for t in texts)
    assert any("* ±25.0 ms > delta 21.3 ms" in t for t in texts)


# --- the PNG -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny first", "clocks, uncertain steps", "many servers"])
def test_png_text_stays_inside_its_estimated_box(name: str) -> None:
    """The layout is made with estimated widths; Pillow's bundled font must not draw wider
    (then the PNG's texts do not overlap either)."""
    layout = layout_profile(PROFILES[name]())
    scale = png.SCALE
    for text in layout.texts():
        anchor = {"start": "ls", "middle": "ms", "end": "rs"}[text.anchor]
        font = png.font(text.size * scale)
        left, top, right, bottom = font.getbbox(text.text, anchor=anchor,
                                                stroke_width=1 if text.bold else 0)
        estimate = text.box()
        assert text.x + left / scale >= estimate.left - 0.5, text.text
        assert text.x + right / scale <= estimate.right + 0.5, text.text
        assert text.y + top / scale >= estimate.top - 0.5, text.text
        assert text.y + bottom / scale <= estimate.bottom + 0.5, text.text


DEJAVU = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
          Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")]


@pytest.mark.skipif(not all(p.is_file() for p in DEJAVU), reason="DejaVu Sans not installed")
def test_estimate_covers_dejavu_sans_the_svgs_first_font() -> None:
    texts = list(layout_profile(PROFILES["clocks, uncertain steps"]()).texts())
    regular, bold = (ImageFont.truetype(str(p), 100) for p in DEJAVU)
    for text in texts:
        real = (bold if text.bold else regular).getlength(text.text) * text.size / 100
        assert real <= text.width + 0.01, text.text


def test_write_profile_writes_the_png_of_the_same_layout(tmp_path: Path) -> None:
    profile = PROFILES["clocks, uncertain steps"]()
    written = write_profile(profile, tmp_path)
    assert written["png"] == tmp_path / "profile.png"
    layout = layout_profile(profile)
    with Image.open(written["png"]) as image:
        assert image.format == "PNG"
        assert image.size == (layout.width * png.SCALE, layout.height * png.SCALE)
        assert len(image.getcolors(1 << 20) or ()) > 10  # drawn, not a blank canvas
    root = ET.parse(written["svg"]).getroot()
    assert (root.get("width"), root.get("height")) == (str(layout.width), str(layout.height))


def test_a_png_that_fails_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    def full_disk(layout: Layout, path: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(png, "write_png", full_disk)
    with caplog.at_level(logging.WARNING, logger="doctor_tests.profiler.svg"):
        written = write_profile(make_profile(), tmp_path)
    assert "png" not in written and written["svg"].is_file()
    assert "profile.png not written" in caplog.text and "No space left" in caplog.text


def test_png_draws_text_and_refuses_a_colour_it_cannot_read() -> None:
    image = png.render_png(Layout(40, 20, items=[Text(2, 14, "T0", 10, bold=True)]), scale=1)
    assert image.size == (40, 20)
    inked = image.convert("L").point(lambda v: 255 - v).getbbox()
    assert inked is not None and inked[0] >= 1 and inked[3] <= 20  # the bold stroke: 1 px
    with pytest.raises(ValueError, match="colour 'red'"):
        png.render_png(Layout(10, 10, items=[Text(1, 8, "x", 8, fill="red")]))
