"""Layout tests: prepare.yml and restore.yml against the files the real installers write.

Each layout (builders.py) is laid out under a temporary root, with the
installer's own inventory (inventory/<installer>) and one local host; the
restarts go to stand-ins for systemctl, docker and podman (fake_engine.py) that
know the layout's units or containers and fail, as the real ones do, for any
other. Each test: prepare, every edit checked, prepare again (nothing
changes), restore, restore again; every file byte for byte, mode and owner as
before; the restarts those of units that exist in the layout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import builders
import pytest
import yaml

from doctor_tests.config import Settings
from doctor_tests.installer import get_installer
from doctor_tests.installer.base import Installer

REPO = Path(os.environ.get("DOCTOR_LAYOUT_REPO", builders.REPO))
PUBLISHER = "notifier://?topic=alarm.all"

Snapshot = dict[str, tuple[bytes, int, int, int]]


def snapshot(root: Path) -> Snapshot:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_file() and rel not in ("units.txt", "restarts.log"):
            st = path.stat()
            out[rel] = (path.read_bytes(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
    return out


def fake_bin(root: Path) -> Path:
    bindir = root.parent / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in ("systemctl", "docker", "podman"):
        link = bindir / tool
        if not link.exists():
            link.symlink_to(Path(__file__).with_name("fake_engine.py"))
    return bindir


def layout(tmp_path: Path, name: str, units: list[str], host_vars: dict) -> Installer:
    root = tmp_path / "root"
    (root / "units.txt").write_text("\n".join(units) + "\n")
    inv = {"all": {"children": {g: {"hosts": {"layout": None}} for g in (
        "controllers", "computes", "telemetry")}, "hosts": {"layout": dict({
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ansible_become": False, "doctor_root": str(root)}, **host_vars)}}}
    (tmp_path / "layout.yml").write_text(yaml.safe_dump(inv))
    env = dict(os.environ, LAYOUT_ROOT=str(root),
               LAYOUT_STOCK_DEFINITIONS=str(tmp_path / "stock_definitions.yaml"),
               PATH="%s:%s" % (fake_bin(root), os.environ["PATH"]))
    (tmp_path / "stock_definitions.yaml").write_text(
        builders.ceilometer_data("event_definitions.yaml"))
    settings = Settings(installer_type=name, results_dir=tmp_path / "results")
    return get_installer(name, settings, inventories=[REPO / "inventory" / name,
                                                      tmp_path / "layout.yml"],
                         limit="layout", environ=env, repo=REPO)


def restarts(root: Path, everything: bool = False) -> list[str]:
    """The restarts recorded since the last call (``everything``: other commands too)."""
    log = root / "restarts.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return [ln for ln in lines if everything or " restart " in ln]


def ini_values(text: str, section: str, option: str) -> list[str]:
    out, current = [], None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            current = s.strip("[]").strip()
        elif current == section and "=" in s and not s.startswith(("#", ";")):
            key, _, value = s.partition("=")
            if key.strip() == option:
                out.append(value.strip())
    return out


def check_edits(installer: Installer, root: Path, files: dict[str, list[str]]) -> int:
    """Every edit Doctor needs is in the prepared files; returns how many were checked."""
    checked = 0
    for path in files["nova"]:
        text = Path(path).read_text()
        state = (ini_values(text, "notifications", "notify_on_state_change")
                 or ini_values(text, "DEFAULT", "notify_on_state_change"))
        assert state[-1:] == ["vm_and_task_state"], path
        assert (ini_values(text, "notifications", "notification_format") or ["unversioned"])[
            -1] in ("unversioned", "both"), path
        assert "messagingv2" in ini_values(text, "oslo_messaging_notifications", "driver"), path
        checked += 3
    for path in files["ceilometer_pipeline"]:
        doc = yaml.safe_load(Path(path).read_text())
        sinks = {s["name"]: s.get("publishers") or [] for s in doc["sinks"]}
        assert PUBLISHER in sinks["event_sink"], (path, sinks)
        checked += 1
    for path in files["ceilometer_definitions"]:
        defs = yaml.safe_load(Path(path).read_text())
        assert any(d.get("event_type") == "compute.instance.*" or "compute.instance.*" in
                   (d.get("event_type") or []) for d in defs), "stock definitions lost"
        port = [d for d in defs if "port.update.end" in (d.get("event_type") or [])][-1]
        assert "data_plane_status" in port["traits"], path
        checked += 1
    for path in files["aodh"]:
        assert ini_values(Path(path).read_text(), "DEFAULT", "event_alarm_cache_ttl")[-1:] == [
            "0"], path
        checked += 1
    for path in files["neutron_ml2"]:
        drivers = ini_values(Path(path).read_text(), "ml2", "extension_drivers")[-1]
        assert "data_plane_status" in drivers.split(","), path
        checked += 1
    return checked


def run_layout(key: str, installer: Installer, root: Path, units: list[str],
               files: dict[str, list[str]], expect_restarts: list[str],
               created: tuple[str, ...] = (), untouched: tuple[str, ...] = ()) -> None:
    """``untouched``: logical files the installer already writes as Doctor needs them."""
    before = snapshot(root)
    installer.prepare()
    prepared = snapshot(root)
    got = restarts(root)
    assert sorted(got) == sorted(expect_restarts), got
    assert all(line.split()[-1] in units for line in got if " restart " in line)
    edits = check_edits(installer, root, files)
    changed = sorted(k for k in prepared if prepared[k] != before.get(k)
                     and not k.startswith("var/lib/doctor/backup/"))
    every = sorted(str(Path(p).relative_to(root)) for key, ps in files.items() for p in ps
                   if key not in untouched)
    assert changed == sorted(k for k in every), (changed, every)
    for rel in created:
        assert rel not in before and rel in prepared
    again = installer.prepare()
    assert again.changed == 0 and restarts(root) == []
    assert snapshot(root) == prepared
    installer.restore()
    after = snapshot(root)
    assert after.keys() == before.keys(), set(after) ^ set(before)
    for rel in before:
        assert after[rel] == before[rel], rel
    assert sorted(restarts(root)) == sorted(expect_restarts)  # the same, with the originals
    assert installer.restore().changed == 0 and restarts(root) == []
    out = REPO / "results" / "layouts-real"
    out.mkdir(parents=True, exist_ok=True)
    (out / (key + ".json")).write_text(json.dumps(
        {"files": len(before), "edited": len(every), "edits": edits}))


def kolla_files(root: Path, units: list[str]) -> dict[str, list[str]]:
    k = root / "etc/kolla"
    ml2 = [str(k / c.replace("_", "-") / "ml2_conf.ini") for c in (
        "neutron_server", "neutron_rpc_server", "neutron_periodic_worker",
        "neutron_ovn_maintenance_worker") if c in units]
    return {"nova": [str(k / "nova-api/nova.conf")],
            "ceilometer_pipeline": [str(k / "ceilometer-notification/event_pipeline.yaml")],
            "ceilometer_definitions": [str(k / "ceilometer-notification/event_definitions.yaml")],
            "aodh": [str(k / "aodh-listener/aodh.conf")], "neutron_ml2": ml2}


KOLLA = [("docker", False, "openvswitch"), ("docker", True, "openvswitch"),
         ("podman", False, "ovn")]


@pytest.mark.parametrize("engine,gnocchi,plugin", KOLLA,
                         ids=["%s-%s-%s" % (e, "gnocchi" if g else "nognocchi", p)
                              for e, g, p in KOLLA])
def test_kolla(tmp_path: Path, engine: str, gnocchi: bool, plugin: str) -> None:
    """Kolla-Ansible's defaults (Ceilometer and Aodh on): Gnocchi on or off (off leaves the
    event sink's publishers null), docker or podman, Open vSwitch or OVN."""
    root = tmp_path / "root"
    units = builders.kolla(root, gnocchi, plugin, sys.executable)["units"]
    installer = layout(tmp_path, "kolla", units, {"kolla_container_engine": engine})
    files = kolla_files(root, units)
    neutron = [c for c in ("neutron_server", "neutron_rpc_server", "neutron_periodic_worker",
                           "neutron_ovn_maintenance_worker") if c in units]
    assert len(neutron) == (4 if plugin == "ovn" else 3), units
    expect = ["%s restart %s" % (engine, c) for c in
              ["nova_api", "ceilometer_notification", "aodh_listener"] + neutron]
    run_layout("kolla-%s-%s-%s" % (engine, gnocchi, plugin), installer, root, units, files,
               expect)


