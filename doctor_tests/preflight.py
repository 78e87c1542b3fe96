"""Checks before a scenario changes anything: each failure says what to fix."""

from __future__ import annotations

import json
import logging
import shlex
import time
from typing import Any

from openstack.connection import Connection

from doctor_tests import cloud
from doctor_tests.httpjson import DIRECT, CallFailed

LOG = logging.getLogger(__name__)


class PreflightError(RuntimeError):
    """The cloud is not ready for the scenario; the message says what to fix."""


def _version_tuple(v: str | None) -> tuple[int, int]:
    if not v:
        return (0, 0)
    major, _, minor = v.partition(".")
    return int(major), int(minor or 0)


def check_cloud(admin: Connection, need_microversion: str = "2.11",
                need_extensions: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keystone, Nova (with ``need_microversion``), Neutron and Aodh answer."""
    facts: dict[str, Any] = {}
    try:
        admin.authorize()
    except Exception as exc:  # noqa: BLE001 - say what failed, whatever it was
        raise PreflightError("Keystone: cannot get a token with the configured credentials "
                             "(OS_CLOUD / OS_*): %s" % exc) from exc
    try:
        data = admin.compute.get_endpoint_data()
    except Exception as exc:  # noqa: BLE001
        raise PreflightError("Nova: the compute API does not answer: %s" % exc) from exc
    max_mv = getattr(data, "max_microversion", None)
    max_s = "%d.%d" % max_mv if isinstance(max_mv, tuple) else str(max_mv)
    if _version_tuple(max_s) < _version_tuple(need_microversion):
        raise PreflightError("Nova offers microversions up to %s; Doctor needs >= %s "
                             "(os-services force-down)" % (max_s, need_microversion))
    facts["nova_max_microversion"] = max_s
    try:
        aliases = {e.alias for e in admin.network.extensions()}
    except Exception as exc:  # noqa: BLE001
        raise PreflightError("Neutron: the network API does not answer: %s" % exc) from exc
    missing = [a for a in need_extensions if a not in aliases]
    if missing:
        raise PreflightError("Neutron lacks the extension(s) %s; enable the extension driver "
                             "(ml2 extension_drivers = data_plane_status)" % ", ".join(missing))
    facts["neutron_data_plane_status"] = "data-plane-status" in aliases
    try:
        cloud.list_alarms(admin)
    except Exception as exc:  # noqa: BLE001
        raise PreflightError("Aodh: the alarming API does not answer (is Aodh in the catalog, "
                             "service type 'alarming'?): %s" % exc) from exc
    return facts


def check_consumer(action_url: str, received: Any, timeout: float = 5.0) -> None:
    """POST a synthetic alarm to the consumer and see it recorded (then forget it)."""
    body = {"alarm_id": "preflight", "alarm_name": "doctor-preflight", "severity": "low",
            "previous": "ok", "current": "alarm", "reason": "preflight",
            "reason_data": {"type": "event", "event": {"event_type": "preflight",
                                                       "traits": []}}}
    started = time.monotonic()
    try:
        # DIRECT: the consumer is Doctor's own callback, never reached through a proxy
        reply = DIRECT.send("POST", action_url, body, timeout)
    except CallFailed as exc:
        raise PreflightError("the consumer at %s does not answer: %s (Aodh's notifier must "
                             "reach this address)" % (action_url, exc.reason)) from None
    if reply.status != 200:
        raise PreflightError("the consumer at %s answered HTTP %d: %s"
                             % (action_url, reply.status, reply.text()))
    if not any(a.alarm_id == "preflight" for a in received.alarms()):
        raise PreflightError("the consumer at %s answered %s but recorded nothing"
                             % (action_url, reply.status))
    received.clear()
    LOG.info("preflight: consumer answers at %s (%.0f ms)", action_url,
             (time.monotonic() - started) * 1000)


#: Run on a node over SSH: send a request (method argv[1]) to the URL (argv[2]) with the
#: node's own Python, no proxy, the body from stdin (none for GET); prints the HTTP status
#: or the error.
_REQUEST_FROM_NODE = (
    "python3 -c 'import sys, urllib.request as u\n"
    "d = sys.stdin.buffer.read() if sys.argv[1] != \"GET\" else None\n"
    "r = u.Request(sys.argv[2], data=d, method=sys.argv[1], "
    "headers={\"Content-Type\": \"application/json\"})\n"
    "o = u.build_opener(u.ProxyHandler({}))\n"
    "try:\n    print(o.open(r, timeout=5).status)\n"
    "except Exception as e:\n    print(\"ERROR\", e); sys.exit(1)' %s %s")


def request_from_node(shell: Any, method: str, url: str, body: str = "") -> str:
    """Send ``method url`` from the node of the open SSH ``shell``; what it saw: the HTTP
    status ("200") or the error."""
    stdin, stdout = shell.stream(_REQUEST_FROM_NODE % (shlex.quote(method), shlex.quote(url)))
    stdin.write(body)
    stdin.close()
    return stdout.read().decode("utf-8", "replace").strip() if hasattr(stdout, "read") else ""


def check_consumer_from(node: str, shell: Any, action_url: str, received: Any) -> None:
    """The same synthetic alarm, POSTed from ``node`` (Aodh's notifier's node) over the
    open SSH ``shell``: proves that node reaches the URL Aodh is given. The error names the
    URL, the node and what the node saw."""
    body = json.dumps({"alarm_id": "preflight-from-node", "alarm_name": "doctor-preflight",
                       "severity": "low", "previous": "ok", "current": "alarm",
                       "reason": "preflight from %s" % node,
                       "reason_data": {"type": "event", "event": {
                           "event_type": "preflight", "traits": []}}})
    started = time.monotonic()
    said = request_from_node(shell, "POST", action_url, body)
    if said != "200":
        raise PreflightError("the consumer at %s is not reached from %s (where Aodh's notifier "
                             "runs): %s; set DOCTOR_CONSUMER_URL to an address that node "
                             "reaches, or DOCTOR_CONSUMER_TUNNEL=true"
                             % (action_url, node, said or "no answer"))
    if not any(a.alarm_id == "preflight-from-node" for a in received.alarms()):
        raise PreflightError("the consumer at %s answered %s's POST but recorded nothing"
                             % (action_url, node))
    received.clear()
    LOG.info("preflight: the consumer at %s answers a POST sent from %s, the node of Aodh's "
             "notifier (%.0f ms)", action_url, node, (time.monotonic() - started) * 1000)


def check_inspector_from(node: str, shell: Any, inspector_url: str) -> float:
    """The inspector's health (``GET /``) asked from ``node``, where a monitor reports
    from, over the open SSH ``shell``; the error names the URL, the node and what it saw.
    Returns the milliseconds it took."""
    started = time.monotonic()
    said = request_from_node(shell, "GET", inspector_url.rstrip("/") + "/")
    if said != "200":
        raise PreflightError("the inspector at %s is not reached from %s (where a monitor "
                             "reports from): %s; set DOCTOR_INSPECTOR_URL to an address that "
                             "node reaches, or DOCTOR_INSPECTOR_TUNNEL=true"
                             % (inspector_url, node, said or "no answer"))
    took = (time.monotonic() - started) * 1000
    LOG.info("preflight: the inspector at %s answers a request sent from %s, where a monitor "
             "reports from (%.0f ms)", inspector_url, node, took)
    return took


LAB_MAX_CACHE_TTL_S = 10


def check_event_alarm_cache(ttl: int | None, installer: str) -> float:
    """Seconds to wait after creating alarms so that Aodh's listener sees them: its
    event-alarm cache (``event_alarm_cache_ttl``, Aodh's default 60 s) may hold a
    project's alarm list read before they existed. 0 when the cache is off.

    The lab keeps a short cache on purpose (``lab_openstack_aodh_cache_ttl``, 2 s): it
    halves the listener's CPU per event. A lab cache longer than
    :data:`LAB_MAX_CACHE_TTL_S` means its configuration is not the lab role's."""
    if ttl == 0:
        return 0.0
    if installer == "local" and (ttl is None or ttl > LAB_MAX_CACHE_TTL_S):
        raise PreflightError("the lab's Aodh caches event alarms for %s s (event_alarm_cache_ttl "
                             "in aodh.conf; at most %d expected); run 'doctor lab up'"
                             % (ttl, LAB_MAX_CACHE_TTL_S))
    wait = float(ttl if ttl is not None else 60)
    if wait > LAB_MAX_CACHE_TTL_S:
        LOG.warning("Aodh's event_alarm_cache_ttl is %s on this cloud: waiting %.0f s after "
                    "creating alarms (prepare.yml sets doctor_config_aodh_cache_ttl)", ttl, wait)
    else:
        LOG.info("Aodh caches event alarms %.0f s: the scenario waits that long after "
                 "creating alarms", wait)
    return wait
