"""The doctor_conf Ansible module's edits, backups and restore (its functions, no Ansible run)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from doctor_tests.installer.base import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location(
    "doctor_conf", REPO_ROOT / "roles/doctor_config/library/doctor_conf.py")
assert _SPEC and _SPEC.loader
dc = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(dc)

DEFS = (REPO_ROOT / "roles/doctor_config/files/doctor_event_definitions.yaml").read_text()
NOVA = [
    {"section": "notifications", "option": "notify_on_state_change", "value": "vm_and_task_state"},
    {"section": "notifications", "option": "notification_format", "value": "unversioned",
     "accept": ["both"]},
    {"section": "oslo_messaging_notifications", "option": "driver", "value": "messagingv2",
     "mode": "multi"},
]
SAMPLE = """[DEFAULT]
# a comment
debug = true

[notifications]
# Possible values: ...
#notify_on_state_change = <None>

#notification_format = unversioned

[oslo_messaging_notifications]
#driver =

[quota]
driver = nova.quota.DbQuotaDriver
"""
PIPELINE = """---
sources:
    - name: event_source
      events:
          - "*"
      sinks:
          - event_sink
sinks:
    - name: event_sink
      publishers:
          - gnocchi://
"""


class StubModule:
    """What restore_all needs of AnsibleModule."""

    @staticmethod
    def atomic_move(src: str, dest: str) -> None:
        st_ = os.stat(dest)
        os.chmod(src, st_.st_mode & 0o7777)
        os.replace(src, dest)


# -- INI ------------------------------------------------------------------------------------


def test_ini_sets_options_beside_their_commented_samples() -> None:
    new, changes = dc.edit_ini(SAMPLE, NOVA)
    assert "#notify_on_state_change = <None>\nnotify_on_state_change = vm_and_task_state\n" in new
    assert "#notification_format = unversioned\nnotification_format = unversioned\n" in new
    assert "#driver =\ndriver = messagingv2\n" in new
    assert "driver = nova.quota.DbQuotaDriver" in new  # another section's option untouched
    assert len(changes) == 3 and "(unset) -> vm_and_task_state" in changes[0]
    assert dc.edit_ini(new, NOVA) == (new, [])
    removed = [ln for ln in SAMPLE.splitlines() if ln not in new.splitlines()]
    assert removed == []  # only lines were added


def test_ini_replaces_the_effective_value_and_accepts_alternatives() -> None:
    text = "[notifications]\nnotify_on_state_change = vm_state\nnotification_format = both\n"
    new, changes = dc.edit_ini(text, NOVA[:2])
    assert new == ("[notifications]\nnotify_on_state_change = vm_and_task_state\n"
                   "notification_format = both\n")
    assert changes == ["[notifications] notify_on_state_change: vm_state -> vm_and_task_state"]


def test_ini_multi_valued_option_keeps_other_drivers() -> None:
    text = "[oslo_messaging_notifications]\ndriver = log\n\n[x]\n"
    new, _ = dc.edit_ini(text, NOVA[2:])
    assert new == "[oslo_messaging_notifications]\ndriver = log\ndriver = messagingv2\n\n[x]\n"
    assert dc.edit_ini(new, NOVA[2:])[1] == []


def test_ini_list_option_gets_the_item_appended() -> None:
    setting = [{"section": "ml2", "option": "extension_drivers", "value": "data_plane_status",
                "mode": "list"}]
    new, _ = dc.edit_ini("[ml2]\nextension_drivers = port_security\n", setting)
    assert new == "[ml2]\nextension_drivers = port_security,data_plane_status\n"
    assert dc.edit_ini("[ml2]\nextension_drivers = data_plane_status, qos\n", setting)[1] == []
    assert dc.edit_ini("[ml2]\nextension_drivers =\n", setting)[0] == (
        "[ml2]\nextension_drivers = data_plane_status\n")


def test_ini_unset_list_option_starts_from_the_services_default() -> None:
    # Nova's notification topics: unset means "notifications", which Ceilometer reads;
    # adding Vitrage's topic must keep it
    setting = [{"section": "oslo_messaging_notifications", "option": "topics",
                "value": "vitrage_notifications", "mode": "list", "default": "notifications"}]
    text = "[oslo_messaging_notifications]\ndriver = messagingv2\n"
    new, changes = dc.edit_ini(text, setting)
    assert new == text + "topics = notifications,vitrage_notifications\n"
    assert changes == ["[oslo_messaging_notifications] topics: (unset) -> "
                       "notifications,vitrage_notifications"]
    assert dc.edit_ini(new, setting) == (new, [])
    # set explicitly (DevStack's Vitrage plugin writes both): nothing to do
    both = text + "topics = notifications, vitrage_notifications\n"
    assert dc.edit_ini(both, setting) == (both, [])
    # set to something else: the item is appended to what the operator chose
    mine = text + "topics = ops\n"
    assert dc.edit_ini(mine, setting)[0] == text + "topics = ops,vitrage_notifications\n"
    # the default already holds the item: an unset option is left unset
    plain = [dict(setting[0], value="notifications")]
    assert dc.edit_ini(text, plain) == (text, [])


def test_ini_missing_section_is_appended_and_crlf_kept() -> None:
    text = "[DEFAULT]\r\ndebug = true"
    new, _ = dc.edit_ini(text, [{"section": "ml2", "option": "a", "value": "b"}])
    assert new == "[DEFAULT]\r\ndebug = true\r\n\r\n[ml2]\r\na = b\r\n"


def test_ini_section_given_twice_uses_the_last_value() -> None:
    text = "[DEFAULT]\nevent_alarm_cache_ttl = 0\n[x]\n[DEFAULT]\nevent_alarm_cache_ttl = 60\n"
    new, _ = dc.edit_ini(text, [{"section": "DEFAULT", "option": "event_alarm_cache_ttl",
                                 "value": "0"}])
    assert new.splitlines()[-1] == "event_alarm_cache_ttl = 0"
    assert new.splitlines()[1] == "event_alarm_cache_ttl = 0"


_line = st.text(alphabet="abc_=#[] \t", max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(_line, max_size=12), st.sampled_from(["set", "list", "multi"]))
def test_ini_edit_is_idempotent_and_only_adds_or_replaces_one_line(lines, mode) -> None:
    text = "\n".join(lines) + "\n"
    setting = [{"section": "b", "option": "a", "value": "c", "mode": mode}]
    new, _ = dc.edit_ini(text, setting)
    assert dc.edit_ini(new, setting) == (new, [])
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(new_lines) - len(old_lines) in (0, 1, 2, 3)
    kept = [ln for ln in old_lines if ln in new_lines]
    assert len(old_lines) - len(kept) <= 1


# -- event pipeline ---------------------------------------------------------------------


def test_pipeline_gets_the_publisher_once() -> None:
    new, changes = dc.edit_pipeline(PIPELINE, "notifier://?topic=alarm.all", [])
    assert new == PIPELINE + "          - notifier://?topic=alarm.all\n"
    assert changes == ["sink event_sink: publisher notifier://?topic=alarm.all added"]
    assert dc.edit_pipeline(new, "notifier://?topic=alarm.all", []) == (new, [])


def test_pipeline_feeds_only_the_catch_all_sources_sinks() -> None:
    text = PIPELINE + """    - name: meter_sink
      publishers:
          - gnocchi://
      transformers:
          - name: "unit_conversion"
