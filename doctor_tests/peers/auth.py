"""Keystone tokens and catalog endpoints for the peers' APIs, from a keystoneauth session.

The session is an openstacksdk Connection's (credentials from clouds.yaml / ``OS_*``
only). keystoneauth keeps the token and fetches a new one when it nears its expiry, so
:meth:`SessionTokens.token` costs nothing on the fault path once :meth:`prepare` has run;
after a 401 the reporter calls :meth:`SessionTokens.invalidate` and the next token is new.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from doctor_tests.httpjson import Reply
from doctor_tests.monitor.report import deliver

LOG = logging.getLogger(__name__)


class PeerError(RuntimeError):
    """A peer cannot be reached as configured (no endpoint in the catalog, no token)."""


class TokenSource(Protocol):
    """What a reporter needs from Keystone."""

    def token(self) -> str:
        """A valid token (X-Auth-Token)."""
        ...

    def endpoint(self, service_type: str) -> str:
        """The catalog's URL of ``service_type`` (public interface unless configured)."""
        ...

    def invalidate(self) -> None:
        """Forget the token: the next :meth:`token` authenticates anew."""
        ...


class SessionTokens:
    """:class:`TokenSource` over a keystoneauth session."""

    def __init__(self, session: Any, *, interface: str | None = None,
                 region_name: str | None = None) -> None:
        self._session = session
        self.interface = interface or "public"
        self.region_name = region_name
        self._endpoints: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_cloud(cls, cloud: str | None) -> SessionTokens:
        """The session of an openstacksdk connection to ``cloud`` (None: ``OS_*``)."""
        import openstack

        conn = openstack.connect(cloud=cloud)
        interface = conn.config.get_interface()
        return cls(conn.session, interface=interface if isinstance(interface, str) else None,
                   region_name=conn.config.get_region_name())

    def token(self) -> str:
        token = self._session.get_token()
        if not token:
            raise PeerError("Keystone gave no token")
        return str(token)

    def endpoint(self, service_type: str) -> str:
        with self._lock:
            url = self._endpoints.get(service_type)
            if url is None:
                url = self._session.get_endpoint(service_type=service_type,
                                                 interface=self.interface,
                                                 region_name=self.region_name)
                if not url:
                    raise PeerError("the catalog has no %s endpoint of service type %r%s"
                                    % (self.interface, service_type,
                                       " in region %s" % self.region_name
                                       if self.region_name else ""))
                self._endpoints[service_type] = str(url)
                LOG.info("%s endpoint: %s", service_type, url)
            return self._endpoints[service_type]

    def invalidate(self) -> None:
        self._session.invalidate()


class TokenReporter:
    """What a peer's reporter shares with the others: each report one ``POST`` to one URL
    of the peer's API with a Keystone token, a new token after a 401, and the first token
    fetched by :meth:`prepare`, before any fault."""

    receiver = ""

    def __init__(self, tokens: TokenSource, url: str, attempt_timeout: float) -> None:
        self._tokens = tokens
        self.url = url
        self.attempt_timeout = attempt_timeout

    def prepare(self) -> None:
        """Authenticate now, not on the fault path."""
        self._tokens.token()

    def _headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self._tokens.token()}

    def post(self, body: Any, *, deadline: float,
             stop: threading.Event | None) -> Reply:
        return deliver("POST", self.url, body, headers=self._headers,
                       renew_auth=self._tokens.invalidate,
                       attempt_timeout=self.attempt_timeout, deadline=deadline, stop=stop)
