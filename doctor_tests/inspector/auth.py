"""Opt-in authentication (``--auth``): a valid Keystone token with the admin role.

Tokens are validated through Keystone (:class:`~doctor_tests.inspector.backend.TokenValidator`)
and a valid answer is cached for ``ttl`` seconds (never beyond the token's expiry), so
the fault path costs at most one Keystone round trip per token and minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from doctor_tests.httpjson import HttpError
from doctor_tests.inspector.backend import InvalidToken, TokenInfo, TokenValidator

LOG = logging.getLogger(__name__)

_MAX_CACHE = 1024


class TokenAuth:
    """Checks ``X-Auth-Token`` values: 401 if missing/invalid, 403 without the role."""

    def __init__(
        self,
        validator: TokenValidator,
        *,
        role: str = "admin",
        ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._validator = validator
        self.role = role
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, TokenInfo]] = {}
        self._lock = threading.Lock()

    def check(self, token: str | None) -> TokenInfo:
        if not token:
            raise HttpError(401, "X-Auth-Token is required")
        info = self._cached(token)
        if info is None:
            try:
                info = self._validator.validate(token)
            except InvalidToken as exc:
                raise HttpError(401, f"invalid token: {exc}") from None
            except Exception as exc:
                LOG.error("token validation failed: %s", exc)
                raise HttpError(503, "cannot validate the token now (Keystone?)") from exc
            self._remember(token, info)
        if self.role not in info.roles:
            raise HttpError(403, f"the {self.role!r} role is required")
        return info

    def _cached(self, token: str) -> TokenInfo | None:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(token)
            if hit is None:
                return None
            until, info = hit
            if now >= until:
                del self._cache[token]
                return None
            return info

    def _remember(self, token: str, info: TokenInfo) -> None:
        now = self._clock()
        until = now + self.ttl
        if info.expires_at is not None:
            until = min(until, info.expires_at)
        if until <= now:
            return
        with self._lock:
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[token] = (until, info)
