"""Doctor settings: one frozen, typed object, resolved once.

Precedence, highest first:

1. command-line option (``--installer-type`` ...; ``None`` means "not given"),
2. environment variable (the upstream Doctor names: ``INSTALLER_TYPE``, ``VM_COUNT``, ...;
   an empty value counts as unset, as CI jobs often export blanks),
3. the YAML file (``etc/doctor.yaml`` in the repository by default, or the file named by
   ``DOCTOR_CONFIG``; keys are the field names; a ``null`` value counts as unset),
4. the default.

Credentials are never part of the settings: they come from ``clouds.yaml`` / ``OS_*``
through openstacksdk (``os_cloud`` only names the cloud).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from doctor_tests.paths import data_root

REPO_ROOT = data_root()  # Doctor's data: the source checkout or the installed package's copy
DEFAULT_CONFIG_FILE = REPO_ROOT / "etc" / "doctor.yaml"
CONFIG_FILE_ENV = "DOCTOR_CONFIG"

# ``fuel`` is the upstream CI's name for Fuel/MCP (the same plugin as ``mcp``).
INSTALLER_TYPES = ("local", "devstack", "apex", "mcp", "fuel", "kolla")
# OPNFV installers that are retired: named as such, not as unknown values.
RETIRED_INSTALLERS = ("daisy", "compass", "joid")
# doctor_tests.inspector.core.STRATEGIES (not imported: the settings load without the
# inspector's dependencies); a unit test keeps the two the same
INSPECTOR_STRATEGIES = ("service_first", "parallel", "at_once")
# upstream's monitor names: sample (ICMP from the runner), collectd (a daemon on the host)
MONITOR_TYPES = ("sample", "collectd")
# sample: Doctor's own; vitrage, masakari: the third-party stacks the lab runs beside it
# (roles/lab_peers, docs/peers.md).
INSPECTOR_TYPES = ("sample", "vitrage", "masakari")
# Inspectors of the upstream Doctor that no current OpenStack can run: named as such.
RETIRED_INSPECTORS = {
    "congress": "OpenStack Congress is retired and was never released for current OpenStack",
}
PROFILER_TYPES = ("poc", "none")
TEST_CASES = ("fault_management", "port_dp_down", "notification_alarm", "fault_catalogue",
              "recovery", "all")
# The inspectors each scenario drives. TEST_CASE=all runs those that drive INSPECTOR_TYPE
# and skips the others, naming the INSPECTOR_TYPE that runs them; naming a scenario with
# an inspector it does not drive is an error (the run would measure something else).
# recovery: Masakari evacuates the failed host's servers (Doctor's sample inspector forces
# the host down first); fault_management with vitrage: Vitrage forces the host down and
# sets its servers to error (docs/peers.md).
CASE_INSPECTORS: dict[str, tuple[str, ...]] = {
    "fault_management": ("sample", "vitrage"),
    "port_dp_down": ("sample",),
    "notification_alarm": ("sample",),
    "fault_catalogue": ("sample",),
    "recovery": ("masakari",),
}
# the monitors that can report to each inspector (collectd's receiver reports to the sample
# inspector's URL only)
INSPECTOR_MONITORS: dict[str, tuple[str, ...]] = {
    "sample": ("sample", "collectd"),
    "vitrage": ("sample",),
    "masakari": ("sample",),
}
# the fault catalogue's faults (doctor_tests.faults.catalogue.FAULTS; a unit test keeps
# the two equal: the catalogue imports nothing from here)
FAULT_NAMES = ("link_down", "management_down", "power_off", "hang", "data_plane_down",
               "compute_agent_down", "flap", "two_hosts")
LOCAL_CLOUD = "doctor-lab"

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class ConfigError(ValueError):
    """A configuration value (or the configuration file) is not valid."""


@dataclass(frozen=True)
class Settings:
    """Everything a Doctor run is configured with (never credentials)."""

    installer_type: str = "local"
    installer_ip: str | None = None
    inspector_type: str = "sample"
    vm_count: int = 1
    profiler_type: str = "poc"
    test_case: str = "fault_management"
    ssh_key: Path | None = None
    image_name: str = "doctor-tiny"
    ci_debug: bool = False
    os_cloud: str | None = None
    notification_threshold_s: float = 1.0
    results_dir: Path = Path("results")
    repeat: int = 1
    fault_duration_s: float = 20.0
    monitor_interval_s: float = 0.01
    monitor_timeout_s: float = 0.05
    monitor_misses: int = 3
    monitor_type: tuple[str, ...] = ("sample",)  # several run at once: "sample,collectd"
    collectd_port: int = 12350
    collectd_interval_s: float = 0.05
    collectd_misses: int = 4
    faults: tuple[str, ...] = ()  # TEST_CASE=fault_catalogue: these faults (empty: all)
    inspector_bind: str | None = None  # None: loopback, or toward the monitors' nodes
    inspector_port: int = 12345
    inspector_advertise_url: str | None = None  # given to monitors on nodes instead
    inspector_tunnel: bool = False  # monitors on nodes reach it through reverse SSH tunnels
    consumer_bind: str | None = None  # None: the runner's address toward Aodh's notifier
    consumer_port: int = 12346
    consumer_advertise_url: str | None = None  # given to Aodh instead of the bind address
    consumer_tunnel: bool = False  # reach the consumer through a reverse SSH tunnel
    inspector_concurrency: int = 16
    inspector_shortcut: bool = False
    inspector_strategy: str = "service_first"
    inspector_shortcut_pace: int = 2
    test_db_url: str | None = None
    deploy_scenario: str | None = None
    node_name: str | None = None
    build_tag: str | None = None
    fault_host: str | None = None
    inventory: tuple[Path, ...] = ()

    @property
    def inspector_url(self) -> str:
        """Where the monitor reports to (the inspector's own address and port)."""
        return f"http://{_url_host(self.inspector_bind or '127.0.0.1')}:{self.inspector_port}"

    @property
    def consumer_url(self) -> str:
        """The consumer's URL as a local client reaches it (Aodh is given the one
        doctor_tests.harness.reach works out for its node)."""
        return (self.consumer_advertise_url or
                f"http://{_url_host(self.consumer_bind or '127.0.0.1')}:{self.consumer_port}"
                "/failure")


def _url_host(bind: str) -> str:
    """The address a local client uses to reach a service bound to ``bind``."""
    if bind in ("0.0.0.0", ""):
        return "127.0.0.1"
    if bind == "::":
        bind = "::1"
    return f"[{bind}]" if ":" in bind else bind


# --- converters: raw value (str from env/CLI, or a YAML scalar) -> typed value ----------------
# Each raises _Invalid(allowed) with a description of what is allowed.


class _Invalid(Exception):
    def __init__(self, allowed: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed


Converter = Callable[[object], Any]


def _choice(*allowed: str) -> Converter:
    def convert(raw: object) -> str:
        if isinstance(raw, str) and raw.strip() in allowed:
            return raw.strip()
        raise _Invalid("allowed: " + ", ".join(allowed))

    return convert


def _installer(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else raw
    if name in RETIRED_INSTALLERS:
        raise _Invalid("%s is a retired OPNFV installer, no longer supported; allowed: %s"
                       % (name, ", ".join(INSTALLER_TYPES)))
    return _choice(*INSTALLER_TYPES)(raw)


def _inspector(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else raw
    if isinstance(name, str) and name in RETIRED_INSPECTORS:
        raise _Invalid("%s (inspector %s) is not supported; allowed: %s"
                       % (RETIRED_INSPECTORS[name], name, ", ".join(INSPECTOR_TYPES)))
    return _choice(*INSPECTOR_TYPES)(raw)


def _int(minimum: int, maximum: int | None = None) -> Converter:
    desc = f"an integer >= {minimum}" if maximum is None else f"an integer {minimum}..{maximum}"

    def convert(raw: object) -> int:
        if isinstance(raw, bool):
            raise _Invalid(desc)
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str):
            try:
                value = int(raw.strip(), 10)
            except ValueError:
                raise _Invalid(desc) from None
        else:
            raise _Invalid(desc)
        if value < minimum or (maximum is not None and value > maximum):
            raise _Invalid(desc)
        return value

    return convert


def _float(minimum: float, *, exclusive: bool) -> Converter:
    desc = f"a number {'>' if exclusive else '>='} {minimum:g}"

    def convert(raw: object) -> float:
        if isinstance(raw, bool):
            raise _Invalid(desc)
        if isinstance(raw, int | float):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                raise _Invalid(desc) from None
        else:
            raise _Invalid(desc)
        if not math.isfinite(value) or value < minimum or (exclusive and value == minimum):
            raise _Invalid(desc)
        return value

    return convert


def _monitors(raw: object) -> tuple[str, ...]:
    """One or more monitor types, comma-separated (or a YAML list), each known."""
    items = raw.split(",") if isinstance(raw, str) else raw
    allowed = "allowed: %s, or several separated by commas" % ", ".join(MONITOR_TYPES)
    if not isinstance(items, list | tuple) or not items:
        raise _Invalid(allowed)
    names = tuple(str(i).strip() for i in items)
    if not all(names) or any(n not in MONITOR_TYPES for n in names) or len(set(names)) != len(
            names):
        raise _Invalid(allowed)
    return names


def _faults(raw: object) -> tuple[str, ...]:
    """Faults of the catalogue, comma-separated (or a YAML list)."""
    items = raw.split(",") if isinstance(raw, str) else raw
    allowed = "allowed: %s (comma-separated)" % ", ".join(FAULT_NAMES)
    if not isinstance(items, list | tuple) or not items:
        raise _Invalid(allowed)
    names = tuple(str(i).strip() for i in items)
    if any(n not in FAULT_NAMES for n in names):
        raise _Invalid(allowed)
    return names


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
        return raw.strip().lower() in _TRUE
    raise _Invalid("allowed: true, false, 1, 0, yes, no")


def _text(raw: object) -> str:
    if isinstance(raw, str) and raw.strip() and not any(c.isspace() for c in raw.strip()):
        return raw.strip()
    raise _Invalid("a non-empty string without spaces")


def _name(raw: object) -> str:
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    raise _Invalid("a non-empty string")


def _path(raw: object) -> Path:
    if isinstance(raw, str | Path) and str(raw).strip():
        return Path(str(raw).strip()).expanduser()
    raise _Invalid("a file system path")


def _paths(raw: object) -> tuple[Path, ...]:
    """One or more paths: a comma-separated string (as ANSIBLE_INVENTORY) or a YAML list."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if isinstance(items, list | tuple) and items and all(
            isinstance(i, str | Path) and str(i).strip() for i in items):
        return tuple(Path(str(i).strip()).expanduser() for i in items)
    raise _Invalid("one or more paths, separated by commas")


def _url(raw: object) -> str:
    if isinstance(raw, str):
        parsed = urlparse(raw.strip())
        if parsed.scheme in ("http", "https") and parsed.netloc:
            return raw.strip()
        if parsed.scheme == "file" and parsed.path:
            return raw.strip()
    raise _Invalid("an http://, https:// or file:// URL")


@dataclass(frozen=True)
class _Spec:
    field: str
    env: str
    convert: Converter
    help: str

    @property
    def flag(self) -> str:
        return "--" + _FLAG_NAMES.get(self.field, self.field).replace("_", "-")

    @property
    def dest(self) -> str:
        return "doctor_" + self.field


# CLI flags that differ from the field name (unit suffixes are dropped on the command line).
_FLAG_NAMES = {
    "notification_threshold_s": "notification_threshold",
    "fault_duration_s": "fault_duration",
    "monitor_interval_s": "monitor_interval",
    "monitor_timeout_s": "monitor_timeout",
    "collectd_interval_s": "collectd_interval",
}

_PORT = _int(0, 65535)

SPECS: tuple[_Spec, ...] = (
    _Spec("installer_type", "INSTALLER_TYPE", _installer, "deployment tool"),
    _Spec("installer_ip", "INSTALLER_IP", _text, "address of the installer node"),
    _Spec("inspector_type", "INSPECTOR_TYPE", _inspector,
          "inspector: sample (Doctor's), vitrage or masakari (docs/peers.md)"),
    _Spec("vm_count", "VM_COUNT", _int(1), "servers per scenario"),
    _Spec("profiler_type", "PROFILER_TYPE", _choice(*PROFILER_TYPES), "profiler"),
    _Spec("test_case", "TEST_CASE", _choice(*TEST_CASES), "which scenario(s) to run"),
    _Spec("ssh_key", "SSH_KEY", _path, "private key for SSH to the cloud's hosts"),
    _Spec("image_name", "IMAGE_NAME", _name, "Glance image for the test servers"),
    _Spec("ci_debug", "CI_DEBUG", _bool, "verbose logging (true/false)"),
    _Spec("os_cloud", "OS_CLOUD", _name, "clouds.yaml entry (default doctor-lab when local)"),
    _Spec(
        "notification_threshold_s",
        "DOCTOR_NOTIFICATION_THRESHOLD",
        _float(0.0, exclusive=True),
        "max allowed notification time in seconds",
    ),
    _Spec("results_dir", "DOCTOR_RESULTS_DIR", _path, "where results are written"),
    _Spec("repeat", "REPEAT", _int(1), "how many times each scenario runs"),
    _Spec(
        "fault_duration_s",
        "DOCTOR_FAULT_DURATION",
        _float(0.0, exclusive=True),
        "seconds the link stays down before the host restores it",
    ),
    _Spec(
        "monitor_interval_s",
        "DOCTOR_MONITOR_INTERVAL",
        _float(0.0, exclusive=True),
        "seconds between ICMP probes",
    ),
    _Spec(
        "monitor_timeout_s",
        "DOCTOR_MONITOR_TIMEOUT",
        _float(0.0, exclusive=True),
        "seconds to wait for each probe's reply",
    ),
    _Spec("monitor_misses", "DOCTOR_MONITOR_MISSES", _int(1), "consecutive misses => host down"),
    _Spec("monitor_type", "MONITOR_TYPE", _monitors,
          "monitor(s): sample (ICMP), collectd (heartbeat from the host); comma-separated"),
    _Spec("collectd_port", "DOCTOR_COLLECTD_PORT", _PORT,
          "UDP port where the collectd monitor's receiver listens for heartbeats"),
    _Spec("collectd_interval_s", "DOCTOR_COLLECTD_INTERVAL", _float(0.0, exclusive=True),
          "seconds between the collectd plugin's heartbeats (as configured on the hosts)"),
    _Spec("collectd_misses", "DOCTOR_COLLECTD_MISSES", _int(1),
          "heartbeat intervals without one => host down"),
    _Spec("faults", "DOCTOR_FAULTS", _faults,
          "TEST_CASE=fault_catalogue: the faults to run, comma-separated (default: all)"),
    _Spec("inspector_bind", "DOCTOR_INSPECTOR_BIND", _text,
          "inspector listen address (default loopback, or the runner's address toward the "
          "nodes where monitors run)"),
    _Spec("inspector_port", "DOCTOR_INSPECTOR_PORT", _PORT, "inspector listen port"),
    _Spec("inspector_advertise_url", "DOCTOR_INSPECTOR_URL", _text,
          "the inspector URL given to monitors on the cloud's nodes, when they reach the "
          "runner another way"),
    _Spec("inspector_tunnel", "DOCTOR_INSPECTOR_TUNNEL", _bool,
          "monitors on the cloud's nodes reach the inspector through reverse SSH tunnels "
          "(true/false)"),
    _Spec("consumer_bind", "DOCTOR_CONSUMER_BIND", _text,
          "consumer listen address (default: the runner's address toward Aodh's notifier)"),
    _Spec("consumer_port", "DOCTOR_CONSUMER_PORT", _PORT, "consumer listen port"),
    _Spec("consumer_advertise_url", "DOCTOR_CONSUMER_URL", _text,
          "the consumer URL given to Aodh, when its node reaches the runner another way"),
    _Spec("consumer_tunnel", "DOCTOR_CONSUMER_TUNNEL", _bool,
          "give Aodh a port on its own node's loopback, forwarded to the consumer over SSH "
          "(true/false), for controllers that cannot route back to the runner"),
    _Spec(
        "inspector_concurrency",
        "DOCTOR_INSPECTOR_CONCURRENCY",
        _int(1, 1024),
        "parallel cloud calls in the inspector",
    ),
    _Spec("inspector_shortcut", "DOCTOR_INSPECTOR_SHORTCUT", _bool,
          "the inspector also publishes compute.instance.update itself (true/false)"),
    _Spec("inspector_strategy", "DOCTOR_INSPECTOR_STRATEGY", _choice(*INSPECTOR_STRATEGIES),
          "how the inspector orders a host's calls (docs/inspector.md)"),
    _Spec("inspector_shortcut_pace", "DOCTOR_INSPECTOR_SHORTCUT_PACE", _int(1, 1024),
          "resets in flight at most after the shortcut's notifications"),
    _Spec("test_db_url", "TEST_DB_URL", _url, "results database URL"),
    _Spec("deploy_scenario", "DEPLOY_SCENARIO", _name, "CI deploy scenario name"),
    _Spec("node_name", "NODE_NAME", _name, "CI pod name"),
    _Spec("build_tag", "BUILD_TAG", _name, "CI build tag"),
    _Spec("fault_host", "DOCTOR_FAULT_HOST", _name,
          "compute host to fail (default: the first nova-compute host that is up)"),
    _Spec("inventory", "DOCTOR_INVENTORY", _paths,
          "installer inventories, comma-separated (default inventory/<INSTALLER_TYPE>)"),
)
_BY_FIELD = {spec.field: spec for spec in SPECS}


def _error(spec: _Spec, raw: object, allowed: str, source: str) -> ConfigError:
    return ConfigError(
        f"{spec.env} ({spec.flag}) = {raw!r} is not valid; {allowed} (set in {source})"
    )


def read_config_file(path: Path) -> dict[str, object]:
    """Read a YAML settings file: a mapping of field names (an empty file is fine)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must be a mapping of option names, not {type(data).__name__}"
        )
    unknown = sorted(str(key) for key in data if key not in _BY_FIELD)
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown option(s): {', '.join(unknown)}; "
            f"known: {', '.join(_BY_FIELD)}"
        )
    return {str(key): value for key, value in data.items() if value is not None}


def _resolve_config_file(config_file: Path | None, env: Mapping[str, str]) -> Path | None:
    if config_file is not None:
        explicit: Path | None = Path(config_file)
    elif env.get(CONFIG_FILE_ENV, "").strip():
        explicit = Path(env[CONFIG_FILE_ENV].strip()).expanduser()
    else:
        explicit = None
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(
    cli: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve the settings: CLI (non-None) > environment > YAML file > default.

    ``cli`` is keyed by field name. ``env`` defaults to ``os.environ``. ``config_file``
    (or ``DOCTOR_CONFIG``) names the YAML file; a missing explicit file is an error.
    Raises :class:`ConfigError` naming the option, the bad value and what is allowed.
    """
    cli = dict(cli or {})
    env = os.environ if env is None else env
    unknown = sorted(key for key in cli if key not in _BY_FIELD)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
    path = _resolve_config_file(config_file, env)
    from_file = read_config_file(path) if path is not None else {}

    values: dict[str, Any] = {}
    for spec in SPECS:
        if cli.get(spec.field) is not None:
            raw, source = cli[spec.field], "command line"
        elif env.get(spec.env, "").strip():
            raw, source = env[spec.env], "environment"
        elif spec.field in from_file:
            raw, source = from_file[spec.field], f"config file {path}"
        else:
            continue
        try:
            values[spec.field] = spec.convert(raw)
        except _Invalid as exc:
            raise _error(spec, raw, exc.allowed, source) from None

    if "os_cloud" not in values and values.get("installer_type", "local") == "local":
        values["os_cloud"] = LOCAL_CLOUD
    settings = Settings(**values)
    problem = inspector_problem(settings)
    if problem:
        raise ConfigError(problem)
    return settings


def cases_for(inspector: str) -> tuple[str, ...]:
    """The scenarios (TEST_CASE values) that drive ``inspector``."""
    return tuple(case for case, names in CASE_INSPECTORS.items() if inspector in names)


def inspector_problem(settings: Settings) -> str | None:
    """Why INSPECTOR_TYPE cannot run with TEST_CASE or MONITOR_TYPE (None: it can)."""
    inspector = settings.inspector_type
    case = settings.test_case
    if case != "all" and inspector not in CASE_INSPECTORS[case]:
        return ("TEST_CASE=%s does not drive INSPECTOR_TYPE=%s (it drives: %s); with %s run "
                "TEST_CASE=%s" % (case, inspector, ", ".join(CASE_INSPECTORS[case]), inspector,
                                  " or ".join(cases_for(inspector))))
    wrong = [m for m in settings.monitor_type if m not in INSPECTOR_MONITORS[inspector]]
    if wrong:
        return ("MONITOR_TYPE=%s cannot report to INSPECTOR_TYPE=%s (its monitors: %s)"
                % (",".join(settings.monitor_type), inspector,
                   ", ".join(INSPECTOR_MONITORS[inspector])))
    return None


def add_pytest_options(parser: Any) -> None:
    """Declare one ``--option`` per setting (all default ``None``) in the "doctor" group."""
    group = parser.getgroup("doctor", "Doctor fault-management suite")
    group.addoption(
        "--doctor-config",
        dest="doctor_config_file",
        default=None,
        help=f"YAML settings file (env {CONFIG_FILE_ENV}; default etc/doctor.yaml)",
    )
    for spec in SPECS:
        kwargs: dict[str, Any] = {"dest": spec.dest, "default": None}
        if spec.convert is _bool:
            kwargs.update(nargs="?", const="true")
        group.addoption(spec.flag, help=f"{spec.help} (env {spec.env})", **kwargs)


def settings_from_pytest(config: Any) -> Settings:
    """Resolve the settings from a pytest ``config`` with :func:`add_pytest_options` options."""
    cli = {spec.field: config.getoption(spec.dest) for spec in SPECS}
    config_file = config.getoption("doctor_config_file")
    return load_settings(cli, config_file=Path(config_file) if config_file else None)


def as_dict(settings: Settings) -> dict[str, object]:
    """A JSON-friendly view of the settings (paths as strings)."""
    def plain(value: object) -> object:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value

    return {key: plain(value) for key, value in dataclasses.asdict(settings).items()}
