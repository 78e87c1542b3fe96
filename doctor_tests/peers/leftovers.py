"""What a killed run can leave in the peers, found and undone (``doctor cleanup`` and the
clean start of every run, through :func:`doctor_tests.leftovers.clean`).

- Vitrage: a host its template marked down, or a doctor alarm still active on a host (the
  run's "up" never came): Vitrage acts only on a change of state, so the next run's
  "down" of that host would do nothing. Undone by the "up" the monitor would have sent,
  then waiting for Vitrage's own undo.
- Masakari: notifications it is not done with (``error`` ones run again within
  ``process_unfinished_notifications_interval``, and would disable the host again), hosts
  left on maintenance (every later notification of the host is refused), nova-compute
  services it disabled (``Masakari detected host failed.``). Waited for, then undone.

A cloud without a peer's endpoint in its catalog is left alone.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from doctor_tests import cloud
from doctor_tests.peers import masakari, vitrage
from doctor_tests.peers.auth import PeerError, SessionTokens
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

VITRAGE_UNDO_S = 60.0
#: error notifications run again after process_unfinished_notifications_interval (120 s by
#: default); with the run's own duration
MASAKARI_SETTLE_S = 300.0


def has_service(conn: Any, service_type: str) -> bool:
    """Whether the catalog has ``service_type`` (a peer the cloud runs)."""
    try:
        return bool(conn.session.get_endpoint(service_type=service_type,
                                              interface=conn.config.get_interface(),
                                              region_name=conn.config.get_region_name()))
    except Exception:  # noqa: BLE001 - keystoneauth's EndpointNotFound and friends
        return False


def vitrage_up(conn: Any, host: str, server_ids: list[str] | None = None,
               timeout: float = VITRAGE_UNDO_S) -> vitrage.VitrageState:
    """Send Vitrage the "up" of ``host`` (the doctor datasource's form) and wait until it has
    undone the fault: the host not marked down, no doctor alarm on it, no deduced alarm on
    ``server_ids``. Returns the state reached; raises :class:`WaitTimeout`."""
    tokens = SessionTokens(conn.session, region_name=conn.config.get_region_name())
    reporter = vitrage.VitrageReporter(tokens)
    reporter.send(host, "up", time.time(), "cleanup-%s" % uuid.uuid4().hex[:12], deadline=10.0)
    api = vitrage.VitrageApi(conn)
    last: list[vitrage.VitrageState] = []

    def undone() -> bool:
        last[:] = [api.state(host, server_ids or ())]
        return last[0].clear

    wait_until(undone, timeout, "Vitrage to undo the fault of %s" % host, interval=0.5,
               describe=lambda: last[0].describe() if last else "not read yet")
    LOG.info("Vitrage has undone the fault of %s: %s", host, last[0].describe())
    return last[0]


def masakari_back(admin: Any, host: str, since: float,
                  timeout: float = MASAKARI_SETTLE_S) -> None:
    """After a run that notified Masakari of ``host``'s failure at ``since`` or later:
    Masakari done with those notifications (an ``error`` one is run again by its periodic
    task: waited for too), then the host out of maintenance and its nova-compute enabled
    (also when the wait ran out)."""
    def pending() -> list[Any]:
        return masakari.unsettled(masakari.notifications(admin, host, since))

    try:
        wait_until(lambda: not pending(), timeout,
                   "Masakari's notifications of %s to settle" % host, interval=1.0,
                   describe=lambda: masakari.describe(pending()))
    finally:
        for line in masakari.out_of_maintenance(admin, host):
            LOG.info("%s", line)
        for svc in cloud.compute_services(admin):
            if svc.host == host and svc.status == "disabled":
                LOG.info("enabling nova-compute on %s (disabled: %s)", host,
                         svc.disabled_reason)
                cloud.set_enabled(admin, host, True)


def clean(admin: Any, dry_run: bool = False) -> list[str]:
    """Undo what runs left in the peers; one line per thing done (or to do)."""
    done: list[str] = []
    if has_service(admin, vitrage.SERVICE_TYPE):
        done += _clean_vitrage(admin, dry_run)
    if has_service(admin, masakari.SERVICE_TYPE):
        done += _clean_masakari(admin, dry_run)
    return done


def _clean_vitrage(admin: Any, dry_run: bool) -> list[str]:
    api = vitrage.VitrageApi(admin)
    done = []
    try:
        hosts = [str(h.get("id")) for h in api.resources("nova.host") if h.get("id")]
        states = [api.state(host) for host in hosts]
    except PeerError as exc:
        LOG.warning("cannot read Vitrage's state: %s", exc)
        return []
    for state in states:
        if state.clear:
            continue
        done.append("%sVitrage the up of %s (%s)" % ("would send " if dry_run else "sent ",
                                                      state.host, state.describe()))
        if not dry_run:
            vitrage_up(admin, state.host)
    return done


def _clean_masakari(admin: Any, dry_run: bool) -> list[str]:
    done = []
    pending = masakari.unsettled(masakari.notifications(admin))
    if pending:
        done.append("%sMasakari's notifications to settle: %s"
                    % ("would wait for " if dry_run else "waited for ",
                       masakari.describe(pending)))
        if not dry_run:
            try:
                wait_until(lambda: not masakari.unsettled(masakari.notifications(admin)),
                           MASAKARI_SETTLE_S, "Masakari's notifications to settle",
                           interval=2.0, describe=lambda: masakari.describe(
                               masakari.unsettled(masakari.notifications(admin))))
            except WaitTimeout as exc:
                LOG.error("%s; the hosts are put back anyway", exc)
    done += masakari.out_of_maintenance(admin, dry_run=dry_run)
    for svc in cloud.compute_services(admin):
        if svc.status == "disabled" and svc.disabled_reason == masakari.DISABLE_REASON:
            done.append("%snova-compute on %s (disabled by Masakari)"
                        % ("would enable " if dry_run else "enabled ", svc.host))
            if not dry_run:
                cloud.set_enabled(admin, svc.host, True)
    return done