@pytest.mark.parametrize("cellsv2", ["superconductor", "singleconductor"])
def test_devstack(tmp_path: Path, cellsv2: str) -> None:
    """Current DevStack (2025.2 and later): Neutron's uWSGI units, the conductor of the
    CELLSV2_SETUP, nova.conf with DevStack's [DEFAULT] notify_on_state_change."""
    root = tmp_path / "root"
    units = builders.devstack(root, cellsv2)["units"]
    installer = layout(tmp_path, "devstack", units, {})
    e = root / "etc"
    files = {"nova": [str(e / "nova/nova.conf")],
             "ceilometer_pipeline": [str(e / "ceilometer/event_pipeline.yaml")],
             "ceilometer_definitions": [str(e / "ceilometer/event_definitions.yaml")],
             "aodh": [str(e / "aodh/aodh.conf")],
             "neutron_ml2": [str(e / "neutron/plugins/ml2/ml2_conf.ini")]}
    conductor = "n-super-cond" if cellsv2 == "superconductor" else "n-cond"
    # nova.conf is as Doctor needs it (DevStack with Ceilometer): no Nova unit restarts
    assert conductor in " ".join(units)
    expect = ["systemctl restart devstack@%s.service" % u for u in [
        "ceilometer-anotification", "aodh-listener",
        "aodh-notifier", "neutron-api", "neutron-rpc-server", "neutron-periodic-workers",
        "neutron-ovn-maintenance-worker"]]
    run_layout("devstack-" + cellsv2, installer, root, units, files, expect,
               untouched=("nova",))
    nova = Path(files["nova"][0]).read_text()
    assert not ini_values(nova, "notifications", "notify_on_state_change")


