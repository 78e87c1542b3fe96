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


@pytest.fixture(scope="session")
def settings(request: Any) -> Settings:
    return request.config._doctor_settings  # type: ignore[no-any-return]
