"""The ``doctor`` command: the lab, clean-up and reports.

    doctor lab up [--computes N]     provision or refresh the lab (idempotent)
    doctor lab down [--purge]        stop it and remove what it started
    doctor lab status                every service and host with its state
    doctor lab logs SERVICE [-n N]   the end of a service's log
    doctor cleanup [--dry-run]       remove what interrupted runs left in the cloud
"""

from __future__ import annotations

import argparse
import logging
import sys

from tabulate import tabulate

from doctor_tests import lab

LOG = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse that names the valid choices in every error (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, "%s: error: %s\n" % (self.prog, message))


def _computes(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not valid; allowed: a whole number from 1 to %d" % (value, lab.MAX_COMPUTES)
        ) from None
    try:
        return lab.check_compute_count(n)
    except lab.LabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="doctor",
                     description="Doctor: fault-management verification for OpenStack")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    lab_p = sub.add_parser("lab", help="the local lab: a real all-in-one OpenStack on this machine")
    lab_sub = lab_p.add_subparsers(dest="lab_command", metavar="ACTION", parser_class=_Parser)
    lab_sub.required = True
    up = lab_sub.add_parser("up", help="provision or refresh the lab (idempotent)")
    up.add_argument("--computes", type=_computes, default=None,
                    help="number of compute hosts, 1 to %d (default: the inventory's, 2)"
                    % lab.MAX_COMPUTES)
    down = lab_sub.add_parser("down", help="stop the lab and remove what it started")
    down.add_argument("--purge", action="store_true",
                      help="also remove its data, configuration, logs and clouds.yaml entry")
    lab_sub.add_parser("status", help="every service and host with its state")
    logs = lab_sub.add_parser("logs", help="the end of a service's log")
    logs.add_argument("service", help="service name, for example nova-api or aodh-listener")
    logs.add_argument("-n", "--lines", type=int, default=50)
    clean = sub.add_parser("cleanup", help="remove what interrupted runs left in the cloud "
                           "(doctor-* projects and their resources, forced-down services, "
                           "lab links down)")
    clean.add_argument("--cloud", default=None,
                       help="clouds.yaml entry (default: OS_CLOUD, else the lab's doctor-lab)")
    clean.add_argument("--dry-run", action="store_true", help="say what would be done")
    return parser


def _cleanup(args: argparse.Namespace) -> int:
    import os

    from doctor_tests import cloud, leftovers

    name = args.cloud or os.environ.get("OS_CLOUD") or (
        None if os.environ.get("OS_AUTH_URL") else "doctor-lab")
    if name == "doctor-lab" or (name is None and lab.lab_dir().exists()):
        hosts = [h.name for h in lab.hosts() if h.namespace and not h.link_up]
        for host in hosts:
            print("%slink of lab host %s up" % ("would bring " if args.dry_run else "brought ",
                                                 host))
        if hosts and not args.dry_run:
            lab.links_up()
    done = leftovers.clean(cloud.admin_connection(name), dry_run=args.dry_run)
    for line in done:
        print(line)
    print("cleanup: %d thing(s) %s" % (len(done), "to do" if args.dry_run else "done"))
    return 0


def _lab(args: argparse.Namespace) -> int:
    if args.lab_command == "up":
        lab.up(args.computes)
        return 0
    if args.lab_command == "down":
        lab.down(args.purge)
        return 0
    if args.lab_command == "status":
        services, hosts, healthy = lab.status_rows()
        if not services and not hosts:
            print("the lab is not running (lab directory: %s)" % lab.lab_dir())
            return 1
        print(tabulate(services, headers=["service", "state", "detail"]))
        print()
        print(tabulate(hosts, headers=["host", "address", "namespace", "link", "ping", "ssh"]))
        print()
        mem = lab.memory_rss_mib()
        if mem:
            print("memory: %d processes, %.0f MiB RSS in all" % mem)
        print("lab: %s" % ("healthy" if healthy else "NOT healthy"))
        return 0 if healthy else 1
    if args.lab_command == "logs":
        for line in lab.tail(lab.log_path(args.service), args.lines):
            print(line)
        return 0
    raise AssertionError(args.lab_command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "lab":
            return _lab(args)
        if args.command == "cleanup":
            return _cleanup(args)
    except lab.LabError as exc:
        print("doctor: error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("doctor: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
