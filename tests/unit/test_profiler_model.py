"""Profiler: checkpoints, derived times, components, order checks, per-server statistics."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doctor_tests.profiler.collect import ProfileBuilder, source_rank
from doctor_tests.profiler.components import SEGMENTS, breakdown
from doctor_tests.profiler.model import (
    NAMES,
    Checkpoint,
    Profile,
    UnknownCheckpoint,
    candidate,
)
from doctor_tests.profiler.stats import distribution, percentile

T0 = 1_795_000_000.0  # 2026-11-18, a realistic epoch
MS = {"T00": 0.0, "T01": 212.4, "T02": 213.1, "T03": 251.9, "T04_first": 262.0,
      "T04": 290.5, "T05": 301.2, "T06": 318.7, "T07": 330.4, "T08": 352.0, "T09": 371.3,
      "T10": 372.0}


def make_profile(ms: dict[str, float] | None = None, skip: tuple[str, ...] = (),
                 source: str = "trace:test", threshold_ms: float = 1000.0) -> Profile:
    profile = Profile(threshold_ms=threshold_ms)
    for name, value in (ms or MS).items():
        if name not in skip:
            profile.add(Checkpoint(name, T0 + value / 1000.0, source))
    return profile


# --- checkpoints and derived times ---------------------------------------------------
def test_ms_relative_to_t00_and_derived_times() -> None:
    profile = make_profile()
    assert profile.origin == "T00"
    assert profile.ms("T00") == 0.0
    assert profile.ms("T05") == pytest.approx(301.2, abs=1e-6)
    assert profile.notification_ms == pytest.approx(371.3 - 212.4, abs=1e-6)
    assert profile.fault_to_notification_ms == pytest.approx(371.3, abs=1e-6)
    assert profile.verdict == "PASS"
    assert profile.missing == {}


def test_verdict_fail_and_unknown() -> None:
    assert make_profile(threshold_ms=100.0).verdict == "FAIL"
    unknown = make_profile(skip=("T09",))
    assert unknown.notification_ms is None and unknown.verdict is None
    assert unknown.missing == {"T09": "not recorded by any source"}


def test_origin_without_t00_is_the_earliest_present() -> None:
    profile = make_profile(skip=("T00",))
    assert profile.origin == "T01"
    assert profile.ms("T01") == 0.0
    assert profile.ms("T04") == pytest.approx(290.5 - 212.4, abs=1e-6)
    assert profile.fault_to_notification_ms is None


def test_missing_reason_kept_until_the_checkpoint_arrives() -> None:
    profile = make_profile(skip=("T06",))
    profile.mark_missing("T06", "bus recorder off")
    assert profile.missing == {"T06": "bus recorder off"}
    profile.add(Checkpoint("T06", T0 + 0.3187, "bus:ceilometer alarm.all"))
    assert profile.missing == {}


@pytest.mark.parametrize("bad", [
    {"name": "T11"}, {"epoch": float("nan")}, {"epoch": "12"}, {"source": ""},
    {"uncertainty_ms": -1.0},
])
def test_checkpoint_validation(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"name": "T01", "epoch": T0, "source": "trace:monitor"}
    fields.update(bad)
    with pytest.raises(ValueError):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_unknown_checkpoint_names_the_valid_ones() -> None:
    with pytest.raises(UnknownCheckpoint, match="T00, T01"):
        Profile().mark_missing("T99", "x")


# --- causal order --------------------------------------------------------------------
def test_order_violation_reported_not_raised() -> None:
    ms = dict(MS, T06=295.0)  # Ceilometer "before" Nova: a skewed clock
    violations = make_profile(ms).order_violations()
    assert [(v.earlier, v.later) for v in violations] == [("T05", "T06")]
    assert violations[0].ms == pytest.approx(295.0 - 301.2, abs=1e-6)
    assert "T06 is 6.200 ms before T05" in violations[0].to_json()["message"]


def test_order_violation_within_uncertainty_is_tolerated() -> None:
    profile = make_profile(dict(MS, T06=300.0))
    profile.add(Checkpoint("T06", T0 + 0.300, "bus:ceilometer", uncertainty_ms=2.0))
    assert profile.order_violations() == []


# --- components ------------------------------------------------------------------------
def test_components_sorted_by_cost_with_percentages() -> None:
    parts = breakdown(make_profile())
    names = [c.name for c in parts.by_cost()]
    assert names == ["monitor", "inspector", "aodh", "delivery", "ceilometer", "nova",
                     "consumer"]
    assert parts.start == "T00" and parts.end == "T10"
    assert parts.total_ms == pytest.approx(372.0, abs=1e-9)
    monitor = parts.by_cost()[0]
    assert monitor.ms == pytest.approx(212.4, abs=1e-9)
    assert monitor.percent == pytest.approx(100 * 212.4 / 372.0, abs=1e-9)
    assert sum(c.percent for c in parts.components) == pytest.approx(100.0)
    aodh = next(c for c in parts.components if c.name == "aodh")
    assert [(p.name, p.ms) for p in aodh.parts] == [("aodh-listener", pytest.approx(11.7)),
                                                     ("aodh-notifier", pytest.approx(21.6))]


def test_components_add_up_exactly_to_t10_minus_t00() -> None:
    profile = make_profile()
    parts = breakdown(profile)
    assert sum(c.us for c in parts.components) == parts.total_us
    assert parts.total_us == round(profile.checkpoints["T10"].epoch * 1e6) - round(
        profile.checkpoints["T00"].epoch * 1e6)


@pytest.mark.parametrize("skip,merged,note", [
    (("T05",), "nova+ceilometer", "T05 missing: nova and ceilometer measured together"),
    (("T06", "T08"), "ceilometer+aodh+delivery",
     "T06, T08 missing: ceilometer and aodh and delivery measured together"),
    (("T04", "T04_first"), "inspector+nova", "T04 missing: inspector and nova"),
])
def test_missing_middle_checkpoint_merges_segments(skip: tuple[str, ...], merged: str,
                                                   note: str) -> None:
    profile = make_profile(skip=skip)
    parts = breakdown(profile)
    component = next(c for c in parts.components if c.name == merged)
    assert component.note is not None and note in component.note
    assert any(note in n for n in parts.notes)
    assert sum(c.us for c in parts.components) == parts.total_us
    assert parts.start == "T00" and parts.end == "T10"
    assert parts.unmeasured == []


def test_missing_ends_are_unmeasured_not_merged() -> None:
    parts = breakdown(make_profile(skip=("T00", "T10")))
    assert parts.start == "T01" and parts.end == "T09"
    assert parts.unmeasured == ["monitor", "consumer"]
    assert sum(c.us for c in parts.components) == parts.total_us


def test_no_checkpoints_no_components() -> None:
    parts = breakdown(Profile())
    assert parts.components == [] and parts.total_us == 0
    assert parts.unmeasured == [s.name for s in SEGMENTS]


boundary_ms = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False)


@given(st.lists(boundary_ms, min_size=len(NAMES), max_size=len(NAMES)),
       st.sets(st.sampled_from(NAMES)))
def test_components_always_add_up(values: list[float], skip: set[str]) -> None:
    ms = dict(zip(NAMES, sorted(values), strict=True))
    profile = make_profile(ms, skip=tuple(skip))
    parts = breakdown(profile)
    assert sum(c.us for c in parts.components) == parts.total_us
    if parts.components:
        first, last = profile.checkpoints[parts.start], profile.checkpoints[parts.end]
        assert parts.total_us == round(last.epoch * 1e6) - round(first.epoch * 1e6)
        assert math.isclose(sum(c.ms for c in parts.components), parts.total_ms,
                            abs_tol=1e-6)


# --- statistics --------------------------------------------------------------------------
def test_percentiles_interpolate_like_numpy_linear() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 100) == 40.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)
    d = distribution([3.0, 1.0, 2.0])
    assert (d.count, d.min, d.p50, d.max) == (3, 1.0, 2.0, 3.0)


# --- the builder ------------------------------------------------------------------------
def test_source_ranks() -> None:
    assert source_rank("trace:inspector") < source_rank("bus:nova") < source_rank(
        "log:aodh-listener") < source_rank("aodh:alarm-history") < source_rank("manual")


def test_builder_prefers_better_source_then_earliest() -> None:
    builder = ProfileBuilder()
    builder.add(candidate("T07", T0 + 0.331, "aodh:alarm-history"))
    builder.add(candidate("T07", T0 + 0.3305, "log:aodh-listener", note="transitioning"))
    builder.add(candidate("T07", T0 + 0.3304, "log:aodh-listener", note="Triggering"))
    profile = builder.build()
    assert profile.checkpoints["T07"].note == "Triggering"
    builder.add(candidate("T07", T0 + 0.3306, "bus:aodh alarming"))
    assert builder.build().checkpoints["T07"].source == "bus:aodh alarming"


def test_builder_per_server_last_and_first() -> None:
    builder = ProfileBuilder(servers=["a", "b", "c"])
    for i, server in enumerate(["a", "b", "c"]):
        builder.add(candidate("T04", T0 + 0.26 + i * 0.01, "trace:inspector", server=server))
        builder.add(candidate("T09", T0 + 0.34 + i * 0.015, "trace:consumer", server=server))
        builder.add(candidate("T09", T0 + 0.5, "trace:consumer", server=server))  # duplicate
    builder.add(candidate("T09", T0 + 0.2, "trace:consumer", server="other"))  # not ours
    profile = builder.build()
    assert profile.origin == "T04_first" and profile.ms("T04_first") == 0.0  # no T00
    assert profile.between_ms("T04_first", "T04") == pytest.approx(20.0, abs=1e-6)
    assert profile.checkpoints["T09"].note == "last of 3 servers (c)"
    assert profile.between_ms("T04", "T09") == pytest.approx(370 - 280, abs=1e-6)
    assert set(profile.servers) == {"a", "b", "c"}
    assert "1 reading(s) for other servers ignored" in profile.notes


def test_builder_missing_reasons() -> None:
    builder = ProfileBuilder()
    builder.add(candidate("T00", T0, "trace:scenario"))
    builder.missing("T06", "kombu not installed")
    profile = builder.build()
    assert profile.missing["T06"] == "kombu not installed"
    assert "notify_on_state_change" in profile.missing["T05"]


def test_server_distributions_and_first_last_alarm() -> None:
    profile = make_profile()
    for i, server in enumerate(["a", "b", "c", "d"]):
        profile.add_server(server, Checkpoint("T09", T0 + (0.340 + i * 0.010), "trace:consumer"))
    dist = profile.server_distributions()
    assert dist["T09"].count == 4
    assert (dist["T09"].min, dist["T09"].p50, dist["T09"].max) == pytest.approx(
        (340.0, 355.0, 370.0))
    assert dist["notification"].min == pytest.approx(340.0 - 212.4)
    assert profile.first_last_alarm() == (("a", pytest.approx(340.0)),
                                          ("d", pytest.approx(370.0)))
    with pytest.raises(ValueError, match="not a per-server"):
        profile.add_server("a", Checkpoint("T01", T0, "trace:monitor"))


def test_nova_notifying_inside_the_reset_call_is_folded_into_the_inspector() -> None:
    ms = dict(MS)
    ms["T05"] = ms["T04"] - 20.0  # Nova notified 20 ms before the last reset call returned
    assert ms["T05"] > ms["T03"]
    profile = make_profile(ms)
    result = breakdown(profile)
    parts = {c.name: c.ms for c in result.components}
    assert parts["nova"] == 0.0
    assert parts["inspector"] == pytest.approx(ms["T05"] - ms["T01"], abs=0.01)
    assert min(parts.values()) >= 0.0
    assert sum(c.us for c in result.components) == result.total_us
    assert result.total_ms == pytest.approx(ms["T10"] - ms["T00"], abs=0.01)
    assert any("inside the last reset call" in note for note in result.notes)


def test_reset_call_duration_is_t04s_uncertainty() -> None:
    from doctor_tests.profiler.sources.trace import inspector_candidates

    record = {"times": {"received": T0 + 0.080, "last_server_error": T0 + 0.500},
              "server_times": {"vm-1": T0 + 0.300, "vm-2": T0 + 0.500},
              "server_call_s": {"vm-1": 0.05, "vm-2": 0.12}}
    found = {(c.checkpoint.name, c.server): c.checkpoint for c in inspector_candidates(record)}
    assert found[("T04", None)].uncertainty_ms == 120.0  # the last server's call
    assert found[("T04", "vm-1")].uncertainty_ms == 50.0
    profile = make_profile({"T00": 0.0, "T01": 80.0, "T05": 420.0})
    profile.add(found[("T04", None)])
    assert profile.order_violations() == []
