"""Ansible callback: the run's events as JSON lines, for Doctor's playbook runner.

Writes one JSON object per line to the file named by ``DOCTOR_ANSIBLE_EVENTS`` (nothing
when unset): ``task_start`` (task, role), ``failed`` and ``unreachable`` (task, host,
message, ignored) and, at the end, ``stats`` (the recap counts per host). The runner
(doctor_tests/playbook.py) reads these instead of scraping the human-readable output.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: doctor_events
    type: notification
    short_description: the run's events as JSON lines for Doctor's playbook runner
    description: >-
      Writes task starts, failures and the final stats as JSON lines to the file
      named by the DOCTOR_ANSIBLE_EVENTS environment variable.
    requirements: []
"""

MESSAGE_LIMIT = 4000


def _message(result: dict) -> str:
    """The most telling text of a task result: msg, then stderr, then stdout."""
    parts = []
    for key in ("msg", "reason", "stderr", "module_stderr", "stdout"):
        value = result.get(key)
        if value:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            parts.append(text.strip())
            if key in ("msg", "reason") and result.get("rc") is None:
                break
    if result.get("rc") not in (None, 0):
        parts.append("(rc=%s)" % result.get("rc"))
    return " | ".join(p for p in parts if p)[:MESSAGE_LIMIT]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "doctor_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        path = os.environ.get("DOCTOR_ANSIBLE_EVENTS")
        self._out = open(path, "a", encoding="utf-8", buffering=1) if path else None  # noqa: SIM115

    def _emit(self, **event: object) -> None:
        if self._out is not None:
            self._out.write(json.dumps(event, default=str) + "\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        self._emit(event="task_start", task=task.get_name(), role=role)

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._emit(event="failed", task=result._task.get_name(), host=result._host.get_name(),
                   message=_message(result._result), ignored=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result):
        self._emit(event="unreachable", task=result._task.get_name(),
                   host=result._host.get_name(), message=_message(result._result),
                   ignored=False)

    def v2_runner_item_on_failed(self, result):
        ignored = bool(result._task.ignore_errors)
        self._emit(event="failed", task=result._task.get_name(), host=result._host.get_name(),
                   message=_message(result._result), ignored=ignored, item=True)

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed):
            hosts[host] = stats.summarize(host)
        self._emit(event="stats", hosts=hosts)
        if self._out is not None:
            self._out.close()
            self._out = None
