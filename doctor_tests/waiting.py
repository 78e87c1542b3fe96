"""Polling with a deadline: the suite's only way to wait for a cloud."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was waited for did not happen in time; says what and what was last seen."""

    def __init__(self, what: str, timeout: float, last: object = None) -> None:
        self.what, self.timeout, self.last = what, timeout, last
        detail = "" if last is None else "; last seen: %s" % (last,)
        super().__init__("timed out after %.1f s waiting for %s%s" % (timeout, what, detail))


def wait_until(predicate: Callable[[], T], timeout: float, what: str,
               interval: float = 0.2, describe: Callable[[], object] | None = None) -> T:
    """Call ``predicate`` until it returns something truthy (returned), or raise WaitTimeout.

    ``interval`` is the pause between calls (an Event wait, so Ctrl-C still interrupts).
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout, describe() if describe else result)
        pause.wait(min(interval, max(0.0, deadline - time.monotonic())))
