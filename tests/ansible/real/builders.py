"""The files each installer writes, for the layout tests.

* Kolla-Ansible: rendered by Kolla's own templates and action plugins from its
  release package (kolla_render.yml), with its defaults.
* DevStack: nova.conf, aodh.conf and ml2_conf.ini are written by DevStack's
  ``iniset`` calls (lib/nova, lib/neutron_plugins/ml2, aodh's devstack/plugin.sh);
  they are replayed here in the same order with the same insertion rule (a new
  option goes right below its section's header, a new section at the end).
  Ceilometer's pipeline files are its package's data files, edited as
  ceilometer's devstack/plugin.sh does (the last line replaced by the Gnocchi
  publisher).
* TripleO: what puppet-ceilometer's event_pipeline.yaml.erb writes with
  tripleo-heat-templates' default EventPipelinePublishers (none), puppet's INI
  files (``key=value``), and no event_definitions.yaml.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CACHE = Path(os.environ.get("DOCTOR_LAYOUT_CACHE", REPO / "results" / "layout-cache"))
KOLLA_VERSION = os.environ.get("DOCTOR_KOLLA_VERSION", "22.2.0")
CEILOMETER_VERSION = os.environ.get("DOCTOR_CEILOMETER_VERSION", "24.0.0")


def wheel(name: str, version: str) -> Path:
    """The release wheel from the Python index, unpacked once under the cache."""
    dest = CACHE / ("%s-%s" % (name, version))
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # pytest-xdist workers unpack it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / ".done").exists():
            _unpack(name, version, dest)
    return dest


def _unpack(name: str, version: str, dest: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-d", str(CACHE),
                    "%s==%s" % (name, version)], check=True, timeout=300)
    whl = next(CACHE.glob("%s-%s-*.whl" % (name.replace("-", "_"), version)))
    with zipfile.ZipFile(whl) as z:
        z.extractall(dest)
    (dest / ".done").touch()


def ceilometer_data(name: str) -> str:
    return (wheel("ceilometer", CEILOMETER_VERSION) / "ceilometer/pipeline/data"
            / name).read_text()


# ------------------------------------------------------------------ DevStack


def iniset(text: str, section: str, option: str, value: str) -> str:
    """DevStack's inc/ini-config iniset on ``text``."""
    lines = text.splitlines(keepends=True)
    header = "[%s]\n" % section
    if header not in lines:
        lines += ["\n", header]
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    pat = re.compile(r"^%s\s*=" % re.escape(option))
    for i in range(start, end):
        if pat.match(lines[i]):
            lines[i] = "%s = %s\n" % (option, value)
            return "".join(lines)
    lines.insert(start, "%s = %s\n" % (option, value))
    return "".join(lines)


def inisets(calls: list[tuple[str, str, str]]) -> str:
    text = ""
    for call in calls:
        text = iniset(text, *call)
    return text


