"""The ``doctor`` command: the lab, clean-up and reports.

    doctor lab up [--computes N] [--force]  provision or refresh the lab (idempotent)
    doctor lab down [--purge]        stop it and remove what it started
    doctor lab status                every service and host with its state
    doctor lab logs SERVICE [-n N]   the end of a service's log
    doctor cleanup [--dry-run]       remove what interrupted runs left in the cloud
    doctor bench [--counts 1,10,...] notification time against server count, the reset-state
                                     ceiling and the soak (docs/benchmarks/)
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tabulate import tabulate

from doctor_tests import lab
from doctor_tests.playbook import PlaybookFailed

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


def _bench_type(parse: Callable[..., Any], *args: Any) -> Callable[[str], Any]:
    """An argparse type from a doctor_tests.bench.options parser (its error names the value
    and what is allowed; argparse adds the option)."""
    from doctor_tests.bench.options import BenchOptionError

    def convert(value: str) -> Any:
        try:
            return parse(value, *args)
        except BenchOptionError as exc:
            raise argparse.ArgumentTypeError("%r is not valid; allowed: %s"
                                             % (exc.value, exc.allowed)) from None

    convert.__name__ = parse.__name__
    return convert


def _inspectors(text: str) -> tuple[str, ...]:
    from doctor_tests.bench import options as bo
    from doctor_tests.bench import peers

    try:
        return peers.parse_inspectors(text)
    except ValueError as exc:
        raise bo.BenchOptionError("--inspectors", text, str(exc)) from None


def _add_bench(sub: Any) -> None:
    from doctor_tests.bench import options as bo
    from doctor_tests.bench import peers
    from doctor_tests.bench.runner import DEFAULT_OUTPUT

    bench = sub.add_parser(
        "bench", help="on the lab: notification time against server count, Nova's "
        "reset-state ceiling, the soak for false alarms (docs/benchmarks/)")
    bench.add_argument("--counts", type=_bench_type(bo.parse_counts, "--counts"),
                       default=None, metavar="N,N,...",
                       help="servers on the failed host at each point (default %s; with "
                       "--inspectors %s)" % (",".join(map(str, bo.DEFAULT_COUNTS)),
                                             ",".join(map(str, peers.DEFAULT_COUNTS))))
    bench.add_argument("--runs", type=_bench_type(bo.parse_positive_int, "--runs"),
                       default=None, metavar="K",
                       help="fault runs per point and variant (default %d; with --inspectors "
                       "%d)" % (bo.DEFAULT_RUNS, peers.DEFAULT_RUNS))
    bench.add_argument("--inspectors", type=_bench_type(_inspectors), default=None,
                       metavar="NAME,...",
                       help="instead of the sweep: the same fault handled by each inspector, "
                       "side by side (%s; sample, the reference, among them), with the "
                       "ratio to sample; writes docs/benchmarks/peers.json and peers.md "
                       "unless --output says otherwise (docs/peers.md)"
                       % ",".join(peers.INSPECTORS))
    bench.add_argument("--masakari-default-wait",
                       type=_bench_type(bo.parse_non_negative_int, "--masakari-default-wait"),
                       default=peers.MASAKARI_DEFAULT_WAIT_S, metavar="S",
                       help="with --inspectors ...masakari: one more Masakari run at one "
                       "server with this wait after disabling the host (default %d, "
                       "Masakari's own; 0 skips)" % peers.MASAKARI_DEFAULT_WAIT_S)
    bench.add_argument("--variants", type=_bench_type(bo.parse_variants, "--variants"),
                       default=bo.parse_variants(",".join(bo.DEFAULT_VARIANTS)),
                       metavar="NAME,...",
                       help="inspector variants, the first gives the main figures (default "
                       "%s; a variant the inspector does not accept is skipped): %s"
                       % (",".join(bo.DEFAULT_VARIANTS), bo.ALLOWED_VARIANTS))
    bench.add_argument("--strategies", type=_bench_type(bo.parse_strategies, "--strategies"),
                       default=bo.parse_variants(",".join(bo.DEFAULT_STRATEGIES)),
                       metavar="NAME,...",
                       help="inspector strategies compared with the first variant, in the "
                       "same run, at --strategies-at servers only (default %s; none skips)"
                       % ",".join(bo.DEFAULT_STRATEGIES))
    bench.add_argument("--strategies-at", type=_bench_type(bo.parse_counts, "--strategies-at"),
                       default=bo.DEFAULT_STRATEGIES_AT, metavar="N,N,...",
                       help="the server counts the strategies run at (default %s; those not "
                       "among --counts are left out, and with none left the largest count)"
                       % ",".join(map(str, bo.DEFAULT_STRATEGIES_AT)))
    bench.add_argument("--soak-minutes", type=_bench_type(bo.parse_minutes, "--soak-minutes"),
                       default=bo.DEFAULT_SOAK_MINUTES, metavar="MIN",
                       help="soak for false alarms with both cores loaded (default %g; 0 "
                       "skips)" % bo.DEFAULT_SOAK_MINUTES)
    bench.add_argument("--ceiling-calls",
                       type=_bench_type(bo.parse_non_negative_int, "--ceiling-calls"),
                       default=300, metavar="N",
                       help="reset-state calls per sample for Nova's ceiling, with state "
                       "changes at most one per server on the host (default 300; 0 skips)")
    bench.add_argument("--ceiling-repeats",
                       type=_bench_type(bo.parse_non_negative_int, "--ceiling-repeats"),
                       default=bo.DEFAULT_CEILING_REPEATS, metavar="N",
                       help="fresh samples at each of the two best concurrencies; the "
                       "ceiling is the better median (default %d; 0: the best single "
                       "sample of the scan)" % bo.DEFAULT_CEILING_REPEATS)
    bench.add_argument("--settle", type=_bench_type(bo.parse_seconds, "--settle"),
                       default=2.0, metavar="S",
                       help="after the last alarm, wait until none arrived for S seconds "
                       "(late duplicates; default 2)")
    bench.add_argument("--output", type=Path, default=None, metavar="FILE.json",
                       help="results (default %s, with README.md and notification.svg beside "
                       "it; elsewhere FILE.md and FILE.svg; with --inspectors %s and FILE.md)"
                       % (DEFAULT_OUTPUT, peers.DEFAULT_OUTPUT))


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
    up.add_argument("--force", action="store_true",
                    help="run the playbook even when the lab is healthy and unchanged")
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
    _add_bench(sub)
    return parser


def _cleanup(args: argparse.Namespace) -> int:
    import os

    from doctor_tests import cloud, leftovers

    name = args.cloud or os.environ.get("OS_CLOUD") or (
        None if os.environ.get("OS_AUTH_URL") else "doctor-lab")
    if name == "doctor-lab" or (name is None and lab.lab_dir().exists()):
        hosts = [h.name for h in lab.all_hosts() if h.namespace and not h.links_up]
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


def bench_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """The defaults of ``--counts``, ``--runs`` and ``--output`` the options did not set:
    the sweep's, or the side-by-side benchmark's with ``--inspectors``."""
    from doctor_tests.bench import options as bo
    from doctor_tests.bench import peers
    from doctor_tests.bench.runner import DEFAULT_OUTPUT

    side_by_side = args.inspectors is not None
    if args.counts is None:
        args.counts = peers.DEFAULT_COUNTS if side_by_side else bo.DEFAULT_COUNTS
    if args.runs is None:
        args.runs = peers.DEFAULT_RUNS if side_by_side else bo.DEFAULT_RUNS
    if args.output is None:
        args.output = peers.DEFAULT_OUTPUT if side_by_side else DEFAULT_OUTPUT
    return args


def _bench_inspectors(args: argparse.Namespace, argv: list[str]) -> int:
    from doctor_tests.bench import peers
    from doctor_tests.bench.faultrun import RunConfig
    from doctor_tests.config import load_settings

    settings = load_settings()
    config = peers.PeersConfig(inspectors=args.inspectors, counts=args.counts,
                               runs=args.runs, output=args.output,
                               masakari_default_wait_s=args.masakari_default_wait,
                               run=RunConfig(settle_s=args.settle),
                               command=shlex.join(["doctor", *argv]))
    try:
        doc = peers.run_peers_bench(settings, config)
    except (RuntimeError, TimeoutError) as exc:
        print("doctor bench: error: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        return 1
    print(tabulate([[e["vm_count"], name, s["measure"], s["time_p50_ms"], s["time_p95_ms"],
                     s["time_p50_ratio_to_sample"], s["duplicates"],
                     s["inspector_cpu_ms_median"], s["cpu_ratio_to_sample"]]
                    for e in doc["comparison"] for name, s in e["inspectors"].items()],
                   headers=["servers", "inspector", "measure", "p50 ms", "p95 ms", "x sample",
                            "dups", "CPU ms", "x sample"]))
    print("written %s and %s" % (config.output, config.output.with_suffix(".md")))
    return 0


def _bench(args: argparse.Namespace, argv: list[str]) -> int:
    from doctor_tests.bench.faultrun import RunConfig
    from doctor_tests.bench.runner import BenchConfig, run_bench
    from doctor_tests.config import load_settings

    logging.getLogger("doctor_tests").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if args.inspectors is not None:
        return _bench_inspectors(bench_defaults(args), argv)
    bench_defaults(args)
    settings = load_settings()
    config = BenchConfig(counts=args.counts, runs=args.runs, variants=args.variants,
                         strategies=args.strategies, strategies_at=args.strategies_at,
                         soak_minutes=args.soak_minutes, output=args.output,
                         ceiling_calls=args.ceiling_calls,
                         ceiling_repeats=args.ceiling_repeats, run=RunConfig(settle_s=args.settle),
                         command=shlex.join(["doctor", *argv]))
    try:
        doc = run_bench(settings, config)
    except (RuntimeError, TimeoutError) as exc:  # CloudError, PreflightError, WaitTimeout...
        print("doctor bench: error: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        return 1
    print(tabulate([[p["vm_count"], p["runs"], p["detection_p50_ms"], p["notification_p50_ms"],
                     p["last_alarm_p50_ms"], p["last_alarm_p95_ms"],
                     p["shortcut_last_alarm_p50_ms"], p["duplicate_alarms"],
                     p["inspector_all_error_ms"]] for p in doc["sweep"]],
                   headers=["servers", "runs", "detect p50", "first p50", "last p50",
                            "last p95", "shortcut last p50", "dups", "insp all ERROR"]))
    print("ceiling %s reset-state/s, inspector efficiency %s; soak %s; written %s"
          % (doc["nova_reset_ceiling_per_s"], doc["inspector_efficiency"],
             doc["soak"] and "%s false alarm(s)" % doc["soak"]["false_alarms"], args.output))
    return 0


def _lab(args: argparse.Namespace) -> int:
    if args.lab_command == "up":
        lab.up(args.computes, force=args.force)
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
        print(tabulate(hosts, headers=["host", "address", "namespace", "link", "ping", "ssh",
                                       "data plane"]))
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
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "lab":
            return _lab(args)
        if args.command == "cleanup":
            return _cleanup(args)
        if args.command == "bench":
            return _bench(args, argv)
    except (lab.LabError, PlaybookFailed) as exc:
        print("doctor: error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("doctor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_cloud_error(exc):
            raise
        print("doctor: error: the cloud did not answer: %s" % _cloud_error_text(exc),
              file=sys.stderr)
        if not (getattr(args, "cloud", None) or os.environ.get("OS_CLOUD")
                or os.environ.get("OS_AUTH_URL")):
            print("doctor: the lab is the cloud here; `doctor lab status` says what is down "
                  "and `make lab` brings it up", file=sys.stderr)
        return 1
    raise AssertionError(args.command)


def _is_cloud_error(exc: BaseException) -> bool:
    """An error of keystoneauth or openstacksdk: the cloud refused or did not answer.
    Their modules are imported only by the commands that talk to a cloud."""
    kinds: list[type] = []
    if "keystoneauth1" in sys.modules:
        kinds.append(sys.modules["keystoneauth1"].exceptions.ClientException)
    if "openstack" in sys.modules:
        kinds.append(sys.modules["openstack"].exceptions.SDKException)
    return isinstance(exc, tuple(kinds))


def _cloud_error_text(exc: BaseException) -> str:
    """The failure in one line: keystoneauth's ConnectFailure nests urllib3's text
    ("HTTPConnectionPool(...): Max retries exceeded ... Connection refused")."""
    text = str(exc) or type(exc).__name__
    refused = re.search(r"(Unable to establish connection to \S+)", text)
    if refused and "refused" in text.lower():
        return "%s: connection refused" % refused.group(1).rstrip(":")
    return text


if __name__ == "__main__":
    sys.exit(main())
