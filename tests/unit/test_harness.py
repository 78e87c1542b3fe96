"""The harness's pure parts: one verdict, the undo that finishes, run owners."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from doctor_tests import resources
from doctor_tests.cleanup import SIGNALS_TOLERATED, Cleanup, CleanupInterrupted, run_child
from doctor_tests.config import Settings
from doctor_tests.harness.verdict import FaultFacts, fault_management_verdict, publish
from doctor_tests.waiting import wait_until


def facts(**changes) -> FaultFacts:
    base = dict(host="c0", servers_on_host={"s1", "s2"}, alarmed_servers={"s1", "s2"},
                others_quiet=True, others_evidence="Nova: o1 ACTIVE", duplicates={},
                inspector_record={"errors": []}, forced_down=True,
                server_states={"s1": "ERROR", "s2": "ERROR"}, notification_ms=120.0,
                threshold_ms=1000.0)
    base.update(changes)
    return FaultFacts(**base)


def record_of(tmp_path: Path, f: FaultFacts) -> dict:
    verdict = fault_management_verdict(f)
    props: list[tuple[str, object]] = []
    publish(verdict, {"verdict": "PASS", "notification_ms": f.notification_ms},
            Settings(results_dir=tmp_path), 1.0, 2.0, lambda k, v: props.append((k, v)))
    written = json.loads((tmp_path / "results.json").read_text())
    assert ("criteria", written["criteria"]) in props  # JUnit says what the record says
    return written


def test_a_clean_run_is_a_pass_record(tmp_path: Path) -> None:
    record = record_of(tmp_path, facts())
    assert record["criteria"] == "PASS"
    assert all(c["passed"] for c in record["details"]["checks"])
    fault_management_verdict(facts()).assert_passed()


@pytest.mark.parametrize("change, failed", [
    ({"duplicates": {"a1": ["x", "y"]}}, "every alarm delivered once"),
    ({"inspector_record": {"errors": [{"action": "reset", "resource": "s1"}]}},
     "no inspector action failed"),
    ({"inspector_record": None}, "the inspector handled the fault"),
    ({"alarmed_servers": {"s1"}}, "alarm for every server on the host"),
    ({"others_quiet": False}, "no alarm for the server that did not fail"),
    ({"forced_down": False}, "nova-compute forced down"),
    ({"server_states": {"s1": "ERROR", "s2": "ACTIVE"}}, "servers on the host ERROR"),
    ({"notification_ms": 1200.0}, "notification under the threshold"),
    ({"notification_ms": None}, "notification under the threshold"),
    ({"port_states": {"p1": "DOWN", "p2": None}}, "ports on the host DOWN"),
    ({"port_states": {}}, "ports on the host DOWN"),
])
def test_any_failed_check_makes_the_record_fail(tmp_path: Path, change: dict,
                                                failed: str) -> None:
    record = record_of(tmp_path, facts(**change))
    assert record["criteria"] == "FAIL"
    # the profile's own PASS (notification time) does not pass for the run's
    assert record["details"]["notification_verdict"] == "PASS"
    assert [c["name"] for c in record["details"]["checks"] if not c["passed"]] == [failed]
    with pytest.raises(AssertionError, match=failed):
        fault_management_verdict(facts(**change)).assert_passed()


def test_a_verdict_with_no_check_does_not_pass() -> None:
    from doctor_tests.harness.verdict import Verdict

    assert not Verdict("x").passed
    with pytest.raises(AssertionError, match="no check"):
        Verdict("x").assert_passed()


def test_a_check_that_is_not_the_inspectors_job_is_named_not_dropped(tmp_path: Path) -> None:
    why = "not Vitrage's job: its template has no Neutron action"
    f = facts(inspector="vitrage", inspector_evidence="Vitrage: host marked down",
              port_states=None, ports_not_applicable=why)
    record = record_of(tmp_path, f)
    assert record["criteria"] == "PASS"
    [ports] = [c for c in record["details"]["checks"] if c["name"] == "ports on the host DOWN"]
    assert ports == {"name": "ports on the host DOWN", "passed": True, "applicable": False,
                     "evidence": why}
    verdict = fault_management_verdict(f)
    assert ("check_ports_on_the_host_DOWN", "N/A") in verdict.properties()
    assert "N/A ports on the host DOWN: " + why in [c.line() for c in verdict.checks]
    handled = [c for c in verdict.checks if c.name == "the inspector handled the fault"][0]
    assert handled.evidence == "Vitrage: host marked down"
    failed = fault_management_verdict(facts(inspector="vitrage", inspector_record=None))
    assert "vitrage shows no handling of c0" in failed.failures()[0].detail


def test_a_verdict_of_checks_that_do_not_apply_only_does_not_pass() -> None:
    from doctor_tests.harness.verdict import Verdict

    verdict = Verdict("x")
    verdict.not_applicable("ports", "not this inspector's")
    assert not verdict.passed
    with pytest.raises(AssertionError, match="no check"):
        verdict.assert_passed()


# --- the undo finishes once started --------------------------------------------------------

def test_signals_during_the_undo_are_ignored_then_the_next_one_stops_it() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Cleanup()
    done: list[str] = []
    for i in range(5):
        stack.add("step %d" % i, done.append, "step %d" % i)
    # signals arrive during the undo of steps 4, 3 (ignored) and 2 (stops it)
    for i in (4, 3):
        stack._stack[i] = ("step %d" % i, lambda i=i: (os.kill(os.getpid(), signal.SIGINT),
                                                       done.append("step %d" % i)), (), {})
    assert SIGNALS_TOLERATED == 2
    stack._stack[2] = ("step 2", lambda: os.kill(os.getpid(), signal.SIGTERM), (), {})
    with pytest.raises(CleanupInterrupted):
        stack.run()
    assert done == ["step 4", "step 3"]
    assert stack.remaining() == ["step 2", "step 1", "step 0"]  # still to undo, in order
    # the handlers are back as they were (Python's default_int_handler in a terminal;
    # SIG_IGN where the test runner was started in the background)
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_ctrl_c_twice_during_the_undo_of_a_real_process_does_not_stop_it(tmp_path: Path) -> None:
    """A child process undoes a stack while the test sends it SIGINT twice, like make and tox
    forwarding the terminal's Ctrl-C: every undo runs."""
    script = tmp_path / "undo.py"
    ready = tmp_path / "ready"
    script.write_text(textwrap.dedent("""
        import sys, threading
        from pathlib import Path
        from doctor_tests.cleanup import Cleanup
        stack = Cleanup()
        gate = threading.Event()
        stack.add("last", print, "undone last")
        stack.add("slow", lambda: (Path(sys.argv[1]).write_text("x"), gate.wait(3)))
        stack.run()
        print("finished")
    """))
    proc = subprocess.Popen([sys.executable, str(script), str(ready)], stdout=subprocess.PIPE,
                            text=True)
    from doctor_tests.waiting import wait_until

    wait_until(ready.exists, 30, "the child to start its undo", interval=0.02)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "undone last" in out and "finished" in out, out


