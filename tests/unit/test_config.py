"""Settings resolution: precedence, validation, the YAML file, the pytest options."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from doctor_tests import config
from doctor_tests.config import ConfigError, Settings, load_settings

NO_FILE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _no_default_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the repository's own etc/doctor.yaml."""
    monkeypatch.setattr(config, "DEFAULT_CONFIG_FILE", tmp_path / "absent.yaml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doctor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings(env=NO_FILE)
    assert s.installer_type == "local"
    assert s.inspector_type == "sample"
    assert s.vm_count == 1
    assert s.profiler_type == "poc"
    assert s.test_case == "fault_management"
    assert s.image_name == "doctor-tiny"
    assert s.ci_debug is False
    assert s.os_cloud == "doctor-lab"
    assert s.notification_threshold_s == 1.0
    assert s.results_dir == Path("results")
    assert s.fault_duration_s == 20.0
    assert (s.monitor_interval_s, s.monitor_timeout_s, s.monitor_misses) == (0.01, 0.05, 3)
    assert (s.inspector_bind, s.inspector_port) == (None, 12345)  # loopback, or derived
    assert (s.consumer_bind, s.consumer_port) == (None, 12346)
    assert s.inspector_concurrency == 16
    assert s.installer_ip is None and s.ssh_key is None and s.test_db_url is None
    assert s.inspector_url == "http://127.0.0.1:12345"
    assert s.consumer_url == "http://127.0.0.1:12346/failure"


def test_settings_are_frozen() -> None:
    s = load_settings(env=NO_FILE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.vm_count = 3  # type: ignore[misc]


def test_every_field_has_exactly_one_spec() -> None:
    fields = [f.name for f in dataclasses.fields(Settings)]
    assert [spec.field for spec in config.SPECS] == fields
    assert len({spec.env for spec in config.SPECS}) == len(fields)
    assert not any("PASSWORD" in spec.env or spec.env.startswith("OS_") and spec.env != "OS_CLOUD"
                   for spec in config.SPECS)


def test_precedence_cli_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = write(tmp_path, "vm_count: 2\nrepeat: 5\nimage_name: from-file\n")
    env = {"VM_COUNT": "3", "REPEAT": "6"}
    s = load_settings({"vm_count": 4, "repeat": None}, env=env, config_file=path)
    assert s.vm_count == 4  # cli
    assert s.repeat == 6  # env (cli None = not given)
    assert s.image_name == "from-file"  # file
    assert s.test_case == "fault_management"  # default


def test_empty_env_value_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "installer_ip: 192.0.2.1\n")
    s = load_settings(env={"INSTALLER_IP": "", "VM_COUNT": "  "}, config_file=path)
    assert s.installer_ip == "192.0.2.1"
    assert s.vm_count == 1


def test_env_names_are_the_upstream_ones() -> None:
    env = {
        "INSTALLER_TYPE": "apex",
        "INSTALLER_IP": "192.0.2.5",
        "INSPECTOR_TYPE": "sample",
        "VM_COUNT": "2",
        "PROFILER_TYPE": "none",
        "TEST_CASE": "all",
        "SSH_KEY": "/root/.ssh/id_rsa",
        "IMAGE_NAME": "cirros",
        "CI_DEBUG": "yes",
        "OS_CLOUD": "overcloud",
        "DOCTOR_NOTIFICATION_THRESHOLD": "0.5",
        "TEST_DB_URL": "http://testresults.example.org/api/v1/results",
        "DEPLOY_SCENARIO": "os-nosdn-nofeature-ha",
        "NODE_NAME": "pod1",
        "BUILD_TAG": "jenkins-doctor-1",
    }
    s = load_settings(env=env)
    assert s.installer_type == "apex" and s.installer_ip == "192.0.2.5"
    assert s.vm_count == 2 and s.profiler_type == "none" and s.test_case == "all"
    assert s.ssh_key == Path("/root/.ssh/id_rsa")
    assert s.image_name == "cirros" and s.ci_debug is True and s.os_cloud == "overcloud"
    assert s.notification_threshold_s == 0.5
    assert s.test_db_url == "http://testresults.example.org/api/v1/results"
    assert (s.deploy_scenario, s.node_name, s.build_tag) == (
        "os-nosdn-nofeature-ha",
        "pod1",
        "jenkins-doctor-1",
    )


def test_os_cloud_defaults_only_for_local() -> None:
    assert load_settings(env={"INSTALLER_TYPE": "devstack"}).os_cloud is None
    assert load_settings(env={"INSTALLER_TYPE": "local"}).os_cloud == "doctor-lab"
    assert load_settings(env={"OS_CLOUD": "mine"}).os_cloud == "mine"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)],
)
def test_bool_values(raw: str, expected: bool) -> None:
    assert load_settings(env={"CI_DEBUG": raw}).ci_debug is expected