"""
    text = text.replace("          - event_sink\n", "          - event_sink\n"
                        "    - name: meters\n      events: [a.b]\n      sinks: [meter_sink]\n", 1)
    new, changes = dc.edit_pipeline(text, "notifier://x", [])
    assert changes == ["sink event_sink: publisher notifier://x added"]
    assert new.count("notifier://x") == 1
    new, changes = dc.edit_pipeline(text, "notifier://x", ["meter_sink"])
    assert changes == ["sink meter_sink: publisher notifier://x added"]


def test_pipeline_errors_name_the_problem() -> None:
    with pytest.raises(dc.EditError, match="neither a list nor empty"):
        dc.edit_pipeline("sinks:\n  - name: s\n    publishers: a://\n", "b://", [])
    with pytest.raises(dc.EditError, match="no 'sinks:'"):
        dc.edit_pipeline("sources: []\n", "b://", [])
    with pytest.raises(dc.EditError, match="none of the sinks other"):
        dc.edit_pipeline(PIPELINE, "b://", ["other"])


# -- event definitions --------------------------------------------------------------------


STOCK_DEFS = """---
- event_type: port.*
  traits:
    tenant_id:
      fields: ctxt.project_id
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
"""


def test_definitions_are_appended_between_markers_once() -> None:
    new, changes = dc.edit_definitions(STOCK_DEFS, DEFS)
    assert new.startswith(STOCK_DEFS) and dc.MARK_BEGIN in new and new.endswith(dc.MARK_END + "\n")
    assert "port.create.end, port.update.end" in changes[0]
    assert dc.edit_definitions(new, DEFS) == (new, [])


def test_definitions_already_effective_are_not_added_again() -> None:
    """The lab's file: the stock definitions and Doctor's, appended without markers."""
    lab = STOCK_DEFS + "\n" + DEFS
    assert dc.edit_definitions(lab, DEFS) == (lab, [])


def test_definitions_shadowed_by_a_later_one_are_added_again() -> None:
    shadowed = STOCK_DEFS + "\n" + DEFS + "\n- event_type: 'port.*'\n  traits: {}\n"
    assert dc.edit_definitions(shadowed, DEFS)[1]


def test_definitions_without_pyyaml_compare_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dc, "yaml", None)
    new, changes = dc.edit_definitions(STOCK_DEFS, DEFS)
    assert changes and dc.edit_definitions(new, DEFS) == (new, [])
    assert dc.edit_definitions(STOCK_DEFS + DEFS, DEFS)[1] == []


def test_definitions_matching_follows_ceilometer() -> None:
    assert dc._matches({"event_type": ["!port.delete.*"]}, "port.update.end")
    assert not dc._matches({"event_type": ["port.*", "!port.update.*"]}, "port.update.end")
    assert dc._matches({"event_type": "port.update.end"}, "port.update.end")


# -- policy ---------------------------------------------------------------------------------


def test_policy_rules_created_replaced_and_kept() -> None:
    rules = {"update_port:data_plane_status": "rule:admin_only"}
    new, changes = dc.edit_policy("", rules)
    assert new.endswith('"update_port:data_plane_status": "rule:admin_only"\n')
    assert dc.edit_policy(new, rules) == (new, [])
    text = 'update_port:data_plane_status: "role:member"\nget_port: ""\n'
    new, changes = dc.edit_policy(text, rules)
    assert new.splitlines()[0] == '"update_port:data_plane_status": "rule:admin_only"'
    assert changes == ["rule update_port:data_plane_status: role:member -> rule:admin_only"]
    with pytest.raises(dc.EditError, match="JSON policy"):
        dc.edit_policy('{"a": "b"}', rules)


# -- backup and restore ---------------------------------------------------------------------


def _prepare(path: Path, backup: Path, new: bytes, service: str = "nova") -> None:
    """What state=present does once it has the new content."""
    original = path.read_bytes() if path.exists() else None
    dc.take_backup(str(backup), str(path), original, service)
    if original is None:
        dc._write_new(str(path), new, 0o644)
    else:
        dc._replace_content(StubModule(), str(path), new)  # type: ignore[arg-type]
    dc.note_prepared(str(backup), str(path), new)


def test_restore_is_byte_exact_keeps_the_first_original_and_is_idempotent(tmp_path: Path) -> None:
    conf, backup = tmp_path / "nova.conf", tmp_path / "backup"
    conf.write_bytes(b"[DEFAULT]\r\n\xff odd bytes\n")
    conf.chmod(0o640)
    original = conf.read_bytes()
    _prepare(conf, backup, b"first edit\n")
    _prepare(conf, backup, b"second edit\n")  # the backup stays the first original
    assert conf.read_bytes() == b"second edit\n" and (conf.stat().st_mode & 0o777) == 0o640
    assert dc.take_backup(str(backup), str(conf), b"x", "nova") is False
    conf.write_bytes(b"someone else's edit\n")
    changed, restored, warnings, errors = dc.restore_all(StubModule(), str(backup), False)
    assert conf.read_bytes() == original and (conf.stat().st_mode & 0o777) == 0o640
    assert changed and restored == [{"path": str(conf), "service": "nova"}]
    assert len(warnings) == 1 and "changed after Doctor's prepare" in warnings[0]
    assert errors == [] and not backup.exists()
    assert dc.restore_all(StubModule(), str(backup), False) == (False, [], [], [])


def test_restore_removes_a_file_prepare_created(tmp_path: Path) -> None:
    policy, backup = tmp_path / "policy.yaml", tmp_path / "backup"
    _prepare(policy, backup, b'"a": "b"\n', "neutron")
    manifest = json.loads(next(backup.glob("*.json")).read_text())
    assert manifest["existed"] is False and not list(backup.glob("*.orig"))
    changed, restored, _, errors = dc.restore_all(StubModule(), str(backup), False)
    assert not policy.exists() and restored == [{"path": str(policy), "service": "neutron",
                                                 "removed": True}]
    assert changed and errors == []


def test_restore_check_mode_changes_nothing(tmp_path: Path) -> None:
    conf, backup = tmp_path / "aodh.conf", tmp_path / "backup"
    conf.write_text("a\n")
    _prepare(conf, backup, b"b\n", "aodh")
    changed, restored, _, _ = dc.restore_all(StubModule(), str(backup), True)
    assert changed and restored and conf.read_text() == "b\n" and backup.exists()


def test_restore_of_an_untouched_file_only_drops_the_backup(tmp_path: Path) -> None:
    conf, backup = tmp_path / "aodh.conf", tmp_path / "backup"
    conf.write_text("a\n")
    dc.take_backup(str(backup), str(conf), b"a\n", "aodh")  # prepare stopped before editing
    changed, restored, warnings, errors = dc.restore_all(StubModule(), str(backup), False)
    assert changed and restored == [] and warnings == [] and errors == []


def test_damaged_backup_is_reported_and_the_file_left_alone(tmp_path: Path) -> None:
    conf, other, backup = tmp_path / "a.conf", tmp_path / "b.conf", tmp_path / "backup"
    conf.write_text("orig a\n")
    other.write_text("orig b\n")
    _prepare(conf, backup, b"new a\n")
    _prepare(other, backup, b"new b\n")
    next(backup.glob("*a.conf.orig")).write_text("tampered\n")
    changed, restored, _, errors = dc.restore_all(StubModule(), str(backup), False)
    assert conf.read_text() == "new a\n" and other.read_text() == "orig b\n"
    assert len(errors) == 1 and "missing or damaged" in errors[0]
    assert restored == [{"path": str(other), "service": "nova"}]
    assert backup.exists()  # the damaged one stays for a person to look at


def test_original_without_a_manifest_is_dropped(tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "x.orig").write_text("half-written backup\n")
    assert dc.restore_all(StubModule(), str(backup), False)[0] is True
    assert not backup.exists()


TRIPLEO_PIPELINE = """---
sources:
    - name: event_source
      events:
          - "*"
      sinks:
          - event_sink
