"""Preflight decisions that need no cloud: Aodh's event-alarm cache, the consumer's POST."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from doctor_tests.consumer import ConsumerServer
from doctor_tests.httpjson import BackgroundHTTPServer, JsonRequestHandler
from doctor_tests.preflight import (
    LAB_MAX_CACHE_TTL_S,
    PreflightError,
    check_consumer,
    check_event_alarm_cache,
)


def test_cache_off_means_no_wait() -> None:
    assert check_event_alarm_cache(0, "local") == 0.0
    assert check_event_alarm_cache(0, "devstack") == 0.0


def test_lab_short_cache_is_waited_out() -> None:
    assert check_event_alarm_cache(2, "local") == 2.0


def test_lab_long_or_unknown_cache_names_the_fix() -> None:
    with pytest.raises(PreflightError, match="event_alarm_cache_ttl.*doctor lab up"):
        check_event_alarm_cache(LAB_MAX_CACHE_TTL_S + 1, "local")
    with pytest.raises(PreflightError, match="doctor lab up"):
        check_event_alarm_cache(None, "local")


def test_other_clouds_wait_their_ttl_or_aodhs_default() -> None:
    assert check_event_alarm_cache(60, "devstack") == 60.0
    assert check_event_alarm_cache(None, "kolla") == 60.0


@pytest.fixture
def consumer() -> Iterator[ConsumerServer]:
    srv = ConsumerServer(port=0)
    srv.start()
    yield srv
    srv.stop()


def test_consumer_check_posts_an_alarm_and_forgets_it(
        consumer: ConsumerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as dead:  # a proxy nobody runs: the consumer is reached direct
        dead.bind(("127.0.0.1", 0))
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:%d" % dead.getsockname()[1])
        monkeypatch.delenv("no_proxy", raising=False)
        check_consumer(consumer.failure_url, consumer.consumer, timeout=2)
    assert consumer.consumer.alarms() == []


def test_consumer_check_names_the_url_and_the_reason(consumer: ConsumerServer) -> None:
    with BackgroundHTTPServer(JsonRequestHandler, None) as other:  # 404 for everything
        with pytest.raises(PreflightError, match="answered HTTP 404: .*no such resource"
                           ) as info:
            check_consumer(other.url + "/failure", consumer.consumer, timeout=2)
        assert other.url + "/failure" in str(info.value)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d/failure" % closed.getsockname()[1]
    with pytest.raises(PreflightError, match="does not answer: .*Connection refused") as info:
        check_consumer(url, consumer.consumer, timeout=2)
    assert url in str(info.value)
