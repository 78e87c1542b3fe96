"""choose_hosts: the host to fail and another one, waited for while Nova shows them down."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from doctor_tests import cloud
from doctor_tests.harness.run import choose_hosts


def svc(host: str, state: str = "up") -> Any:
    return SimpleNamespace(host=host, state=state, status="enabled", is_forced_down=False,
                           binary="nova-compute")


class Admin:
    """compute.services() answers each listing in turn (the last one from then on)."""

    def __init__(self, *listings: list[Any]) -> None:
        self.listings, self.calls = list(listings), 0
        self.compute = SimpleNamespace(services=self._services)

    def _services(self) -> list[Any]:
        self.calls += 1
        return self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]


def test_the_first_healthy_host_and_another() -> None:
    assert choose_hosts(Admin([svc("c1"), svc("c0"), svc("c2")]), None) == ("c0", "c1")  # type: ignore[arg-type]


def test_hosts_shown_down_after_a_restart_are_waited_for() -> None:
    # Nova's conductor just restarted: the computes' heartbeats were held up behind it
    down = [svc("c0", "down"), svc("c1", "down")]
    admin = Admin(down, down, [svc("c0"), svc("c1")])
    assert choose_hosts(admin, "c1", timeout=10) == ("c1", "c0")  # type: ignore[arg-type]
    assert admin.calls == 3


def test_no_two_healthy_hosts_is_an_error_naming_them_after_the_wait() -> None:
    with pytest.raises(cloud.CloudError, match=r"healthy after 0\.1 s: c0$"):
        choose_hosts(Admin([svc("c0"), svc("c1", "down")]), None, timeout=0.1)  # type: ignore[arg-type]
    with pytest.raises(cloud.CloudError, match=r"'c1' is not up and enabled"):
        choose_hosts(Admin([svc("c0"), svc("c1", "down"), svc("c2")]), "c1", timeout=0.1)  # type: ignore[arg-type]


def test_an_unknown_fault_host_is_refused_at_once() -> None:
    admin = Admin([svc("c0"), svc("c1")])
    with pytest.raises(cloud.CloudError, match=r"'cx' is not a nova-compute host; known: c0, c1"):
        choose_hosts(admin, "cx", timeout=10)  # type: ignore[arg-type]
    assert admin.calls == 1
