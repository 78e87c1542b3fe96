"""Fixtures of the scenarios: the admin connection, the run's clean-up, the consumer."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from openstack.connection import Connection

from doctor_tests import cloud, locking, preflight
from doctor_tests.cleanup import Cleanup, sigterm_as_interrupt
from doctor_tests.config import Settings
from doctor_tests.consumer import ConsumerServer
from doctor_tests.installer import Installer
from doctor_tests.scenarios._env import CloudEnv, CloudFactsError, environment, make_installer
from doctor_tests.scenarios._prepare import SharedPreparation, prepare_for_session

LOG = logging.getLogger(__name__)


LOCK_PATH = locking.LOCK_PATH
LOCK_TIMEOUT_S = locking.LOCK_TIMEOUT_S


@pytest.fixture(scope="session")
def worker_settings(settings: Settings) -> Settings:
    """Under pytest-xdist each worker listens on ports of its own (gw1: +10, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return settings
    offset = 10 * int(worker[2:])
    return dataclasses.replace(settings, inspector_port=settings.inspector_port + offset,
                               consumer_port=settings.consumer_port + offset)


@pytest.fixture
def scenario_lock() -> Iterator[None]:
    """One scenario at a time on this machine (also across pytest-xdist workers): the
    scenarios fail hosts and reset servers, which another scenario's checks would see."""
    with locking.scenario_lock(LOCK_PATH, LOCK_TIMEOUT_S):
        yield


@pytest.fixture(scope="session")
def admin(settings: Settings) -> Connection:
    return cloud.admin_connection(settings.os_cloud)


@pytest.fixture(scope="session")
def installer(settings: Settings) -> Installer:
    """The installer plugin INSTALLER_TYPE names (inventory: DOCTOR_INVENTORY or its own)."""
    try:
        return make_installer(settings)
    except CloudFactsError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def prepared(request: pytest.FixtureRequest, installer: Installer) -> Installer:
    """The cloud's configuration prepared for the session (prepare.yml), put back after it
    (restore.yml); the restore is registered before prepare runs."""
    shared = SharedPreparation.for_installer(installer)
    prepare_for_session(shared, installer, request.addfinalizer)
    return installer


@pytest.fixture(scope="session")
def env(settings: Settings, prepared: Installer) -> CloudEnv:
    return environment(settings, prepared)


@pytest.fixture
def cleanup(scenario_lock: None) -> Iterator[Cleanup]:
    """The run's undo stack; runs after the test, also after a failure, Ctrl-C or SIGTERM."""
    stack = Cleanup()
    with sigterm_as_interrupt():
        try:
            yield stack
        finally:
            stack.run()


@pytest.fixture
def consumer(worker_settings: Settings, cleanup: Cleanup) -> Iterator[ConsumerServer]:
    server = ConsumerServer(bind=worker_settings.consumer_bind,
                            port=worker_settings.consumer_port)
    cleanup.add("consumer", server.stop)
    server.start()
    preflight.check_consumer(server.failure_url, server.consumer)
    yield server


@pytest.fixture
def cache_wait(settings: Settings, env: CloudEnv) -> float:
    """Seconds to wait after making alarms (Aodh's event-alarm cache); 0 on the lab."""
    return preflight.check_event_alarm_cache(env.event_alarm_cache_ttl(),
                                             settings.installer_type)


def record_figures(record_property: Any, figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        record_property(key, value)
