"""Xtesting's file:// results target: the dump it writes, parsed and checked (no Xtesting)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from doctor_tests.xtesting.records import DumpError, check_record, main, parse_dump, read_dump


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "build_tag": "jenkins-doctor-daily-master-7", "case_name": "fault_management",
        "criteria": "PASS", "details": {"verdict": "PASS", "checkpoints": {"T00": {"ms": 0.0}},
                                        "pytest_returncode": 0},
        "installer": "local", "pod_name": "lab", "project_name": "doctor",
        "scenario": "os-nosdn-nofeature-noha", "start_date": "2026-11-24 22:10:17",
        "stop_date": "2026-11-24 22:11:02", "version": "master"}
    base.update(changes)
    return base


def dump(*records: dict[str, Any], url: str = "file:///tmp/x.json") -> str:
    """What xtesting.utils.decorators.can_dump_request_to_file appends, per record."""
    blocks = []
    for rec in records:
        body = json.dumps(rec, sort_keys=True)
        headers = ("User-Agent python-requests/2.34.2\nAccept-Encoding gzip, deflate\n"
                   "Accept */*\nConnection keep-alive\nContent-Type application/json\n"
                   f"Content-Length {len(body)}\n")
        blocks.append(f"POST {url}\n{headers}\n{body}\n\n\n")
    return "".join(blocks)


def test_parse_dump_returns_every_record_in_order() -> None:
    first, second = record(), record(criteria="FAIL", details={"pytest_returncode": 1})
    found = parse_dump(dump(first, second))
    assert [r.record for r in found] == [first, second]
    assert found[0].method == "POST" and found[0].url == "file:///tmp/x.json"
    assert found[0].headers["Content-Type"] == "application/json"
    assert (found[0].line, found[1].line) == (1, 12)
    assert parse_dump("") == []


@pytest.mark.parametrize(("text", "problem"), [
    ('{"project_name": "doctor"}\n', "expected 'POST <url>'"),
    ("POST file:///x\nContent-Type application/json\n\n{oops\n", "body is not JSON"),
    ("POST file:///x\nContent-Type application/json\n\n[1]\n", "not a JSON object"),
    ("POST file:///x\nContent-Type application/json\n", "without a body"),
])
def test_parse_dump_rejects_what_xtesting_does_not_write(text: str, problem: str) -> None:
    with pytest.raises(DumpError, match=problem):
        parse_dump(text)


def test_read_dump_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_dump(tmp_path / "none.json") == []


def test_check_record_accepts_a_good_record() -> None:
    assert check_record(record(), "fault_management", "PASS", profile=True) == []
    summary = record(details={"runs": 3, "verdicts": {"PASS": 3}})
    assert check_record(summary, "fault_management", "PASS", profile=True) == []


def test_check_record_names_each_problem() -> None:
    bad = record(project_name="functest", criteria="FAIL", stop_date="2026-11-24 22:00:00",
                 details={"pytest_returncode": 1})
    del bad["pod_name"]
    problems = check_record(bad, "fault_management", "PASS", profile=True)
    assert problems == [
        "no 'pod_name'",
        "project_name is 'functest', expected 'doctor'",
        "criteria is 'FAIL', expected 'PASS'",
        "stop_date 2026-11-24 22:00:00 before start_date 2026-11-24 22:10:17",
        "details carry no profile (no 'checkpoints', no 'runs'); keys: pytest_returncode",
    ]
    assert check_record(record(start_date="yesterday", details=None), "fault_management",
                        "PASS") == ["start_date 'yesterday' is not %Y-%m-%d %H:%M:%S",
                                    "details is NoneType, expected an object"]


def test_main_counts_and_checks_the_new_record(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "xtesting-results.json"
    path.write_text(dump(record(criteria="FAIL", details={}), record()))
    assert main([str(path), "--count"]) == 0
    assert capsys.readouterr().out == "2\n"
    args = [str(path), "--case", "fault_management", "--criteria", "PASS", "--profile"]
    assert main([*args, "--since", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["criteria"] == "PASS"
    assert main([*args, "--since", "0"]) == 1  # two new records, not one
    assert "2 new records after the first 0" in capsys.readouterr().err
    path.write_text(dump(record(criteria="FAIL")))
    assert main(args) == 1
    assert "criteria is 'FAIL', expected 'PASS'" in capsys.readouterr().err
    path.write_text("garbage\n")
    assert main(args) == 1
    assert "line 1: expected 'POST <url>'" in capsys.readouterr().err
