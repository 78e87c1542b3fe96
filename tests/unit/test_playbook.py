"""The one playbook runner: real ansible-playbook runs on localhost, read through the
project's doctor_events callback (no output scraping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctor_tests import paths, playbook
from doctor_tests.playbook import PlaybookFailed, parse_events

PLAY = """
- name: A play on this machine
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A task that works
      ansible.builtin.command: "true"
      changed_when: true
    - name: A failure that is ignored
      ansible.builtin.command: "false"
      changed_when: false
      ignore_errors: true
    - name: A failure inside a rescued block
      block:
        - name: Fails then rescued
          ansible.builtin.fail:
            msg: rescued soon
      rescue:
        - name: The rescue
          ansible.builtin.debug:
            msg: fine
    - name: The step that fails
      ansible.builtin.fail:
        msg: "{{ why }}"
      when: why | length > 0
"""


def _run(tmp_path: Path, why: str, progress: list[str]) -> playbook.PlaybookResult:
    book = tmp_path / "play.yml"
    book.write_text(PLAY)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_python_interpreter: "
                         "'{{ ansible_playbook_python }}'\n")
    return playbook.run(book, [inventory], extra_vars={"why": why}, log=tmp_path / "out.log",
                        timeout_s=120, progress=progress.append)


def test_a_real_run_reports_its_tasks_and_recap(tmp_path: Path) -> None:
    progress: list[str] = []
    result = _run(tmp_path, "", progress)
    assert result.rc == 0 and result.changed == 1
    assert result.recap["localhost"]["ignored"] == 1 and result.recap["localhost"]["rescued"] == 1
    assert any("A task that works" in line for line in progress), progress
    assert (tmp_path / "out.log").read_text().count("TASK [") >= 4


def test_a_real_failure_names_the_task_the_host_and_the_message(tmp_path: Path) -> None:
    with pytest.raises(PlaybookFailed) as err:
        _run(tmp_path, "the disk is full", [])
    failure = err.value
    assert failure.rc == 2 and failure.playbook == "play.yml"
    assert failure.task == "The step that fails" and failure.host == "localhost"
    # the ignored and the rescued failures are not what failed the run
    assert [f.task for f in failure.failures] == ["The step that fails"]
    assert "the disk is full" in str(failure) and str(tmp_path / "out.log") in str(failure)


def test_events_skip_ignored_failures_and_partial_lines() -> None:
    lines = ['{"event": "failed", "task": "a", "host": "h", "message": "m", "ignored": true}',
             '{"event": "unreachable", "task": "b", "host": "h2", "message": "no route"}',
             '{"event": "stats", "hosts": {"h2": {"ok": 1, "unreachable": 1}}}', '{"event": "fa']
    events = parse_events(lines)
    assert [(f.task, f.host, f.unreachable) for f in events.failures] == [("b", "h2", True)]
    assert events.recap == {"h2": {"ok": 1, "unreachable": 1}}


def test_a_missing_ansible_playbook_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(playbook.sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PlaybookFailed, match="ansible-playbook not found"):
        playbook.ansible_playbook_path()


def test_the_wheel_carries_what_setup_py_copies() -> None:
    root = paths.source_root()
    assert root is not None
    setup = (root / "setup.py").read_text()
    items = setup.split("ITEMS = (", 1)[1].split(")", 1)[0]
    assert tuple(x.strip().strip('"') for x in items.split(",") if x.strip()) == paths.DATA_ITEMS
