"""``python -m doctor_tests.installer``: show an installer's layout, run its playbooks,
or ask it for its nodes.

    python -m doctor_tests.installer show
    python -m doctor_tests.installer prepare|restore
    python -m doctor_tests.installer collect-logs results/logs
    INSTALLER_IP=192.0.2.2 python -m doctor_tests.installer discover --out inv/apex

The installer is INSTALLER_TYPE (or ``--type``); ``-i`` adds inventories (the first
replaces ``inventory/<type>``), ``--limit`` and ``-e NAME=VALUE`` go to ansible-playbook.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from doctor_tests.config import ConfigError, load_settings
from doctor_tests.installer import INSTALLERS, InstallerError, get_installer
from doctor_tests.installer.discovery import write_inventory
from doctor_tests.playbook import PlaybookFailed

LOG = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m doctor_tests.installer",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", choices=list(INSTALLERS), help="default INSTALLER_TYPE")
    parser.add_argument("-i", "--inventory", action="append", type=Path, default=None)
    parser.add_argument("--limit")
    parser.add_argument("-e", "--extra-var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("show", help="the nodes and each service's files, logs and restarts")
    sub.add_parser("prepare", help="run playbooks/prepare.yml")
    sub.add_parser("restore", help="run playbooks/restore.yml")
    logs = sub.add_parser("collect-logs", help="run playbooks/collect_logs.yml")
    logs.add_argument("dest", type=Path)
    disc = sub.add_parser("discover", help="ask the installer for its nodes")
    disc.add_argument("--out", type=Path, required=True, help="inventory directory to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings({"installer_type": args.type})
        extra = dict(kv.split("=", 1) for kv in args.extra_var if "=" in kv)
        installer = get_installer(settings.installer_type, settings, inventories=args.inventory,
                                  limit=args.limit, extra_vars=extra)
        if args.action == "show":
            print(json.dumps({
                "installer": installer.name,
                "controllers": [n.__dict__ for n in installer.controllers()],
                "computes": [n.__dict__ for n in installer.computes()],
                "node_user": installer.node_user,
                "ssh_key": str(installer.ssh_key) if installer.ssh_key else None,
                "services": {k: v.__dict__ for k, v in installer.services().items()},
            }, indent=2))
        elif args.action == "discover":
            write_inventory(installer.name, installer.discover(), args.out, installer.repo)
        else:
            if args.action == "prepare":
                result = installer.prepare()
            elif args.action == "restore":
                result = installer.restore()
            else:
                result = installer.collect_logs(args.dest)
            print(json.dumps({"playbook": result.playbook, "changed": result.changed,
                              "recap": result.recap, "seconds": round(result.seconds, 1),
                              "log": str(result.log)}))
    except (ConfigError, InstallerError, PlaybookFailed) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
