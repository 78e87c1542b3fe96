"""Between Xtesting and the pytest scenarios: the command, its environment, the result.

Xtesting's result is a percentage compared with the case's ``criteria`` (100): a run is
100 when pytest passed and the run's one verdict (``results.json``'s criteria, from the
same checks the test asserts; the profile's verdict where no record was written) is
PASS, else 0. ``details`` is ``profile.json`` (or the repeated-runs summary), plus the
pytest exit status.

Under Xtesting, Xtesting pushes the record (``run_tests -r``, ``TEST_DB_URL``): the
scenarios run without ``TEST_DB_URL`` so that one run gives one record, not two.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from doctor_tests.profiler.aggregate import SUMMARY_JSON
from doctor_tests.profiler.report import PROFILE_JSON

LOG = logging.getLogger(__name__)

SCENARIOS = "doctor_tests.scenarios"
CASES = ("fault_management", "port_dp_down", "notification_alarm")
#: Left to Xtesting: its push_to_db() posts the record (Doctor's own upload would add a second).
XTESTING_ONLY_ENV = ("TEST_DB_URL",)
#: What a scenario run writes into its results directory (removed before the next run, so
#: that a run which fails early is never judged by an older run's profile).
RESULTS_JSON = "results.json"
OUTPUTS = ("profile*.json", "profile*.svg", "profile*.png", RESULTS_JSON, "*/" + RESULTS_JSON,
           "junit.xml")


def pytest_command(results_dir: Path, extra: Sequence[str] = (),
                   python: str = sys.executable) -> list[str]:
    """The scenarios (tests marked ``fault``; TEST_CASE picks one) as a pytest run writing
    its JUnit report into ``results_dir``; ``-s``: the profile report on the console, as
    ``make run`` prints it."""
    return [python, "-m", "pytest", "--pyargs", SCENARIOS, "-p", "no:cacheprovider",
            "-m", "fault", "-v", "-s", f"--junitxml={results_dir / 'junit.xml'}", *extra]


def pytest_env(case_name: str, results_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus the case to run and where its results go (Doctor's settings names),
    without the variables Xtesting acts on itself (:data:`XTESTING_ONLY_ENV`)."""
    if case_name not in CASES:
        raise ValueError(f"unknown Doctor case {case_name!r}; valid: {', '.join(CASES)}")
    env = {key: value for key, value in base.items() if key not in XTESTING_ONLY_ENV}
    env["TEST_CASE"] = case_name
    env["DOCTOR_RESULTS_DIR"] = os.fspath(results_dir)
    return env


def stale_outputs(results_dir: Path) -> list[Path]:
    """The files of an earlier scenario run in ``results_dir`` (see :data:`OUTPUTS`)."""
    found = {path for pattern in OUTPUTS for path in results_dir.glob(pattern)}
    return sorted(path for path in found if path.is_file())


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        LOG.warning("cannot read %s: %s", path, exc)
        return {"error": f"unreadable {path.name}: {exc}"}
    return data if isinstance(data, dict) else {"error": f"{path.name} is not an object"}


def result_from_run(results_dir: Path, returncode: int,
                    case_name: str = CASES[0]) -> tuple[int, dict[str, Any]]:
    """``(result percent, details)`` for Xtesting from a finished pytest run."""
    summary = _read(results_dir / SUMMARY_JSON)
    profile = _read(results_dir / PROFILE_JSON)
    record = _read(results_dir / RESULTS_JSON) if case_name == CASES[0] else \
        _read(results_dir / case_name / RESULTS_JSON)
    details: dict[str, Any] = dict(summary or profile or {})
    details["pytest_returncode"] = returncode
    if summary is None and profile is None and record is None:
        details["note"] = f"no {PROFILE_JSON} in {results_dir} (profiler off or run failed)"
    if summary is None and record is not None and record.get("criteria") in ("PASS", "FAIL"):
        details["criteria"] = record["criteria"]
        details["checks"] = (record.get("details") or {}).get("checks", [])
        verdict_ok = record["criteria"] == "PASS"
    elif summary is not None:
        verdicts = summary.get("verdicts") or {}
        verdict_ok = bool(summary.get("runs")) and verdicts.get("PASS") == summary.get("runs")
    elif profile is not None:
        verdict_ok = profile.get("verdict") == "PASS"
    else:
        verdict_ok = True  # nothing measured: pytest's own verdict decides
    return (100 if returncode == 0 and verdict_ok else 0), details