RABBIT = "rabbit://stackrabbit:secret@192.0.2.10:5672/"
DEVSTACK_NOVA = [  # lib/nova create_nova_conf, with ceilometer enabled
    ("DEFAULT", "debug", "True"), ("scheduler", "workers", "2"),
    ("DEFAULT", "allow_resize_to_same_host", "True"),
    ("api", "cors.allowed_origin", "*"), ("wsgi", "api_paste_config", "/etc/nova/api-paste.ini"),
    ("DEFAULT", "rootwrap_config", "/etc/nova/rootwrap.conf"),
    ("api_database", "connection", "mysql+pymysql://root:secret@127.0.0.1/nova_api"),
    ("DEFAULT", "my_ip", "192.0.2.10"), ("DEFAULT", "instance_name_template", "instance-%08x"),
    ("DEFAULT", "state_path", "/opt/stack/data/nova"), ("upgrade_levels", "compute", "auto"),
    ("DEFAULT", "instance_usage_audit", "True"),
    ("DEFAULT", "instance_usage_audit_period", "hour"),
    ("DEFAULT", "notify_on_state_change", "vm_and_task_state"),
    ("oslo_messaging_notifications", "driver", "messagingv2"),
    ("oslo_messaging_notifications", "transport_url", RABBIT),
    ("notifications", "notification_format", "unversioned"),
    ("DEFAULT", "transport_url", RABBIT), ("DEFAULT", "osapi_compute_workers", "2"),
    ("DEFAULT", "metadata_workers", "2"), ("conductor", "workers", "2"),
]
DEVSTACK_AODH = [  # aodh's devstack/plugin.sh configure_aodh
    ("DEFAULT", "transport_url", RABBIT),
    ("oslo_messaging_notifications", "topics", "notifications"), ("DEFAULT", "debug", "True"),
    ("DEFAULT", "use_syslog", "False"), ("service_credentials", "region_name", "RegionOne"),
    ("database", "connection", "mysql+pymysql://root:secret@127.0.0.1/aodh?charset=utf8"),
]
DEVSTACK_ML2 = [  # lib/neutron_plugins/ml2 with OVN, the default
    ("ml2", "tenant_network_types", "geneve"), ("ml2", "mechanism_drivers", "ovn"),
    ("ml2", "type_drivers", "local,flat,vlan,geneve"),
    ("ml2", "extension_drivers", "port_security"),
    ("ml2_type_vxlan", "vni_ranges", "1001:2000"), ("ml2_type_geneve", "vni_ranges", "1:65536"),
    ("ml2_type_geneve", "max_header_size", "38"),
    ("ovn", "ovn_nb_connection", "unix:/var/run/ovn/ovnnb_db.sock"),
    ("ovn", "ovn_sb_connection", "unix:/var/run/ovn/ovnsb_db.sock"),
]
DEVSTACK_UNITS = {  # run_process names (devstack@<name>.service)
    "superconductor": ["n-api", "n-api-meta", "n-cpu", "n-sch", "n-super-cond", "n-cond-cell1",
                       "n-novnc-cell1"],
    "singleconductor": ["n-api", "n-api-meta", "n-cpu", "n-sch", "n-cond", "n-novnc"],
}
DEVSTACK_COMMON_UNITS = ["keystone", "placement-api", "g-api", "neutron-api",
                         "neutron-rpc-server", "neutron-periodic-workers",
                         "neutron-ovn-maintenance-worker", "q-ovn-agent", "ovn-controller",
                         "ceilometer-acentral", "ceilometer-acompute",
                         "ceilometer-anotification", "aodh-api", "aodh-evaluator",
                         "aodh-notifier", "aodh-listener"]


def devstack(root: Path, cellsv2: str = "superconductor") -> dict[str, list[str]]:
    """A current DevStack controller (all-in-one) under ``root``; returns its units."""
    pipeline = ceilometer_data("event_pipeline.yaml").splitlines(keepends=True)[:-1]
    pipeline.append("          - gnocchi://?archive_policy=ceilometer-low&filter_project=service\n")
    files = {
        "etc/nova/nova.conf": inisets(DEVSTACK_NOVA),
        "etc/aodh/aodh.conf": inisets(DEVSTACK_AODH),
        "etc/neutron/plugins/ml2/ml2_conf.ini": inisets(DEVSTACK_ML2),
        "etc/ceilometer/event_pipeline.yaml": "".join(pipeline),
        "etc/ceilometer/event_definitions.yaml": ceilometer_data("event_definitions.yaml"),
    }
    write(root, files, mode=0o644, owner=(1000, 1000))
    units = ["devstack@%s.service" % u for u in DEVSTACK_UNITS[cellsv2] + DEVSTACK_COMMON_UNITS]
    return {"units": units}


# ------------------------------------------------------------------- TripleO


