"""Checkpoints from the message bus: oslo.messaging notification envelopes.

What travels on RabbitMQ (oslo.messaging 18, driver ``messagingv2``)::

    {"oslo.version": "2.0", "oslo.message": "<JSON of the message>"}

and the message is ``{"message_id", "publisher_id", "event_type", "priority", "payload",
"timestamp"}``, ``timestamp`` being ``str(utcnow())`` when the *sender* built it, e.g.
``"2026-11-24 19:01:02.345678"`` (UTC, no zone). The flow's messages:

- T05: Nova's ``compute.instance.update`` (exchange ``nova``, routing key
  ``notifications.info``), payload with ``instance_id``, ``state``, ``old_state``...;
  the versioned form ``instance.update`` (``versioned_notifications.info``) carries
  ``payload["nova_object.data"]["uuid"/"state"]``.
- T06: Ceilometer's published events (exchange ``ceilometer``, routing key
  ``alarm.all.sample``: ``notifier://?topic=alarm.all``, priority ``sample``): payload is a
  list of serialized events ``{"message_id", "event_type", "generated", "traits":
  [[name, type, value]...], "raw", "message_signature"}``. The envelope's ``timestamp`` is
  Ceilometer's publish time (T06); an event's ``generated`` is Nova's notification time.
- T07 (hand-off): aodh-listener's ``alarm.update`` to aodh-notifier (exchange ``aodh``,
  routing key ``alarming.sample``), payload ``{"actions", "alarm_id", "current",
  "reason_data": {"type": "event", "event": {...}}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from doctor_tests.profiler.model import Candidate, candidate
from doctor_tests.profiler.sources.clock import ClockOffset
from doctor_tests.timeutil import parse_iso8601

LOG = logging.getLogger(__name__)


class BadEnvelope(ValueError):
    """Not an oslo.messaging notification."""


@dataclass(frozen=True)
class Notification:
    event_type: str
    epoch: float  # the message's own timestamp (sender's clock)
    message_id: str | None
    publisher_id: str | None
    priority: str | None
    payload: Any


@dataclass(frozen=True)
class InstanceUpdate:
    instance_id: str
    state: str | None
    old_state: str | None
    epoch: float


@dataclass(frozen=True)
class PublishedEvent:
    event_type: str
    published: float  # Ceilometer's publish time (the envelope)
    generated: float | None  # the source notification's time
    message_id: str | None
    traits: Mapping[str, object]

    @property
    def instance_id(self) -> str | None:
        value = self.traits.get("instance_id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class AlarmUpdate:
    alarm_id: str
    current: str | None
    epoch: float
    instance_id: str | None


def _epoch(value: object, what: str) -> float:
    if not isinstance(value, str):
        raise BadEnvelope(f"{what} must be a timestamp string, got {value!r}")
    try:
        return parse_iso8601(value).timestamp()
    except ValueError as exc:
        raise BadEnvelope(f"{what} is not a timestamp: {value!r}") from exc


def _opt_str(message: Mapping[str, Any], key: str) -> str | None:
    value = message.get(key)
    return value if isinstance(value, str) else None


def parse_message(message: object) -> Notification:
    """A bare notification message (the inner dict) -> :class:`Notification`."""
    if not isinstance(message, Mapping):
        raise BadEnvelope(f"notification must be an object, got {type(message).__name__}")
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise BadEnvelope("notification has no event_type")
    return Notification(
        event_type=event_type,
        epoch=_epoch(message.get("timestamp"), "notification timestamp"),
        message_id=_opt_str(message, "message_id"),
        publisher_id=_opt_str(message, "publisher_id"),
        priority=_opt_str(message, "priority"),
        payload=message.get("payload"),
    )


def parse_envelope(body: str | bytes | Mapping[str, Any]) -> Notification:
    """An AMQP body (2.0 envelope, or a 1.0 bare message) -> :class:`Notification`."""
    data: object = body
    if isinstance(body, (str, bytes)):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise BadEnvelope(f"body is not JSON: {exc}") from exc
    if isinstance(data, Mapping) and "oslo.message" in data:
        version = data.get("oslo.version")
        if version != "2.0":
            raise BadEnvelope(f"unsupported oslo.version {version!r} (expected '2.0')")
        inner = data["oslo.message"]
        try:
            data = json.loads(inner) if isinstance(inner, (str, bytes)) else inner
        except ValueError as exc:
            raise BadEnvelope(f"oslo.message is not JSON: {exc}") from exc
    return parse_message(data)


def instance_updates(notification: Notification) -> list[InstanceUpdate]:
    """The server state change in a ``compute.instance.update`` / ``instance.update``."""
    payload = notification.payload
    if not isinstance(payload, Mapping):
        return []
    if notification.event_type == "compute.instance.update":
        instance_id = payload.get("instance_id")
        if isinstance(instance_id, str):
            return [InstanceUpdate(instance_id, _opt_str(payload, "state"),
                                   _opt_str(payload, "old_state"), notification.epoch)]
    elif notification.event_type == "instance.update":
        data = payload.get("nova_object.data")
        if isinstance(data, Mapping) and isinstance(data.get("uuid"), str):
            old = None
            state_update = data.get("state_update")
            if isinstance(state_update, Mapping):
                old = (state_update.get("nova_object.data") or {}).get("old_state")
            return [InstanceUpdate(data["uuid"], _opt_str(data, "state"),
                                   old if isinstance(old, str) else None, notification.epoch)]
    return []


def _traits(raw: object) -> dict[str, object]:
    out: dict[str, object] = {}
    if isinstance(raw, list):
        for trait in raw:
            if isinstance(trait, (list, tuple)) and len(trait) == 3 and isinstance(trait[0], str):
                out[trait[0]] = trait[2]
    return out


def published_events(notification: Notification) -> list[PublishedEvent]:
    """The events in one of Ceilometer's ``notifier://`` publications (payload: a list)."""
    payload = notification.payload
    if not isinstance(payload, list):
        return []
    out = []
    for event in payload:
        if not isinstance(event, Mapping) or not isinstance(event.get("event_type"), str):
            continue
        generated = None
        if isinstance(event.get("generated"), str):
            try:
                generated = _epoch(event["generated"], "event generated")
            except BadEnvelope:
                LOG.debug("event %s has an unreadable generated time", event.get("message_id"))
        out.append(PublishedEvent(event["event_type"], notification.epoch, generated,
                                  _opt_str(event, "message_id"), _traits(event.get("traits"))))
    return out


