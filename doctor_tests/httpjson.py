"""A small JSON-over-HTTP base for the sample services (inspector, consumer).

Built on :class:`http.server.ThreadingHTTPServer`. Client mistakes (no or bad
Content-Length, a body that is too large, not JSON, wrong Content-Type) raise
:class:`HttpError` and become a 4xx with ``{"error": reason}``; only a bug in a
handler gives a 500, and that is logged with its traceback.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOG = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024


class HttpError(Exception):
    """An error answered to the client with ``status`` and ``{"error": reason}``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class BadRequest(HttpError):
    """The request is malformed (HTTP 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes) -> object:
    """Strictly decode a UTF-8 JSON document (no NaN/Infinity). Raises BadRequest."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None


class JsonRequestHandler(BaseHTTPRequestHandler):
    """Dispatches GET/PUT/POST/DELETE to :meth:`route`, which returns (status, body)."""

    protocol_version = "HTTP/1.1"
    server_version = "doctor"
    timeout = 10  # seconds for a client to send its request
    max_body = DEFAULT_MAX_BODY

    received_at: float = 0.0
    _body_consumed: bool = False

    # --- for subclasses ---------------------------------------------------------------
    def route(self, method: str, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        raise HttpError(404, f"no such resource: {method} {path}")

    @property
    def context(self) -> Any:
        """The object the server was started with (see :class:`BackgroundHTTPServer`)."""
        return getattr(self.server, "context", None)

    def read_json(self) -> object:
        """The request body as JSON (Content-Length required, at most ``max_body`` bytes)."""
        return decode_json(self.read_body())

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise BadRequest("chunked request bodies are not supported; send Content-Length")
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise BadRequest("Content-Length is required")
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise BadRequest(f"Content-Length is not a number: {length_header!r}") from None
        if length < 0:
            self.close_connection = True
            raise BadRequest(f"Content-Length is negative: {length}")
        if length > self.max_body:
            self.close_connection = True
            raise BadRequest(f"body too large: {length} bytes (limit {self.max_body})")
        ctype = self.headers.get("Content-Type")
        if ctype is not None:
            mime = ctype.split(";", 1)[0].strip().lower()
            if mime != "application/json" and not mime.endswith("+json"):
                self.close_connection = True
                raise BadRequest(f"Content-Type must be application/json, not {ctype!r}")
        try:
            body = self.rfile.read(length)
        except (TimeoutError, OSError):
            self.close_connection = True
            raise BadRequest("timed out reading the request body") from None
        if len(body) != length:
            self.close_connection = True
            raise BadRequest(f"body shorter than Content-Length ({len(body)} < {length})")
        self._body_consumed = True
        return body

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, sort_keys=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    # --- plumbing ---------------------------------------------------------------------
    def _dispatch(self) -> None:
        self.received_at = time.time()
        self._body_consumed = False
        parts = urlsplit(self.path)
        try:
            status, payload = self.route(self.command, parts.path, parse_qs(parts.query))
        except HttpError as exc:
            if exc.status >= 500:
                LOG.error("%s %s -> %d: %s", self.command, parts.path, exc.status, exc.reason)
            else:
                LOG.info("%s %s -> %d: %s", self.command, parts.path, exc.status, exc.reason)
            status, payload = exc.status, {"error": exc.reason}
        except Exception:
            LOG.exception("internal error handling %s %s", self.command, parts.path)
            self.close_connection = True
            status, payload = 500, {"error": "internal error (see the service log)"}
        if not self._body_consumed and self.headers.get("Content-Length", "0").strip() != "0":
            # An unread body would be taken for the next request on this connection.
            self.close_connection = True
        try:
            self.send_json(status, payload)
        except OSError as exc:
            LOG.warning("could not answer %s %s: %s", self.command, parts.path, exc)

    do_GET = do_PUT = do_POST = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("%s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    context: Any = None


class _Server6(_Server):
    address_family = socket.AF_INET6


class BackgroundHTTPServer:
    """Runs a handler class on ``bind:port`` (0 = any free port) in a background thread."""

    def __init__(
        self,
        handler: type[JsonRequestHandler],
        context: Any,
        bind: str = "127.0.0.1",
        port: int = 0,
        name: str = "http",
    ) -> None:
        self._handler = handler
        self._context = context
        self._bind = bind
        self._port = port
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            return
        cls = _Server6 if ":" in self._bind else _Server
        server = cls((self._bind, self._port), self._handler)
        server.context = self._context
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=self._name, daemon=True
        )
        self._thread.start()
        LOG.info("%s listening on %s", self._name, self.url)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        LOG.info("%s stopped", self._name)

    def serve_forever(self) -> None:
        """Start and block until :meth:`stop` is called from elsewhere (or KeyboardInterrupt)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=1.0)
        finally:
            self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._bind
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def __enter__(self) -> BackgroundHTTPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
