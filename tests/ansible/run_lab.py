"""The lab run: prepare -> restore -> restore on the real lab, with checksums.

    .venv/bin/python tests/ansible/run_lab.py [--allow-changes]

Runs the playbooks through the ``local`` installer plugin against the lab
(``inventory/local``). Records, before and after, the sha256, mode and owner of
every file in the lab's Nova, Ceilometer, Aodh and Neutron configuration
directories, and the process ids of the programs the layout would restart.
Checks: every file the same after as before; the second restore changes
nothing; and, as the lab comes up prepared, prepare changes nothing and no
service is restarted (``--allow-changes`` for a lab that is not prepared:
then the restarts are real). Prints the checksum table; exits 1 if anything
is off.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import checksums

from doctor_tests import lab
from doctor_tests.config import Settings
from doctor_tests.installer import SERVICES, get_installer

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results" / "lab-installer"
CONFIG_DIRS = ("nova", "ceilometer", "aodh", "neutron")


def pids(programs: list[str]) -> dict[str, str]:
    """Process id of each supervised program (its ``pid N`` detail)."""
    out = {}
    for row in lab.programs():
        if row["name"] in programs:
            out[row["name"]] = row["detail"].split(",")[0]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--allow-changes", action="store_true",
                        help="the lab is not prepared: prepare may change files and restart")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    installer = get_installer("local", Settings(installer_type="local", results_dir=RESULTS))
    etc = lab.lab_dir() / "etc"
    paths = [p for d in CONFIG_DIRS for p in checksums.tree(etc / d)]
    paths += [Path(p) for s in SERVICES for p in installer.service(s).config_files]
    programs = [command.rsplit(" ", 1)[1] for s in SERVICES
                for command in installer.service(s).restart_commands]

    before = checksums.snapshot(paths, etc)
    pids_before = pids(programs)
    steps = {}
    prepared: checksums.Snapshot = {}
    for name, call in (("prepare", installer.prepare), ("restore", installer.restore),
                       ("restore again", installer.restore)):
        res = call()
        steps[name] = {"changed": res.changed, "seconds": round(res.seconds, 1),
                       "recap": res.recap}
        if name == "prepare":
            prepared = checksums.snapshot(paths, etc)
    after = checksums.snapshot(paths, etc)
    pids_after = pids(programs)
    text, equal = checksums.table(before, prepared, after)

    problems = []
    if not equal:
        problems.append("files differ after restore")
    if steps["restore again"]["changed"]:
        problems.append("the second restore changed something")
    if not args.allow_changes:
        if steps["prepare"]["changed"]:
            problems.append("prepare changed the prepared lab")
        if pids_before != pids_after:
            problems.append("services restarted: %s -> %s" % (pids_before, pids_after))
    backup = Path(str(installer.var("localhost", "doctor_backup_dir")))
    if backup.exists() and any(backup.iterdir()):
        problems.append("backups left in %s" % backup)

    print(text)
    for name, step in steps.items():
        print("%-14s changed=%d  %.1f s" % (name, step["changed"], step["seconds"]))
    print("programs (pid before -> after): " + ", ".join(
        "%s %s -> %s" % (p, pids_before.get(p, "?"), pids_after.get(p, "?")) for p in programs))
    for p in problems:
        print("PROBLEM: %s" % p)
    print("PASS" if not problems else "FAIL")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "checksums.txt").write_text(text + "\n")
    (RESULTS / "summary.json").write_text(json.dumps(
        {"steps": steps, "pids_before": pids_before, "pids_after": pids_after,
         "problems": problems}, indent=1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
