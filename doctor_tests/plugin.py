"""Doctor's pytest plugin: the options, the TEST_CASE selection, REPEAT and the fixtures.

Registered through the ``pytest11`` entry point, so it is there wherever the package is
installed: ``pytest --pyargs doctor_tests.scenarios`` (a wheel in an Xtesting
container) works like ``tox -e fault_management`` in the source checkout.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from doctor_tests.config import (
    CASE_INSPECTORS,
    ConfigError,
    Settings,
    add_pytest_options,
    settings_from_pytest,
)

LOG = logging.getLogger(__name__)

#: TEST_CASE value -> the scenario tests it runs (tests marked ``fault`` whose name has it).
CASES = tuple(CASE_INSPECTORS)
MARKERS = (
    "lab: needs the lab (a real OpenStack) or another configured cloud",
    "fault: injects a real fault on a compute host",
)


def pytest_addoption(parser: Any) -> None:
    add_pytest_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: Any) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if config.inipath is None:
        # The figures go into JUnit as properties, which the default xunit2 drops; run from
        # an installed package there is no pyproject.toml saying so (getini's cache).
        config._inicache["junit_family"] = "xunit1"
    try:
        config._doctor_settings = settings_from_pytest(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not config.getoption("log_file", None) and not config.getini("log_file"):
        # Every run leaves its log beside its results (the preflight's proofs, each step),
        # not only on a console that CI may not keep.
        results = config._doctor_settings.results_dir
        results.mkdir(parents=True, exist_ok=True)
        config.option.log_file = str(results / "doctor.log")
        if config.getoption("log_file_level", None) is None and not config.getini(
                "log_file_level"):
            config.option.log_file_level = "INFO"
        config.option.log_file_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if config._doctor_settings.ci_debug:
        # CI_DEBUG (upstream's switch): every Doctor logger at DEBUG, also on the console.
        logging.getLogger("doctor_tests").setLevel(logging.DEBUG)
        config.option.log_level = "DEBUG"
        if config.option.log_cli_level is None:
            config.option.log_cli_level = "DEBUG"
        LOG.debug("CI_DEBUG: debug logging on")


def case_of(name: str) -> str | None:
    """The TEST_CASE a scenario test belongs to (by its name), None for other tests."""
    return next((case for case in CASES if case in name), None)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Run the scenarios TEST_CASE names (``all``: every one that drives INSPECTOR_TYPE; the
    others are skipped, naming the INSPECTOR_TYPE that runs them); other tests are
    untouched."""
    settings: Settings = config._doctor_settings
    if settings.test_case == "all":
        for item in items:
            case = case_of(item.name) if item.get_closest_marker("fault") else None
            if case is not None and settings.inspector_type not in CASE_INSPECTORS[case]:
                item.add_marker(pytest.mark.skip(
                    reason="%s drives INSPECTOR_TYPE=%s, not %s" % (
                        case, " or ".join(CASE_INSPECTORS[case]), settings.inspector_type)))
        return
    keep, drop = [], []
    for item in items:
        if item.get_closest_marker("fault") is None or settings.test_case in item.name:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_generate_tests(metafunc: Any) -> None:
    """REPEAT / --repeat K: each scenario that takes ``repeat_index`` runs K times."""
    if "repeat_index" in metafunc.fixturenames:
        count = metafunc.config._doctor_settings.repeat
        metafunc.parametrize("repeat_index", range(count),
                             ids=["run%d" % (i + 1) for i in range(count)])


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """After repeated runs: percentiles per checkpoint and component (profile-summary.json)."""
    settings: Settings | None = getattr(session.config, "_doctor_settings", None)
    if settings is None or settings.repeat < 2:
        return
    from doctor_tests.profiler.aggregate import summary_table, write_summary
    from doctor_tests.profiler.report import load_profile

    paths = sorted(settings.results_dir.glob("profile-*.json"))
    paths = [p for p in paths if p.stem.split("-")[-1].isdigit()]
    if not paths:
        return
    profiles = [load_profile(p) for p in paths]
    write_summary(profiles, settings.results_dir)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = json.loads((settings.results_dir / "profile-summary.json").read_text())
    text = "repeated runs: %d profiles\n%s" % (len(profiles), summary_table(summary))
    if reporter is not None:
        reporter.write_line(text)


def record_figures(record_property: Any, figures: dict[str, Any]) -> None:
    """A run's figures as JUnit properties."""
    for key, value in figures.items():
        record_property(key, value)


# --- fixtures ------------------------------------------------------------------------------
# Imported lazily by the fixtures that need them: loading the plugin (every pytest run in
# an environment with Doctor installed) must stay cheap.


@pytest.fixture(scope="session")
def settings(request: Any) -> Settings:
    settings: Settings = request.config._doctor_settings
    return settings


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
    from doctor_tests import locking

    with locking.scenario_lock(locking.LOCK_PATH, locking.LOCK_TIMEOUT_S):
        yield


@pytest.fixture(scope="session")
def admin(settings: Settings) -> Any:
    from doctor_tests import cloud

    return cloud.admin_connection(settings.os_cloud)


@pytest.fixture(scope="session")
def installer(settings: Settings) -> Any:
    """The installer plugin INSTALLER_TYPE names (inventory: DOCTOR_INVENTORY or its own)."""
    from doctor_tests.harness.env import CloudFactsError, make_installer

    try:
        return make_installer(settings)
    except CloudFactsError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def prepared(request: pytest.FixtureRequest, installer: Any, admin: Any) -> Any:
    """The cloud's configuration prepared for the session (prepare.yml), put back after it
    (restore.yml); the restore is registered before prepare runs. Then every API process
    is warmed: a prepare or an earlier session's restore may have just restarted them."""
    from doctor_tests import cloud
    from doctor_tests.harness.prepare import SharedPreparation, prepare_for_session

    shared = SharedPreparation.for_installer(installer)
    prepare_for_session(shared, installer, request.addfinalizer,
                        installer.settings.inspector_type)
    cloud.warm_apis(admin)
    return installer


@pytest.fixture(scope="session")
def env(settings: Settings, prepared: Any) -> Any:
    from doctor_tests.harness.env import environment

    return environment(settings, prepared)


@pytest.fixture(scope="session")
def clean_start(admin: Any, env: Any) -> list[str]:
    """What a killed run left in the cloud, named and removed before anything changes
    (the runs still alive are left alone); the lines say what was removed."""
    from doctor_tests.harness.leftovers import remove_dead_runs

    return remove_dead_runs(admin, env)


@pytest.fixture
def cleanup(scenario_lock: None) -> Iterator[Any]:
    """The run's undo stack; runs after the test, also after a failure, Ctrl-C or SIGTERM
    (further signals during the undo do not cut it short: see Cleanup.run)."""
    from doctor_tests.cleanup import Cleanup, sigterm_as_interrupt

    stack = Cleanup()
    with sigterm_as_interrupt():
        try:
            yield stack
        finally:
            stack.run()


@pytest.fixture
def consumer(worker_settings: Settings, env: Any, cleanup: Any) -> Iterator[Any]:
    """The consumer, listening where Aodh's notifier reaches it (harness.reach), checked."""
    from doctor_tests.harness.reach import start_consumer

    yield start_consumer(worker_settings, env, cleanup)


@pytest.fixture
def cache_wait(settings: Settings, env: Any) -> float:
    """Seconds to wait after making alarms (Aodh's event-alarm cache); 0 on the lab."""
    from doctor_tests import preflight

    return preflight.check_event_alarm_cache(env.event_alarm_cache_ttl(),
                                             settings.installer_type)
