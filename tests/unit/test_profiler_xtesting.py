"""Xtesting driver: command, environment and the result mapping, without Xtesting installed."""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_profiler_model import make_profile

from doctor_tests.profiler.aggregate import aggregate
from doctor_tests.profiler.report import to_json, write_json
from doctor_tests.xtesting import driver
from doctor_tests.xtesting.mapping import (
    CASES,
    pytest_command,
    pytest_env,
    result_from_run,
)


def test_pytest_command_and_env(tmp_path: Path) -> None:
    command = pytest_command(tmp_path, ["-m", "fault"], python="/usr/bin/python3")
    assert command[:5] == ["/usr/bin/python3", "-m", "pytest", "--pyargs",
                           "doctor_tests.scenarios"]
    assert f"--junitxml={tmp_path / 'junit.xml'}" in command
    assert command[-2:] == ["-m", "fault"]
    env = pytest_env("fault_management", tmp_path, {"OS_CLOUD": "doctor-lab"})
    assert env == {"OS_CLOUD": "doctor-lab", "TEST_CASE": "fault_management",
                   "DOCTOR_RESULTS_DIR": str(tmp_path)}
    with pytest.raises(ValueError, match="valid: fault_management"):
        pytest_env("all_of_them", tmp_path, {})


def test_result_from_a_passing_profile(tmp_path: Path) -> None:
    write_json(to_json(make_profile()), tmp_path / "profile.json")
    result, details = result_from_run(tmp_path, 0)
    assert result == 100
    assert details["verdict"] == "PASS" and details["pytest_returncode"] == 0
    assert details["checkpoints"]["T00"]["ms"] == 0.0
    assert result_from_run(tmp_path, 1)[0] == 0  # pytest failed: not a pass


def test_result_from_a_slow_profile_or_none(tmp_path: Path) -> None:
    write_json(to_json(make_profile(threshold_ms=100.0)), tmp_path / "profile.json")
    assert result_from_run(tmp_path, 0)[0] == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    result, details = result_from_run(empty, 0)
    assert result == 100 and "no profile.json" in details["note"]
    (empty / "profile.json").write_text("{oops")
    result, details = result_from_run(empty, 0)
    assert result == 0 and "unreadable profile.json" in details["error"]


def test_result_from_repeated_runs(tmp_path: Path) -> None:
    runs = [make_profile(), make_profile(threshold_ms=100.0)]
    write_json(aggregate(runs), tmp_path / "profile-summary.json")
    result, details = result_from_run(tmp_path, 0)
    assert result == 0 and details["runs"] == 2


def test_testcases_yaml_declares_every_case() -> None:
    path = Path(driver.__file__).with_name("testcases.yaml")
    tiers = yaml.safe_load(path.read_text())["tiers"]
    cases = [case for tier in tiers for case in tier["testcases"]]
    assert [c["case_name"] for c in cases] == list(CASES)
    assert all(c["project_name"] == "doctor" and c["criteria"] == 100 for c in cases)
    assert {c["run"]["name"] for c in cases} == {"doctor"}


def test_driver_without_xtesting_is_a_clear_error() -> None:
    if driver._testcase is not None:
        pytest.skip("xtesting is installed here")
    with pytest.raises(driver.XtestingMissing, match="needs xtesting"):
        driver.DoctorTestCase(case_name="fault_management")


class _FakeTestCase:
    """The parts of xtesting.core.testcase.TestCase the driver relies on."""

    EX_OK = 0
    EX_RUN_ERROR = 5

    def __init__(self, **kwargs: Any) -> None:
        self.case_name = kwargs.get("case_name")
        self.res_dir = kwargs.get("res_dir")
        self.result: Any = 0
        self.details: Any = {}
        self.start_time = self.stop_time = 0.0


