"""Installer plugins: the registry, Nova host -> address, layouts, command lines, errors."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from doctor_tests import config
from doctor_tests.config import ConfigError, Settings, load_settings
from doctor_tests.installer import (
    INSTALLERS,
    SERVICES,
    PlaybookFailed,
    UnknownHost,
    UnknownInstaller,
    get_installer,
)
from doctor_tests.installer.apex import ApexInstaller, parse_servers
from doctor_tests.installer.base import REPO_ROOT, Installer, InstallerError
from doctor_tests.installer.discovery import inventory_document, ssh_command, write_inventory
from doctor_tests.installer.inventory import Inventory, InventoryError, render
from doctor_tests.installer.local import LocalInstaller
from doctor_tests.installer.mcp import parse_pillar
from doctor_tests.lab import LabHost

DOC_NET = ipaddress.ip_network("192.0.2.0/24")
REAL = ("devstack", "apex", "mcp", "kolla")


def make(name: str, **kwargs) -> Installer:
    settings = kwargs.pop("settings", Settings(installer_type=name))
    if name == "local":
        kwargs.setdefault("lab_hosts", lambda: [
            LabHost("lab-compute-0", "10.213.0.10", True, True),
            LabHost("lab-compute-1", "10.213.0.11", True, True)])
        kwargs.setdefault("lab_dir", lambda: Path("/var/lib/doctor-lab"))
    return get_installer(name, settings, **kwargs)


class FakeRunner:
    """Stands in for doctor_tests.playbook.run_subprocess: the callback's JSON event lines
    and the human output it would have produced."""

    def __init__(self, rc: int = 0, events: list[dict] | None = None,
                 output: list[str] | None = None) -> None:
        self.rc, self.calls = rc, []
        self.events = [json.dumps(e) for e in events or []]
        self.output = output or []

    def __call__(self, cmd, env, cwd, log, timeout, on_event=None):
        self.calls.append({"cmd": cmd, "env": env, "cwd": cwd, "log": log, "timeout": timeout})
        return self.rc, self.events, self.output


# -- the registry --------------------------------------------------------------------------


def test_registry_has_every_installer_type_the_settings_allow() -> None:
    assert sorted(INSTALLERS) == sorted(config.INSTALLER_TYPES)
    for name, cls in INSTALLERS.items():
        assert cls.name == name
        assert isinstance(make(name), cls)


def test_fuel_is_mcp_and_retired_installers_are_named_so() -> None:
    """Issue 17: INSTALLER_TYPE=fuel (upstream CI's name for MCP) is accepted; daisy is
    refused as retired, with the supported values."""
    assert issubclass(INSTALLERS["fuel"], INSTALLERS["mcp"])
    assert make("fuel").inventories == make("mcp").inventories
    assert load_settings(env={"INSTALLER_TYPE": "fuel"}).installer_type == "fuel"
    with pytest.raises(ConfigError, match="daisy is a retired OPNFV installer.*allowed: local, "
                                          "devstack, apex, mcp, fuel, kolla"):
        load_settings(env={"INSTALLER_TYPE": "daisy"})


def test_unknown_installer_lists_the_valid_names() -> None:
    with pytest.raises(UnknownInstaller) as err:
        get_installer("daisy", Settings())
    message = str(err.value)
    assert "'daisy'" in message and "INSTALLER_TYPE" in message
    for name in INSTALLERS:
        assert name in message


# -- nodes and addresses -------------------------------------------------------------------


def test_devstack_maps_nova_hosts_to_inventory_addresses() -> None:
    inst = make("devstack")
    assert [n.name for n in inst.controllers()] == ["devstack-controller"]
    assert [n.name for n in inst.computes()] == ["devstack-controller", "devstack-compute-1"]
    assert inst.address_of("devstack-compute-1") == "192.0.2.11"
    assert inst.address_of("devstack-compute-1.example.org") == "192.0.2.11"  # FQDN from Nova
    assert inst.node_user == "stack"


def test_apex_maps_the_fqdn_nova_uses() -> None:
    inst = make("apex")
    assert inst.address_of("overcloud-novacompute-1.localdomain") == "192.0.2.31"
    assert inst.address_of("overcloud-controller-0") == "192.0.2.20"
    assert inst.node_user == "tripleo-admin"


def test_mcp_nodes_and_where_services_run() -> None:
    inst = make("mcp")
    assert [n.name for n in inst.controllers()] == ["ctl01", "ctl02", "ctl03"]
    assert inst.address_of("cmp002") == "192.0.2.62"
    assert inst.service_host("aodh") == "mdb01"  # telemetry nodes run Ceilometer and Aodh
    assert inst.service_host("nova") == "ctl01"
    assert inst.ssh_key == Path("/var/lib/opnfv/mcp.rsa")


def test_local_nodes_come_from_the_lab() -> None:
    inst = make("local")
    assert [(n.name, n.address) for n in inst.computes()] == [
        ("lab-compute-0", "10.213.0.10"), ("lab-compute-1", "10.213.0.11")]
    assert inst.address_of("lab-compute-1") == "10.213.0.11"
    # the controller is a namespace host of its own, reached by SSH as the node user
    assert inst.address_of("lab-controller") == "10.213.0.2"
    assert inst.address_of("lab-controller-0") == "10.213.0.2"
    assert inst.service_host("aodh") == "lab-controller-0"
    assert inst.node_user == "stack"
    assert inst.var("lab-controller-0", "ansible_become") is True
    assert inst.ssh_key == Path("/var/lib/doctor-lab/ssh/id_ed25519")
    assert inst.known_hosts == Path("/var/lib/doctor-lab/ssh/known_hosts")


@pytest.mark.parametrize("name", list(INSTALLERS))
def test_unknown_nova_host_names_the_host_and_the_known_ones(name: str) -> None:
    inst = make(name)
    with pytest.raises(UnknownHost) as err:
        inst.address_of("no-such-host")
    message = str(err.value)
    assert "'no-such-host'" in message and name in message
    assert inst.computes()[0].nova_host in message


def test_ssh_key_setting_wins_over_the_inventory() -> None:
    inst = make("kolla", settings=Settings(installer_type="kolla", ssh_key=Path("/k/id")))
    assert inst.ssh_key == Path("/k/id")
    assert inst.extra_vars()["doctor_ssh_key"] == "/k/id"


# -- the layouts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(INSTALLERS))
def test_every_layout_names_each_service_file_restart_and_log(name: str) -> None:
    inst = make(name)
    for service in SERVICES:
        layout = inst.service(service)
        assert layout.config_files and all(p.startswith("/") for p in layout.config_files)
        assert layout.restart_commands, service
        assert layout.log_files, service


def test_layout_paths_per_installer() -> None:
    assert make("kolla").service("nova").config_files == ("/etc/kolla/nova-api/nova.conf",)
    assert make("kolla").service("aodh").restart_commands == ("docker restart aodh_listener",)
    assert make("apex").service("ceilometer").config_files[0] == (
        "/var/lib/config-data/puppet-generated/ceilometer/etc/ceilometer/event_pipeline.yaml")
    assert make("devstack").service("neutron").config_files[0] == (
        "/etc/neutron/plugins/ml2/ml2_conf.ini")
    assert "journal:devstack@n-api.service" in make("devstack").service("nova").log_files
    local = make("local").service("nova")
    assert local.config_files == ("/var/lib/doctor-lab/etc/nova/nova.conf",)
    assert local.restart_commands[0] == ("/var/lib/doctor-lab/venv/bin/supervisorctl -c "
                                         "/var/lib/doctor-lab/etc/supervisord.conf restart "
                                         "openstack:nova-api")


def test_unknown_service_lists_the_known_ones() -> None:
    with pytest.raises(InstallerError, match="'swift'.*nova, ceilometer, aodh, neutron"):
        make("devstack").service("swift")


@pytest.mark.parametrize("name", REAL)
def test_example_inventories_only_use_documentation_addresses(name: str) -> None:
    inst = make(name)
    for node in inst.controllers() + inst.computes():
        assert ipaddress.ip_address(node.address) in DOC_NET, node
    for var in ("doctor_undercloud_ip", "doctor_salt_master_ip"):
        value = inst.var(inst.controllers()[0].name, var)
        assert value is None or ipaddress.ip_address(value) in DOC_NET


def test_event_definitions_are_the_labs() -> None:
    """roles/doctor_config keeps its own copy of Doctor's event definitions."""
    ours = REPO_ROOT / "roles/doctor_config/files/doctor_event_definitions.yaml"
    labs = REPO_ROOT / "roles/lab_openstack/files/doctor_event_definitions.yaml"
    assert yaml.safe_load(ours.read_text()) == yaml.safe_load(labs.read_text())


# -- command lines and runs ----------------------------------------------------------------


def test_prepare_command_line_for_apex_with_installer_ip_and_key() -> None:
    settings = Settings(installer_type="apex", installer_ip="192.0.2.99",
                        ssh_key=Path("/keys/apex"))
    cmd = make("apex", settings=settings).playbook_command("prepare.yml",
                                                           ansible_playbook="ansible-playbook")
    assert cmd[:3] == ["ansible-playbook", "-i", str(REPO_ROOT / "inventory" / "apex")]
    assert cmd[-1] == str(REPO_ROOT / "playbooks" / "prepare.yml")
    extra = json.loads(cmd[cmd.index("-e") + 1])
    assert extra == {"doctor_undercloud_ip": "192.0.2.99", "doctor_ssh_key": "/keys/apex"}


def test_command_line_with_more_inventories_a_limit_and_extra_vars(tmp_path: Path) -> None:
    layout = tmp_path / "layout.yml"
    layout.write_text("all:\n  children:\n    controllers:\n      hosts:\n        t1:\n")
    inst = make("kolla", inventories=[REPO_ROOT / "inventory/kolla", layout], limit="t1",
                extra_vars={"x": 1})
    cmd = inst.playbook_command("restore.yml", ansible_playbook="ap")
    assert cmd[1:5] == ["-i", str(REPO_ROOT / "inventory/kolla"), "-i", str(layout)]
    assert cmd[cmd.index("--limit") + 1] == "t1"
    assert json.loads(cmd[cmd.index("-e") + 1]) == {"x": 1}
    assert [n.name for n in inst.controllers()] == ["t1"]  # the limit applies to the nodes too


def test_local_passes_the_lab_directory() -> None:
    cmd = make("local", lab_dir=lambda: Path("/srv/lab")).playbook_command(
        "collect_logs.yml", {"doctor_logs_dest": "/r"}, ansible_playbook="ap")
    assert json.loads(cmd[cmd.index("-e") + 1]) == {"lab_dir": "/srv/lab",
                                                     "doctor_logs_dest": "/r"}


STATS_OK = {"event": "stats", "hosts": {
    "control01": {"ok": 7, "changed": 2, "unreachable": 0, "failures": 0, "skipped": 1},
    "compute01": {"ok": 3, "changed": 0, "unreachable": 0, "failures": 0, "skipped": 4}}}


def test_run_playbook_reads_the_recap(tmp_path: Path) -> None:
    runner = FakeRunner(0, [{"event": "task_start", "task": "y"}, STATS_OK])
    inst = make("kolla", settings=Settings(installer_type="kolla", results_dir=tmp_path),
                runner=runner, environ={"PATH": "/bin"})
    result = inst.prepare()
    assert result.changed == 2 and result.recap["compute01"]["skipped"] == 4
    call = runner.calls[0]
    assert call["env"]["ANSIBLE_CONFIG"] == str(REPO_ROOT / "ansible.cfg")
    assert call["env"]["PATH"] == "/bin" and call["cwd"] == REPO_ROOT
    assert call["log"].parent == tmp_path / "ansible"
    assert call["cmd"][-1].endswith("playbooks/prepare.yml")
    # the inspector under test goes to the playbook (Vitrage's needs Nova's second topic)
    assert json.loads(call["cmd"][call["cmd"].index("-e") + 1]) == {"doctor_inspector": "sample"}
    inst.prepare("vitrage")
    assert json.loads(runner.calls[1]["cmd"][runner.calls[1]["cmd"].index("-e") + 1])[
        "doctor_inspector"] == "vitrage"


def test_failed_playbook_names_the_task_host_and_message(tmp_path: Path) -> None:
    events = [{"event": "task_start", "task": "Edit"},
              {"event": "failed", "task": "Edit", "host": "control01", "ignored": False,
               "message": "/etc/kolla/nova-api/nova.conf does not exist on this host"},
              {"event": "stats", "hosts": {}}]
    inst = make("kolla", settings=Settings(installer_type="kolla", results_dir=tmp_path),
                runner=FakeRunner(2, events, ["fatal: [control01]: FAILED! => {...}"]))
    with pytest.raises(PlaybookFailed) as err:
        inst.restore()
    assert err.value.playbook == "restore.yml" and err.value.rc == 2
    assert err.value.task == "Edit" and err.value.host == "control01"
    assert "restore.yml failed (exit 2)" in str(err.value) and "nova.conf" in str(err.value)
    assert "'Edit' failed on control01" in str(err.value)


def test_failed_playbook_without_events_gives_the_last_lines(tmp_path: Path) -> None:
    lines = ["line %d" % i for i in range(100)]
    inst = make("devstack", settings=Settings(installer_type="devstack", results_dir=tmp_path),
                runner=FakeRunner(4, [], lines))
    with pytest.raises(PlaybookFailed) as err:
        inst.collect_logs(tmp_path / "logs")
    assert err.value.tail == lines[-30:] and err.value.failures == []


def test_collect_logs_of_some_services_names_their_files_and_units(tmp_path: Path) -> None:
    runner = FakeRunner(0, [STATS_OK])
    inst = make("local", settings=Settings(installer_type="local", results_dir=tmp_path),
                runner=runner)
    inst.collect_logs(tmp_path / "logs", services=("nova", "aodh"))
    extra = json.loads(runner.calls[0]["cmd"][runner.calls[0]["cmd"].index("-e") + 1])
    assert extra["doctor_log_files"] == [
        "/var/lib/doctor-lab/log/nova-controller.log",
        "/var/lib/doctor-lab/log/nova-lab-compute-*.log", "/var/lib/doctor-lab/log/aodh.log"]
    assert extra["doctor_log_units"] == []


def test_collect_logs_gives_an_absolute_destination(tmp_path: Path) -> None:
    runner = FakeRunner(0, [STATS_OK])
    inst = make("mcp", settings=Settings(installer_type="mcp", results_dir=tmp_path),
                runner=runner)
    inst.collect_logs(Path("relative/logs"))
    extra = json.loads(runner.calls[0]["cmd"][runner.calls[0]["cmd"].index("-e") + 1])
    assert Path(extra["doctor_logs_dest"]).is_absolute()


# -- the inventory reader ------------------------------------------------------------------


def test_inventory_precedence_and_the_doctor_group(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "controllers": {"hosts": {"c1": {"v": "host"}, "c2": None}, "vars": {"w": "inline"}},
    }}}))
    (tmp_path / "group_vars/all.yml").write_text("v: all\nw: all\nu: all\n")
    (tmp_path / "group_vars/controllers.yml").write_text("v: group\nw: group\n")
    (tmp_path / "group_vars/doctor.yml").write_text("d: '{{ u }}/x'\n")
    inv = Inventory([tmp_path])
    assert inv.value("c1", "v") == "host" and inv.value("c2", "v") == "group"
    assert inv.value("c2", "w") == "group"  # group_vars file over the hosts file's group vars
    assert inv.value("c2", "d") == "all/x"  # every host is in the doctor group
    assert inv.hosts("doctor") == ["c1", "c2"]


