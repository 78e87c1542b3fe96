"""Aodh alarm notifications (REST action bodies): validation and the recorded form.

Aodh's REST notifier posts::

    {"alarm_id": "...", "alarm_name": "...", "severity": "critical",
     "previous": "ok", "current": "alarm", "reason": "...",
     "reason_data": {"type": "event",
                     "event": {"message_id": "...", "event_type": "compute.instance.update",
                               "generated": "...", "traits": [[name, type_int, value], ...],
                               "raw": {}, "message_signature": "..."}}}

Other alarm types (threshold ...) carry a different ``reason_data`` and are accepted
with no event and no traits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

RESOURCE_TRAITS = ("instance_id", "resource_id", "port_id")
_OPTIONAL_STRINGS = ("alarm_name", "severity", "previous", "reason")


class InvalidAlarm(ValueError):
    """The body is not an Aodh alarm notification."""


@dataclass(frozen=True)
class Alarm:
    """One alarm notification as received (times are epoch seconds)."""

    received_at: float
    path: str
    alarm_id: str
    alarm_name: str
    severity: str
    previous: str
    current: str
    reason: str
    reason_type: str | None
    event_type: str | None
    message_id: str | None
    generated: str | None
    traits: Mapping[str, object]
    instance_id: str | None
    raw: Mapping[str, Any]
    handled_at: float | None = None

    def __hash__(self) -> int:  # the mappings are not hashable; these fields identify it
        return hash((self.alarm_id, self.received_at, self.path))

    def to_json(self) -> dict[str, object]:
        return {
            "received_at": self.received_at,
            "handled_at": self.handled_at,
            "path": self.path,
            "alarm_id": self.alarm_id,
            "alarm_name": self.alarm_name,
            "severity": self.severity,
            "previous": self.previous,
            "current": self.current,
            "reason": self.reason,
            "reason_type": self.reason_type,
            "event_type": self.event_type,
            "message_id": self.message_id,
            "generated": self.generated,
            "traits": dict(self.traits),
            "instance_id": self.instance_id,
            "raw": dict(self.raw),
        }


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _opt_str(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidAlarm(f"{where}{key} must be a string, got {_describe(value)}")


def parse_traits(traits: object) -> dict[str, object]:
    """``[[name, type, value], ...]`` -> ``{name: value}``."""
    if not isinstance(traits, list):
        raise InvalidAlarm(f"reason_data.event.traits must be a list, got {_describe(traits)}")
    out: dict[str, object] = {}
    for i, trait in enumerate(traits):
        where = f"reason_data.event.traits[{i}]"
        if not isinstance(trait, list) or len(trait) != 3:
            raise InvalidAlarm(f"{where} must be [name, type, value], got {_describe(trait)}")
        name, dtype, value = trait
        if not isinstance(name, str) or not name:
            raise InvalidAlarm(f"{where} name must be a non-empty string, got {_describe(name)}")
        if isinstance(dtype, bool) or not isinstance(dtype, int):
            raise InvalidAlarm(f"{where} type must be an integer, got {_describe(dtype)}")
        out[name] = value
    return out


def parse_alarm(body: object, received_at: float, path: str = "/failure") -> Alarm:
    """Validate an alarm notification body; raises :class:`InvalidAlarm` naming the field."""
    if not isinstance(body, dict):
        raise InvalidAlarm(f"body must be a JSON object, got {_describe(body)}")
    alarm_id = body.get("alarm_id")
    if not isinstance(alarm_id, str) or not alarm_id:
        raise InvalidAlarm(f"alarm_id must be a non-empty string, got {_describe(alarm_id)}")
    current = body.get("current")
    if not isinstance(current, str):
        raise InvalidAlarm(f"current must be a string, got {_describe(current)}")
    strings = {key: _opt_str(body, key, "") or "" for key in _OPTIONAL_STRINGS}
    reason_data = body.get("reason_data")
    if not isinstance(reason_data, dict):
        raise InvalidAlarm(f"reason_data must be an object, got {_describe(reason_data)}")
    reason_type = _opt_str(reason_data, "type", "reason_data.")
    event_type = message_id = generated = None
    traits: dict[str, object] = {}
    if reason_type == "event":
        event = reason_data.get("event")
        if not isinstance(event, dict):
            raise InvalidAlarm(f"reason_data.event must be an object, got {_describe(event)}")
        event_type = _opt_str(event, "event_type", "reason_data.event.")
        if not event_type:
            raise InvalidAlarm("reason_data.event.event_type must be a non-empty string")
        message_id = _opt_str(event, "message_id", "reason_data.event.")
        generated = _opt_str(event, "generated", "reason_data.event.")
        traits = parse_traits(event.get("traits", []))
        if "raw" in event and not isinstance(event["raw"], dict):
            raise InvalidAlarm(
                f"reason_data.event.raw must be an object, got {_describe(event['raw'])}"
            )
    instance_id = next(
        (str(traits[name]) for name in RESOURCE_TRAITS if isinstance(traits.get(name), str)), None
    )
    return Alarm(
        received_at=received_at,
        path=path,
        alarm_id=alarm_id,
        alarm_name=strings["alarm_name"],
        severity=strings["severity"],
        previous=strings["previous"],
        current=current,
        reason=strings["reason"],
        reason_type=reason_type,
        event_type=event_type,
        message_id=message_id,
        generated=generated,
        traits=MappingProxyType(traits),
        instance_id=instance_id,
        raw=MappingProxyType(body),
    )
