"""Doctor's pytest options (one per setting) and the TEST_CASE selection."""

from __future__ import annotations

from typing import Any

import pytest

from doctor_tests.config import ConfigError, Settings, add_pytest_options, settings_from_pytest

#: TEST_CASE value -> the scenario tests it runs (tests marked ``fault`` whose name has it).
CASES = ("fault_management", "port_dp_down", "notification_alarm")


def pytest_addoption(parser: Any) -> None:
    add_pytest_options(parser)


def pytest_configure(config: Any) -> None:
    try:
        config._doctor_settings = settings_from_pytest(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Run the scenarios TEST_CASE names (``all``: every one); other tests are untouched."""
    settings: Settings = config._doctor_settings
    if settings.test_case == "all":
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
    text = "repeated runs: %d profiles\n%s" % (len(profiles), summary_table(
        __import__("json").loads((settings.results_dir / "profile-summary.json").read_text())))
    if reporter is not None:
        reporter.write_line(text)


@pytest.fixture(scope="session")
def settings(request: Any) -> Settings:
    return request.config._doctor_settings  # type: ignore[no-any-return]