# --- owners of runs ------------------------------------------------------------------------

def test_a_run_owned_by_this_process_is_alive() -> None:
    description = resources.owner_description()
    assert resources.owner_alive(description) is True


def test_a_run_whose_process_is_gone_is_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = resources.owner_token(proc.pid)
    proc.wait()
    assert resources.owner_alive("x; runner=" + token) is False


def test_a_reused_pid_is_not_the_same_run() -> None:
    host, pid, started = resources.owner_token().rsplit(":", 2)
    assert resources.owner_alive("runner=%s:%s:%d" % (host, pid, int(started) - 100)) is False


def test_an_owner_that_cannot_be_told_is_none() -> None:
    assert resources.owner_alive("Doctor test run (removed at the end)") is None
    assert resources.owner_alive("runner=elsewhere:1:2") is None
    assert resources.owner_alive("runner=%s:x:y" % socket.gethostname()) is None


# A scenario stand-in: says it is ready, and on SIGINT takes a second to "undo" (writes
# the file) before it exits, as a scenario's clean-up does.
_UNDOING_CHILD = """
import pathlib, signal, sys, time
d = pathlib.Path(sys.argv[1])
def undo(signum, frame):
    time.sleep(1.0)
    (d / "undone").write_text("yes")
    sys.exit(130)
signal.signal(signal.SIGINT, undo)
(d / "ready").write_text("yes")
time.sleep(60)
"""


def test_an_interrupted_run_child_waits_for_the_child_to_undo(tmp_path: Path) -> None:
    """Ctrl-C (or a kill of the bench matrix alone) must not cut the running scenario's
    undo short: subprocess.run killed it 0.25 s after the interrupt and left its project
    and a forced-down host in the lab."""

    def interrupt_when_ready() -> None:
        wait_until(lambda: (tmp_path / "ready").exists(), 30, "the child to start")
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_ready, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_child([sys.executable, "-c", _UNDOING_CHILD, str(tmp_path)], os.environ, 60)
    assert (tmp_path / "undone").read_text() == "yes"


def test_run_child_stops_a_child_past_its_timeout_and_lets_it_undo(tmp_path: Path) -> None:
    started = time.monotonic()
    rc, output = run_child([sys.executable, "-c", _UNDOING_CHILD, str(tmp_path)], os.environ,
                           3.0)
    assert rc == 130 and "stopped after 3 s" in output
    assert (tmp_path / "undone").read_text() == "yes"
    assert time.monotonic() - started < 30


def test_run_child_kills_a_child_that_does_not_finish_its_undo(tmp_path: Path) -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); " \
               "print('started', flush=True); time.sleep(60)"
    rc, output = run_child([sys.executable, "-c", stubborn], os.environ, 1.0, undo_s=1.0)
    assert rc == -9 and "started" in output and "stopped after 1 s" in output