@pytest.fixture
def fake_xtesting(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    package = types.ModuleType("xtesting")
    core = types.ModuleType("xtesting.core")
    testcase = types.ModuleType("xtesting.core.testcase")
    testcase.TestCase = _FakeTestCase  # type: ignore[attr-defined]
    core.testcase = testcase  # type: ignore[attr-defined]
    package.core = core  # type: ignore[attr-defined]
    for name, module in (("xtesting", package), ("xtesting.core", core),
                         ("xtesting.core.testcase", testcase)):
        monkeypatch.setitem(sys.modules, name, module)
    yield importlib.reload(driver)
    monkeypatch.undo()
    importlib.reload(driver)


def test_driver_run_fills_result_and_details(fake_xtesting: types.ModuleType, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    profile = json.dumps(to_json(make_profile()))
    script = ("import os, pathlib; d = pathlib.Path(os.environ['DOCTOR_RESULTS_DIR']); "
              f"(d / 'profile.json').write_text({profile!r}); "
              "assert os.environ['TEST_CASE'] == 'fault_management'")

    def command(results_dir: Path, extra: Any = ()) -> list[str]:
        return [sys.executable, "-c", script]

    monkeypatch.setattr(fake_xtesting, "pytest_command", command)
    case = fake_xtesting.DoctorTestCase(case_name="fault_management", res_dir=str(tmp_path))
    assert case.run() == _FakeTestCase.EX_OK
    assert case.result == 100
    assert case.details["notification_ms"] == pytest.approx(158.9)
    assert case.start_time <= case.stop_time


def test_driver_run_error(fake_xtesting: types.ModuleType, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_xtesting, "pytest_command",
                        lambda results_dir, extra=(): [str(tmp_path / "no-such-python")])
    case = fake_xtesting.DoctorTestCase(case_name="fault_management", res_dir=str(tmp_path))
    assert case.run() == _FakeTestCase.EX_RUN_ERROR


def test_env_leaves_the_upload_to_xtesting(tmp_path: Path) -> None:
    env = pytest_env("fault_management", tmp_path,
                     {"TEST_DB_URL": "file:///tmp/r.json", "NODE_NAME": "lab", "VM_COUNT": "1"})
    assert "TEST_DB_URL" not in env
    assert env["NODE_NAME"] == "lab" and env["VM_COUNT"] == "1"
    assert pytest_command(tmp_path)[7:9] == ["-m", "fault"]


def test_driver_run_never_reads_an_older_runs_profile(fake_xtesting: types.ModuleType,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_json(to_json(make_profile()), tmp_path / "profile.json")
    for name in ("profile-2.json", "profile-summary.json", "results.json", "junit.xml",
                 "profile.svg"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "keep.log").write_text("not ours")
    monkeypatch.setattr(fake_xtesting, "pytest_command",
                        lambda results_dir, extra=(): [sys.executable, "-c", "exit(1)"])
    case = fake_xtesting.DoctorTestCase(case_name="fault_management", res_dir=str(tmp_path))
    assert case.run() == _FakeTestCase.EX_OK
    assert case.result == 0 and case.details["pytest_returncode"] == 1
    assert "no profile.json" in case.details["note"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.log"]


def test_driver_results_dir_argument_and_error_details(fake_xtesting: types.ModuleType,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_xtesting, "pytest_command",
                        lambda results_dir, extra=(): [str(tmp_path / "no-such-python")])
    case = fake_xtesting.DoctorTestCase(case_name="fault_management", res_dir="/nonexistent")
    assert case.run(results_dir=str(tmp_path / "out")) == _FakeTestCase.EX_RUN_ERROR
    assert case.res_dir == str(tmp_path / "out")
    assert case.result == 0 and "could not run the scenarios" in case.details["error"]
    assert case.start_time <= case.stop_time


def test_the_record_of_the_one_verdict_decides_over_the_profile(tmp_path: Path) -> None:
    """The profile says PASS (time under the limit) but the run's checks failed (a
    duplicate alarm): Xtesting's result follows results.json, not the profile."""
    (tmp_path / "profile.json").write_text(json.dumps({"verdict": "PASS"}))
    (tmp_path / "results.json").write_text(json.dumps({"criteria": "FAIL", "details": {
        "checks": [{"name": "every alarm delivered once", "passed": False}]}}))
    result, details = result_from_run(tmp_path, 0)
    assert result == 0 and details["criteria"] == "FAIL"
    assert details["checks"][0]["name"] == "every alarm delivered once"
    other = tmp_path / "port_dp_down"
    other.mkdir()
    (other / "results.json").write_text(json.dumps({"criteria": "PASS", "details": {}}))
    assert result_from_run(tmp_path, 0, "port_dp_down")[0] == 100
