"""JSON over HTTP: the server base for the sample services (inspector, consumer), and the
one client Doctor's own calls use (:class:`JsonClient`).

The server is built on :class:`http.server.ThreadingHTTPServer`. Client mistakes (no or
bad Content-Length, a body that is too large, not JSON, wrong Content-Type) raise
:class:`HttpError` and become a 4xx with ``{"error": reason}``; only a bug in a
handler gives a 500, and that is logged with its traceback.

The client is ``requests`` with one proxy rule: Doctor's own callbacks (monitor ->
inspector, anything -> consumer) go direct whatever the environment says
(:data:`DIRECT`); the results database honours ``http(s)_proxy`` / ``no_proxy``, except
for loopback, which is always direct (``JsonClient(direct=False)``). The monitor's report,
on the critical path, uses :class:`KeepAliveClient` instead: the same interface and rule
(direct), hand-written because requests measured slower there.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import requests

LOG = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}
# None removes the environment's proxy for that scheme (requests' stubs say str only)
_NO_PROXY: dict[str, Any] = {"http": None, "https": None, "all": None}


# --- the client ---------------------------------------------------------------------------
class CallFailed(Exception):
    """An HTTP call that got no answer at all (refused, unreachable, timed out): the
    method, the URL and the reason, without the transport's traceback."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        super().__init__(f"{method} {url}: {reason}")
        self.method = method
        self.url = url
        self.reason = reason


class Reply(NamedTuple):
    """An answer, whatever its status."""

    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = 500) -> str:
        return self.body[:limit].decode("utf-8", "replace")


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: requests.RequestException, timeout: float) -> str:
    """A short reason for a call that got no answer ("[Errno 111] Connection refused")."""
    if isinstance(exc, requests.ConnectTimeout):
        return "no connection within %g s" % timeout
    if isinstance(exc, requests.ReadTimeout):
        return "no answer within %g s" % timeout
    # requests wraps urllib3 which wraps the socket's error: the innermost says it best
    cause: BaseException | None = exc
    best: BaseException = exc
    while cause is not None:
        if isinstance(cause, OSError) and not type(cause).__module__.startswith(
                ("requests", "urllib3")):
            best = cause
        cause = cause.__cause__ or cause.__context__
    return str(best) or type(best).__name__


class JsonClient:
    """Sends JSON documents with ``requests``, keeping connections alive.

    ``direct=True``: never through a proxy (``trust_env = False``: the environment's
    proxy variables, ``.netrc`` and CA-bundle variables are ignored) - for Doctor's own
    callbacks, which are lab or loopback addresses. ``direct=False``: the environment's
    settings (``http_proxy``, ``https_proxy``, ``no_proxy``, ``REQUESTS_CA_BUNDLE``), but
    a loopback URL always goes direct.

    One :class:`requests.Session` per thread: requests does not promise a session is
    thread-safe, and each monitor reports from its own thread.
    """

    def __init__(self, *, direct: bool) -> None:
        self.direct = direct
        self._local = threading.local()

    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = not self.direct
            self._local.session = session
        return session

    def close(self) -> None:
        """Close the calling thread's session (its kept-alive connections)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def send(self, method: str, url: str, payload: Any, timeout: float,
             headers: Mapping[str, str] | None = None) -> Reply:
        """``method`` ``url`` with ``payload`` as its JSON body (``bytes`` are sent as
        they are) and ``headers`` besides the JSON ones. Any HTTP status is a
        :class:`Reply`; no answer raises :class:`CallFailed`."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        proxies = _NO_PROXY if not self.direct and is_loopback(url) else None
        try:
            # the body is read whole, so that the connection goes back to the pool
            response = self.session().request(method, url, data=data,
                                              headers={**JSON_HEADERS, **(headers or {})},
                                              timeout=timeout, proxies=proxies,
                                              allow_redirects=False)
        except requests.RequestException as exc:
            raise CallFailed(method, url, _reason(exc, timeout)) from exc
        return Reply(response.status_code, response.content)


# Doctor's own callbacks: monitor -> inspector, anything -> consumer.
DIRECT = JsonClient(direct=True)


class KeepAliveClient:
    """A hand-written direct client (``http.client``, never a proxy) with the interface of
    :class:`JsonClient`, for the one call on the critical path: the monitor's report.

    Why not requests there: measured with 1000 reports to a local JsonRequestHandler in
    another process (interleaved, 6 runs, a two-core machine under load from others), the
    median report took 1.17-2.34 ms with the old urllib opener (a connection per call),
    1.42-3.31 ms with a kept-alive requests session and 0.59-0.81 ms with this client;
    CPU in the caller per report 0.51-0.64, 1.01-1.31 and 0.32-0.39 ms. requests' median
    went from a little faster than the old opener to 1.9 ms slower with the load, but it
    always cost about 0.55 ms more CPU per call, which on the loaded cores of a fault is
    latency; this client was the fastest in every run. It keeps one connection per thread
    and host (TCP_NODELAY, as http.client sets it), checks a kept connection is still
    open before using it and tries once anew if it was closed as the request went.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _pool(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        pool: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(
            self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def close(self) -> None:
        """Close the calling thread's connections."""
        pool = self._pool()
        for conn in pool.values():
            conn.close()
        pool.clear()

    def send(self, method: str, url: str, payload: Any, timeout: float,
             headers: Mapping[str, str] | None = None) -> Reply:
        """As :meth:`JsonClient.send`: any status is a :class:`Reply`, no answer
        raises :class:`CallFailed`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CallFailed(method, url, "not an http(s) URL")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https"
                                                             else 80))
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        pool = self._pool()
        conn = pool.pop(key, None)
        if conn is not None and _dropped(conn):
            conn.close()
            conn = None
        reused = conn is not None
        while True:
            if conn is None:
                cls = (http.client.HTTPSConnection if parts.scheme == "https"
                       else http.client.HTTPConnection)
                conn = cls(key[1], key[2], timeout=timeout)
            try:
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request(method, target, body=data,
                             headers={**JSON_HEADERS, **(headers or {})})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and not isinstance(exc, TimeoutError):
                    # the server closed the kept connection as we sent: once more, anew
                    reused, conn = False, None
                    continue
                if isinstance(exc, TimeoutError):
                    reason = "no answer within %g s" % timeout
                else:
                    reason = str(exc) or type(exc).__name__
                raise CallFailed(method, url, reason) from exc
            if response.will_close:
                conn.close()
            else:
                pool[key] = conn
            return Reply(response.status, body)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept connection was closed by the server (readable = EOF)."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


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
    # Headers and body are two writes: with Nagle on, a kept-alive client waits for its
    # own delayed ACK (40 ms on Linux) before the body arrives. 44 ms -> 0.6 ms per call.
    disable_nagle_algorithm = True
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
    """Keeps its open connections so that stopping it also ends them: a kept-alive
    connection would otherwise go on being served by a stopped server's handler, and a
    client that reuses it (the next run's preflight, say) would talk to the old one."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver listens with a backlog of 5. Aodh's notifier posts a burst of alarms at
    # once; on two busy cores the accept thread fell behind, the kernel dropped the
    # handshakes that did not fit (TcpExtListenOverflows), the clients waited for SYN-ACK
    # retransmits (1 s and more), and one post was reset: Aodh does not retry, so that
    # tenant never got its alarm (doctor bench, 200 servers, 2026-12-05). The kernel
    # caps this at net.core.somaxconn.
    request_queue_size = 1024
    context: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def end_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the other side


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
        server.end_connections()
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
