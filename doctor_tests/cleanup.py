"""Undo every change made to a cloud, newest first, also after a failure or Ctrl-C.

Each undo is registered *before* its change is made, so a change that half
happened is still undone. An undo whose resource is already gone counts as
done; an undo that fails is logged loudly and the others still run.

Once started, the undo finishes: Ctrl-C reaches every process of the foreground
group (make, tox, pytest) and tox forwards its own interrupt too, so a run that is
being interrupted gets more signals while it undoes. The first
:data:`SIGNALS_TOLERATED` SIGINT/SIGTERM during the undo are logged and ignored; one
more cuts it short, and the message names ``doctor cleanup``.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from openstack import exceptions as os_exc

LOG = logging.getLogger(__name__)

#: SIGINT/SIGTERM received during the undo that are logged and ignored; the next one stops it
SIGNALS_TOLERATED = 2

#: how long a stopped child process (a scenario) is given to undo its changes
CHILD_UNDO_S = 300.0


class CleanupInterrupted(KeyboardInterrupt):
    """The undo was cut short by repeated signals; says what is left and how to remove it."""


class CleanupFailed(RuntimeError):
    """One or more undos failed; names them."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        self.failures = failures
        super().__init__("clean-up failed for: " + "; ".join(
            "%s (%s: %s)" % (what, type(exc).__name__, exc) for what, exc in failures))


class Cleanup:
    """A LIFO stack of undos: ``add(what, fn, *args)`` before changing, ``run()`` at the end."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._lock = threading.RLock()  # the signal handler reads the stack too

    def add(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._stack.append((what, fn, args, kwargs))

    def __len__(self) -> int:
        return len(self._stack)

    def run(self) -> None:
        """Run every undo, newest first; raise CleanupFailed at the end if any failed.

        SIGINT and SIGTERM are shielded while it runs (see the module's docstring)."""
        with _shielded(self):
            try:
                self._run()
            except CleanupInterrupted:
                LOG.error("clean-up cut short by repeated signals; left undone: %s; run "
                          "'doctor cleanup' to remove what this run left in the cloud",
                          "; ".join(self.remaining()) or "nothing")
                raise

    def remaining(self) -> list[str]:
        with self._lock:
            return [what for what, *_ in reversed(self._stack)]

    def _run(self) -> None:
        failures: list[tuple[str, BaseException]] = []
        while True:
            with self._lock:
                if not self._stack:
                    break
                what, fn, args, kwargs = self._stack.pop()
            try:
                fn(*args, **kwargs)
                LOG.info("undone: %s", what)
            except os_exc.NotFoundException:
                LOG.info("undone: %s (already gone)", what)
            except CleanupInterrupted:
                with self._lock:  # not done: still to undo
                    self._stack.append((what, fn, args, kwargs))
                raise
            except BaseException as exc:  # noqa: BLE001 - keep undoing whatever happens
                LOG.error("clean-up of %s FAILED: %s: %s", what, type(exc).__name__, exc)
                failures.append((what, exc))
        if failures:
            raise CleanupFailed(failures)


@contextmanager
def _shielded(stack: Cleanup) -> Iterator[None]:
    """SIGINT/SIGTERM logged and ignored SIGNALS_TOLERATED times, then CleanupInterrupted
    (only the main thread can hold signal handlers; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = [0]

    def _handle(signum: int, _frame: FrameType | None) -> None:
        received[0] += 1
        name = signal.Signals(signum).name
        if received[0] <= SIGNALS_TOLERATED:
            LOG.warning("%s during the clean-up: ignored, the undo goes on (%d more stops it "
                        "and leaves the rest for 'doctor cleanup'); still to undo: %s", name,
                        SIGNALS_TOLERATED + 1 - received[0], "; ".join(stack.remaining()))
            return
        raise CleanupInterrupted("%s during the clean-up (signal %d received)"
                                 % (name, received[0]))

    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while inside, so finalizers still run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_child(argv: Sequence[str], env: Mapping[str, str], timeout_s: float | None, *,
              capture: bool = True, undo_s: float = CHILD_UNDO_S) -> tuple[int, str]:
    """Run a child that undoes its changes on SIGINT (a scenario); (exit code, output, ""
    when not captured).

    The child runs in a session of its own, so a Ctrl-C (or SIGTERM, with
    :func:`sigterm_as_interrupt`) reaches this process only and is passed on once as
    SIGINT; a child past ``timeout_s`` gets SIGINT too. Either way the wait goes on until
    the child has undone its changes (at most ``undo_s``, then it is killed), and the
    interrupt is raised here after it. subprocess.run SIGKILLs its child 0.25 s after an
    interrupt and at once on a timeout: in the middle of its undo."""
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(list(argv), env=dict(env), stdout=pipe,
                          stderr=subprocess.STDOUT if capture else None, text=True,
                          start_new_session=True) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            LOG.error("%s: still running after %.0f s; stopping it", argv[0], timeout_s)
            out = _stop_child(proc, undo_s) + "\n(stopped after %.0f s)" % (timeout_s or 0)
        except KeyboardInterrupt:
            _stop_child(proc, undo_s)
            raise
    return proc.returncode, out or ""


def _stop_child(proc: subprocess.Popen[str], undo_s: float) -> str:
    """SIGINT to ``proc`` (once more for each interrupt received meanwhile), then wait for it
    to end, at most ``undo_s``; its remaining output."""
    deadline = time.monotonic() + undo_s
    while True:
        proc.send_signal(signal.SIGINT)
        LOG.warning("stopping pid %d: it is undoing its changes; waiting up to %.0f s",
                    proc.pid, max(0.0, deadline - time.monotonic()))
        try:
            out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
            return out or ""
        except KeyboardInterrupt:
            continue
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            LOG.error("pid %d did not finish its undo in %.0f s and was killed: run 'doctor "
                      "cleanup' to remove what it left in the cloud", proc.pid, undo_s)
            return out or ""


def wait_for_stop_signal() -> int:
    """Block until SIGTERM or SIGINT (a standalone service's main loop); returns the signal."""
    stop = threading.Event()
    received: list[int] = []

    def _stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("signal %d: stopping", signum)
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.wait(3600):
        pass
    return received[0]
