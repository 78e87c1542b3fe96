"""Ansible callback: the time of every task and the slowest ones at the end.

Enabled in ansible.cfg; prints nothing with DOCTOR_TIMER=0.
"""

from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: doctor_timer
    type: aggregate
    short_description: time per task, slowest tasks at the end
    description: >-
      Prints each task's duration when it ends and the ten slowest tasks
      at the end of the play.
    requirements: []
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "doctor_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()
        self._task: tuple[str, float] | None = None
        self._times: list[tuple[float, str]] = []
        self._quiet = os.environ.get("DOCTOR_TIMER") == "0"

    def _close(self) -> None:
        if self._task is None:
            return
        name, started = self._task
        took = time.monotonic() - started
        self._times.append((took, name))
        self._task = None
        if not self._quiet and took >= 1.0:
            self._display.display(
                "[%6.1fs] %s took %.1fs" % (time.monotonic() - self._start, name, took)
            )

    def v2_playbook_on_task_start(self, task, is_conditional):  # noqa: D401
        self._close()
        self._task = (task.get_name(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close()
        if self._quiet:
            return
        total = time.monotonic() - self._start
        self._display.display("lab: %.1fs in all; slowest tasks:" % total)
        for took, name in sorted(self._times, reverse=True)[:10]:
            self._display.display("  %6.1fs  %s" % (took, name))
