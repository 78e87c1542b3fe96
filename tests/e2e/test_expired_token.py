"""A server boot whose user token expires before the build ends still succeeds.

A token lives an hour (Keystone's default). A build that Nova accepts in that hour's
last minutes ends after it; nova-compute then calls Neutron (and nova-api Glance) with
the user's token, now expired. Real installers (DevStack, kolla-ansible) configure
Nova's ``[service_user] send_service_user_token``: Nova sends its own token beside the
user's, and Keystone's middleware accepts an expired user token that comes with a
valid service token. Without it the boot ends in ERROR, "Networking client is
experiencing an unauthorized exception": ``doctor bench`` lost its 500-server point to
that, 60 minutes into its run.

The test makes the hour pass at once: it mints, with the lab's own Keystone code and
Fernet keys, a token of the admin user that expired seconds ago (the lab only: a real
cloud's keys are not ours), checks that Nova refuses it alone, then boots a server on a
network with it and a valid token of Nova's service user, as a client that ran into the
expiry would through its service's own request. The server must go ACTIVE with its
port bound; every resource is removed afterwards.
"""

from __future__ import annotations

import logging
import subprocess
import textwrap
from pathlib import Path

import openstack
import pytest
import requests

from doctor_tests import cloud, lab, resources
from doctor_tests.cleanup import Cleanup
from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)

pytestmark = [pytest.mark.lab,
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

EXPIRED_S = 5  # the minted token expired this long ago
BOOT_TIMEOUT_S = 90.0

# Run with the lab's services virtualenv (Keystone's code): argv = keystone.conf, user
# id, project id, seconds since it expired. Prints the token.
MINT = textwrap.dedent("""
    import datetime, sys
    import keystone.conf
    keystone.conf.configure()
    keystone.conf.CONF(args=[], default_config_files=[sys.argv[1]], project="keystone")
    from keystone.token import token_formatters as tf
    from keystone.token.provider import random_urlsafe_str
    expires = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
        seconds=int(sys.argv[4]))
    print(tf.TokenFormatter().create_token(
        sys.argv[2], expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), [random_urlsafe_str()],
        tf.ProjectScopedPayload, methods=["password"], project_id=sys.argv[3]))
""")


def _lab_python() -> Path:
    python = lab.lab_dir() / "venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("not the lab: no services virtualenv at %s" % python)
    return python


def mint_expired_token(user_id: str, project_id: str) -> str:
    conf = lab.lab_dir() / "etc" / "keystone" / "keystone.conf"
    done = subprocess.run([str(_lab_python()), "-c", MINT, str(conf), user_id, project_id,
                           str(EXPIRED_S)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError("minting a token with the lab's Keystone failed (rc %d): %s"
                             % (done.returncode, done.stderr.strip()[-2000:]))
    return done.stdout.strip().splitlines()[-1]


def service_token(admin: openstack.connection.Connection) -> str:
    """A token of Nova's service user (the service role), as nova-api would send."""
    password = (lab.lab_dir() / "secrets" / "service").read_text().strip()
    service = admin.identity.find_project("service", domain_id="default", ignore_missing=False)
    return cloud.scoped_connection(admin, service.id, "nova", password).auth_token


def test_boot_with_an_expired_user_token_and_a_service_token(settings) -> None:
    _lab_python()
    admin = cloud.admin_connection(settings.os_cloud)
    compute_url = admin.compute.get_endpoint()
    expired = mint_expired_token(admin.current_user_id, admin.current_project_id)
    refused = requests.get(compute_url + "/servers", headers={"X-Auth-Token": expired},
                           timeout=30)
    assert refused.status_code == 401, (
        "Nova accepted the minted token alone (HTTP %d): it is not expired, the test "
        "proves nothing" % refused.status_code)
    headers = {"X-Auth-Token": expired, "X-Service-Token": service_token(admin)}

    stack = Cleanup()
    try:
        name = resources.run_name() + "-expired"
        image = resources.ensure_image(admin, stack, settings.image_name)
        flavor = resources.create_flavor(admin, stack, name)
        network = resources.create_network(admin, stack, name)
        resources.undo_servers(admin, stack, name)
        body = {"server": {"name": name, "imageRef": image.id, "flavorRef": flavor.id,
                           "networks": [{"uuid": network.id}]}}
        created = requests.post(compute_url + "/servers", json=body, headers=headers,
                                timeout=60)
        assert created.status_code == 202, (
            "Nova refused the boot with an expired user token and a valid service token: "
            "HTTP %d %s" % (created.status_code, created.text[:500]))
        server_id = created.json()["server"]["id"]

        def settled() -> object:
            server = admin.compute.get_server(server_id)
            return server if server.status in ("ACTIVE", "ERROR") else None

        server = wait_until(settled, BOOT_TIMEOUT_S, "server %s ACTIVE or ERROR" % name)
        if server.status != "ACTIVE":
            raise AssertionError(
                "the build with an expired user token ended in ERROR: %s (does the cloud's "
                "nova.conf set [service_user] send_service_user_token = true?)"
                % cloud.server_fault(admin, server_id))
        ports = list(admin.network.ports(device_id=server_id))
        assert ports and all(p.binding_host_id == server.compute_host for p in ports), (
            "the server's port is not bound to its host %s: %s"
            % (server.compute_host, [(p.id, p.binding_host_id) for p in ports]))
        LOG.info("server %s ACTIVE on %s with a user token expired %d s before the boot",
                 name, server.compute_host, EXPIRED_S)
    finally:
        stack.run()
