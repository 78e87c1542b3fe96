"""Host events from monitors: strict validation of the JSON the inspector accepts.

Accepted documents:

- the upstream Doctor monitor format, a JSON list of events (``PUT /events``);
- a single event object (the Vitrage doctor-datasource form, where the monitor
  may be named ``monitor_id`` instead of ``monitor``).

An event::

    {"time": "<ISO-8601>", "type": "compute.host.down" | "compute.host.up"
                                   | "compute.host.dataplane.down" | "compute.host.dataplane.up",
     "details": {"hostname": "<non-empty>", "status": "down" | "up",
                 "monitor": "<string>", "monitor_event_id": "<string>"}}

``compute.host.dataplane.down``/``.up`` are Doctor's own: the upstream format (the Doctor
monitor's and Vitrage's doctor datasource) has only the host types. They say the host's
data plane (its physnet link) failed or came back while the host itself is up: its ports'
``data_plane_status`` changes, the host and its servers are left alone (the port
data-plane-status blueprint). An optional ``details.interface`` names the link.

``status`` must agree with ``type``. A time without a UTC offset is taken as UTC.
Unknown fields are tolerated. Every problem raises :class:`InvalidEvent` naming the
field (``events[2].details.hostname ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from doctor_tests.timeutil import parse_iso8601

EVENT_DOWN = "compute.host.down"
EVENT_UP = "compute.host.up"
EVENT_DATAPLANE_DOWN = "compute.host.dataplane.down"
EVENT_DATAPLANE_UP = "compute.host.dataplane.up"
STATUS_OF = {EVENT_DOWN: "down", EVENT_UP: "up",
             EVENT_DATAPLANE_DOWN: "down", EVENT_DATAPLANE_UP: "up"}
#: the inspector's round for each event type
KIND_OF = {EVENT_DOWN: "down", EVENT_UP: "up",
           EVENT_DATAPLANE_DOWN: "dataplane_down", EVENT_DATAPLANE_UP: "dataplane_up"}
MAX_EVENTS = 100
MAX_HOSTNAME = 255


class InvalidEvent(ValueError):
    """The body is not a valid host event (or list of them)."""


@dataclass(frozen=True)
class HostEvent:
    """One validated host event."""

    type: str
    hostname: str
    status: Literal["down", "up"]
    time: datetime
    monitor: str
    monitor_event_id: str

    @property
    def is_down(self) -> bool:
        """The host is down (not merely its data plane)."""
        return self.type == EVENT_DOWN

    @property
    def kind(self) -> str:
        """The inspector's round: down, up, dataplane_down or dataplane_up."""
        return KIND_OF[self.type]


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(obj: dict[str, object], key: str, where: str, *, non_empty: bool = False) -> str:
    if key not in obj:
        raise InvalidEvent(f"{where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidEvent(f"{where}.{key} must be a string, got {_describe(value)}")
    if non_empty and not value.strip():
        raise InvalidEvent(f"{where}.{key} must not be empty")
    return value


def parse_event(obj: object, where: str = "event") -> HostEvent:
    """Validate one event object."""
    if not isinstance(obj, dict):
        raise InvalidEvent(f"{where} must be an object, got {_describe(obj)}")
    stamp = _string(obj, "time", where)
    try:
        when = parse_iso8601(stamp)
    except ValueError:
        raise InvalidEvent(
            f"{where}.time is not an ISO-8601 timestamp: {_describe(stamp)}"
        ) from None
    event_type = _string(obj, "type", where)
    if event_type not in STATUS_OF:
        raise InvalidEvent(
            f"{where}.type {_describe(event_type)} is not valid; allowed: "
            + ", ".join(STATUS_OF)
        )
    details = obj.get("details")
    if not isinstance(details, dict):
        raise InvalidEvent(f"{where}.details must be an object, got {_describe(details)}")
    dwhere = f"{where}.details"
    hostname = _string(details, "hostname", dwhere, non_empty=True)
    if len(hostname) > MAX_HOSTNAME or hostname != hostname.strip():
        raise InvalidEvent(f"{dwhere}.hostname is not a host name: {_describe(hostname)}")
    status = _string(details, "status", dwhere)
    if status != STATUS_OF[event_type]:
        raise InvalidEvent(
            f"{dwhere}.status {_describe(status)} contradicts type {event_type} "
            f"(expected {STATUS_OF[event_type]!r})"
        )
    if "monitor" not in details and "monitor_id" in details:
        monitor = _string(details, "monitor_id", dwhere)
    else:
        monitor = _string(details, "monitor", dwhere)
    event_id = _string(details, "monitor_event_id", dwhere)
    return HostEvent(
        type=event_type,
        hostname=hostname,
        status="down" if status == "down" else "up",
        time=when,
        monitor=monitor,
        monitor_event_id=event_id,
    )


def parse_events(document: object) -> list[HostEvent]:
    """Validate a whole body (a list of events, or one event); all or nothing."""
    if isinstance(document, list):
        if not document:
            raise InvalidEvent("the list of events is empty")
        if len(document) > MAX_EVENTS:
            raise InvalidEvent(f"too many events: {len(document)} (limit {MAX_EVENTS})")
        return [parse_event(item, f"events[{i}]") for i, item in enumerate(document)]
    if isinstance(document, dict):
        return [parse_event(document)]
    raise InvalidEvent(f"body must be a list of events or one event, got {_describe(document)}")
