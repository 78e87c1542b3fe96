"""``doctor-inspector``: the sample inspector as a service (cloud from OS_CLOUD)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from doctor_tests.cleanup import wait_for_stop_signal
from doctor_tests.inspector.auth import TokenAuth
from doctor_tests.inspector.backend import CloudError
from doctor_tests.inspector.core import DEFAULT_CONCURRENCY, DEFAULT_STRATEGY, STRATEGIES, Inspector
from doctor_tests.inspector.server import InspectorServer

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doctor-inspector", description=__doc__)
    parser.add_argument("--port", type=int, default=12345, help="listen port (default 12345)")
    parser.add_argument("--bind", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="parallel cloud calls"
    )
    parser.add_argument(
        "--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY,
        help="how a host's calls are ordered (default %(default)s; docs/inspector.md)",
    )
    parser.add_argument(
        "--index-interval", type=float, default=1.0, help="seconds between index refreshes"
    )
    parser.add_argument(
        "--auth", action="store_true", help="require a Keystone token with the admin role"
    )
    parser.add_argument(
        "--no-warm-up", dest="warm_up", action="store_false",
        help="skip the start-up reads that open every connection and warm the APIs' caches",
    )
    parser.add_argument("--cloud", default=None, help="clouds.yaml entry (default: $OS_CLOUD)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")
    if args.concurrency < 1:
        parser.error(f"--concurrency must be >= 1, not {args.concurrency}")
    if not args.index_interval > 0:
        parser.error(f"--index-interval must be > 0, not {args.index_interval}")
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from doctor_tests.inspector.openstack_backend import KeystoneTokenValidator, OpenStackActions

    cloud = args.cloud or os.environ.get("OS_CLOUD") or None
    try:
        backend = OpenStackActions.connect(cloud, args.concurrency)
        inspector = Inspector(
            backend, concurrency=args.concurrency, index_interval=args.index_interval,
            warm_up=args.warm_up, strategy=args.strategy,
        )
        inspector.start()
    except CloudError as exc:
        print(f"doctor-inspector: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # openstacksdk / keystoneauth: config or connection problems
        print(f"doctor-inspector: cannot use cloud {cloud!r}: {exc}", file=sys.stderr)
        return 1
    auth = TokenAuth(KeystoneTokenValidator(backend.connection)) if args.auth else None
    server = InspectorServer(inspector, args.bind, args.port, auth)
    try:
        server.start()
    except OSError as exc:
        print(f"doctor-inspector: cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        inspector.stop()
        return 1
    wait_for_stop_signal()
    server.stop()
    inspector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
