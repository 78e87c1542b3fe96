"""A run starts clean: what a killed run left in the cloud is named and removed first.

A run's project records its owner (``runner=<host>:<pid>:<start>``, see
:func:`doctor_tests.resources.owner_description`). Before a scenario changes anything,
the projects of runs whose process is gone are removed with everything in them (the
same code as ``doctor cleanup``), and so are a forced-down nova-compute and a lab host's
link left down, unless a run is still going. Projects whose owner cannot be told (another
machine, an older version) are named, with ``doctor cleanup`` as the way to remove them.
"""

from __future__ import annotations

import logging
from typing import Any

from openstack.connection import Connection

from doctor_tests import leftovers, resources

LOG = logging.getLogger(__name__)


def remove_dead_runs(admin: Connection, env: Any = None) -> list[str]:
    """Remove the leftovers of runs that are no longer running; returns what was done."""
    alive: list[str] = []
    unknown: list[str] = []
    for project in leftovers.run_projects(admin):
        state = resources.owner_alive(getattr(project, "description", None))
        if state is True:
            alive.append(project.name)
        elif state is None:
            unknown.append(project.name)
    if alive:
        LOG.info("runs still going, left alone: %s", ", ".join(sorted(alive)))
    if unknown:
        LOG.warning("projects of Doctor runs whose owner cannot be told (another machine or "
                    "an older version), left alone: %s; 'doctor cleanup' removes them if they "
                    "are leftovers", ", ".join(sorted(unknown)))
    keep = set(alive) | set(unknown)
    done = leftovers.clean(admin, keep=lambda p: p.name in keep, unforce=not keep)
    if not keep and env is not None and hasattr(env, "restore_links"):
        done += env.restore_links()
    if done:
        LOG.warning("a killed run's leftovers were removed before this run: %s",
                    "; ".join(done))
    return done