sinks:
    - name: event_sink
      transformers:
      triggers:
      publishers:
          - gnocchi://?archive_policy=low&filter_project=service
          - panko://
"""


@pytest.mark.parametrize("text", [
    TRIPLEO_PIPELINE,
    TRIPLEO_PIPELINE.replace("          - gnocchi", "      - gnocchi").replace(
        "          - panko", "      - panko"),  # items at the key's indent
    "sinks:\n- name: event_sink\n  publishers:\n",  # no publisher yet
])
def test_pipeline_variants_of_the_installers(text: str) -> None:
    import yaml

    new, changes = dc.edit_pipeline(text, "notifier://?topic=alarm.all", [])
    assert changes
    sink = yaml.safe_load(new)["sinks"][0]
    assert sink["publishers"][-1] == "notifier://?topic=alarm.all"
    before = yaml.safe_load(text)["sinks"][0]
    assert sink["publishers"][:-1] == (before["publishers"] or [])
    assert dc.edit_pipeline(new, "notifier://?topic=alarm.all", []) == (new, [])


@pytest.mark.parametrize("value", ["null", "~", "[]", "[gnocchi://]"])
def test_pipeline_with_null_or_flow_publishers(value: str) -> None:
    """Issue 17: Kolla's merge_yaml writes ``publishers: null`` without Gnocchi."""
    text = "sinks:\n- name: event_sink\n  publishers: %s\nsources: []\n" % value
    new, changes = dc.edit_pipeline(text, "notifier://?topic=alarm.all", [])
    pubs = yaml.safe_load(new)["sinks"][0]["publishers"]
    assert pubs[-1] == "notifier://?topic=alarm.all" and changes
    assert pubs[:-1] == (["gnocchi://"] if "gnocchi" in value else [])
    assert dc.edit_pipeline(new, "notifier://?topic=alarm.all", [])[0] == new
