"""Read and check what Xtesting's ``file://`` results target holds.

With ``TEST_DB_URL=file:///path`` Xtesting's ``push_to_db()`` does not POST: it appends
the request it would have sent to that file, one block per record::

    POST file:///path
    User-Agent python-requests/2.x
    Content-Type application/json
    <more headers, "name value">

    {"build_tag": ..., "case_name": ..., "criteria": "PASS", "details": {...}, ...}
    <two empty lines>

So the file is not JSON lines. :func:`parse_dump` returns the records in order;
:func:`check_record` lists what is wrong with one. ``python -m
doctor_tests.xtesting.records FILE ...`` does both for a script (``tests/xtesting/run.sh``).
Nothing here needs Xtesting.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from doctor_tests.profiler.results_db import DATE_FORMAT, PROJECT, REQUIRED

_REQUEST_LINE = re.compile(r"^(POST|PUT) (\S+)$")


class DumpError(ValueError):
    """The file is not what Xtesting's ``file://`` target writes."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class DumpedRequest:
    """One request Xtesting wrote instead of sending it."""

    line: int
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


def parse_dump(text: str) -> list[DumpedRequest]:
    """Every request in ``text``, in order (the last one is the newest)."""
    lines = text.split("\n")
    found: list[DumpedRequest] = []
    index = 0
    while index < len(lines):
        match = _REQUEST_LINE.match(lines[index])
        if match is None:
            if lines[index].strip():
                raise DumpError(index + 1, f"expected 'POST <url>', got {lines[index][:60]!r}")
            index += 1
            continue
        start = index + 1
        index += 1
        headers: dict[str, str] = {}
        while index < len(lines) and lines[index]:
            name, _, value = lines[index].partition(" ")
            headers[name] = value
            index += 1
        index += 1  # the empty line after the headers
        if index >= len(lines) or not lines[index].strip():
            raise DumpError(start, "request without a body")
        try:
            record = json.loads(lines[index])
        except ValueError as exc:
            raise DumpError(index + 1, f"body is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise DumpError(index + 1, "body is not a JSON object")
        found.append(DumpedRequest(start, match.group(1), match.group(2), headers, record))
        index += 1
    return found


def read_dump(path: Path) -> list[DumpedRequest]:
    """The requests in ``path``; none when it does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return parse_dump(text)


def check_record(record: Mapping[str, Any], case_name: str, criteria: str,
                 profile: bool = False) -> list[str]:
    """What is wrong with ``record`` for a run of ``case_name`` that should give
    ``criteria`` (PASS/FAIL); ``profile``: ``details`` must carry the profile (the
    checkpoints, or the repeated-runs summary). An empty list: nothing."""
    problems = [f"no {key!r}" for key in REQUIRED if key not in record]
    expected = {"project_name": PROJECT, "case_name": case_name, "criteria": criteria}
    problems += [f"{key} is {record[key]!r}, expected {value!r}"
                 for key, value in expected.items() if key in record and record[key] != value]
    dates = []
    for key in ("start_date", "stop_date"):
        try:
            dates.append(datetime.strptime(str(record.get(key)), DATE_FORMAT))
        except ValueError:
            problems.append(f"{key} {record.get(key)!r} is not {DATE_FORMAT}")
    if len(dates) == 2 and dates[1] < dates[0]:
        problems.append(f"stop_date {record['stop_date']} before start_date "
                        f"{record['start_date']}")
    details = record.get("details")
    if not isinstance(details, dict):
        problems.append(f"details is {type(details).__name__}, expected an object")
    elif profile and "checkpoints" not in details and "runs" not in details:
        problems.append("details carry no profile (no 'checkpoints', no 'runs'); keys: "
                        + ", ".join(sorted(details)))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """``FILE --count``: how many records; ``FILE --case C --criteria PASS [--since N]``:
    exactly one record after the first N, and it is right (exit 1 and the problems if not)."""
    parser = argparse.ArgumentParser(prog="python -m doctor_tests.xtesting.records",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the file TEST_DB_URL=file://... names")
    parser.add_argument("--count", action="store_true", help="print the number of records")
    parser.add_argument("--case", help="expected case_name")
    parser.add_argument("--criteria", choices=("PASS", "FAIL"), help="expected criteria")
    parser.add_argument("--since", type=int, default=0,
                        help="records already there before the run (checked: the ones after)")
    parser.add_argument("--profile", action="store_true", help="details must hold the profile")
    args = parser.parse_args(argv)
    try:
        requests = read_dump(args.file)
    except (OSError, DumpError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    if args.count:
        print(len(requests))
        return 0
    if not args.case or not args.criteria:
        parser.error("--case and --criteria are needed unless --count")
    new = requests[args.since:]
    if len(new) != 1:
        print(f"{args.file}: {len(new)} new records after the first {args.since}, expected 1",
              file=sys.stderr)
        return 1
    problems = check_record(new[0].record, args.case, args.criteria, profile=args.profile)
    for problem in problems:
        print(f"{args.file}:{new[0].line}: {problem}", file=sys.stderr)
    if problems:
        return 1
    summary = {key: new[0].record[key] for key in REQUIRED if key != "details"}
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
