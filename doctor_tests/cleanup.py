"""Undo every change made to a cloud, newest first, also after a failure or Ctrl-C.

Each undo is registered *before* its change is made, so a change that half
happened is still undone. An undo whose resource is already gone counts as
done; an undo that fails is logged loudly and the others still run.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from openstack import exceptions as os_exc

LOG = logging.getLogger(__name__)


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
        self._lock = threading.Lock()

    def add(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._stack.append((what, fn, args, kwargs))

    def __len__(self) -> int:
        return len(self._stack)

    def run(self) -> None:
        """Run every undo, newest first; raise CleanupFailed at the end if any failed."""
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
            except BaseException as exc:  # noqa: BLE001 - keep undoing whatever happens
                LOG.error("clean-up of %s FAILED: %s: %s", what, type(exc).__name__, exc)
                failures.append((what, exc))
        if failures:
            raise CleanupFailed(failures)


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
