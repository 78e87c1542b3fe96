"""cloud.warm_apis: every API in the catalog read in parallel, each call on a new connection."""

from __future__ import annotations

import threading
from typing import Any

from doctor_tests import cloud


class Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class Proxy:
    def __init__(self, status: int = 200, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.status, self.fail = status, fail
        self.lock = threading.Lock()

    def get(self, path: str, headers: dict[str, str], raise_exc: bool) -> Response:
        assert raise_exc is False
        with self.lock:
            self.calls.append((path, headers))
        if self.fail:
            raise ConnectionError("refused")
        return Response(self.status)


class Conn:
    def __init__(self, services: dict[str, Proxy]) -> None:
        self.services = services
        for name, proxy in services.items():
            setattr(self, {"alarming": "alarm"}.get(name, name), proxy)

    def has_service(self, name: str) -> bool:
        return name in self.services


def test_reads_each_api_of_the_catalog_on_new_connections() -> None:
    compute, network = Proxy(), Proxy()
    conn: Any = Conn({"compute": compute, "network": network})
    answered, made, seconds = cloud.warm_apis(conn, parallel=4, rounds=2)
    assert (answered, made) == (24, 24) and seconds >= 0
    assert sorted({p for p, _ in compute.calls}) == sorted(cloud.WARM_PATHS["compute"])
    assert len(compute.calls) == 2 * 4 * len(cloud.WARM_PATHS["compute"])
    assert {p for p, _ in network.calls} == {"/ports?limit=1"}
    assert all(h == {"Connection": "close"} for _, h in compute.calls + network.calls)


def test_failures_and_errors_are_counted_not_raised() -> None:
    conn: Any = Conn({"compute": Proxy(fail=True), "alarming": Proxy(status=503)})
    answered, made, _ = cloud.warm_apis(conn, parallel=2, rounds=1)
    assert answered == 0
    assert made == 2 * (len(cloud.WARM_PATHS["compute"]) + len(cloud.WARM_PATHS["alarming"]))
