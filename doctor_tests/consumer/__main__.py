"""``doctor-consumer``: receive Aodh alarm actions and log them."""

from __future__ import annotations

import argparse
import logging
import sys

from doctor_tests.cleanup import wait_for_stop_signal
from doctor_tests.consumer.server import ConsumerServer

LOG = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="doctor-consumer", description=__doc__)
    parser.add_argument("--port", type=int, default=12346, help="listen port (default 12346)")
    parser.add_argument("--bind", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server = ConsumerServer(bind=args.bind, port=args.port)
    try:
        server.start()
    except OSError as exc:
        print(f"doctor-consumer: cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    wait_for_stop_signal()
    server.stop()
    LOG.info("%d alarm(s) received", len(server.consumer.alarms()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
