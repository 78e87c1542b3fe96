"""The consumer's record of alarms, with waits and the checks the scenarios make."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from doctor_tests.consumer.alarm import RESOURCE_TRAITS, Alarm, InvalidAlarm, parse_alarm

LOG = logging.getLogger(__name__)

MAX_ALARMS = 100_000


@dataclass(frozen=True)
class Rejected:
    """A request that was not a valid alarm (kept, so nothing received is lost)."""

    received_at: float
    path: str
    reason: str


class Consumer:
    """Records alarms as they arrive; thread-safe; waits are Condition-based."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._alarms: list[Alarm] = []
        self._rejected: list[Rejected] = []

    def receive(self, body: object, received_at: float, path: str = "/failure") -> Alarm:
        """Validate and record one notification; raises InvalidAlarm (also recorded)."""
        try:
            alarm = parse_alarm(body, received_at, path)
        except InvalidAlarm as exc:
            self.reject(received_at, path, str(exc))
            raise
        with self._cond:
            self._alarms.append(alarm)
            if len(self._alarms) > MAX_ALARMS:
                del self._alarms[0]
            alarm = dataclasses.replace(alarm, handled_at=self._clock())
            self._alarms[-1] = alarm
            self._cond.notify_all()
        LOG.info(
            "alarm %s (%s) %s -> %s for %s, event %s", alarm.alarm_name, alarm.alarm_id,
            alarm.previous, alarm.current, alarm.instance_id, alarm.event_type,
        )
        return alarm

    def reject(self, received_at: float, path: str, reason: str) -> None:
        LOG.warning("rejected notification on %s: %s", path, reason)
        with self._cond:
            self._rejected.append(Rejected(received_at, path, reason))
            if len(self._rejected) > MAX_ALARMS:
                del self._rejected[0]

    def clear(self) -> None:
        """Forget every alarm and rejection (e.g. between scenarios)."""
        with self._cond:
            self._alarms.clear()
            self._rejected.clear()

    # --- reading ----------------------------------------------------------------------
    def alarms(self) -> list[Alarm]:
        """A snapshot of every alarm so far, in arrival order."""
        with self._cond:
            return list(self._alarms)

    def rejected(self) -> list[Rejected]:
        with self._cond:
            return list(self._rejected)

    def wait_for(
        self,
        predicate: Callable[[Alarm], bool] | None = None,
        count: int = 1,
        timeout: float = 60.0,
    ) -> list[Alarm]:
        """Block until ``count`` alarms match ``predicate`` (default: any) or ``timeout``.

        Returns the matching alarms (all of them); after a timeout that may be fewer
        than ``count`` - the caller asserts, with the list in its message.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, not {count}")
        match = predicate or (lambda _alarm: True)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [a for a in self._alarms if match(a)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._cond.wait(remaining)

    # --- checks for the scenarios ---------------------------------------------------------
    def alarms_for(self, resource_id: str) -> list[Alarm]:
        """Alarms whose event names ``resource_id`` (instance_id, resource_id or port_id)."""
        return [
            a for a in self.alarms()
            if a.instance_id == resource_id
            or any(a.traits.get(name) == resource_id for name in RESOURCE_TRAITS)
        ]

    def duplicates(self) -> dict[str, list[Alarm]]:
        """alarm_id -> its notifications, for every alarm that fired more than once."""
        by_id: dict[str, list[Alarm]] = {}
        for alarm in self.alarms():
            by_id.setdefault(alarm.alarm_id, []).append(alarm)
        return {alarm_id: found for alarm_id, found in by_id.items() if len(found) > 1}

    def unexpected(self, allowed_resource_ids: Collection[str]) -> list[Alarm]:
        """Alarms about no resource, or about one not in ``allowed_resource_ids``."""
        allowed = set(allowed_resource_ids)
        return [a for a in self.alarms() if a.instance_id not in allowed]

    def to_json(self) -> dict[str, object]:
        with self._cond:
            return {
                "alarms": [a.to_json() for a in self._alarms],
                "rejected": [dataclasses.asdict(r) for r in self._rejected],
            }
