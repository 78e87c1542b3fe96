"""Check prepared configuration files with the services' own code (run with the lab's venv).

    /var/lib/doctor-lab/venv/bin/python tests/ansible/verify_prepared.py FILES.json \
        [vitrage] [aodh_cache_ttl=N]

FILES.json maps the layout's logical names (nova, aodh, neutron_ml2, ceilometer_pipeline,
ceilometer_definitions, neutron_policy) to paths. INI files are read with oslo.config's
own parser; the event definitions are loaded by Ceilometer's converter, which is then
given a port update made by an admin for another project's port; Nova's notification
topics are read by oslo.messaging's own options (with ``vitrage``, prepared for Vitrage:
its topic beside Ceilometer's). Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import json
import sys
import warnings

import yaml

warnings.filterwarnings("ignore")

PUBLISHER = "notifier://?topic=alarm.all"


def ini(path: str) -> dict[str, dict[str, list[str]]]:
    from oslo_config import cfg

    sections: dict[str, dict[str, list[str]]] = {}
    cfg.ConfigParser(path, sections).parse()
    return sections


def notification_topics(path: str) -> list[str]:
    """Nova's [oslo_messaging_notifications] topics as oslo.messaging reads them."""
    from oslo_config import cfg
    from oslo_messaging.notify import notifier

    conf = cfg.ConfigOpts()
    conf.register_opts(notifier._notifier_opts, group="oslo_messaging_notifications")
    conf(args=[], project="nova", default_config_files=[path])
    return list(conf.oslo_messaging_notifications.topics)


def last(sections: dict, section: str, option: str) -> str | None:
    values = sections.get(section, {}).get(option)
    return values[-1] if values else None


def port_event_traits(path: str) -> dict[str, object]:
    from ceilometer import service
    from ceilometer.event import converter
    from stevedore import extension

    conf = service.prepare_service([], [])
    plugins = extension.ExtensionManager(namespace="ceilometer.event.trait_plugin")
    with open(path) as f:
        definitions = yaml.safe_load(f)
    conv = converter.NotificationEventsConverter(conf, definitions, plugins)
    body = {
        "event_type": "port.update.end", "publisher_id": "network.controller",
        "priority": "INFO", "ctxt": {"user_id": "admin-user", "project_id": "admin-project"},
        "payload": {"port": {"id": "port-1", "project_id": "owner", "tenant_id": "owner",
                             "name": "p", "device_id": "vm-1", "binding:host_id": "host-1",
                             "status": "ACTIVE", "data_plane_status": "DOWN"}},
        "metadata": {"message_id": "5ab62c3c-5a5b-4d4e-8f2f-6d2b1b5e6a10",
                     "timestamp": "2025-01-01 00:00:00.000000"},
    }
    event = conv.to_event("info", body)
    return {t.name: t.value for t in event.traits}


def main() -> int:
    with open(sys.argv[1]) as f:
        files = json.load(f)
    checks: list[tuple[str, bool, str]] = []

    nova = ini(files["nova"])
    value = last(nova, "notifications", "notify_on_state_change")
    checks.append(("nova notify_on_state_change", value == "vm_and_task_state", str(value)))
    value = last(nova, "notifications", "notification_format")
    checks.append(("nova notification_format", value in ("unversioned", "both"), str(value)))
    drivers = nova.get("oslo_messaging_notifications", {}).get("driver", [])
    checks.append(("nova notification driver", "messagingv2" in drivers, str(drivers)))
    topics = notification_topics(files["nova"])
    checks.append(("nova notification topics", "notifications" in topics, str(topics)))
    if "vitrage" in sys.argv[2:]:
        checks.append(("nova topic of vitrage", "vitrage_notifications" in topics, str(topics)))

    # the inventory's doctor_config_aodh_cache_ttl ("aodh_cache_ttl=N"; the role's 0 if unset)
    ttl = next((a.split("=", 1)[1] for a in sys.argv[2:] if a.startswith("aodh_cache_ttl=")),
               "0")
    value = last(ini(files["aodh"]), "DEFAULT", "event_alarm_cache_ttl")
    checks.append(("aodh event_alarm_cache_ttl", value == ttl, "%s (want %s)" % (value, ttl)))

    value = last(ini(files["neutron_ml2"]), "ml2", "extension_drivers") or ""
    items = [x.strip() for x in value.split(",")]
    checks.append(("neutron extension_drivers", "data_plane_status" in items, value))

    with open(files["ceilometer_pipeline"]) as f:
        pipeline = yaml.safe_load(f)
    publishers = [p for sink in pipeline.get("sinks", []) for p in sink.get("publishers", [])]
    checks.append(("ceilometer event publisher", PUBLISHER in publishers, str(publishers)))

    traits = port_event_traits(files["ceilometer_definitions"])
    ok = traits.get("project_id") == "owner" and traits.get("data_plane_status") == "DOWN"
    checks.append(("ceilometer port event traits", ok,
                   "project_id=%s data_plane_status=%s" % (traits.get("project_id"),
                                                           traits.get("data_plane_status"))))

    if "neutron_policy" in files:
        with open(files["neutron_policy"]) as f:
            policy = yaml.safe_load(f) or {}
        rule = policy.get("update_port:data_plane_status")
        checks.append(("neutron policy rule", rule == "rule:admin_only", str(rule)))

    for name, ok, detail in checks:
        print("%-4s %-30s %s" % ("ok" if ok else "FAIL", name, detail))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
