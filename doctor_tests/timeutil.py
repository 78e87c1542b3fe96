"""Time helpers: epoch seconds <-> ISO-8601 UTC strings, monotonic <-> epoch."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def iso_utc(epoch: float | None = None) -> str:
    """``epoch`` (default now) as ISO-8601 UTC with microseconds: ``...T12:00:00.123456+00:00``."""
    if epoch is None:
        epoch = time.time()
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="microseconds")


def parse_iso8601(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive one is taken as UTC. Raises ValueError."""
    if not isinstance(text, str) or not text:
        raise ValueError("timestamp must be a non-empty string")
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def mono_to_epoch(mono: float) -> float:
    """Convert a ``time.monotonic()`` reading taken earlier to epoch seconds."""
    return time.time() - (time.monotonic() - mono)
