"""The lab's data plane as the Python side reads it: lab-net.sh status's columns, the
hosts' data-plane addresses through the local installer, and the inventory's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from doctor_tests import lab
from doctor_tests.config import Settings
from doctor_tests.installer.local import LocalInstaller
from doctor_tests.paths import data_root

STATUS = """lab-controller-0 10.213.0.2 up controller - -
lab-compute-0 10.213.0.10 up compute 10.214.0.10 up
lab-compute-1 10.213.0.11 up compute 10.214.0.11 down
"""


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCTOR_LAB_DIR", str(tmp_path))
    (tmp_path / "bin").mkdir()
    return tmp_path


def write_status(lab_dir: Path, text: str) -> None:
    script = lab_dir / "bin" / "lab-net.sh"
    script.write_text("#!/bin/sh\n[ \"$1\" = status ] && cat <<'EOF'\n%sEOF\n" % text)
    script.chmod(0o755)


def test_status_columns_give_each_hosts_data_plane(lab_dir: Path) -> None:
    write_status(lab_dir, STATUS)
    ctl, c0, c1 = lab.all_hosts()
    assert (ctl.role, ctl.data_address, ctl.links_up) == ("controller", "", True)
    assert (c0.data_address, c0.data_link_up, c0.links_up) == ("10.214.0.10", True, True)
    assert (c1.data_address, c1.data_link_up, c1.link_up, c1.links_up) == (
        "10.214.0.11", False, True, False)  # its management link up, its data plane down


def test_a_status_without_data_plane_columns_still_reads(lab_dir: Path) -> None:
    write_status(lab_dir, "lab-compute-0 10.213.0.10 up compute\n")
    (host,) = lab.all_hosts()
    assert host.data_address == "" and host.links_up


def test_the_local_installer_knows_each_compute_hosts_data_plane_address() -> None:
    hosts = [lab.LabHost("lab-compute-0", "10.213.0.10", True, True, "compute",
                         "10.214.0.10", True)]
    installer = LocalInstaller(Settings(), lab_hosts=lambda: hosts,
                               lab_dir=lambda: Path("/var/lib/doctor-lab"))
    assert installer.dataplane_address_of("lab-compute-0") == "10.214.0.10"
    assert installer.address_of("lab-compute-0") == "10.213.0.10"


def test_the_inventory_puts_the_data_plane_on_its_own_subnet() -> None:
    values = yaml.safe_load((data_root() / "inventory/local/group_vars/all.yml").read_text())
    assert values["lab_dataplane_bridge"] != values["lab_bridge"]
    assert values["lab_dataplane_subnet"] != values["lab_subnet"]


def test_a_killed_runs_frozen_or_powered_off_hosts_are_named_for_revival(
        lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_status(lab_dir, STATUS)
    console = lab_dir / "bin" / "lab-console.sh"
    console.write_text("#!/bin/sh\n[ \"$1\" = pids ] || exit 9\n"
                       "[ \"$2\" = lab-compute-1 ] && echo '41 T /usr/sbin/sshd -D'\n"
                       "echo '42 S collectd'\n")
    console.chmod(0o755)
    monkeypatch.setattr(lab, "programs", lambda: [
        {"name": "computes:nova-compute-lab-compute-0", "state": "STOPPED", "detail": ""},
        {"name": "computes:sshd-lab-compute-1", "state": "RUNNING", "detail": ""}])
    assert lab.hosts_to_revive() == {"lab-compute-0": "power-on", "lab-compute-1": "thaw"}