def tripleo(root: Path) -> dict[str, list[str]]:
    """A TripleO controller's puppet-generated files (no event_definitions.yaml)."""
    gen = "var/lib/config-data/puppet-generated/"
    files = {
        gen + "nova/etc/nova/nova.conf":
            "[DEFAULT]\nstate_path=/var/lib/nova\ntransport_url=%s\n\n"
            "[notifications]\nnotify_on_state_change=vm_and_task_state\n\n"
            "[oslo_messaging_notifications]\ndriver=noop\ntransport_url=%s\n" % (RABBIT, RABBIT),
        gen + "ceilometer/etc/ceilometer/event_pipeline.yaml":
            "---\nsources:\n    - name: event_source\n      events:\n          - \"*\"\n"
            "      sinks:\n          - event_sink\nsinks:\n    - name: event_sink\n"
            "      publishers:\n",
        gen + "aodh/etc/aodh/aodh.conf":
            "[DEFAULT]\ntransport_url=%s\n\n[database]\nconnection=mysql+pymysql://aodh@db/aodh\n"
            % RABBIT,
        gen + "neutron/etc/neutron/plugins/ml2/ml2_conf.ini":
            "[ml2]\ntype_drivers=geneve,vxlan,vlan,flat\nmechanism_drivers=ovn\n"
            "extension_drivers=qos,port_security,dns\n",
    }
    write(root, files, mode=0o640, owner=(0, 42400))
    units = ["tripleo_%s.service" % c for c in (
        "nova_api", "nova_conductor", "nova_scheduler", "nova_metadata",
        "ceilometer_agent_notification", "ceilometer_agent_central", "aodh_api",
        "aodh_evaluator", "aodh_listener", "aodh_notifier", "neutron_api", "ovn_controller")]
    return {"units": units}


# -------------------------------------------------------------- Kolla-Ansible


def kolla(root: Path, gnocchi: bool, plugin: str, python: str) -> dict[str, list[str]]:
    """Render Kolla-Ansible's files with its defaults (Ceilometer and Aodh enabled, as Doctor
    needs) into ``root``/etc/kolla; returns the containers Kolla runs there."""
    pkg = wheel("kolla-ansible", KOLLA_VERSION)
    share = pkg / ("kolla_ansible-%s.data/data/share/kolla-ansible" % KOLLA_VERSION)
    passwords = _kolla_passwords(share)
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(pkg),
               ANSIBLE_ACTION_PLUGINS=str(share / "ansible/action_plugins"),
               ANSIBLE_FILTER_PLUGINS=str(share / "ansible/filter_plugins"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    env.pop("ANSIBLE_CONFIG", None)
    extra = {
        "kolla_share": str(share), "render_root": str(root),
        "node_config": str(root / "etc/kolla"), "node_config_directory": str(root / "etc/kolla"),
        "network_interface": "lo", "kolla_internal_vip_address": "127.0.0.1",
        # the only expression of Kolla's defaults that needs a Galaxy collection
        # (ansible.utils.ipaddr): its value for these addresses
        "kolla_same_external_internal_vip": True,
        "enable_ceilometer": True, "enable_aodh": True, "enable_gnocchi": gnocchi,
        "neutron_plugin_agent": plugin, "ansible_python_interpreter": python,
    }
    ansible = str(Path(python).parent / "ansible-playbook")
    res = subprocess.run([ansible, "-i", str(share / "ansible/inventory/all-in-one"),
                          str(HERE / "kolla_render.yml"), "-e", "@" + str(passwords),
                          "-e", json.dumps(extra)], env=env, capture_output=True, text=True,
                         timeout=300)
    if res.returncode != 0:
        raise RuntimeError("rendering Kolla's files failed:\n" + res.stdout[-3000:])
    containers = (root / "containers.txt").read_text().split()
    (root / "containers.txt").unlink()
    return {"units": containers}


def _kolla_passwords(share: Path) -> Path:
    import yaml
    dest = CACHE / "kolla-passwords.json"
    doc = yaml.safe_load((share / "etc_examples/kolla/passwords.yml").read_text())
    dest.write_text(json.dumps({k: "secret" if v is None else v for k, v in doc.items()}))
    return dest


def write(root: Path, files: dict[str, str], mode: int, owner: tuple[int, int]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        if os.geteuid() == 0:
            os.chown(path, *owner)


if __name__ == "__main__":  # fetch the release packages before the tests run in parallel
    wheel("kolla-ansible", KOLLA_VERSION)
    wheel("ceilometer", CEILOMETER_VERSION)