def alarm_update(notification: Notification) -> AlarmUpdate | None:
    """aodh-listener's ``alarm.update`` hand-off to aodh-notifier, or None."""
    payload = notification.payload
    if notification.event_type != "alarm.update" or not isinstance(payload, Mapping):
        return None
    alarm_id = payload.get("alarm_id")
    if not isinstance(alarm_id, str):
        return None
    instance_id = None
    reason_data = payload.get("reason_data")
    if isinstance(reason_data, Mapping) and isinstance(reason_data.get("event"), Mapping):
        value = _traits(reason_data["event"].get("traits")).get("instance_id")
        instance_id = value if isinstance(value, str) else None
    return AlarmUpdate(alarm_id, _opt_str(payload, "current"), notification.epoch, instance_id)


def bus_candidates(
    notifications: Iterable[Notification],
    clock: ClockOffset | None = None,
    error_state: str = "error",
) -> list[Candidate]:
    """T05 (Nova's update to ``error_state``), T06 (Ceilometer's publication of that
    event), T07 (aodh-listener's hand-off to aodh-notifier) per server.

    ``clock`` is the offset of the senders' hosts (the timestamps are theirs).
    """
    uncertainty = clock.uncertainty_ms if clock is not None else None

    def local(epoch: float) -> float:
        return clock.to_local(epoch) if clock is not None else epoch

    out: list[Candidate] = []
    for note in notifications:
        for update in instance_updates(note):
            if update.state == error_state:
                out.append(candidate(
                    "T05", local(update.epoch), f"bus:nova {note.event_type}",
                    server=update.instance_id, uncertainty_ms=uncertainty,
                    note=f"{update.old_state} -> {update.state}"))
        for event in published_events(note):
            if event.instance_id and event.traits.get("state") == error_state:
                out.append(candidate(
                    "T06", local(event.published), "bus:ceilometer alarm.all",
                    server=event.instance_id, uncertainty_ms=uncertainty,
                    note=f"event {event.event_type} {event.message_id}"))
        handoff = alarm_update(note)
        if handoff is not None and handoff.current == "alarm":
            out.append(candidate(
                "T07", local(handoff.epoch), "bus:aodh alarming",
                server=handoff.instance_id, uncertainty_ms=uncertainty,
                note=f"alarm {handoff.alarm_id} handed to aodh-notifier"))
    return out
