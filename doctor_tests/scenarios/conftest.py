"""Fixtures of the scenarios: the admin connection, the run's clean-up, the consumer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from openstack.connection import Connection

from doctor_tests import cloud, preflight
from doctor_tests.cleanup import Cleanup, sigterm_as_interrupt
from doctor_tests.config import Settings
from doctor_tests.consumer import ConsumerServer
from doctor_tests.scenarios._env import LabEnv, environment

LOG = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def admin(settings: Settings) -> Connection:
    return cloud.admin_connection(settings.os_cloud)


@pytest.fixture(scope="session")
def env(settings: Settings) -> LabEnv:
    return environment(settings)


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """The run's undo stack; runs after the test, also after a failure, Ctrl-C or SIGTERM."""
    stack = Cleanup()
    with sigterm_as_interrupt():
        try:
            yield stack
        finally:
            stack.run()


@pytest.fixture
def consumer(settings: Settings, cleanup: Cleanup) -> Iterator[ConsumerServer]:
    server = ConsumerServer(bind=settings.consumer_bind, port=settings.consumer_port)
    cleanup.add("consumer", server.stop)
    server.start()
    preflight.check_consumer(server.failure_url, server.consumer)
    yield server


@pytest.fixture
def cache_wait(settings: Settings, env: LabEnv) -> float:
    """Seconds to wait after making alarms (Aodh's event-alarm cache); 0 on the lab."""
    return preflight.check_event_alarm_cache(env.event_alarm_cache_ttl(),
                                             settings.installer_type)


def record_figures(record_property: Any, figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        record_property(key, value)
