"""Ctrl-C to ``make run`` while the host's link is down leaves nothing in the cloud.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group: make, tox and
pytest each get it. This starts ``make run`` in a process group of its own, waits (by
watching the lab's hosts, not the run's output) until the run has taken a host's link
down, sends SIGINT to that group, and once make has exited checks with a client of its
own that nothing the run made or changed is left: no project, server, port, network,
flavor, user or alarm of a run, no nova-compute forced down, every host's link up.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from doctor_tests import cloud, lab, leftovers
from doctor_tests.paths import source_root
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab]

START_TIMEOUT_S = 900.0  # make run: lab up, tox env (made once), the run's servers
UNDO_TIMEOUT_S = 300.0
AFTER_LINK_DOWN_S = 0.05


def _link_down() -> list[str]:
    return [h.name for h in lab.hosts() if h.namespace and not h.link_up]


def test_ctrl_c_to_make_run_leaves_nothing(tmp_path: Path, settings) -> None:
    root = source_root()
    if root is None:
        pytest.skip("needs the source checkout (make run)")
    admin = cloud.admin_connection(settings.os_cloud)
    assert not leftovers.clean(admin, dry_run=True), "the cloud is not clean before the test"
    assert not _link_down(), "a host's link is down before the test"
    env = dict(os.environ, VM_COUNT="3", TEST_CASE="fault_management",
               DOCTOR_RESULTS_DIR=str(tmp_path / "results"), PYTHONUNBUFFERED="1")
    log = tmp_path / "make-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "run"], cwd=root, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        def down_or_exited() -> list[str] | bool:
            if proc.poll() is not None:
                return True
            return _link_down()

        wait_until(down_or_exited, START_TIMEOUT_S, "make run to take a host's link down",
                   interval=0.05)
        assert proc.poll() is None, "make run ended (exit %s) before the fault:\n%s" % (
            proc.returncode, log.read_text()[-3000:])
        threading.Event().wait(AFTER_LINK_DOWN_S)
        LOG.info("link of %s down: SIGINT to make run's process group", _link_down())
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(UNDO_TIMEOUT_S)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    output = log.read_text()
    LOG.info("make run exited %s, %.1f s after SIGINT", proc.returncode, took)
    assert proc.returncode != 0, "an interrupted make run exited 0"

    left = leftovers.clean(admin, dry_run=True)
    assert not left, "left behind after Ctrl-C (%.1f s after the signal): %s\n%s" % (
        took, left, output[-4000:])
    assert not _link_down(), "links left down: %s" % _link_down()
    # (tox may print "second interrupt received ... forcing full stop" when make and the
    # terminal both reach it; with tox.ini's timeouts it still waits for pytest's undo,
    # which the independent check above shows finished.)
