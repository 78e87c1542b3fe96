"""Notification alarms: tenants are told at once, and only about their own resources.

Steps (seed blueprint "notification alarm evaluator"), driven through real Nova
notifications (os-resetState) -> Ceilometer events -> Aodh event alarms:

1. two projects, A (two servers) and B (one server), all on one host;
2. A's alarm on server A1 only; A's alarm on B's server (must never fire:
   project isolation); A's repeating alarm on server A2;
3. reset A1, A2 and B1 to error: exactly one call for A1's alarm, one for A2's,
   none for B1; severity and reason_data intact; the alarm's state goes
   ``insufficient data`` -> ``alarm`` and Aodh's history records it;
4. reset A1 and A2 to active and to error again: A1's alarm (repeat_actions
   false) stays at one call; A2's (repeat_actions true) gets a second one.
Latency from each reset to the consumer's receipt is reported.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from tabulate import tabulate

from doctor_tests import cloud, preflight, resources
from doctor_tests.harness import evidence
from doctor_tests.harness.run import choose_hosts
from doctor_tests.plugin import record_figures

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab, pytest.mark.fault]


def _reset(conn: Any, server_id: str, state: str) -> float:
    at = time.time()
    resp = conn.compute.post("/servers/%s/action" % server_id,
                             json={"os-resetState": {"state": state}}, raise_exc=False)
    assert resp.status_code == 202, resp.text
    return at


def test_notification_alarm(settings, admin, clean_start, cleanup, consumer, cache_wait,
                            record_property) -> None:
    """Event alarms fire for their own server and project only, once unless repeating."""
    preflight.check_cloud(admin)
    host, _ = choose_hosts(admin, settings.fault_host)
    name = resources.run_name()
    a = resources.create_tenant(admin, cleanup, name + "-a")
    b = resources.create_tenant(admin, cleanup, name + "-b")
    image = resources.ensure_image(admin, cleanup, settings.image_name)
    flavor = resources.create_flavor(admin, cleanup, name + "-flavor")
    a1, a2 = resources.boot_servers(a.admin, cleanup, name + "-a-vm", 2, host, flavor, image,
                                    None)
    (b1,) = resources.boot_servers(b.admin, cleanup, name + "-b-vm", 1, host, flavor, image,
                                   None)
    url = consumer.failure_url

    def _delete_alarms() -> None:
        for conn in (a.admin, b.admin):
            for alarm in cloud.list_alarms(conn):
                if str(alarm.get("name", "")).startswith(name):
                    cloud.delete_alarm(conn, alarm["alarm_id"])

    cleanup.add("alarms %s*" % name, _delete_alarms)
    once = cloud.create_alarm(a.admin, cloud.event_alarm_body(
        name + "-once", a1.id, url, severity="moderate"))
    other_project = cloud.create_alarm(a.admin, cloud.event_alarm_body(
        name + "-isolation", b1.id, url))
    repeating = cloud.create_alarm(a.admin, cloud.event_alarm_body(
        name + "-repeat", a2.id, url, repeat_actions=True))
    # Witnesses: alarms that fire on the very events the checks below say must not fire the
    # others, so those events are known to have been evaluated (no quiet window).
    b_own = cloud.create_alarm(b.admin, cloud.event_alarm_body(name + "-b-own", b1.id, url))
    a1_witness = cloud.create_alarm(a.admin, cloud.event_alarm_body(
        name + "-a1-witness", a1.id, url, repeat_actions=True))
    assert cloud.get_alarm(a.admin, once["alarm_id"])["state"] == "insufficient data"
    if cache_wait:  # Aodh's event-alarm cache on a cloud that keeps it: wait it out
        threading.Event().wait(cache_wait)

    c = consumer.consumer
    sent = {a1.id: _reset(admin, a1.id, "error"), a2.id: _reset(admin, a2.id, "error"),
            b1.id: _reset(admin, b1.id, "error")}
    expected = {once["alarm_id"], repeating["alarm_id"], b_own["alarm_id"],
                a1_witness["alarm_id"]}
    got = c.wait_for(lambda al: al.alarm_id in expected, count=len(expected), timeout=30)
    assert {al.alarm_id for al in got} == expected, got
    # B1's error event was evaluated (B's own alarm fired from it); project A's alarm on
    # B's server never fired: Aodh's record of it and the consumer say so.
    never, seen = evidence.alarm_never_fired(a.admin, other_project["alarm_id"], c)
    assert never, "project A's alarm fired for project B's server: %s" % seen

    first = [al for al in c.alarms_for(a1.id) if al.alarm_id == once["alarm_id"]][0]
    assert first.alarm_name == name + "-once" and first.severity == "moderate"
    assert first.previous == "insufficient data" and first.current == "alarm"
    assert first.reason_type == "event" and first.event_type == "compute.instance.update"
    assert first.traits.get("instance_id") == a1.id and first.traits.get("state") == "error"
    assert first.traits.get("tenant_id") == a.project_id
    state = cloud.get_alarm(a.admin, once["alarm_id"])["state"]
    assert state == "alarm", state
    history = cloud.alarm_history(a.admin, once["alarm_id"])
    assert any(h.get("type") == "state transition" and '"alarm"' in h.get("detail", "")
               for h in history), history

    latencies = {label: round((min(al.received_at for al in c.alarms_for(sid))
                               - sent[sid]) * 1000, 1)
                 for label, sid in (("a1", a1.id), ("a2", a2.id))}

    # Again: active, then error. repeat_actions false -> still one call; true -> two.
    for sid in (a1.id, a2.id):
        _reset(admin, sid, "active")
    again = _reset(admin, a2.id, "error")
    _reset(admin, a1.id, "error")
    second = c.wait_for(lambda al: al.alarm_id == repeating["alarm_id"], count=2, timeout=30)
    assert len(second) == 2, "the repeating alarm fired %d time(s), not 2" % len(second)
    # A1's second error event was evaluated: its repeating witness fired a second time.
    c.wait_for(lambda al: al.alarm_id == a1_witness["alarm_id"], count=2, timeout=30)
    witnessed = [al for al in c.alarms() if al.alarm_id == a1_witness["alarm_id"]]
    assert len(witnessed) == 2, "A1's second error event was not evaluated: %s" % witnessed
    once_calls = [al for al in c.alarms() if al.alarm_id == once["alarm_id"]]
    transitions = [h for h in cloud.alarm_history(a.admin, once["alarm_id"])
                   if h.get("type") == "state transition"]
    assert len(once_calls) == 1 and len(transitions) == 1, (
        "repeat_actions false, yet %d calls and %d transitions in Aodh's history"
        % (len(once_calls), len(transitions)))
    latencies["a2_again"] = round((second[1].received_at - again) * 1000, 1)

    figures = {"latency_%s_ms" % k: v for k, v in latencies.items()}
    record_figures(record_property, figures)
    print("\n" + tabulate(sorted(figures.items()), headers=["reset -> consumer", "ms"]))