def test_error_names_env_flag_value_and_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"INSTALLER_TYPE": "foo"})
    msg = str(info.value)
    assert msg.startswith(
        "INSTALLER_TYPE (--installer-type) = 'foo' is not valid; "
        "allowed: local, devstack, apex, mcp, fuel, kolla"
    )
    assert "environment" in msg


@pytest.mark.parametrize(
    ("field", "raw", "needle"),
    [
        ("vm_count", "0", "VM_COUNT (--vm-count) = '0' is not valid; an integer >= 1"),
        ("vm_count", "two", "VM_COUNT (--vm-count) = 'two'"),
        ("vm_count", True, "VM_COUNT (--vm-count) = True"),
        ("repeat", "-1", "REPEAT (--repeat) = '-1'"),
        ("notification_threshold_s", "0", "(--notification-threshold) = '0' is not valid; a num"),
        ("notification_threshold_s", "nan", "DOCTOR_NOTIFICATION_THRESHOLD"),
        ("test_case", "all?", "allowed: fault_management, port_dp_down, notification_alarm, "
                              "fault_catalogue, recovery, all"),
        ("profiler_type", "x", "allowed: poc, none"),
        ("inspector_type", "congres", "allowed: sample, vitrage, masakari"),
        ("inspector_type", "congress", "INSPECTOR_TYPE (--inspector-type) = 'congress' is not "
         "valid; OpenStack Congress is retired and was never released for current OpenStack "
         "(inspector congress) is not supported; allowed: sample, vitrage, masakari"),
        ("ci_debug", "maybe", "CI_DEBUG (--ci-debug) = 'maybe' is not valid; allowed: true, false"),
        ("inspector_port", "70000", "an integer 0..65535"),
        ("test_db_url", "ftp://x", "TEST_DB_URL (--test-db-url)"),
        ("monitor_misses", "0", "DOCTOR_MONITOR_MISSES (--monitor-misses)"),
    ],
)
def test_bad_cli_values(field: str, raw: object, needle: str) -> None:
    with pytest.raises(ConfigError, match="command line") as info:
        load_settings({field: raw}, env=NO_FILE)
    assert needle in str(info.value)


@pytest.mark.parametrize("name", ["sample", "vitrage", "masakari", " vitrage "])
def test_inspector_types(name: str) -> None:
    env = {**NO_FILE, "INSPECTOR_TYPE": name, "TEST_CASE": "all"}
    assert load_settings(env=env).inspector_type == name.strip()


@pytest.mark.parametrize("case, inspector", [("fault_management", "sample"),
                                             ("fault_management", "vitrage"),
                                             ("recovery", "masakari"), ("all", "masakari"),
                                             ("port_dp_down", "sample")])
def test_scenarios_and_the_inspectors_they_drive(case: str, inspector: str) -> None:
    s = load_settings(env={**NO_FILE, "INSPECTOR_TYPE": inspector, "TEST_CASE": case})
    assert (s.test_case, s.inspector_type) == (case, inspector)


@pytest.mark.parametrize("case, inspector, needle", [
    ("fault_management", "masakari", "TEST_CASE=fault_management does not drive "
     "INSPECTOR_TYPE=masakari (it drives: sample, vitrage); with masakari run TEST_CASE=recovery"),
    ("recovery", "sample", "does not drive INSPECTOR_TYPE=sample (it drives: masakari)"),
    ("recovery", "vitrage", "with vitrage run TEST_CASE=fault_management"),
    ("fault_catalogue", "vitrage", "it drives: sample"),
])
def test_a_scenario_with_an_inspector_it_does_not_drive_is_refused(
        case: str, inspector: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={**NO_FILE, "INSPECTOR_TYPE": inspector, "TEST_CASE": case})
    assert needle in str(info.value)


def test_collectd_reports_to_the_sample_inspector_only() -> None:
    env = {**NO_FILE, "INSPECTOR_TYPE": "vitrage", "MONITOR_TYPE": "sample,collectd"}
    with pytest.raises(ConfigError, match="MONITOR_TYPE=sample,collectd cannot report to "
                       "INSPECTOR_TYPE=vitrage"):
        load_settings(env=env)


def test_cli_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown option.*bogus"):
        load_settings({"bogus": 1}, env=NO_FILE)


def test_yaml_types_and_nulls(tmp_path: Path) -> None:
    path = write(tmp_path, "vm_count: 3\nci_debug: true\nfault_duration_s: 5\ninstaller_ip: null\n")
    s = load_settings(env=NO_FILE, config_file=path)
    assert s.vm_count == 3 and s.ci_debug is True and s.fault_duration_s == 5.0
    assert s.installer_ip is None


def test_yaml_unknown_keys_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "vm_count: 3\npassword: x\nfoo: 1\n")
    with pytest.raises(ConfigError, match="unknown option.*foo, password"):
        load_settings(env=NO_FILE, config_file=path)


def test_yaml_bad_value_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "installer_type: bar\n")
    with pytest.raises(ConfigError, match=f"INSTALLER_TYPE.*'bar'.*config file {path}"):
        load_settings(env=NO_FILE, config_file=path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "a: [\n"])
