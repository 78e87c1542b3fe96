"""Doctor's one way to run an Ansible playbook: structured events, one error type.

``ansible-playbook`` runs with the project's ``doctor_events`` callback
(``plugins/callback/doctor_events.py``), which writes the run's events as JSON lines;
this module reads them while the playbook runs (progress: one line per task) and at the
end (the recap counts, the failed task, host and message). The human-readable output
goes to a log file, kept for the person who wants all of it.

Why not ansible-runner: it would add a dependency (and a private data directory per
run) for what a 90-line callback gives, and its event stream is read the same way.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctor_tests.paths import data_root

LOG = logging.getLogger(__name__)

EVENTS_ENV = "DOCTOR_ANSIBLE_EVENTS"
TAIL_LINES = 30


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed on a host (``unreachable``: the host could not be reached)."""

    task: str
    host: str
    message: str
    unreachable: bool = False

    def __str__(self) -> str:
        what = "unreachable" if self.unreachable else "failed"
        return "task %r %s on %s: %s" % (self.task, what, self.host, self.message)


class PlaybookFailed(RuntimeError):
    """A playbook did not succeed: names the playbook, the failed task, the host and the
    message (every failure when there are several), and where the full output is."""

    def __init__(self, playbook: str, rc: int, failures: Sequence[TaskFailure] = (),
                 tail: Sequence[str] = (), log: Path | None = None) -> None:
        self.playbook, self.rc, self.log = playbook, rc, log
        self.failures, self.tail = list(failures), list(tail)
        where = "; full output in %s" % log if log else ""
        if self.failures:
            detail = "\n".join("  " + str(f) for f in self.failures)
        else:
            detail = "\n".join("  " + line for line in self.tail) or "  (no output)"
        super().__init__("%s failed (exit %d)%s:\n%s" % (playbook, rc, where, detail))

    @property
    def task(self) -> str | None:
        return self.failures[0].task if self.failures else None

    @property
    def host(self) -> str | None:
        return self.failures[0].host if self.failures else None


@dataclass(frozen=True)
class PlaybookResult:
    """A finished playbook run: the recap counts per host and where the output is."""

    playbook: str
    rc: int
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    log: Path | None = None
    seconds: float = 0.0
    tasks: int = 0

    def total(self, key: str) -> int:
        return sum(counts.get(key, 0) for counts in self.recap.values())

    @property
    def changed(self) -> int:
        return self.total("changed")


@dataclass
class Events:
    """What the callback reported (see :func:`read_events`)."""

    tasks: list[str] = field(default_factory=list)
    failures: list[TaskFailure] = field(default_factory=list)
    recap: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_events(lines: Sequence[str]) -> Events:
    """The callback's JSON lines as :class:`Events`. ``failures``: per host, the last
    failure that was not ignored (a failure a block rescued is followed by other tasks on
    that host, so the one that failed the run is the last); a failed loop item counts
    only when its task reported no failure of its own."""
    out = Events()
    last: dict[str, TaskFailure] = {}
    last_item: dict[str, TaskFailure] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        kind = event.get("event")
        if kind == "task_start":
            out.tasks.append(str(event.get("task", "")))
        elif kind in ("failed", "unreachable") and not event.get("ignored"):
            host = str(event.get("host", ""))
            failure = TaskFailure(str(event.get("task", "")), host,
                                  str(event.get("message", "")), kind == "unreachable")
            (last_item if event.get("item") else last)[host] = failure
        elif kind == "stats":
            out.recap = {str(h): {str(k): int(v) for k, v in counts.items()}
                         for h, counts in (event.get("hosts") or {}).items()}
    hosts = list(dict.fromkeys([*last, *last_item]))
    out.failures = [last.get(h) or last_item[h] for h in hosts]
    if out.recap:  # hosts whose run went on to the end were rescued, not failed
        out.failures = [f for f in out.failures
                        if out.recap.get(f.host, {}).get("failures", 1)
                        or out.recap.get(f.host, {}).get("unreachable", 1)]
    return out


def ansible_playbook_path() -> str:
    """``ansible-playbook`` beside this Python (the virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise PlaybookFailed("ansible-playbook", 127, tail=[
            "ansible-playbook not found: install the package (pip install doctor-tests brings "
            "ansible-core) or run 'make venv'"])
    return found


def playbook_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every playbook runs with: Doctor's ansible.cfg (roles, callbacks)."""
    env = dict(os.environ if environ is None else environ)
    root = data_root()
    env.update(ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1",
               ANSIBLE_CALLBACK_PLUGINS=str(root / "plugins" / "callback"),
               ANSIBLE_ROLES_PATH=str(root / "roles"))
    return env