def test_render_is_ansibles_and_names_the_variable() -> None:
    assert render("{{ a.b }}-{{ c['d'] }}", {"a": {"b": 1}, "c": {"d": "x"}}) == "1-x"
    assert render("{{ a }}", {"a": [1, "{{ b }}"], "b": 2}) == [1, 2]
    assert render("{{ a | int + 1 }}", {"a": "1"}, "port") == 2  # Jinja, as the playbooks
    with pytest.raises(InventoryError, match="^x: .*nope"):
        render("{{ nope }}", {}, "x")
    with pytest.raises(InventoryError, match="^loop: "):
        render("{{ a }}", {"a": "{{ a }}"}, "loop")


def test_an_ini_inventory_with_host_vars_and_group_vars_folders(tmp_path: Path) -> None:
    """What Ansible reads, the Python side reads: INI hosts, group_vars/<group>/ folders,
    host_vars/, and Ansible's precedence (a group's inline vars below group_vars/all)."""
    (tmp_path / "hosts.ini").write_text(
        "[controllers]\nctl01 ansible_host=192.0.2.1\n\n[computes]\n"
        "cmp001 ansible_host=192.0.2.11\ncmp002\n\n[computes:vars]\nuser=inline\n"
        "only_inline=yes\n")
    (tmp_path / "group_vars" / "computes").mkdir(parents=True)
    (tmp_path / "group_vars" / "all.yml").write_text("user: all\nbase: /srv\n")
    (tmp_path / "group_vars" / "computes" / "ssh.yml").write_text(
        "port: 2222\nconf: '{{ base }}/nova.conf'\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "cmp002.yml").write_text("ansible_host: 192.0.2.12\n")
    inv = Inventory([tmp_path])
    assert inv.hosts("computes") == ["cmp001", "cmp002"]
    assert "computes" in inv.groups_of("cmp002") and "doctor" in inv.groups_of("cmp002")
    assert inv.value("cmp002", "ansible_host") == "192.0.2.12"  # host_vars/
    assert inv.value("cmp001", "port") == 2222  # a group_vars/<group>/ folder
    assert inv.value("cmp001", "conf") == "/srv/nova.conf"
    assert inv.value("cmp001", "user") == "all"  # Ansible: group_vars/all over inline vars
    assert inv.value("cmp001", "only_inline") == "yes"
    assert inv.value("ctl01", "port", "none") == "none"
    with pytest.raises(InventoryError, match="cmp009 is not in the inventory"):
        inv.value("cmp009", "port")


def test_missing_inventory_is_a_clear_error(tmp_path: Path) -> None:
    inst = make("devstack", inventories=[tmp_path / "nowhere"])
    with pytest.raises(InstallerError, match="inventory .*nowhere does not exist"):
        inst.controllers()


# -- discovery -----------------------------------------------------------------------------


def test_apex_parses_both_server_list_formats() -> None:
    output = json.dumps([
        {"Name": "overcloud-controller-0", "Networks": "ctlplane=192.0.2.20"},
        {"Name": "overcloud-novacompute-0", "Networks": {"ctlplane": ["192.0.2.30"]}},
        {"Name": "overcloud-cephstorage-0", "Networks": "ctlplane=192.0.2.40"},
    ])
    nodes = parse_servers(output)
    assert [(n.name, n.address, n.groups) for n in nodes] == [
        ("overcloud-controller-0", "192.0.2.20", ("controllers",)),
        ("overcloud-novacompute-0", "192.0.2.30", ("computes",))]
    assert nodes[1].nova_host == "overcloud-novacompute-0.localdomain"
    with pytest.raises(InstallerError, match="not JSON"):
        parse_servers("Permission denied")


def test_apex_discovery_goes_to_the_undercloud() -> None:
    settings = Settings(installer_type="apex", installer_ip="192.0.2.5", ssh_key=Path("/k"))
    inst = make("apex", settings=settings)
    assert isinstance(inst, ApexInstaller)
    seen = []
    nodes = inst.discover(lambda cmd: seen.append(cmd) or json.dumps(
        [{"Name": "overcloud-novacompute-3", "Networks": "ctlplane=192.0.2.33"}]))
    assert nodes[0].address == "192.0.2.33"
    assert seen[0][-2] == "stack@192.0.2.5" and "stackrc" in seen[0][-1]
    assert "StrictHostKeyChecking=yes" in seen[0] and "/k" in seen[0]


def test_mcp_parses_the_pillar() -> None:
    nodes = parse_pillar(json.dumps({"ctl01.mcp.local": "192.0.2.41", "cmp001.mcp.local":
                                     "192.0.2.61", "mdb01.mcp.local": "192.0.2.51",
                                     "prx01.mcp.local": "192.0.2.9"}))
    assert [(n.name, n.groups) for n in nodes] == [
        ("cmp001", ("computes",)), ("ctl01", ("controllers",)), ("mdb01", ("telemetry",))]
    with pytest.raises(InstallerError, match="mdb02.* no _param:single_address"):
        parse_pillar(json.dumps({"mdb02": ""}))


def test_installers_that_cannot_be_asked_say_so() -> None:
    with pytest.raises(InstallerError, match="cannot be asked.*inventory/kolla/hosts.yml"):
        make("kolla").discover()


def test_written_inventory_reads_back(tmp_path: Path) -> None:
    nodes = parse_servers(json.dumps([
        {"Name": "overcloud-controller-0", "Networks": "ctlplane=192.0.2.20"},
        {"Name": "overcloud-novacompute-0", "Networks": "ctlplane=192.0.2.30"}]))
    write_inventory("apex", nodes, tmp_path / "inv", REPO_ROOT)
    inst = make("apex", inventories=[tmp_path / "inv"])
    assert inst.address_of("overcloud-novacompute-0.localdomain") == "192.0.2.30"
    assert inst.service("nova").restart_commands[0] == "systemctl restart tripleo_nova_api.service"
    doc = inventory_document(nodes)
    assert doc["all"]["children"]["computes"]["hosts"]["overcloud-novacompute-0"][
        "doctor_nova_host"] == "overcloud-novacompute-0.localdomain"
    with pytest.raises(InstallerError, match="named no nodes"):
        write_inventory("apex", [], tmp_path / "empty", REPO_ROOT)


def test_ssh_command_checks_host_keys() -> None:
    cmd = ssh_command("u", "192.0.2.1", "uptime", Path("/k"), Path("/kh"))
    assert cmd[0] == "ssh" and cmd[-2:] == ["u@192.0.2.1", "uptime"]
    assert "StrictHostKeyChecking=yes" in cmd and "UserKnownHostsFile=/kh" in cmd


def test_local_controller_comes_from_the_inventory_not_the_loopback() -> None:
    """Without lab hosts (the lab not up), the controller is still the namespace host on the
    bridge: nothing of the suite's falls back to 127.0.0.1."""
    inst = make("local", lab_hosts=lambda: [])
    assert isinstance(inst, LocalInstaller)
    assert [(n.name, n.address) for n in inst.controllers()] == [
        ("lab-controller-0", "10.213.0.2")]


def test_ssh_targets_for_the_scenarios() -> None:
    target = make("local").ssh_target("lab-compute-1")
    assert (target.address, target.user) == ("10.213.0.11", "stack")
    target = make("local").ssh_target("lab-controller")
    assert (target.host, target.address, target.user) == ("lab-controller", "10.213.0.2", "stack")
    assert target.known_hosts == Path("/var/lib/doctor-lab/ssh/known_hosts")
    target = make("devstack").ssh_target("devstack-compute-1")
    assert (target.address, target.user, target.key_file) == (
        "192.0.2.11", "stack", Path("~/.ssh/id_rsa").expanduser())
    with pytest.raises(InstallerError, match="through the undercloud 192.0.2.2"):
        make("apex").ssh_target("overcloud-novacompute-0.localdomain")


def test_mcp_non_ha_puts_the_controller_in_telemetry() -> None:
    """Issue 17: non-HA MCP runs Ceilometer and Aodh on ctl01; the roles come from the
    pillar, not the name prefix, so the telemetry group is not empty."""
    answer = {"ctl01.mcp.local": {"_param:single_address": "192.0.2.41",
                                  "nova:controller:enabled": True,
                                  "aodh:server:enabled": True,
                                  "ceilometer:server:enabled": True,
                                  "nova:compute:enabled": ""},
              "cmp001.mcp.local": {"_param:single_address": "192.0.2.61",
                                   "nova:compute:enabled": True}}
    nodes = parse_pillar(json.dumps(answer))
    assert [(n.name, n.groups) for n in nodes] == [
        ("cmp001", ("computes",)), ("ctl01", ("controllers", "telemetry"))]
    with pytest.raises(InstallerError, match="no minion runs Ceilometer or Aodh"):
        parse_pillar(json.dumps({"cmp001": answer["cmp001.mcp.local"]}))


def test_the_peers_logs_are_named_in_the_labs_layout() -> None:
    local = make("local")
    assert local.service("vitrage").log_files == ("/var/lib/doctor-lab/log/vitrage.log",)
    assert local.service("masakari").log_files == ("/var/lib/doctor-lab/log/masakari.log",)
    assert local.service("vitrage").config_files == () == local.service("masakari").restart_commands
    with pytest.raises(InstallerError, match="unknown service 'congress'; known: .*vitrage"):
        local.service("congress")