def test_yaml_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="config file"):
        load_settings(env=NO_FILE, config_file=write(tmp_path, text))


def test_empty_yaml_is_fine(tmp_path: Path) -> None:
    assert load_settings(env=NO_FILE, config_file=write(tmp_path, "# nothing\n")) == Settings(
        os_cloud="doctor-lab"
    )


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env=NO_FILE, config_file=tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"DOCTOR_CONFIG": str(tmp_path / "nope.yaml")})


def test_doctor_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "repeat: 7\n")
    assert load_settings(env={"DOCTOR_CONFIG": str(path)}).repeat == 7


def test_default_file_is_used_when_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, "repeat: 9\n")
    monkeypatch.setattr(config, "DEFAULT_CONFIG_FILE", path)
    assert load_settings(env=NO_FILE).repeat == 9


def test_shipped_example_file_only_has_comments() -> None:
    shipped = config.REPO_ROOT / "etc" / "doctor.yaml"
    assert config.read_config_file(shipped) == {}
    # every commented example key is a real field
    keys = set(re.findall(r"^# ([a-z_]+): .*# [A-Z_]+", shipped.read_text(), re.MULTILINE))
    assert keys == {f.name for f in dataclasses.fields(Settings)}


class _FakeGroup:
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def addoption(self, *names: str, **kwargs: object) -> None:
        self.parser.add_argument(*names, **kwargs)  # type: ignore[arg-type]


class _FakePytestParser:
    def __init__(self) -> None:
        self.argparser = argparse.ArgumentParser()
        self.groups: list[str] = []

    def getgroup(self, name: str, description: str = "") -> _FakeGroup:
        self.groups.append(name)
        return _FakeGroup(self.argparser)


class _FakeConfig:
    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns

    def getoption(self, name: str) -> object:
        return getattr(self.ns, name)


def test_pytest_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    parser = _FakePytestParser()
    config.add_pytest_options(parser)
    assert parser.groups == ["doctor"]
    ns = parser.argparser.parse_args([])
    assert all(value is None for value in vars(ns).values())

    monkeypatch.setenv("REPEAT", "2")
    monkeypatch.delenv("DOCTOR_CONFIG", raising=False)
    ns = parser.argparser.parse_args(
        ["--installer-type", "devstack", "--vm-count", "3", "--notification-threshold", "0.8",
         "--ci-debug", "--test-case", "port_dp_down"]
    )
    s = config.settings_from_pytest(_FakeConfig(ns))
    assert s.installer_type == "devstack" and s.vm_count == 3
    assert s.notification_threshold_s == 0.8 and s.ci_debug is True
    assert s.test_case == "port_dp_down" and s.repeat == 2

    ns = parser.argparser.parse_args(["--vm-count", "zero"])
    with pytest.raises(ConfigError, match=r"VM_COUNT \(--vm-count\) = 'zero'"):
        config.settings_from_pytest(_FakeConfig(ns))

    path = write(tmp_path, "image_name: from-option-file\n")
    ns = parser.argparser.parse_args(["--doctor-config", str(path)])
    assert config.settings_from_pytest(_FakeConfig(ns)).image_name == "from-option-file"


def test_as_dict_is_json_friendly() -> None:
    d = config.as_dict(load_settings(env={"SSH_KEY": "/k"}))
    assert d["ssh_key"] == "/k" and d["results_dir"] == "results" and d["vm_count"] == 1


def test_monitor_defaults_match_the_monitor() -> None:
    from doctor_tests import monitor

    s = Settings()
    assert s.monitor_interval_s == monitor.DEFAULT_INTERVAL
    assert s.monitor_timeout_s == monitor.DEFAULT_TIMEOUT
    assert s.monitor_misses == monitor.DEFAULT_MISSES


@pytest.mark.parametrize(
    ("bind", "url"),
    [("0.0.0.0", "http://127.0.0.1:1"), ("::", "http://[::1]:1"), ("10.0.0.2", "http://10.0.0.2:1")],
)
def test_service_urls_for_wildcard_binds(bind: str, url: str) -> None:
    assert Settings(inspector_bind=bind, inspector_port=1).inspector_url == url


def test_inspector_strategies_are_the_inspectors_own() -> None:
    from doctor_tests.config import INSPECTOR_STRATEGIES
    from doctor_tests.inspector.core import DEFAULT_SHORTCUT_PACE, DEFAULT_STRATEGY, STRATEGIES

    assert INSPECTOR_STRATEGIES == STRATEGIES
    defaults = Settings()
    assert defaults.inspector_strategy == DEFAULT_STRATEGY
    assert defaults.inspector_shortcut_pace == DEFAULT_SHORTCUT_PACE
    with pytest.raises(ConfigError, match="DOCTOR_INSPECTOR_STRATEGY.*service_first, parallel"):
        load_settings(env={**NO_FILE, "DOCTOR_INSPECTOR_STRATEGY": "fastest"})
