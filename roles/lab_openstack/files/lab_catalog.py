"""Make the lab's Keystone catalog, service users and image what they should be.

Run with the services virtualenv's Python and the admin's OS_* variables.
Idempotent: creates only what is missing, and prints one JSON line
{"changed": bool, "actions": [...]} that Ansible reads.

LAB_SERVICES ([[name, type, port, path], ...]) and LAB_USERS ([name, ...]), JSON, replace
the lab's own lists: roles/lab_peers makes the peers' users and endpoints with them.
"""

import json
import os
import sys

import openstack

REGION = os.environ["LAB_REGION"]
ADDRESS = os.environ["LAB_ADDRESS"]
PASSWORD = os.environ["LAB_SERVICE_PASSWORD"]
IMAGE_NAME = os.environ.get("LAB_IMAGE_NAME", "")
IMAGE_FILE = os.environ.get("LAB_IMAGE_FILE", "")
PORTS = json.loads(os.environ.get("LAB_PORTS", "{}"))


def _services() -> list[tuple[str, str, int, str]]:
    if os.environ.get("LAB_SERVICES"):
        return [(str(n), str(t), int(p), str(path))
                for n, t, p, path in json.loads(os.environ["LAB_SERVICES"])]
    return [
        # name, type, port, path
        ("nova", "compute", PORTS["nova"], "/v2.1"),
        ("placement", "placement", PORTS["placement"], ""),
        ("glance", "image", PORTS["glance"], ""),
        ("neutron", "network", PORTS["neutron"], ""),
        ("aodh", "alarming", PORTS["aodh"], ""),
    ]


SERVICES = _services()
USERS = (json.loads(os.environ["LAB_USERS"]) if os.environ.get("LAB_USERS")
         else ["nova", "placement", "glance", "neutron", "aodh", "ceilometer"])
ROLES = ["service", "member", "reader", "data_plane_integrator"]


def main() -> int:
    conn = openstack.connect()
    idc = conn.identity
    actions = []

    project = idc.find_project("service", domain_id="default")
    if project is None:
        project = idc.create_project(name="service", domain_id="default",
                                     description="OpenStack services of the Doctor lab")
        actions.append("project service")
    roles = {}
    for name in ROLES + ["admin"]:
        role = idc.find_role(name)
        if role is None:
            role = idc.create_role(name=name)
            actions.append("role " + name)
        roles[name] = role
    for name in USERS:
        user = idc.find_user(name, domain_id="default")
        if user is None:
            user = idc.create_user(name=name, password=PASSWORD, domain_id="default",
                                   default_project_id=project.id)
            actions.append("user " + name)
        for role in ("admin", "service"):
            if not idc.validate_user_has_project_role(project, user, roles[role]):
                idc.assign_project_role_to_user(project, user, roles[role])
                actions.append("role %s for %s" % (role, name))

    for name, stype, port, path in SERVICES:
        matches = [s for s in idc.services() if s.type == stype]
        service = matches[0] if matches else None
        if service is None:
            service = idc.create_service(name=name, type=stype, enabled=True)
            actions.append("service " + stype)
        url = "http://%s:%d%s" % (ADDRESS, port, path)
        existing = {e.interface: e for e in idc.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            endpoint = existing.get(interface)
            if endpoint is None:
                idc.create_endpoint(service_id=service.id, interface=interface, url=url,
                                    region_id=REGION)
                actions.append("endpoint %s %s" % (stype, interface))
            elif endpoint.url != url:
                idc.update_endpoint(endpoint, url=url)
                actions.append("endpoint %s %s moved" % (stype, interface))

    if os.environ.get("LAB_WITH_IMAGE") == "1":
        # A new connection: the first one read the catalog before the
        # endpoints above existed.
        conn = openstack.connect()
        image = conn.image.find_image(IMAGE_NAME)
        if image is not None and image.status != "active":
            conn.image.delete_image(image)
            image = None
        if image is None:
            conn.image.create_image(name=IMAGE_NAME, filename=IMAGE_FILE, disk_format="raw",
                                    container_format="bare", visibility="public",
                                    wait=True, allow_duplicates=False)
            actions.append("image " + IMAGE_NAME)

    print(json.dumps({"changed": bool(actions), "actions": actions}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
