"""Sample inspector: host events in, parallel Nova/Neutron state changes out."""

from doctor_tests.inspector.auth import TokenAuth
from doctor_tests.inspector.backend import (
    CloudActions,
    CloudError,
    ComputeService,
    InvalidToken,
    PortInfo,
    ServerInfo,
    TokenInfo,
    TokenValidator,
)
from doctor_tests.inspector.core import DEFAULT_CONCURRENCY, Inspector, UnknownHost
from doctor_tests.inspector.events import HostEvent, InvalidEvent, parse_events
from doctor_tests.inspector.index import HostEntry, HostIndex
from doctor_tests.inspector.records import EventRecord
from doctor_tests.inspector.server import InspectorServer

__all__ = [
    "DEFAULT_CONCURRENCY",
    "CloudActions",
    "CloudError",
    "ComputeService",
    "EventRecord",
    "HostEntry",
    "HostEvent",
    "HostIndex",
    "Inspector",
    "InspectorServer",
    "InvalidEvent",
    "InvalidToken",
    "PortInfo",
    "ServerInfo",
    "TokenAuth",
    "TokenInfo",
    "TokenValidator",
    "UnknownHost",
    "parse_events",
]
