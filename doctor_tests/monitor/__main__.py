"""``doctor-monitor``: ping one host and report ``compute.host.down`` to the inspector."""

from __future__ import annotations

import argparse
import logging
import sys

from doctor_tests.cleanup import wait_for_stop_signal
from doctor_tests.monitor.icmp import IcmpUnavailable
from doctor_tests.monitor.monitor import (
    DEFAULT_INTERVAL,
    DEFAULT_MISSES,
    DEFAULT_TIMEOUT,
    Monitor,
    MonitorConfigError,
)

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doctor-monitor", description=__doc__)
    parser.add_argument("--host", required=True, help="compute host name as Nova knows it")
    parser.add_argument("--address", required=True, help="IPv4 address to ping")
    parser.add_argument("--inspector", required=True, help="inspector URL, e.g. http://127.0.0.1:12345")
    parser.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between probes"
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per probe")
    parser.add_argument(
        "--misses", type=int, default=DEFAULT_MISSES, help="consecutive misses => down"
    )
    parser.add_argument("--no-report-up", action="store_true", help="do not report compute.host.up")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        monitor = Monitor(
            args.host,
            args.address,
            args.inspector,
            interval=args.interval,
            timeout=args.timeout,
            misses=args.misses,
            report_up=not args.no_report_up,
        )
        monitor.start()
    except MonitorConfigError as exc:
        print(f"doctor-monitor: {exc}", file=sys.stderr)
        return 2
    except IcmpUnavailable as exc:
        print(f"doctor-monitor: {exc}", file=sys.stderr)
        return 1
    wait_for_stop_signal()
    monitor.stop()
    LOG.info(
        "sent %d probes, %d replies, %d missed", monitor.probes_sent,
        monitor.replies_received, monitor.probes_missed,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