#: ``(cmd, env, cwd, log, timeout_s, on_event) -> (rc, event lines, output lines)``
Runner = Callable[[list[str], Mapping[str, str], Path, Path, float,
                   Callable[[dict[str, Any]], None] | None],
                  tuple[int, list[str], list[str]]]


def run_subprocess(cmd: list[str], env: Mapping[str, str], cwd: Path, log: Path,
                   timeout_s: float,
                   on_event: Callable[[dict[str, Any]], None] | None = None
                   ) -> tuple[int, list[str], list[str]]:
    """Run ``cmd`` with the callback's events going to a file of their own; the output
    into ``log``. ``on_event`` sees each event as it comes. Returns (rc, event lines,
    output lines)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fd, events_name = tempfile.mkstemp(prefix="doctor-ansible-", suffix=".jsonl")
    os.close(fd)
    events_path = Path(events_name)
    run_env = dict(env)
    run_env[EVENTS_ENV] = str(events_path)
    seen: list[str] = []
    output: list[str] = []

    partial = [""]

    def drain(stream: Any) -> None:
        """Take the complete lines written so far (the writer may be mid-line)."""
        partial[0] += stream.read()
        *complete, partial[0] = partial[0].split("\n")
        for line in complete:
            seen.append(line)
            if on_event is not None:
                try:
                    on_event(json.loads(line))
                except ValueError:
                    pass

    try:
        with open(log, "w", encoding="utf-8") as out, \
                open(events_path, encoding="utf-8") as events, subprocess.Popen(
                    cmd, cwd=cwd, env=run_env, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
            timer = threading.Timer(timeout_s, proc.kill)
            timer.start()
            reader = threading.Thread(target=_copy_output, args=(proc.stdout, out, output),
                                      daemon=True)
            reader.start()
            try:
                while proc.poll() is None:
                    drain(events)
                    reader.join(0.1)
                reader.join(5)
                drain(events)
                rc = proc.returncode
            finally:
                timer.cancel()
    finally:
        events_path.unlink(missing_ok=True)
    if rc < 0:
        output.append("(killed after %.0f s or by signal %d)" % (timeout_s, -rc))
    return rc, seen, output


def _copy_output(stream: Any, out: Any, lines: list[str]) -> None:
    for line in stream:
        out.write(line)
        lines.append(line.rstrip("\n"))


def run(playbook: str | Path, inventories: Sequence[Path], *,
        extra_vars: Mapping[str, Any] | None = None, limit: str | None = None,
        log: Path, environ: Mapping[str, str] | None = None,
        timeout_s: float = 1800.0, progress: Callable[[str], None] | None = None,
        runner: Runner | None = None) -> PlaybookResult:
    """Run ``playbooks/<playbook>`` (or a path) against ``inventories``.

    ``progress`` gets one line per task as the play goes (``[  12.3s]  7 task name``).
    Raises :class:`PlaybookFailed` naming the failed task, host and message.
    """
    path = Path(playbook)
    if not path.is_absolute():
        path = data_root() / "playbooks" / playbook
    cmd = [ansible_playbook_path()]
    for inventory in inventories:
        cmd += ["-i", str(inventory)]
    if limit:
        cmd += ["--limit", limit]
    if extra_vars:
        cmd += ["-e", json.dumps(dict(extra_vars), sort_keys=True)]
    cmd.append(str(path))
    return run_command(cmd, path.name, log=log, env=playbook_env(environ),
                       timeout_s=timeout_s, progress=progress, runner=runner)


def run_command(cmd: list[str], name: str, *, log: Path, env: Mapping[str, str],
                timeout_s: float = 1800.0, progress: Callable[[str], None] | None = None,
                runner: Runner | None = None) -> PlaybookResult:
    """Run an ansible-playbook command line (see :func:`run`)."""
    LOG.debug("running %s", cmd)
    started = time.monotonic()
    count = [0]

    def on_event(event: dict[str, Any]) -> None:
        if progress is None or event.get("event") != "task_start":
            return
        task = str(event.get("task", ""))
        if "Validating arguments against arg spec" in task:
            return
        count[0] += 1
        progress("[%6.1fs] %3d %s" % (time.monotonic() - started, count[0], task))

    rc, event_lines, output = (runner or run_subprocess)(
        cmd, env, data_root(), log, timeout_s, on_event)
    seconds = time.monotonic() - started
    events = parse_events(event_lines)
    if rc != 0:  # a failure rescued by a block does not fail the run
        raise PlaybookFailed(name, rc, events.failures, _tail(output), log)
    return PlaybookResult(name, rc, events.recap, log, seconds, len(events.tasks))


def _tail(lines: Sequence[str]) -> list[str]:
    """The failure lines of the human output if there are any, else its last lines."""
    failures = [ln for ln in lines if ln.startswith(("fatal:", "failed:", "ERROR", "[ERROR]"))]
    return (failures or list(lines))[-TAIL_LINES:]
