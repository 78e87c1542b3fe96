"""The consumer's URL for Aodh: the runner's address toward the notifier's node."""

from __future__ import annotations

import pytest

from doctor_tests.harness.reach import ReachError, consumer_endpoint, source_address


def test_the_source_address_toward_loopback_is_loopback() -> None:
    assert source_address("127.0.0.1") == "127.0.0.1"


def test_the_url_uses_the_address_the_notifier_reaches() -> None:
    where = consumer_endpoint("127.0.0.1", 12346)
    assert where.url == "http://127.0.0.1:12346/failure" and where.bind == "127.0.0.1"
    assert "route" in where.why


def test_an_explicit_url_is_given_as_is_and_binds_everywhere() -> None:
    where = consumer_endpoint("127.0.0.1", 12346, None, "http://192.0.2.7:8080/failure")
    assert where.url == "http://192.0.2.7:8080/failure" and where.bind == "0.0.0.0"
    assert consumer_endpoint(None, 1, "10.0.0.5", "http://x:1/f").bind == "10.0.0.5"


def test_a_bad_explicit_url_names_the_setting() -> None:
    with pytest.raises(ReachError, match="DOCTOR_CONSUMER_URL"):
        consumer_endpoint("127.0.0.1", 1, None, "ftp://x/failure")


def test_an_unknown_notifier_needs_a_url_or_a_bind_address() -> None:
    with pytest.raises(ReachError, match="DOCTOR_CONSUMER_URL"):
        consumer_endpoint(None, 12346)
    assert consumer_endpoint(None, 12346, "10.0.0.5").url == "http://10.0.0.5:12346/failure"


def test_an_unresolvable_notifier_is_named() -> None:
    with pytest.raises(ReachError, match="no-such-host.invalid"):
        source_address("no-such-host.invalid")


class FakeEnv:
    def __init__(self, address: str | None, target=None) -> None:
        self.address, self.target = address, target

    def notifier_address(self) -> str | None:
        return self.address

    def notifier_target(self):
        return self.target


def test_the_consumer_listens_where_the_notifier_reaches_it_and_answers() -> None:
    from doctor_tests.cleanup import Cleanup
    from doctor_tests.config import Settings
    from doctor_tests.harness.reach import start_consumer

    stack = Cleanup()
    try:
        server = start_consumer(Settings(consumer_port=0), FakeEnv("127.0.0.1"), stack)
        assert server.failure_url.startswith("http://127.0.0.1:")
        assert server.consumer.alarms() == []  # the preflight's own alarm is forgotten
    finally:
        stack.run()


def test_a_tunnel_needs_ssh_to_the_notifiers_node() -> None:
    from doctor_tests.cleanup import Cleanup
    from doctor_tests.config import Settings
    from doctor_tests.harness.reach import start_consumer

    stack = Cleanup()
    with pytest.raises(ReachError, match="DOCTOR_CONSUMER_TUNNEL"):
        start_consumer(Settings(consumer_port=0, consumer_tunnel=True), FakeEnv("10.0.0.1"),
                       stack)
    stack.run()


def test_the_inspectors_endpoint_names_its_own_settings() -> None:
    from doctor_tests.harness.reach import INSPECTOR, callback_endpoint

    with pytest.raises(ReachError, match="DOCTOR_INSPECTOR_URL"):
        callback_endpoint(INSPECTOR, "127.0.0.1", 1, None, "ftp://x/")
    with pytest.raises(ReachError, match="the monitor.*DOCTOR_INSPECTOR_URL"):
        callback_endpoint(INSPECTOR, None, 1)
    where = callback_endpoint(INSPECTOR, "127.0.0.1", 12345)
    assert where.url == "http://127.0.0.1:12345" and where.for_port(4242) == \
        "http://127.0.0.1:4242"


def test_without_monitors_on_nodes_the_inspector_listens_on_the_bind_setting() -> None:
    from doctor_tests.cleanup import Cleanup
    from doctor_tests.config import Settings
    from doctor_tests.harness.reach import inspector_urls

    binds: list[str] = []

    class Server:
        port = 4242

    def start(bind: str) -> Server:
        binds.append(bind)
        return Server()

    stack = Cleanup()
    assert inspector_urls(Settings(), stack, start, [])[1] == {}
    inspector_urls(Settings(inspector_bind="10.0.0.9"), stack, start, [])
    assert binds == ["127.0.0.1", "10.0.0.9"]
