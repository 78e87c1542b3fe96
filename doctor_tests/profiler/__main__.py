"""``doctor-profile RESULTS_DIR``: re-render a saved profile (and summarise repeats).

Reads ``RESULTS_DIR/profile.json``, prints the tables, writes ``profile.svg`` and
``profile.png`` (unless ``--no-png``). When repeated runs were
saved as ``profile-<n>.json`` they are summarised too (table, ``profile-summary.json``).
Exit status: 0 done, 2 bad input (missing directory, missing or malformed file).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from doctor_tests.profiler.aggregate import SUMMARY_JSON, aggregate, summary_table
from doctor_tests.profiler.report import (
    PROFILE_JSON,
    BadProfile,
    load_profile,
    render_text,
    write_json,
)
from doctor_tests.profiler.svg import to_png, write_svg

LOG = logging.getLogger(__name__)
_REPEAT = re.compile(r"^profile-(?!summary\.json$).+\.json$")


class UsageError(Exception):
    """Bad command-line input; the message says what to fix."""


def repeat_files(folder: Path) -> list[Path]:
    """``profile-*.json`` of repeated runs (not the summary), in name order."""
    return sorted(p for p in folder.iterdir() if _REPEAT.match(p.name) and p.is_file())


def run(results_dir: Path, png: bool = True, out: TextIO | None = None) -> int:
    """Render what ``results_dir`` holds; raises UsageError for missing or bad input."""
    stream = out if out is not None else sys.stdout
    if not results_dir.is_dir():
        raise UsageError(f"results directory {results_dir} does not exist")
    main_file = results_dir / PROFILE_JSON
    repeats = repeat_files(results_dir)
    if not main_file.is_file() and not repeats:
        raise UsageError(f"no {PROFILE_JSON} (nor profile-*.json) in {results_dir}: "
                         "run a scenario with the profiler first")
    try:
        if main_file.is_file():
            profile = load_profile(main_file)
            print(render_text(profile), file=stream)
            svg = write_svg(profile, results_dir / "profile.svg", png=False)
            picture = to_png(profile, svg.with_suffix(".png")) if png else None
            print(f"\npicture: {svg}" + (f" and {picture}" if picture else ""),
                  file=stream)
        if repeats:
            summary = aggregate(load_profile(p) for p in repeats)
            path = write_json(summary, results_dir / SUMMARY_JSON)
            print(f"\n{summary_table(summary)}\nsummary: {path}",
                  file=stream)
    except BadProfile as exc:
        raise UsageError(str(exc)) from exc
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="doctor-profile",
        description="Re-render a Doctor profile (tables, profile.svg) from a results "
                    "directory; summarise profile-*.json repeats.")
    parser.add_argument("results_dir", type=Path, help="directory holding profile.json")
    parser.add_argument("--no-png", action="store_true", help="do not render profile.png")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args.results_dir, png=not args.no_png)
    except UsageError as exc:
        print(f"doctor-profile: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
