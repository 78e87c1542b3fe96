"""Checks that something did *not* happen, resting on evidence instead of a quiet window.

Aodh fires an event alarm only when it evaluates an event that matches it. So "no alarm
for X" is shown by what the cloud records once the events that could matter have been
evaluated: the resource's own state (Nova, Neutron) says no matching event was ever
produced, Aodh's record of the alarm (state and history) says it never fired, and the
consumer holds no call for it.
"""

from __future__ import annotations

import logging
from typing import Any

from openstack.connection import Connection

from doctor_tests import cloud
from doctor_tests.consumer import Consumer

LOG = logging.getLogger(__name__)


def alarm_never_fired(conn: Connection, alarm_id: str, consumer: Consumer) -> tuple[bool, str]:
    """(True, evidence) when Aodh records no transition to ``alarm`` for ``alarm_id`` and
    the consumer got no call for it; (False, what was seen) otherwise."""
    alarm = cloud.get_alarm(conn, alarm_id)
    history = cloud.alarm_history(conn, alarm_id)
    transitions = [h for h in history if h.get("type") == "state transition"]
    calls = [a for a in consumer.alarms() if a.alarm_id == alarm_id]
    seen = "alarm %s: state %r, %d state transition(s) in Aodh's history, %d call(s) at the " \
           "consumer" % (alarm_id, alarm.get("state"), len(transitions), len(calls))
    return (alarm.get("state") != "alarm" and not transitions and not calls), seen


def server_states(conn: Connection, server_ids: list[str]) -> dict[str, str]:
    """Nova's status of each server now."""
    return {sid: conn.compute.get_server(sid).status for sid in server_ids}


def no_alarm_for_servers(conn: Connection, admin: Connection, alarms: dict[str, str],
                         server_ids: list[str], consumer: Consumer) -> tuple[bool, str]:
    """The servers that did not fail: Nova never put them in ERROR (so no error event for
    them exists: Nova writes the state before it notifies), and Aodh never fired their
    alarms. ``alarms``: alarm id -> server id. Call after the inspector's round ended."""
    states = server_states(admin, server_ids)
    wrong = {sid: st for sid, st in states.items() if st != "ACTIVE"}
    lines = ["Nova: %s" % ", ".join("%s %s" % (sid[:8], st) for sid, st in states.items())]
    ok = not wrong
    for alarm_id, server_id in alarms.items():
        if server_id not in server_ids:
            continue
        fired_ok, seen = alarm_never_fired(conn, alarm_id, consumer)
        ok &= fired_ok
        lines.append(seen)
    return ok, "; ".join(lines)


def port_values(conn: Connection, port_ids: list[str]) -> dict[str, Any]:
    """Neutron's ``data_plane_status`` of each port now."""
    return {pid: conn.network.get_port(pid).data_plane_status for pid in port_ids}
