"""Which peers the lab runs, from its inventory, and the API ports `doctor lab status` checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctor_tests import lab


def inventory(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inventory" / "local" / "group_vars"
    path.mkdir(parents=True)
    (path / "all.yml").write_text(text)
    monkeypatch.setattr(lab, "data_root", lambda: tmp_path)


def test_the_repositorys_lab_runs_both_peers() -> None:
    assert lab.peers() == ["vitrage", "masakari"]
    assert lab.api_ports()["vitrage"] == 8999 and lab.api_ports()["masakari"] == 15868


@pytest.mark.parametrize(("text", "wanted"), [
    ("lab_peers: []\n", []),
    ("lab_peers: [masakari]\n", ["masakari"]),
    ("lab_peers: [vitrage, congress]\n", ["vitrage"]),
    ("lab_peers: vitrage\n", []),
    ("other: 1\n", []),
    ("lab_peers: [\n", []),
])
def test_peers_from_the_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                  wanted: list[str]) -> None:
    inventory(tmp_path, text, monkeypatch)
    assert lab.peers() == wanted
    assert set(lab.api_ports()) == set(lab.API_PORTS) | set(wanted)
