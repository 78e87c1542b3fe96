"""One WSGI entry point for every API service of the lab (served by gunicorn).

The services' own WSGI modules read their configuration through oslo.config,
some from ``sys.argv`` and some from an environment variable naming the
configuration directory. gunicorn's own command line is in ``sys.argv``, so
this module resets it before the service module is imported. Which service
is served, and where its configuration lives, comes from two environment
variables that the lab's supervisor sets per program:

``DOCTOR_LAB_SERVICE``     keystone, glance, placement, nova, neutron, aodh, and the peer
                           vitrage (this package is installed into its virtualenv too)
``DOCTOR_LAB_CONFIG_DIR``  the directory holding that service's files

Vitrage ships its WSGI entry as ``vitrage/api/app.wsgi``, a file, not a module: this one
does what it does (parse the configuration, load the paste app) with the lab's file.
(Masakari's API is not served from here: its modules call eventlet.monkey_patch(), which
hangs gunicorn's threaded worker; roles/lab_peers runs its own masakari-api.)
"""

import importlib
import os
import sys

_MODULES = {
    "keystone": ("keystone.wsgi.api", "OS_KEYSTONE_CONFIG_DIR", "keystone.conf"),
    "glance": ("glance.wsgi.api", "OS_GLANCE_CONFIG_DIR", "glance-api.conf"),
    "placement": ("placement.wsgi.api", "OS_PLACEMENT_CONFIG_DIR", "placement.conf"),
    "nova": ("nova.wsgi.osapi_compute", "OS_NOVA_CONFIG_DIR", "nova.conf"),
    "neutron": ("neutron.wsgi.api", "OS_NEUTRON_CONFIG_DIR", "neutron.conf"),
    "aodh": ("aodh.wsgi.api", "OS_AODH_CONFIG_DIR", "aodh.conf"),
    "vitrage": ("vitrage.api.app", "OS_VITRAGE_CONFIG_DIR", "vitrage.conf"),
}


def _load():
    service = os.environ.get("DOCTOR_LAB_SERVICE", "")
    if service not in _MODULES:
        raise RuntimeError(
            "DOCTOR_LAB_SERVICE=%r is not valid; allowed: %s" % (service, ", ".join(sorted(_MODULES)))
        )
    config_dir = os.environ["DOCTOR_LAB_CONFIG_DIR"]
    module, env_name, config_file = _MODULES[service]
    os.environ[env_name] = config_dir
    sys.argv = [service + "-api", "--config-file", os.path.join(config_dir, config_file)]
    if service == "aodh":
        from aodh.api import app

        return app.build_wsgi_app(argv=sys.argv[1:])
    if service == "vitrage":
        from vitrage.api import app as vitrage_app
        from vitrage.common import config as vitrage_config

        vitrage_config.parse_config(sys.argv)
        return vitrage_app.load_app()
    return importlib.import_module(module).application


application = _load()
