"""Per-node clocks: measuring a node over its SSH connection, correcting its checkpoints,
the uncertainty of each step, and profiles written before clocks were recorded."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_profiler_assemble import ALARMS, RECORD, T00
from test_profiler_sources import ALARM, AODH_LISTENER_LOG, AODH_NOTIFIER_LOG, VM

from doctor_tests.profiler.assemble import assemble_profile
from doctor_tests.profiler.model import RUNNER, Profile
from doctor_tests.profiler.report import load_profile, render_text, to_json, write_json
from doctor_tests.profiler.sources.clock import (
    DATE_COMMAND,
    ClockError,
    ClockOffset,
    measure_node_clock,
)

SKEW_S = 2.5  # compute-1's clock runs 2.5 s ahead of the runner's
LOGS = (AODH_LISTENER_LOG + AODH_NOTIFIER_LOG).splitlines()
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})")


class SkewedNode:
    """A node whose clock is ``skew`` s ahead of the local fake clock, over a connection
    whose round trips take ``trips`` s each; the node reads its clock ``at`` into a trip."""

    def __init__(self, skew: float, trips: list[float], at: float = 0.5,
                 output: str = "{:.9f}\n") -> None:
        self.now = 1_795_000_000.0
        self.skew, self.trips, self.at, self.output = skew, list(trips), at, output
        self.commands: list[str] = []

    def local(self) -> float:
        return self.now

    def run(self, command: str) -> str:
        trip = self.trips[len(self.commands)]
        self.commands.append(command)
        self.now += trip * self.at
        reading = self.now + self.skew
        self.now += trip * (1 - self.at)
        return self.output.format(reading)


def skewed(lines: list[str], skew_s: float) -> list[str]:
    """``lines`` as a host whose clock is ``skew_s`` ahead would have written them."""
    def shift(match: re.Match[str]) -> str:
        when = datetime.fromisoformat(match.group(1)) + timedelta(seconds=skew_s)
        return when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return [_STAMP.sub(shift, line) for line in lines]


# --- measuring a node ---------------------------------------------------------------------
def test_node_clock_over_one_connection_keeps_the_tightest_round_trip() -> None:
    node = SkewedNode(SKEW_S, trips=[0.012, 0.003, 0.008, 0.020, 0.005], at=0.8)
    clock = measure_node_clock("compute-1", node.run, samples=5, clock=node.local)
    assert node.commands == [DATE_COMMAND] * 5
    assert clock.samples == 5
    assert clock.uncertainty_s == pytest.approx(0.0015, abs=1e-6)
    assert clock.round_trip_s == pytest.approx(0.003, abs=1e-6)
    # read 80 % into the 3 ms trip: the midpoint estimate is 0.9 ms high, inside +/- 1.5 ms
    assert clock.offset_s == pytest.approx(SKEW_S + 0.0009, abs=1e-6)
    assert abs(clock.offset_s - SKEW_S) <= clock.uncertainty_s
    offset_s, uncertainty_s = clock  # still a plain (offset, uncertainty) pair
    assert (offset_s, uncertainty_s) == (clock.offset_s, clock.uncertainty_s)


def test_node_clock_of_the_same_clock_is_near_zero() -> None:
    node = SkewedNode(0.0, trips=[0.004, 0.002, 0.003])
    clock = measure_node_clock("controller", node.run, samples=3, clock=node.local)
    assert clock.offset_s == pytest.approx(0.0, abs=1e-9)
    assert clock.uncertainty_s == pytest.approx(0.001, abs=1e-6)


@pytest.mark.parametrize("output", ["1795000000.N\n", "", "date: invalid option -- 'N'\n",
                                    "nan", "-5"])
def test_node_clock_unreadable_output_names_node_and_output(output: str) -> None:
    node = SkewedNode(0.0, trips=[0.001], output=output)
    with pytest.raises(ClockError) as err:
        measure_node_clock("compute-7", node.run, samples=1, clock=node.local)
    assert "compute-7" in str(err.value) and repr(output) in str(err.value)


def test_node_clock_needs_a_sample_and_passes_connection_errors_through() -> None:
    with pytest.raises(ValueError, match="samples"):
        measure_node_clock("compute-1", lambda command: "1.0", samples=0)

    def dropped(command: str) -> str:
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(ConnectionResetError):
        measure_node_clock("compute-1", dropped)


# --- correcting the checkpoints -----------------------------------------------------------
COMPUTE = ClockOffset(SKEW_S, 0.0004, samples=5)
CONTROLLER = ClockOffset(-1.2, 0.0002, samples=5)  # the controller is 1.2 s behind


def skewed_profile(controller: ClockOffset = CONTROLLER, **extra: object) -> Profile:
    """What the harness gathers when compute-1 is 2.5 s ahead and the controller 1.2 s
    behind: T00 read on compute-1, the Aodh logs written on the controller."""
    return assemble_profile(
        fault_epoch=T00 + SKEW_S, inspector_record=RECORD, consumer_alarms=ALARMS,
        log_lines=skewed(LOGS, -1.2), alarm_servers={ALARM: VM}, servers=[VM],
        clocks={"compute-1": COMPUTE, "controller": controller},
        fault_node="compute-1", log_node="controller", **extra)  # type: ignore[arg-type]


def reference_profile() -> Profile:
    """The same run had every clock agreed."""
    return assemble_profile(fault_epoch=T00, inspector_record=RECORD, consumer_alarms=ALARMS,
                            log_lines=LOGS, alarm_servers={ALARM: VM}, servers=[VM])


def test_skewed_clocks_are_corrected_onto_the_runner() -> None:
    profile, truth = skewed_profile(), reference_profile()
    t00, t07, t08 = (profile.checkpoints[n] for n in ("T00", "T07", "T08"))
    assert t00.epoch == pytest.approx(T00, abs=1e-6)  # 2.5 s taken off
    assert (t00.node, t00.uncertainty_ms) == ("compute-1", pytest.approx(0.4))
    for cp in (t07, t08):
        assert cp.epoch == pytest.approx(truth.checkpoints[cp.name].epoch, abs=1e-6)
        assert (cp.node, cp.uncertainty_ms) == ("controller", pytest.approx(0.2))
    assert profile.ms("T07") == pytest.approx(330.0, abs=1e-3)
    assert profile.ms("T08") == pytest.approx(350.0, abs=1e-3)
    for name in ("T01", "T02", "T03", "T04", "T09", "T10"):  # the runner's own, untouched
        assert profile.checkpoints[name].node == RUNNER
        assert profile.checkpoints[name].epoch == truth.checkpoints[name].epoch
    assert profile.servers[VM].times["T09"].node == RUNNER
    assert profile.notification_ms == truth.notification_ms
    assert profile.order_violations() == []


def test_without_the_offsets_the_skew_shows() -> None:
    uncorrected = assemble_profile(
        fault_epoch=T00 + SKEW_S, inspector_record=RECORD, consumer_alarms=ALARMS,
        log_lines=skewed(LOGS, -1.2), alarm_servers={ALARM: VM}, servers=[VM])
    assert uncorrected.ms("T01") == pytest.approx(212.4 - 2500.0, abs=1e-3)
    assert uncorrected.order_violations()  # T01 "before" T00
    assert uncorrected.clocks["fault host"].kind == "assumed"


def test_step_uncertainty_adds_both_clocks_unless_one_node_took_both() -> None:
    steps = skewed_profile().steps()
    assert steps["T01"].uncertainty_ms == pytest.approx(0.4)  # compute-1 -> runner
    assert steps["T07"].uncertainty_ms == pytest.approx(0.0)  # controller -> controller
    assert steps["T08"].uncertainty_ms == pytest.approx(0.0)
    assert steps["T09"].uncertainty_ms == pytest.approx(0.2)  # controller -> runner
    assert not any(step.uncertain for step in steps.values())


def test_a_step_smaller_than_its_uncertainty_is_marked() -> None:
    loose = ClockOffset(-1.2, 0.025, samples=3)  # +/- 25 ms: the SSH round trip was 50 ms
    profile = skewed_profile(controller=loose)
    steps = profile.steps()
    # T08 (controller) -> T09 (runner) is 21.3 ms, less than the controller's 25 ms
    assert steps["T09"].ms == pytest.approx(21.3, abs=1e-3)
    assert steps["T09"].uncertain
    # T07 -> T08 is 20 ms on the controller's own clock: its offset cancels
    assert not steps["T08"].uncertain
    data = json.loads(json.dumps(to_json(profile)))
    assert data["checkpoints"]["T09"]["uncertain"] is True
    assert data["checkpoints"]["T09"]["delta_uncertainty_ms"] == pytest.approx(25.0)
    assert data["checkpoints"]["T08"]["uncertain"] is False
    assert "+/-25.0 > delta 21.3" in render_text(profile)


def test_profile_json_lists_every_clock() -> None:
    data = json.loads(json.dumps(to_json(skewed_profile())))
    assert data["clocks"][RUNNER] == {
        "offset_ms": 0.0, "uncertainty_ms": 0.0, "round_trip_ms": None, "samples": 0,
        "kind": "reference", "checkpoints": ["T01", "T02", "T03", "T04_first", "T04", "T09",
                                             "T10"]}
    assert data["clocks"]["compute-1"] == {
        "offset_ms": pytest.approx(2500.0), "uncertainty_ms": pytest.approx(0.4),
        "round_trip_ms": pytest.approx(0.8), "samples": 5, "kind": "measured",
        "checkpoints": ["T00"]}
    assert data["clocks"]["controller"]["offset_ms"] == pytest.approx(-1200.0)
    assert data["clocks"]["controller"]["checkpoints"] == ["T06", "T07", "T08"]
    assert data["checkpoints"]["T00"]["node"] == "compute-1"
    text = render_text(skewed_profile())
    assert "compute-1: offset +2500.000 ms +/- 0.400 ms (best of 5 samples, round trip " \
           "0.800 ms); T00" in text
    assert "runner: the reference clock (offset 0)" in text


def test_older_callers_get_placeholder_nodes() -> None:
    profile = assemble_profile(fault_epoch=T00, inspector_record=RECORD, log_lines=LOGS,
                               log_clock=ClockOffset(0.0, 0.0), alarm_servers={ALARM: VM},
                               servers=[VM])
    assert profile.checkpoints["T00"].node == "fault host"
    assert profile.clocks["fault host"].kind == "assumed"
    assert profile.checkpoints["T07"].node == "log host"
    assert profile.clocks["log host"].kind == "given"
    assert "not measured: offset taken as 0" in render_text(profile)


def test_a_clock_given_twice_or_a_moving_runner_is_refused() -> None:
    with pytest.raises(ValueError, match="both give controller"):
        skewed_profile(log_clock=ClockOffset(0.0, 0.0))
    with pytest.raises(ValueError, match="reference clock"):
        assemble_profile(fault_epoch=T00, clocks={RUNNER: ClockOffset(0.001, 0.0)})


# --- profiles written before the clocks ---------------------------------------------------
def test_profile_json_from_before_the_clocks_still_loads(tmp_path: Path) -> None:
    data = to_json(reference_profile())
    del data["clocks"]
    for entry in data["checkpoints"].values():
        for key in ("node", "delta_uncertainty_ms", "uncertain"):
            entry.pop(key, None)
    for times in data["servers"]["per_server"].values():
        for entry in times.values():
            entry.pop("node")
    profile = load_profile(write_json(data, tmp_path / "profile.json"))
    assert profile.clocks == {}
    assert profile.checkpoints["T00"].node is None
    assert profile.ms("T08") == pytest.approx(350.0, abs=1e-3)
    assert "clocks" not in render_text(profile)
    assert to_json(profile)["clocks"] == {}


def test_profile_json_with_clocks_round_trips(tmp_path: Path) -> None:
    profile = skewed_profile(controller=ClockOffset(-1.2, 0.025, samples=3))
    again = load_profile(write_json(to_json(profile), tmp_path / "profile.json"))
    assert again.clocks == profile.clocks
    assert to_json(again) == to_json(profile)
