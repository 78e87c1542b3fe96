"""Profiler output: profile.json shape and round trip, tables, SVG, repeats, JUnit, CLI."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_profiler_model import MS, T0, make_profile

from doctor_tests.profiler import __main__ as cli
from doctor_tests.profiler.aggregate import aggregate, summary_table
from doctor_tests.profiler.junit import junit_properties
from doctor_tests.profiler.model import NAMES, Checkpoint, Profile
from doctor_tests.profiler.report import (
    BadProfile,
    from_json,
    load_profile,
    render_text,
    to_json,
    write_profile,
)
from doctor_tests.profiler.svg import nice_step, render_svg

SVG_NS = "{http://www.w3.org/2000/svg}"


def with_servers(profile: Profile, count: int = 3) -> Profile:
    for i in range(count):
        profile.add_server(f"vm-{i}", Checkpoint("T04", T0 + 0.262 + i * 0.010,
                                                 "trace:inspector"))
        profile.add_server(f"vm-{i}", Checkpoint("T09", T0 + 0.340 + i * 0.015,
                                                 "trace:consumer"))
    return profile


# --- JSON ----------------------------------------------------------------------------------
def test_profile_json_shape() -> None:
    profile = with_servers(make_profile(skip=("T06",)))
    profile.mark_missing("T06", "bus recorder off")
    data = json.loads(json.dumps(to_json(profile)))  # JSON-clean (no NaN, no objects)
    assert set(data["checkpoints"]) == set(NAMES) - {"T06"}
    for entry in data["checkpoints"].values():
        assert {"ms", "epoch", "source", "description", "uncertainty_ms"} <= set(entry)
    assert data["checkpoints"]["T00"]["ms"] == 0.0
    assert data["checkpoints"]["T05"] == {
        "ms": pytest.approx(301.2), "epoch": pytest.approx(T0 + 0.3012),
        "source": "trace:test", "description": "Nova notified VM error",
        "uncertainty_ms": None, "node": None, "delta_ms": pytest.approx(10.7),
        "delta_uncertainty_ms": 0.0, "uncertain": False,
    }
    assert data["missing"] == {"T06": "bus recorder off"}
    assert data["notification_ms"] == pytest.approx(371.3 - 212.4)
    assert data["fault_to_notification_ms"] == pytest.approx(371.3)
    assert data["verdict"] == "PASS"
    first = data["components"][0]
    assert set(first) >= {"name", "ms", "percent", "from", "to"}
    assert first["name"] == "monitor"
    assert [c["ms"] for c in data["components"]] == sorted(
        (c["ms"] for c in data["components"]), reverse=True)
    merged = next(c for c in data["components"] if c["name"] == "ceilometer+aodh")
    assert merged["from"] == "T05" and merged["to"] == "T08"
    assert data["servers"]["count"] == 3
    assert data["servers"]["distribution"]["T09"]["max"] == pytest.approx(370.0)
    assert data["servers"]["last_alarm"] == {"server": "vm-2", "ms": pytest.approx(370.0)}
    assert data["order_violations"] == []


def test_profile_json_round_trip(tmp_path: Path) -> None:
    profile = with_servers(make_profile(dict(MS, T06=295.0)))
    written = write_profile(profile, tmp_path, png=False)
    assert written["json"] == tmp_path / "profile.json"
    again = load_profile(tmp_path / "profile.json")
    assert to_json(again) == to_json(profile)
    assert json.loads(written["json"].read_text())["order_violations"][0]["later"] == "T06"


@pytest.mark.parametrize("content,message", [
    ("{", "is not JSON"),
    ("[]", "must be a JSON object"),
    ('{"checkpoints": 3}', "no 'checkpoints'"),
    ('{"checkpoints": {"T01": {"source": "x"}}}', "epoch"),
    ('{"checkpoints": {"T42": {"epoch": 1.0, "source": "x"}}}', "unknown checkpoint"),
])
def test_bad_profile_json(tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "profile.json"
    file.write_text(content)
    with pytest.raises(BadProfile, match=message):
        load_profile(file)
    with pytest.raises(BadProfile, match="cannot read"):
        load_profile(tmp_path / "absent.json")


def test_from_json_needs_an_object() -> None:
    with pytest.raises(BadProfile):
        from_json("profile")


# --- console -------------------------------------------------------------------------------
def test_render_text_tables() -> None:
    profile = with_servers(make_profile(skip=("T05",)))
    text = render_text(profile)
    assert "Notification time (T09-T01): 158.9 ms  [PASS, limit 1000 ms]" in text
    assert "T04_first" in text and "missing: no compute.instance.update" not in text
    assert "missing: not recorded by any source" in text  # T05 without a builder hint
    assert "nova+ceilometer" in text
    lines = text.splitlines()
    monitor = next(line for line in lines if line.startswith("monitor"))
    assert "212.4" in monitor and "57.1%" in monitor
    assert any(line.startswith("total") and "372.0" in line for line in lines)
    assert "first alarm vm-0 at 340.0 ms, last vm-2 at 370.0 ms" in text
    assert "note: T05 missing: nova and ceilometer measured together" in text


def test_render_text_reports_order_violations() -> None:
    text = render_text(make_profile(dict(MS, T06=295.0)))
    assert "ORDER: T06 is 6.200 ms before T05" in text


# --- SVG --------------------------------------------------------------------------------------
def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG_NS}svg"
    return [el.text or "" for el in root.iter(f"{SVG_NS}text")]


@pytest.mark.parametrize("skip", [(), ("T05",), ("T00", "T10"), ("T06", "T07", "T08")])
def test_svg_is_well_formed_and_names_every_checkpoint(skip: tuple[str, ...]) -> None:
    profile = make_profile(skip=skip)
    texts = _svg_texts(render_svg(profile))
    labels = set(texts)
    for cp in profile.present():
        assert cp.name.replace("_first", "f") in labels
        assert any(t.startswith(f"{cp.name} at ") for t in texts)  # the legend
    assert any("PASS" == t for t in texts)
    assert any(t.startswith("Doctor fault management: notification 158.9 ms") for t in texts)


def test_svg_fail_shows_the_limit_and_escapes_text() -> None:
    ms = {k: v * 4 for k, v in MS.items()}  # notification 635.6 ms, limit 500 ms
    profile = make_profile(ms, source="log:<aodh> & co", threshold_ms=500.0)
    svg = render_svg(profile)
    texts = _svg_texts(svg)
    assert "FAIL" in texts and "limit 500 ms" in texts
    assert any("<aodh> & co" in t for t in texts)  # escaped in the file, intact when parsed


def test_svg_with_servers_and_nothing() -> None:
    texts = _svg_texts(render_svg(with_servers(make_profile())))
    assert "alarms (3 servers)" in texts
    empty = _svg_texts(render_svg(Profile()))
    assert "UNKNOWN" in empty


def test_nice_step() -> None:
    assert nice_step(372.0) == 50.0
    assert nice_step(1000.0) == 200.0
    assert nice_step(7.0) == 1.0
    assert nice_step(0.0) == 1.0


# --- repeated runs ---------------------------------------------------------------------------
def test_aggregate_percentiles() -> None:
    runs = [make_profile({k: v * factor for k, v in MS.items()})
            for factor in (1.0, 2.0, 3.0, 4.0, 5.0)]
    runs.append(make_profile(skip=("T09",)))
    summary = aggregate(runs)
    assert summary["runs"] == 6
    assert summary["verdicts"] == {"PASS": 5, "FAIL": 0, "UNKNOWN": 1}
    note = summary["notification_ms"]
    assert note["count"] == 5
    assert note["min"] == pytest.approx(158.9, abs=1e-6)
    assert note["p50"] == pytest.approx(158.9 * 3, abs=1e-6)
    assert note["p95"] == pytest.approx(158.9 * 4.8, abs=1e-6)
    assert note["max"] == pytest.approx(158.9 * 5, abs=1e-6)
    # T01 is in all six runs: 212.4 (twice), 424.8, 637.2, 849.6, 1062.0
    assert summary["checkpoints"]["T01"]["count"] == 6
    assert summary["checkpoints"]["T01"]["p50"] == pytest.approx((424.8 + 637.2) / 2, abs=1e-6)
    assert summary["checkpoints"]["T09"]["count"] == 5
    assert list(summary["components"])[:2] == ["monitor", "inspector"]
    assert "ceilometer+aodh" not in summary["components"]
    assert summary["components"]["delivery"]["count"] == 5  # T08 -> T09 only where T09 is
    table = summary_table(summary)
    assert table.startswith("6 runs: 5 PASS, 0 FAIL, 1 unknown")
    assert "component inspector" in table
    with pytest.raises(ValueError):
        aggregate([])


# --- JUnit properties -------------------------------------------------------------------------
def test_junit_properties() -> None:
    profile = make_profile(skip=("T05",))
    profile.add(Checkpoint("T07", T0 + 0.3304, "log:aodh-listener", uncertainty_ms=0.4))
    props = dict(junit_properties(profile))
    assert props["notification_ms"] == "158.900"
    assert props["fault_to_notification_ms"] == "371.300"
    assert props["verdict"] == "PASS"
    assert props["checkpoint_T07_ms"] == "330.400"
    assert props["checkpoint_T07_source"] == "log:aodh-listener"
    assert props["checkpoint_T07_uncertainty_ms"] == "0.400"
    assert props["checkpoint_T05_ms"] == ""
    assert props["checkpoint_T05_missing"] == "not recorded by any source"
    assert props["component_inspector_ms"] == "78.100"
    assert props["component_nova_ceilometer_ms"] == "28.200"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in props.items())


# --- doctor-profile ---------------------------------------------------------------------------
def test_cli_renders_a_saved_profile_and_repeats(tmp_path: Path) -> None:
    write_profile(make_profile(), tmp_path, png=False)
    (tmp_path / "profile.svg").unlink()
    for i in (1, 2):
        write_profile(make_profile({k: v * i for k, v in MS.items()}), tmp_path,
                      stem=f"profile-{i}", png=False)
    out = io.StringIO()
    assert cli.run(tmp_path, png=False, out=out) == 0
    text = out.getvalue()
    assert "Notification time (T09-T01): 158.9 ms" in text
    assert "2 runs: 2 PASS" in text
    ET.parse(tmp_path / "profile.svg")
    summary = json.loads((tmp_path / "profile-summary.json").read_text())
    assert summary["runs"] == 2
    # running again does not count the summary as a run
    assert cli.run(tmp_path, png=False, out=io.StringIO()) == 0
    assert json.loads((tmp_path / "profile-summary.json").read_text())["runs"] == 2


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main([str(tmp_path)]) == 2
    assert "no profile.json" in capsys.readouterr().err
    (tmp_path / "profile.json").write_text("{broken")
    assert cli.main([str(tmp_path), "--no-png"]) == 2
    assert "profile.json is not JSON" in capsys.readouterr().err
