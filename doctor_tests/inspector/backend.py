"""What the inspector needs from a cloud, as a small abstract interface.

:class:`CloudActions` is implemented for OpenStack in
:mod:`doctor_tests.inspector.openstack_backend` and by fakes in the unit tests.
Implementations must be thread-safe: the inspector calls them from a thread pool.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class CloudError(Exception):
    """A cloud call failed (the message names the call and the resource)."""


class InvalidToken(Exception):
    """A Keystone token is missing, unknown or expired."""


@dataclass(frozen=True)
class ComputeService:
    """A nova-compute service: its id (a UUID from microversion 2.53 on) and host."""

    id: str
    host: str
    forced_down: bool = False


@dataclass(frozen=True)
class ServerInfo:
    """A server as the index needs it: where it runs (None if unscheduled) and whether
    it is deleted (``changes-since`` listings include deleted servers)."""

    id: str
    host: str | None
    status: str = "ACTIVE"
    deleted: bool = False
    project_id: str = ""  # owner; the shortcut's notification carries it (tenant_id)
    user_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class PortInfo:
    """A port and the host it is bound to (``binding:host_id``; None if unbound)."""

    id: str
    host: str | None
    device_id: str = ""
    device_owner: str = ""


@dataclass(frozen=True)
class TokenInfo:
    """What Keystone says about a token."""

    user: str
    project: str | None
    roles: frozenset[str]
    expires_at: float | None  # epoch seconds


class CloudActions(abc.ABC):
    """The listings and the actions of the inspector (all projects, admin)."""

    @abc.abstractmethod
    def list_services(self) -> list[ComputeService]:
        """Every nova-compute service."""

    @abc.abstractmethod
    def list_servers(self, changes_since: datetime | None = None) -> list[ServerInfo]:
        """All servers of all projects; with ``changes_since`` only those changed since
        then, deleted ones included."""

    @abc.abstractmethod
    def list_ports(self) -> list[PortInfo]:
        """All ports with their binding host (only the fields the index needs)."""

    @abc.abstractmethod
    def force_down(self, service: ComputeService) -> None:
        """Mark the nova-compute service forced down."""

    @abc.abstractmethod
    def unforce(self, service: ComputeService) -> None:
        """Clear the forced-down flag of the nova-compute service."""

    @abc.abstractmethod
    def reset_server_error(self, server_id: str) -> None:
        """Reset the server's state to error (``os-resetState``)."""

    @abc.abstractmethod
    def set_port_status(self, port_id: str, status: str) -> None:
        """Set the port's ``data_plane_status`` ("DOWN" or "ACTIVE", the values Neutron accepts)."""

    def warm_up(self, server_ids: Sequence[str], port_ids: Sequence[str],
                parallel: int) -> int:
        """Before any fault: open ``parallel`` connections and let the APIs validate and
        cache the token and open their database connections, with harmless reads of
        these servers and ports. Returns the number of answered reads (0: nothing to
        warm)."""
        return 0

    def describe(self) -> dict[str, object]:
        """Facts about the backend for the health page (API versions ...)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release connections."""


class TokenValidator(abc.ABC):
    """Validates ``X-Auth-Token`` values (for ``--auth``)."""

    @abc.abstractmethod
    def validate(self, token: str) -> TokenInfo:
        """What the token is; raises :class:`InvalidToken`."""
