"""The Xtesting test case: ``run()`` runs the scenarios, then reads the profile.

Declared to Xtesting by the ``xtesting.testcase`` entry point ``doctor`` (see
``testcases.yaml``). Importing this module does not need Xtesting; creating the test
case does (:class:`XtestingMissing` otherwise).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from doctor_tests.cleanup import run_child
from doctor_tests.xtesting.mapping import (
    pytest_command,
    pytest_env,
    result_from_run,
    stale_outputs,
)

LOG = logging.getLogger(__name__)

try:
    from xtesting.core import testcase as _testcase
except ImportError:  # optional: only CI images carry Xtesting
    _testcase = None


class XtestingMissing(RuntimeError):
    """The driver was used where Xtesting is not installed."""


_Base: Any = _testcase.TestCase if _testcase is not None else object


class DoctorTestCase(_Base):
    """One Doctor case (``fault_management``, ``port_dp_down``, ``notification_alarm``)."""

    def __init__(self, **kwargs: Any) -> None:
        if _testcase is None:
            raise XtestingMissing("DoctorTestCase needs xtesting (pip install xtesting); "
                                  "without it run the scenarios with pytest directly")
        super().__init__(**kwargs)

    def run(self, **kwargs: Any) -> int:
        """Run the scenarios; ``kwargs`` (``run.args`` in testcases.yaml): ``pytest_args``
        (list), ``timeout`` (s), ``results_dir`` (default Xtesting's ``res_dir``,
        ``<results>/<case_name>``, which ``run_tests -p`` publishes)."""
        self.start_time = time.time()
        results_dir = Path(kwargs.get("results_dir") or getattr(self, "res_dir", None)
                           or "results").absolute()
        self.res_dir = os.fspath(results_dir)
        results_dir.mkdir(parents=True, exist_ok=True)
        for path in stale_outputs(results_dir):
            path.unlink()
        command = pytest_command(results_dir, kwargs.get("pytest_args", ()))
        LOG.info("running %s", " ".join(command))
        try:
            env = pytest_env(self.case_name, results_dir, os.environ)
            # the scenarios undo their changes also when stopped (timeout, Ctrl-C):
            # run_child waits for that, where subprocess.run would kill them mid-undo
            returncode, _ = run_child(command, env, kwargs.get("timeout"), capture=False)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            LOG.error("could not run the %s scenarios: %s", self.case_name, exc)
            self.result = 0
            self.details = {"error": f"could not run the scenarios: {exc}",
                            "results_dir": os.fspath(results_dir)}
            self.stop_time = time.time()
            return int(self.EX_RUN_ERROR)
        self.result, self.details = result_from_run(results_dir, returncode,
                                                    self.case_name)
        self.details["results_dir"] = os.fspath(results_dir)
        self.stop_time = time.time()
        return int(self.EX_OK)