def test_tripleo(tmp_path: Path) -> None:
    """TripleO: no event_definitions.yaml (created from the container's stock file and
    removed again, also inside the container), publishers empty, tripleo_* units."""
    root = tmp_path / "root"
    units = builders.tripleo(root)["units"]
    installer = layout(tmp_path, "apex", units, {})
    g = root / "var/lib/config-data/puppet-generated"
    files = {"nova": [str(g / "nova/etc/nova/nova.conf")],
             "ceilometer_pipeline": [str(g / "ceilometer/etc/ceilometer/event_pipeline.yaml")],
             "ceilometer_definitions": [
                 str(g / "ceilometer/etc/ceilometer/event_definitions.yaml")],
             "aodh": [str(g / "aodh/etc/aodh/aodh.conf")],
             "neutron_ml2": [str(g / "neutron/etc/neutron/plugins/ml2/ml2_conf.ini")]}
    expect = ["systemctl restart tripleo_%s.service" % u for u in [
        "nova_api", "nova_conductor", "nova_scheduler", "ceilometer_agent_notification",
        "aodh_listener", "aodh_notifier", "neutron_api"]]
    before = snapshot(root)
    installer.prepare()
    restarts(root)
    rel = str(Path(files["ceilometer_definitions"][0]).relative_to(root))
    assert rel not in before and rel in snapshot(root)
    installer.restore()
    log = restarts(root, everything=True)
    assert ("podman exec --user root ceilometer_agent_notification rm -f "
            "/etc/ceilometer/event_definitions.yaml") in log, log
    assert snapshot(root) == before
    run_layout("tripleo", installer, root, units, files, expect, created=(rel,))


def test_devstack_prepared_for_vitrage_on_top(tmp_path: Path) -> None:
    """With Vitrage as the inspector, Nova also sends its notifications on Vitrage's topic
    (its nova.instance datasource reads them there), beside Ceilometer's: on DevStack's
    nova.conf, which sets no topics, prepare writes both and restarts only Nova's units; a
    second prepare changes nothing; restore puts the bytes back and restarts them again."""
    root = tmp_path / "root"
    units = builders.devstack(root, "superconductor")["units"]
    installer = layout(tmp_path, "devstack", units, {})
    nova = root / "etc/nova/nova.conf"
    assert not ini_values(nova.read_text(), "oslo_messaging_notifications", "topics")
    before = snapshot(root)
    installer.prepare()
    restarts(root)
    sample = snapshot(root)
    assert sample[str(nova.relative_to(root))] == before[str(nova.relative_to(root))]
    installer.prepare("vitrage")
    got = restarts(root)
    assert got and all("devstack@n-" in line for line in got), got
    assert any("devstack@n-api.service" in line for line in got), got
    assert ini_values(nova.read_text(), "oslo_messaging_notifications", "topics") == [
        "notifications,vitrage_notifications"]
    assert installer.prepare("vitrage").changed == 0 and restarts(root) == []
    installer.restore()
    assert snapshot(root) == before
    assert any("devstack@n-api.service" in line for line in restarts(root))
