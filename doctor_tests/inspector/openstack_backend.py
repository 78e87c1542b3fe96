"""The inspector's cloud actions through openstacksdk (one Connection, one keystoneauth
session, shared by all worker threads).

- The session's HTTP connection pool is resized to at least the inspector's
  concurrency, so parallel actions reuse connections instead of opening (and
  discarding) new ones.
- Force-down uses ``PUT /os-services/{id}`` ``{"forced_down": true}`` at microversion
  2.53 when the cloud offers it (service ids come from the index's listing at the
  same microversion), else the older ``PUT /os-services/force-down`` at 2.11.
- Every call is made with ``raise_exc=False`` and its status checked; a failure
  raises :class:`~doctor_tests.inspector.backend.CloudError` naming the call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

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
from doctor_tests.timeutil import parse_iso8601

LOG = logging.getLogger(__name__)

MV_SERVICE_UUID = "2.53"  # PUT /os-services/{service_id} with forced_down
MV_FORCE_DOWN = "2.11"  # PUT /os-services/force-down
PORT_FIELDS = ("id", "binding:host_id", "device_id", "device_owner")
_BODY_SNIPPET = 300


def _check(response: Any, expected: tuple[int, ...], what: str) -> Any:
    status = getattr(response, "status_code", None)
    if status not in expected:
        text = getattr(response, "text", "") or ""
        raise CloudError(f"{what} -> HTTP {status}: {text[:_BODY_SNIPPET]}")
    return response


def size_connection_pool(session: Any, size: int) -> None:
    """Mount HTTP(S) adapters holding ``size`` connections per host on a keystoneauth
    session (keeping its TCP keep-alive and TLS settings)."""
    from keystoneauth1.session import TCPKeepAliveAdapter

    requests_session = session.session
    for scheme in ("https://", "http://"):
        old = requests_session.adapters.get(scheme)
        adapter = TCPKeepAliveAdapter(
            pool_connections=10,
            pool_maxsize=max(size, 10),
            tls_ciphers=getattr(old, "tls_ciphers", None),
            tls_min_version=getattr(old, "tls_min_version", None),
        )
        if old is not None and getattr(old, "max_retries", None) is not None:
            adapter.max_retries = old.max_retries
        session.mount(scheme, adapter)


class OpenStackActions(CloudActions):
    """:class:`CloudActions` for OpenStack (Nova, Neutron) via an openstacksdk Connection."""

    def __init__(self, conn: Any, concurrency: int = 16) -> None:
        self._conn = conn
        size_connection_pool(conn.session, concurrency)
        # create the proxies now, not lazily from several worker threads at once
        self._compute = conn.compute
        self._network = conn.network
        self.uuid_services = self._supports(MV_SERVICE_UUID)
        if not self.uuid_services and not self._supports(MV_FORCE_DOWN):
            raise CloudError(
                f"the compute API offers neither microversion {MV_SERVICE_UUID} nor "
                f"{MV_FORCE_DOWN}: hosts cannot be forced down"
            )
        self.services_microversion = MV_SERVICE_UUID if self.uuid_services else MV_FORCE_DOWN
        self.data_plane_status = self._has_extension("data-plane-status")
        if not self.data_plane_status:
            LOG.warning("Neutron has no data-plane-status extension: port updates will fail")
        LOG.info(
            "compute services API at microversion %s; connection pool %d",
            self.services_microversion, max(concurrency, 10),
        )

    @property
    def connection(self) -> Any:
        """The openstacksdk Connection (e.g. for :class:`KeystoneTokenValidator`)."""
        return self._conn

    @classmethod
    def connect(
        cls, cloud: str | None, concurrency: int = 16, api_timeout: float = 30.0
    ) -> OpenStackActions:
        """Connect to ``cloud`` (a clouds.yaml entry; None = OS_* variables). Every API
        call is bounded by ``api_timeout`` seconds, so a hung service cannot hold a worker
        forever."""
        import openstack

        return cls(openstack.connect(cloud=cloud, api_timeout=api_timeout), concurrency)

    # --- discovery --------------------------------------------------------------------
    def _supports(self, microversion: str) -> bool:
        from keystoneauth1 import discover

        data = self._compute.get_endpoint_data()
        if data is None or not data.max_microversion:
            LOG.warning("compute endpoint reports no microversions")
            return False
        return bool(
            discover.version_between(data.min_microversion, data.max_microversion, microversion)
        )

    def _has_extension(self, alias: str) -> bool:
        try:
            response = self._network.get(f"/extensions/{alias}", raise_exc=False)
        except Exception as exc:
            LOG.warning("cannot list Neutron extensions: %s", exc)
            return False
        return getattr(response, "status_code", None) == 200

    def describe(self) -> dict[str, object]:
        return {
            "type": "openstack",
            "services_microversion": self.services_microversion,
            "data_plane_status_extension": self.data_plane_status,
        }

    # --- listings ---------------------------------------------------------------------
    def list_services(self) -> list[ComputeService]:
        what = "GET /os-services?binary=nova-compute"
        response = _check(
            self._compute.get(
                "/os-services",
                params={"binary": "nova-compute"},
                microversion=self.services_microversion,
                raise_exc=False,
            ),
            (200,),
            what,
        )
        services = []
        for item in response.json().get("services", []):
            if item.get("binary") == "nova-compute" and item.get("host"):
                services.append(
                    ComputeService(str(item["id"]), item["host"], bool(item.get("forced_down")))
                )
        return services

    def list_servers(self, changes_since: datetime | None = None) -> list[ServerInfo]:
        query: dict[str, object] = {"details": True, "all_projects": True}
        if changes_since is not None:
            stamp = changes_since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            query["changes_since"] = stamp
        try:
            servers = list(self._compute.servers(**query))
        except Exception as exc:
            raise CloudError(f"listing servers ({query}) failed: {exc}") from exc
        return [
            ServerInfo(
                id=server.id,
                host=server.compute_host or None,
                status=(server.status or "").upper(),
                deleted=(server.status or "").upper() == "DELETED",
                project_id=server.project_id or "",
                user_id=server.user_id or "",
                name=server.name or "",
            )
            for server in servers
        ]

    def list_ports(self) -> list[PortInfo]:
        try:
            ports = list(self._network.ports(fields=list(PORT_FIELDS)))
        except Exception as exc:
            raise CloudError(f"listing ports failed: {exc}") from exc
        return [
            PortInfo(
                id=port.id,
                host=port.binding_host_id or None,
                device_id=port.device_id or "",
                device_owner=port.device_owner or "",
            )
            for port in ports
        ]

    # --- actions ----------------------------------------------------------------------
    def _set_forced_down(self, service: ComputeService, forced: bool) -> None:
        if self.uuid_services:
            url = f"/os-services/{service.id}"
            body: dict[str, object] = {"forced_down": forced}
        else:
            url = "/os-services/force-down"
            body = {"host": service.host, "binary": "nova-compute", "forced_down": forced}
        _check(
            self._compute.put(
                url, json=body, microversion=self.services_microversion, raise_exc=False
            ),
            (200,),
            f"PUT {url} forced_down={forced} (host {service.host})",
        )

    def force_down(self, service: ComputeService) -> None:
        self._set_forced_down(service, True)

    def unforce(self, service: ComputeService) -> None:
        self._set_forced_down(service, False)

    def reset_server_error(self, server_id: str) -> None:
        url = f"/servers/{server_id}/action"
        _check(
            self._compute.post(url, json={"os-resetState": {"state": "error"}}, raise_exc=False),
            (202, 200),
            f"POST {url} os-resetState error",
        )

    def set_port_status(self, port_id: str, status: str) -> None:
        if status not in ("ACTIVE", "DOWN"):
            raise ValueError(
                f"data_plane_status must be ACTIVE or DOWN (Neutron's values), not {status!r}"
            )
        url = f"/ports/{port_id}"
        _check(
            self._network.put(url, json={"port": {"data_plane_status": status}}, raise_exc=False),
            (200,),
            f"PUT /v2.0{url} data_plane_status={status}",
        )

    def warm_up(self, server_ids: Sequence[str], port_ids: Sequence[str],
                parallel: int) -> int:
        """``parallel`` reads at once, twice over, so that every pooled connection is
        open and each API process behind it has seen (and cached) the token: a cold
        first burst of resets cost Keystone one validation per connection and Nova a
        new DB connection per thread, on the fault path."""
        paths: list[tuple[Any, str]] = []
        for i in range(parallel):
            paths.append((self._compute, f"/servers/{server_ids[i % len(server_ids)]}"
                          if server_ids else "/os-services"))
        for i in range(min(parallel, max(len(port_ids), 1))):
            paths.append((self._network, f"/ports/{port_ids[i]}" if port_ids else "/ports?limit=1"))

        def read(item: tuple[Any, str]) -> bool:
            proxy, path = item
            try:
                response = proxy.get(path, raise_exc=False)
            except Exception as exc:  # noqa: BLE001 - warming is best effort
                LOG.debug("warm-up GET %s: %s", path, exc)
                return False
            return getattr(response, "status_code", None) == 200

        answered = 0
        with ThreadPoolExecutor(max_workers=max(parallel, 1),
                                thread_name_prefix="warm-up") as pool:
            for _ in range(2):
                answered += sum(pool.map(read, paths))
        return answered

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception as exc:
            LOG.debug("closing the connection: %s", exc)


class KeystoneTokenValidator(TokenValidator):
    """Validates tokens with ``GET /v3/auth/tokens`` (``X-Subject-Token``)."""

    def __init__(self, conn: Any) -> None:
        self._identity = conn.identity

    def validate(self, token: str) -> TokenInfo:
        response = self._identity.get(
            "/auth/tokens", headers={"X-Subject-Token": token}, raise_exc=False
        )
        status = getattr(response, "status_code", None)
        if status in (401, 404):
            raise InvalidToken("unknown or expired token")
        body = _check(response, (200,), "GET /v3/auth/tokens").json().get("token", {})
        expires = body.get("expires_at")
        project = body.get("project") or {}
        return TokenInfo(
            user=str((body.get("user") or {}).get("name", "")),
            project=project.get("name"),
            roles=frozenset(role.get("name", "") for role in body.get("roles", [])),
            expires_at=parse_iso8601(expires).timestamp() if expires else None,
        )
