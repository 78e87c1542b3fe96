"""Put the peers' own state in place through their APIs, as an operator would.

Run with the services virtualenv's Python (openstacksdk, PyYAML) and the admin's OS_*
variables. Each command is idempotent and prints one JSON line
{"changed": bool, "actions": [...]} that Ansible reads; a failure exits 1 with the
reason on stderr.

  vitrage-template FILE [TIMEOUT]
      Load a Vitrage template (format 3) through Vitrage's template API (service type
      rca) and wait until Vitrage reports it ACTIVE. FILE is read with YAML's base
      loader, as Vitrage reads its own template files: every scalar stays a string
      (``version: 3`` must reach Vitrage as "3", and a ``relationship_type: on`` of the
      older format as "on", not True). A template of the same name whose content
      differs, or that Vitrage refused, is replaced.

  masakari-segment NAME HOST...
      A failover segment NAME (recovery method auto, service type COMPUTE) of exactly
      these hosts (type COMPUTE), none on maintenance. Masakari checks each host is a
      nova-compute host.
"""

import json
import sys
import time

import openstack
import yaml
from keystoneauth1.adapter import Adapter

VITRAGE_ACTIVE = "ACTIVE"
VITRAGE_FAILED = ("ERROR", "FAILED")


class SetupError(Exception):
    """What went wrong, for Ansible's log."""


def _check(response, what, expected=(200, 201, 202, 204)):
    if response.status_code not in expected:
        raise SetupError("%s answered HTTP %s: %s" % (what, response.status_code,
                                                      response.text[:500]))
    return response.json() if response.content else None


def _vitrage(conn):
    return Adapter(session=conn.session, service_type="rca", interface="public",
                   region_name=conn.config.get_region_name())


def _named(rca, name):
    templates = _check(rca.get("/v1/template", raise_exc=False), "GET /v1/template") or []
    return [t for t in templates if t.get("name") == name and t.get("status") != "DELETED"]


def vitrage_template(conn, path, timeout):
    with open(path, encoding="utf-8") as stream:
        template = yaml.load(stream, Loader=yaml.BaseLoader)
    name = template["metadata"]["name"]
    rca = _vitrage(conn)
    actions = []
    for old in _named(rca, name):
        content = _check(rca.get("/v1/template/%s" % old["uuid"], raise_exc=False),
                         "GET /v1/template/%s" % old["uuid"])
        if content == template and old["status"] == VITRAGE_ACTIVE:
            return {"changed": False, "actions": []}
        _check(rca.delete("/v1/template", json={"id": old["uuid"]}, raise_exc=False),
               "DELETE /v1/template %s" % old["uuid"])
        actions.append("template %s %s (%s) removed" % (name, old["uuid"], old["status"]))
    deadline = time.monotonic() + timeout
    while _named(rca, name):  # a deleted template goes through DELETING first
        if time.monotonic() > deadline:
            raise SetupError("Vitrage did not delete the old template %s within %s s"
                             % (name, timeout))
        time.sleep(0.5)
    added = _check(rca.put("/v1/template", json={"templates": [[path, template]],
                                                  "template_type": "standard"},
                           raise_exc=False), "PUT /v1/template %s" % name)
    refused = [t for t in added or [] if t.get("status") in VITRAGE_FAILED]
    if refused:
        raise SetupError("Vitrage refused template %s: %s" % (name, refused))
    actions.append("template %s added" % name)
    while True:
        rows = _named(rca, name)
        status = rows[0]["status"] if rows else "missing"
        if status == VITRAGE_ACTIVE:
            break
        if status in VITRAGE_FAILED or time.monotonic() > deadline:
            raise SetupError("template %s is %s after %s s: %s"
                             % (name, status, timeout, rows[0].get("status details")
                                if rows else "not listed"))
        time.sleep(0.5)
    return {"changed": True, "actions": actions}


def masakari_segment(conn, name, hosts):
    ha = conn.instance_ha
    actions = []
    segment = next((s for s in ha.segments() if s.name == name), None)
    if segment is None:
        segment = ha.create_segment(name=name, recovery_method="auto",
                                    service_type="COMPUTE",
                                    description="Doctor lab compute hosts")
        actions.append("segment %s" % name)
    existing = {h.name: h for h in ha.hosts(segment.uuid)}
    for host in hosts:
        current = existing.pop(host, None)
        if current is None:
            ha.create_host(segment.uuid, name=host, type="COMPUTE",
                           control_attributes="SSH")
            actions.append("host %s" % host)
        elif current.on_maintenance:
            ha.update_host(current.uuid, segment.uuid, on_maintenance=False)
            actions.append("host %s out of maintenance" % host)
    for gone in existing.values():
        ha.delete_host(gone.uuid, segment.uuid)
        actions.append("host %s removed" % gone.name)
    return {"changed": bool(actions), "actions": actions}


def main(argv):
    if len(argv) >= 2 and argv[0] == "vitrage-template":
        run = lambda conn: vitrage_template(conn, argv[1],  # noqa: E731
                                            float(argv[2]) if len(argv) > 2 else 120.0)
    elif len(argv) >= 2 and argv[0] == "masakari-segment":
        run = lambda conn: masakari_segment(conn, argv[1], argv[2:])  # noqa: E731
    else:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        result = run(openstack.connect())
    except (SetupError, openstack.exceptions.SDKException) as exc:
        print("%s: %s" % (argv[0], exc), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
