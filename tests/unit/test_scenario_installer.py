"""The scenarios and the installer: prepare/restore once per session (restore registered
first), which environment a setting gives, the facts read from an installer's files, the
lab-as-devstack inventory, DOCTOR_INVENTORY."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from doctor_tests import config
from doctor_tests.config import ConfigError, Settings, load_settings
from doctor_tests.harness import env as _env
from doctor_tests.harness.env import (
    CloudFactsError,
    InstallerEnv,
    LabEnv,
    environment,
    kombu_url,
    make_installer,
    prepared_cache_ttl,
    resolve_inventories,
)
from doctor_tests.harness.prepare import SharedPreparation, prepare_for_session
from doctor_tests.installer import INSTALLERS, get_installer
from doctor_tests.installer.base import REPO_ROOT, InstallerError, PlaybookFailed, PlaybookResult
from doctor_tests.installer.devstack import DevstackInstaller
from doctor_tests.installer.local import LocalInstaller
from doctor_tests.lab import LabHost

NO_FILE = {"DOCTOR_CONFIG": ""}
LAB_AS_DEVSTACK = REPO_ROOT / "inventory" / "lab-as-devstack"


class Recorder:
    """A stand-in installer that writes what happens, in order, into ``events``."""

    name = "devstack"
    inventories = [Path("inventory/devstack")]

    def __init__(self, events: list[str], fail_prepare: bool = False) -> None:
        self.events, self.fail_prepare = events, fail_prepare

    def prepare(self, inspector: str | None = None) -> PlaybookResult:
        self.events.append("prepare" if inspector in (None, "sample")
                           else "prepare for %s" % inspector)
        if self.fail_prepare:
            raise PlaybookFailed("prepare.yml", 2, tail=["fatal: [n]: interrupted"])
        return PlaybookResult("prepare.yml", 0)

    def restore(self) -> PlaybookResult:
        self.events.append("restore")
        return PlaybookResult("restore.yml", 0)


def shared(tmp_path: Path, pid: int, alive: set[int] | None = None) -> SharedPreparation:
    live = alive if alive is not None else {pid}
    return SharedPreparation("k", directory=tmp_path, pid=pid, alive=lambda p: p in live)


# -- prepare before, restore after, restore registered first ---------------------------------


def test_restore_is_registered_before_prepare_runs(tmp_path: Path) -> None:
    events: list[str] = []
    finalizers = []

    def addfinalizer(fn) -> None:
        events.append("finalizer registered")
        finalizers.append(fn)

    prepare_for_session(shared(tmp_path, 1), Recorder(events), addfinalizer)  # type: ignore[arg-type]
    assert events == ["finalizer registered", "prepare"]
    finalizers.pop()()
    assert events[-1] == "restore"


def test_a_failed_prepare_is_still_restored(tmp_path: Path) -> None:
    events: list[str] = []
    finalizers = []
    with pytest.raises(PlaybookFailed):
        prepare_for_session(shared(tmp_path, 1), Recorder(events, fail_prepare=True),  # type: ignore[arg-type]
                            finalizers.append)
    assert len(finalizers) == 1  # registered although prepare raised
    finalizers[0]()
    assert events == ["prepare", "restore"]
    assert not (tmp_path / "doctor-prepared-k.json").exists()


def test_sessions_share_one_preparation(tmp_path: Path) -> None:
    alive = {1, 2}
    a, b = shared(tmp_path, 1, alive), shared(tmp_path, 2, alive)
    events: list[str] = []
    assert a.enter(lambda: events.append("prepare by 1")) is True
    assert b.enter(lambda: events.append("prepare by 2")) is False
    assert a.holders() == {1, 2}
    assert a.leave(lambda: events.append("restore by 1")) is False  # 2 still runs
    assert b.leave(lambda: events.append("restore by 2")) is True
    assert events == ["prepare by 1", "restore by 2"]
    assert not (tmp_path / "doctor-prepared-k.json").exists()


def test_a_session_of_another_inspector_prepares_on_top(tmp_path: Path) -> None:
    # Vitrage's session needs Nova's notifications on Vitrage's topic too: a cloud
    # prepared for the sample inspector is prepared again for it, and not the other way
    alive = {1, 2, 3}
    a, b, c = (shared(tmp_path, p, alive) for p in (1, 2, 3))
    events: list[str] = []
    assert a.enter(lambda: events.append("prepare by 1"), "sample") is True
    assert b.enter(lambda: events.append("prepare by 2"), "vitrage") is True
    assert c.enter(lambda: events.append("prepare by 3"), "sample") is False
    assert c.enter(lambda: events.append("prepare by 3"), "vitrage") is False
    assert a.leave(lambda: events.append("restore by 1")) is False
    assert b.leave(lambda: events.append("restore by 2")) is False
    assert c.leave(lambda: events.append("restore by 3")) is True
    assert events == ["prepare by 1", "prepare by 2", "restore by 3"]


def test_the_session_prepares_for_its_inspector(tmp_path: Path) -> None:
    events: list[str] = []
    finalizers: list = []
    prepare_for_session(shared(tmp_path, 1), Recorder(events), finalizers.append,  # type: ignore[arg-type]
                        "vitrage")
    finalizers.pop()()
    assert events == ["prepare for vitrage", "restore"]


def test_a_dead_holder_does_not_count(tmp_path: Path) -> None:
    alive = {1, 2}
    events: list[str] = []
    shared(tmp_path, 1, alive).enter(lambda: events.append("prepare by 1"))
    alive.discard(1)  # killed without leaving
    b = shared(tmp_path, 2, alive)
    assert b.enter(lambda: events.append("prepare by 2")) is True
    assert b.leave(lambda: events.append("restore by 2")) is True
    assert events == ["prepare by 1", "prepare by 2", "restore by 2"]


def test_after_a_failed_prepare_the_next_session_prepares_again(tmp_path: Path) -> None:
    alive = {1, 2}
    a, b = shared(tmp_path, 1, alive), shared(tmp_path, 2, alive)

    def fail() -> None:
        raise RuntimeError("prepare interrupted")

    with pytest.raises(RuntimeError):
        a.enter(fail)
    events: list[str] = []
    assert b.enter(lambda: events.append("prepare by 2")) is True
    assert a.leave(lambda: events.append("restore by 1")) is False
    assert events == ["prepare by 2"]


def test_one_preparation_per_installer_and_inventory(tmp_path: Path) -> None:
    s = Settings(installer_type="devstack")
    one = SharedPreparation.for_installer(get_installer("devstack", s), directory=tmp_path)
    same = SharedPreparation.for_installer(get_installer("devstack", s), directory=tmp_path)
    other = SharedPreparation.for_installer(
        get_installer("devstack", s, inventories=[LAB_AS_DEVSTACK]), directory=tmp_path)
    assert one.path == same.path != other.path


# -- which environment ---------------------------------------------------------------------


def test_local_gets_the_lab_environment() -> None:
    assert isinstance(environment(Settings(installer_type="local")), LabEnv)


@pytest.mark.parametrize("name", [n for n in INSTALLERS if n != "local"])
def test_other_installers_get_their_plugin(name: str) -> None:
    env = environment(Settings(installer_type=name))
    assert isinstance(env, InstallerEnv) and env.installer.name == name


def test_unknown_installer_names_the_option_and_the_allowed_values() -> None:
    with pytest.raises(CloudFactsError) as err:
        make_installer(Settings(installer_type="daisy"))
    assert "INSTALLER_TYPE" in str(err.value)
    for name in INSTALLERS:
        assert name in str(err.value)
    with pytest.raises(ConfigError) as cerr:
        load_settings(env={**NO_FILE, "INSTALLER_TYPE": "daisy"})
    assert "INSTALLER_TYPE" in str(cerr.value) and "allowed: local, devstack" in str(cerr.value)
    assert "daisy is a retired OPNFV installer" in str(cerr.value)


def test_doctor_inventory_setting(tmp_path: Path) -> None:
    s = load_settings(env={**NO_FILE, "DOCTOR_INVENTORY": "inventory/devstack, /x/y"})
    assert s.inventory == (Path("inventory/devstack"), Path("/x/y"))
    assert config.as_dict(s)["inventory"] == ["inventory/devstack", "/x/y"]
    assert load_settings(env=NO_FILE).inventory == ()
    with pytest.raises(ConfigError, match=r"DOCTOR_INVENTORY \(--inventory\) = ' , ' .*paths"):
        load_settings(env={**NO_FILE, "DOCTOR_INVENTORY": " , "})


def test_inventories_resolve_from_the_directory_or_the_repository(tmp_path: Path) -> None:
    assert resolve_inventories(Settings()) is None
    got = resolve_inventories(Settings(inventory=(Path("inventory/lab-as-devstack"),)))
    assert got == [LAB_AS_DEVSTACK]
    with pytest.raises(CloudFactsError, match="DOCTOR_INVENTORY.*nowhere"):
        resolve_inventories(Settings(inventory=(tmp_path / "nowhere",)))
    inst = make_installer(Settings(installer_type="devstack",
                                   inventory=(Path("inventory/lab-as-devstack"),)))
    assert inst.inventories == [LAB_AS_DEVSTACK]


# -- facts from the installer --------------------------------------------------------------


class FetchingInstaller(DevstackInstaller):
    """The devstack plugin with fetch_config and collect_logs answered from files."""

    def __init__(self, tmp: Path, aodh_conf: str | None, **kwargs) -> None:
        super().__init__(Settings(installer_type="devstack", results_dir=tmp), **kwargs)
        self.tmp, self.aodh_conf = tmp, aodh_conf

    def fetch_config(self, service: str, dest: Path) -> dict[str, Path]:
        if self.aodh_conf is None:
            raise PlaybookFailed("collect_logs.yml", 4, tail=["fatal: [c]: UNREACHABLE!"])
        path = Path(dest) / "c" / "aodh.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.aodh_conf)
        return {"/etc/aodh/aodh.conf": path}

    def collect_logs(self, dest: Path, services=None) -> PlaybookResult:
        self.services = services
        (Path(dest) / "c").mkdir(parents=True, exist_ok=True)
        (Path(dest) / "c" / "aodh.log").write_text("a\nb\n")
        (Path(dest) / "c" / "devstack@n-api.service.journal.log").write_text("j\n")
        return PlaybookResult("collect_logs.yml", 0)


def test_cache_ttl_and_bus_from_the_fetched_aodh_conf(tmp_path: Path) -> None:
    conf = ("[DEFAULT]\ntransport_url = rabbit://u:p@192.0.2.1:5672,u:p@192.0.2.2:5672/\n"
            "event_alarm_cache_ttl = 0\n")
    env = InstallerEnv(Settings(results_dir=tmp_path), FetchingInstaller(tmp_path, conf))
    assert env.event_alarm_cache_ttl() == 0
    assert env.bus_url() == "amqp://u:p@192.0.2.1:5672//"


def test_notification_transport_wins_and_aodh_default_ttl(tmp_path: Path) -> None:
    conf = ("[DEFAULT]\ntransport_url = rabbit://u:p@h1:5672/\n"
            "[oslo_messaging_notifications]\ntransport_url = rabbit://n:q@h2:5672/notify\n")
    env = InstallerEnv(Settings(results_dir=tmp_path), FetchingInstaller(tmp_path, conf))
    assert env.event_alarm_cache_ttl() == 60  # Aodh's default when unset
    assert env.bus_url() == "amqp://n:q@h2:5672/notify"


def test_unreadable_aodh_conf_falls_back_loudly(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    env = InstallerEnv(Settings(results_dir=tmp_path), FetchingInstaller(tmp_path, None))
    with caplog.at_level(logging.WARNING):
        assert env.event_alarm_cache_ttl() == 0  # what prepare.yml sets
        assert env.bus_url() is None
    text = caplog.text
    assert "doctor_config_aodh_cache_ttl" in text and "UNREACHABLE" in text
    assert "T05/T06 come from the logs" in text and "doctor_bus_url" in text


def test_log_lines_from_collect_logs_skip_journal_exports(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    env = InstallerEnv(Settings(results_dir=tmp_path), FetchingInstaller(tmp_path, ""))
    stale = tmp_path / "installer" / "devstack" / "logs" / "c" / "old-run.log"
    stale.parent.mkdir(parents=True)
    stale.write_text("an earlier run's line\n")
    with caplog.at_level(logging.WARNING):
        assert list(env.log_lines(0.0)) == ["a", "b"]  # the earlier run's copy is gone
    assert "journal" in caplog.text
    assert env.installer.services == ("nova", "aodh")  # only the logs the profiler reads


def test_kombu_urls() -> None:
    assert kombu_url("rabbit://u:p@h:5672/") == "amqp://u:p@h:5672//"
    assert kombu_url("rabbit://u:p@h:5672/vh") == "amqp://u:p@h:5672/vh"
    assert kombu_url("kafka://h:9092") is None
    assert kombu_url("rabbit:///") is None


def test_prepared_ttl_is_the_role_default_unless_the_inventory_sets_it() -> None:
    assert prepared_cache_ttl(get_installer("devstack", Settings())) == 0
    inst = get_installer("devstack", Settings(), extra_vars={"doctor_config_aodh_cache_ttl": 5})
    assert prepared_cache_ttl(inst) == 5


def test_lab_env_reads_the_cache_ttl(tmp_path: Path) -> None:
    conf = tmp_path / "aodh.conf"
    conf.write_text("[DEFAULT]\nevent_alarm_cache_ttl = 0\n")
    assert _env.aodh_cache_ttl(conf) == 0
    conf.write_text("[DEFAULT]\ndebug = true\n")
    assert _env.aodh_cache_ttl(conf) == 60
    assert _env.aodh_cache_ttl(tmp_path / "missing") is None


def test_installer_env_errors_are_cloud_facts_errors() -> None:
    env = InstallerEnv(Settings(installer_type="devstack"),
                       get_installer("devstack", Settings(installer_type="devstack")))
    with pytest.raises(CloudFactsError, match="not in the inventory"):
        env.ssh_target("nowhere-7")


# -- fetch_config and the local restore shortcut ---------------------------------------------


class FakeRunner:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, cmd, env, cwd, log, timeout, on_event=None):
        self.calls.append(cmd)
        return 0, [], []


def test_fetch_config_runs_collect_logs_on_the_service_host_only(tmp_path: Path) -> None:
    runner = FakeRunner()
    inst = get_installer("mcp", Settings(installer_type="mcp", results_dir=tmp_path),
                         runner=runner)
    assert inst.fetch_config("aodh", tmp_path) == {}  # nothing arrived
    cmd = runner.calls[0]
    assert cmd[cmd.index("--limit") + 1] == "mdb01"
    assert '"doctor_log_files": ["/etc/aodh/aodh.conf"]' in cmd[cmd.index("-e") + 1]
    assert cmd[-1].endswith("playbooks/collect_logs.yml")


def make_local(tmp_path: Path, runner: FakeRunner) -> LocalInstaller:
    inst = get_installer(
        "local", Settings(results_dir=tmp_path), runner=runner,
        lab_hosts=lambda: [LabHost("lab-compute-0", "10.213.0.10", True, True)],
        lab_dir=lambda: tmp_path)
    assert isinstance(inst, LocalInstaller)
    return inst


def test_local_restore_runs_the_playbook_on_the_controller(tmp_path: Path) -> None:
    """The lab's backups are on its controller node, which the runner reaches by SSH only:
    restore.yml runs there, as on any cloud (no look into the runner's own disk)."""
    runner = FakeRunner()
    inst = make_local(tmp_path, runner)
    inst.restore()
    assert len(runner.calls) == 1 and runner.calls[0][-1].endswith("playbooks/restore.yml")
    assert str(REPO_ROOT / "inventory" / "local") in runner.calls[0]


# -- the lab-as-devstack inventory -----------------------------------------------------------


def lab_as_devstack() -> DevstackInstaller:
    inst = get_installer("devstack", Settings(installer_type="devstack"),
                         inventories=[LAB_AS_DEVSTACK])
    assert isinstance(inst, DevstackInstaller)
    return inst


def test_lab_as_devstack_reaches_the_lab_hosts_with_the_lab_key() -> None:
    inst = lab_as_devstack()
    target = inst.ssh_target("lab-compute-1")
    assert (target.address, target.user) == ("10.213.0.11", "stack")
    assert target.key_file == Path("/var/lib/doctor-lab/ssh/id_ed25519")
    assert target.known_hosts == Path("/var/lib/doctor-lab/ssh/known_hosts")
    assert all(n.address.startswith("10.213.0.") for n in inst.controllers() + inst.computes())


def test_lab_as_devstack_acts_on_the_labs_files_and_supervisor() -> None:
    inst = lab_as_devstack()
    local = get_installer("local", Settings(),
                          lab_hosts=lambda: [], lab_dir=lambda: Path("/var/lib/doctor-lab"))
    assert inst.files() == local.files()
    for service in ("nova", "ceilometer", "aodh", "neutron"):
        mine, lab = inst.service(service), local.service(service)
        assert mine.config_files == lab.config_files
        assert [c.split()[-1] for c in mine.restart_commands] == \
            [c.split()[-1] for c in lab.restart_commands]
        assert all("supervisorctl -c /var/lib/doctor-lab/etc/supervisord.conf restart" in c
                   for c in mine.restart_commands)
    assert inst.service("aodh").log_files == ("/var/lib/doctor-lab/log/aodh.log",)


def test_lab_as_devstack_nodes_keep_their_own_backups() -> None:
    """restore.yml runs on every node; the namespaces share this machine's disk, so a
    compute host must not find (and race for) the controller's backups."""
    inst = lab_as_devstack()
    dirs = [inst.var(h, "doctor_backup_dir") for h in inst.inventory.hosts()]
    assert len(set(dirs)) == len(dirs)
    assert dirs[0] == "/var/lib/doctor-lab/state/doctor-backup"  # the same as inventory/local
    for host in ("lab-compute-0", "lab-compute-1"):
        assert inst.var(host, "doctor_log_files") == []


def test_errors_of_the_installer_module_stay_installer_errors() -> None:
    inst = get_installer("devstack", Settings(installer_type="devstack"))
    with pytest.raises(InstallerError, match="unknown service 'glance'"):
        inst.fetch_config("glance", Path("/tmp"))
