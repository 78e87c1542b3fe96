"""The cloud's configuration prepared once for the scenarios, and put back after.

::

    shared = SharedPreparation.for_installer(installer)
    prepare_for_session(shared, installer, request.addfinalizer)

The restore is registered before prepare runs, so a prepare that fails or is
interrupted half-way is still undone. Sessions on one machine against the same
cloud (pytest-xdist workers, two runs at once) share one preparation: the first
prepares, the last to leave restores. Who holds it is kept in a small JSON file
under a lock; a holder whose process is gone no longer counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from doctor_tests import locking
from doctor_tests.installer import Installer

LOG = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 1800.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SharedPreparation:
    """Prepare on the first ``enter``, restore on the last ``leave``, across processes."""

    def __init__(self, key: str, directory: Path | None = None, pid: int | None = None,
                 alive: Callable[[int], bool] = _alive,
                 timeout_s: float = LOCK_TIMEOUT_S) -> None:
        directory = Path(directory or tempfile.gettempdir())
        self.path = directory / ("doctor-prepared-%s.json" % key)
        self.lock_path = directory / ("doctor-prepared-%s.lock" % key)
        self.pid = os.getpid() if pid is None else pid
        self._alive = alive
        self.timeout_s = timeout_s

    @classmethod
    def for_installer(cls, installer: Installer, **kwargs: Any) -> SharedPreparation:
        """One preparation per installer and inventory."""
        what = "%s %s" % (installer.name, " ".join(str(p) for p in installer.inventories))
        return cls(hashlib.sha256(what.encode()).hexdigest()[:12], **kwargs)

    def _locked(self) -> AbstractContextManager[None]:
        """The preparation record's own lock (short critical sections)."""
        return locking.scenario_lock(str(self.lock_path), self.timeout_s, interval=0.2)

    def _read(self) -> tuple[set[int], set[str]]:
        """(live holders, the inspectors the cloud is prepared for on their behalf)."""
        try:
            data = json.loads(self.path.read_text())
            holders = {int(p) for p in data.get("holders", [])}
            raw = data.get("prepared") or []
            prepared = {str(i) for i in raw} if isinstance(raw, list) else {"sample"}
        except (OSError, ValueError, TypeError, AttributeError):
            return set(), set()
        holders = {p for p in holders if p == self.pid or self._alive(p)}
        return holders, prepared if holders - {self.pid} else set()

    def _write(self, holders: set[int], prepared: set[str]) -> None:
        if not holders:
            self.path.unlink(missing_ok=True)
            return
        self.path.write_text(json.dumps({"holders": sorted(holders),
                                         "prepared": sorted(prepared)}))

    def holders(self) -> set[int]:
        with self._locked():
            return self._read()[0]

    def enter(self, prepare: Callable[[], object], inspector: str = "sample") -> bool:
        """Become a holder; prepare for ``inspector`` unless a live holder already did.
        True if this one prepared. Prepare only adds, so a session of another inspector
        (Vitrage's also needs Nova's notifications on its topic) prepares again on top."""
        with self._locked():
            holders, prepared = self._read()
            holders.add(self.pid)
            self._write(holders, prepared)
            others = ", ".join(str(p) for p in sorted(holders - {self.pid}))
            if inspector in prepared:
                LOG.info("the cloud is already prepared for %s (by process %s)", inspector, others)
                return False
            if prepared:
                LOG.info("the cloud is prepared for %s (by process %s); preparing it for %s too",
                         ", ".join(sorted(prepared)), others, inspector)
            prepare()
            self._write(holders, prepared | {inspector})
            return True

    def leave(self, restore: Callable[[], object]) -> bool:
        """Stop holding; restore if no live holder is left. True if this one restored."""
        with self._locked():
            holders, prepared = self._read()
            holders.discard(self.pid)
            self._write(holders, prepared)
            if holders:
                LOG.info("leaving the cloud prepared for process %s",
                         ", ".join(str(p) for p in sorted(holders)))
                return False
            restore()
            return True


def prepare_for_session(shared: SharedPreparation, installer: Installer,
                        addfinalizer: Callable[[Callable[[], object]], None],
                        inspector: str = "sample") -> float:
    """Register the restore, then prepare for ``inspector`` (both through ``shared``);
    returns prepare's seconds (0 when another session had prepared for it)."""

    def restore() -> None:
        started = time.monotonic()
        if shared.leave(installer.restore):
            LOG.info("%s: restore took %.1f s", installer.name, time.monotonic() - started)

    addfinalizer(restore)
    started = time.monotonic()
    if not shared.enter(lambda: installer.prepare(inspector), inspector):
        return 0.0
    seconds = time.monotonic() - started
    LOG.info("%s: prepare took %.1f s", installer.name, seconds)
    return seconds
