"""Checkpoints from OpenStack service logs (oslo.log's default line format).

A line looks like::

    2026-11-24 19:01:02.345 12345 INFO aodh.evaluator.event [-] Triggering the alarm ...
    2026-11-24 19:01:02.101 2211 INFO nova.api.openstack.requestlog [None req-1f0c admin
        admin - - default default] 127.0.0.1 "POST /v2.1/servers/<id>/action" status: 202 ...

(``logging_default_format_string`` / ``logging_context_format_string``: date, time with
milliseconds - truncated, not rounded - pid, level, logger, ``[request context]``,
message). The time is the *local* time of the host that wrote the line, so the parser
takes the host's time zone (default UTC). Traceback and other continuation lines are
skipped.

What each service must log, found in the installed sources (aodh 23, ceilometer 27,
nova 34, oslo.messaging 18, oslo.log 8):

=====  ===================================  =====  =====================================
cp     logger                               level  message (format string)
=====  ===================================  =====  =====================================
T03    nova.api.openstack.requestlog        INFO   ``%(REMOTE_ADDR)s "%(REQUEST_METHOD)s
                                                   %(REQUEST_URI)s" status: %(status)s len:
                                                   %(len)s microversion: %(microversion)s
                                                   time: %(time).6f`` for ``PUT
                                                   /v2.1/os-services/...`` (force-down)
T04    nova.api.openstack.requestlog        INFO   the same for ``POST
                                                   /v2.1/servers/<id>/action`` (the body,
                                                   os-resetState, is not logged)
T05    oslo.messaging.notification.         INFO   the whole notification as JSON - only
       compute.instance.update                     with the ``log`` notification driver
T06    aodh.event                           DEBUG  ``Received %s messages in batch.`` -
                                                   aodh-listener *received* the event
                                                   (an upper bound of T06)
T07    aodh.evaluator.event                 INFO   ``Triggering the alarm %s by event for
                                                   project %s, event_type: %s``
T07    aodh.evaluator                       INFO   ``alarm %(id)s transitioning to
                                                   %(state)s because %(reason)s``
T07    aodh.evaluator.event                 DEBUG  ``Evaluating alarm (id=%(a)s) triggered
                                                   by event (message_id=%(e)s).``
T08    aodh.notifier                        DEBUG  ``Notifying alarm %(id)s with action
                                                   %(act)s``
T08    aodh.notifier.rest                   INFO   ``Notifying alarm %(alarm_name)s
                                                   %(alarm_id)s with severity %(severity)s
                                                   from %(previous)s to %(current)s with
                                                   action %(action)s because %(reason)s.
                                                   request-id: %(request_id)s`` (just before
                                                   the POST)
                                                   (``action`` is logged as a
                                                   ``SplitResult(scheme=..., ...)``,
                                                   the request id as ``b'req-...'``)
--     aodh.notifier.rest                   INFO   ``Notifying alarm <%(id)s> gets
                                                   response: %(status_code)s %(reason)s.``
                                                   (after the consumer answered)
=====  ===================================  =====  =====================================

Ceilometer logs nothing when it turns a notification into an event or publishes it
(``ceilometer/pipeline/event.py`` and ``publisher/messaging.py`` log only load errors,
publishing failures and per-meter sample topics), so T06 comes from the message bus
(:mod:`doctor_tests.profiler.sources.bus`), with aodh-listener's DEBUG receive line as
the log fallback.

Settings the services need (the lab / installer sets them):

- ``nova.conf``: ``[notifications] notify_on_state_change = vm_state`` (no
  compute.instance.update at all without it), ``[notifications] notification_format =
  unversioned`` or ``both``; for T05 from the log also a second notification driver:
  ``[oslo_messaging_notifications] driver = messagingv2`` *and* ``driver = log`` (a
  MultiStrOpt: two lines). The request log needs the ``request_log`` filter of the
  default ``api-paste.ini`` pipeline (present by default) and INFO (default).
- ``aodh.conf``: ``[DEFAULT] debug = True`` for the DEBUG lines above (aodh-listener's
  receive line and aodh-notifier's ``Notifying alarm %s with action %s``); the INFO lines
  need nothing. ``[DEFAULT] record_history = True`` (default) for the alarm history.
- every service: the default ``logging_default_format_string`` /
  ``logging_context_format_string`` (this parser's format) and ``use_stderr``/``log_file``
  so that lines land in a file the lab can read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from doctor_tests.profiler.model import Candidate, candidate
from doctor_tests.profiler.sources.clock import ClockOffset

LOG = logging.getLogger(__name__)

_LINE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,6}))?"
    r" (?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>\S+)(?: \[(?P<ctx>[^\]]*)\])? ?(?P<message>.*)$"
)
TzArg = tzinfo | str | float | int | None


class LogRecord(NamedTuple):
    epoch: float
    pid: int
    level: str
    logger: str
    message: str


def resolve_tz(tz: TzArg) -> tzinfo:
    """A tzinfo from a tzinfo, a zone name (``Europe/Paris``, ``UTC``), or an offset in
    seconds east of UTC; None is UTC. Raises ValueError for an unknown zone name."""
    if tz is None:
        return timezone.utc
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz!r} for the service log") from exc
    if isinstance(tz, bool) or not isinstance(tz, (int, float)):
        raise ValueError(f"time zone must be a tzinfo, a name or an offset in seconds: {tz!r}")
    return timezone(timedelta(seconds=tz))


def parse_line(line: str, tz: tzinfo) -> LogRecord | None:
    """One log line; None for a continuation line or anything else without the header."""
    match = _LINE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    frac = (match["frac"] or "0").ljust(6, "0")
    try:
        local = datetime.fromisoformat(f"{match['date']}T{match['time']}.{frac}")
    except ValueError:
        return None
    epoch = local.replace(tzinfo=tz).timestamp()
    return LogRecord(epoch, int(match["pid"]), match["level"], match["logger"], match["message"])


def parse_oslo_log(
    lines: Iterable[str],
    since_epoch: float | None = None,
    until_epoch: float | None = None,
    tz: TzArg = None,
) -> Iterator[LogRecord]:
    """Records of ``lines`` within ``[since_epoch, until_epoch]`` (either may be None).

    ``tz`` is the time zone of the host that wrote the log (see :func:`resolve_tz`).
    Lines without the oslo.log header (tracebacks, wrapped messages) are skipped.
    """
    zone = resolve_tz(tz)
    skipped = 0
    for line in lines:
        record = parse_line(line, zone)
        if record is None:
            skipped += 1
            continue
        if since_epoch is not None and record.epoch < since_epoch:
            continue
        if until_epoch is not None and record.epoch > until_epoch:
            continue
        yield record
    if skipped:
        LOG.debug("skipped %d log line(s) without the oslo.log header", skipped)


# --- matchers -------------------------------------------------------------------------
UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


@dataclass(frozen=True)
class LogEvent:
    """A log record recognised as one step of the flow."""

    kind: str
    checkpoint: str | None  # None: evidence only (e.g. the REST response)
    epoch: float
    source: str
    alarm_id: str | None = None
    server_id: str | None = None
    detail: str = ""
    duration_s: float | None = None  # nova-api requests: how long the request took

    @property
    def started(self) -> float:
        """When the step began: for a nova-api request, log time minus its duration."""
        return self.epoch - (self.duration_s or 0.0)


@dataclass(frozen=True)
class _Pattern:
    kind: str
    checkpoint: str | None
    logger: str
    level: str
    regex: re.Pattern[str]
    source: str




def _request(method: str, uri: str) -> re.Pattern[str]:
    """nova's request log (``requestlog.py``), also the older eventlet access-line form."""
    return re.compile(
        rf'^(?P<remote>\S+) "(?P<method>{method}) (?P<uri>{uri})(?: HTTP/[\d.]+)?" '
        r"status: (?P<status>\d+) len: (?P<len>\d+)(?: microversion: (?P<mv>\S+))? "
        r"time: (?P<time>[\d.]+)$"
    )


PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("aodh.listener.received", "T06", "aodh.event", "DEBUG",
             re.compile(r"^Received (?P<count>\d+) messages in batch\.$"), "log:aodh-listener"),
    _Pattern("aodh.listener.evaluating", None, "aodh.evaluator.event", "DEBUG",
             re.compile(r"^Evaluating alarm \(id=(?P<alarm>\S+)\) triggered by event "
                        r"\(message_id=(?P<message>\S+)\)\.$"), "log:aodh-listener"),
    _Pattern("aodh.listener.triggering", "T07", "aodh.evaluator.event", "INFO",
             re.compile(r"^Triggering the alarm (?P<alarm>\S+) by event for project "
                        r"(?P<project>\S+), event_type: (?P<event_type>\S+)$"),
             "log:aodh-listener"),
    _Pattern("aodh.listener.transition", "T07", "aodh.evaluator", "INFO",
             re.compile(r"^alarm (?P<alarm>\S+) transitioning to (?P<state>\S+) because "
                        r"(?P<reason>.*)$"), "log:aodh-listener"),
    _Pattern("aodh.notifier.notifying", "T08", "aodh.notifier", "DEBUG",
             re.compile(r"^Notifying alarm (?P<alarm>\S+) with action (?P<action>.+)$"),
             "log:aodh-notifier"),
    _Pattern("aodh.notifier.rest", "T08", "aodh.notifier.rest", "INFO",
             re.compile(r"^Notifying alarm (?P<name>.*) (?P<alarm>\S+) with severity "
                        r"(?P<severity>\S+) from (?P<previous>.+?) to (?P<current>\S+) with "
                        r"action (?P<action>.+?) because (?P<reason>.*)\. request-id: "
                        r"(?P<request>\S+)$"), "log:aodh-notifier"),
    _Pattern("aodh.notifier.response", None, "aodh.notifier.rest", "INFO",
             re.compile(r"^Notifying alarm <(?P<alarm>\S+)> gets response: (?P<status>\d+) "
                        r"(?P<reason>.*)\.$"), "log:aodh-notifier"),
    _Pattern("nova.api.reset_state", "T04", "nova.api.openstack.requestlog", "INFO",
             _request("POST", rf"\S*/servers/(?P<server>{UUID})/action"), "log:nova-api"),
    _Pattern("nova.api.force_down", "T03", "nova.api.openstack.requestlog", "INFO",
             _request("PUT", r"\S*/os-services/(?:force-down|(?P<service>[0-9a-fA-F-]+))"),
             "log:nova-api"),
)


def _nova_notification(record: LogRecord) -> LogEvent | None:
    prefix = "oslo.messaging.notification."
    if not record.logger.startswith(prefix):
        return None
    from doctor_tests.profiler.sources.bus import (  # local: bus imports nothing from here
        BadEnvelope,
        instance_updates,
        parse_message,
    )

    try:
        message = parse_message(json.loads(record.message))
    except (ValueError, BadEnvelope) as exc:
        LOG.debug("unreadable notification in %s: %s", record.logger, exc)
        return None
    updates = instance_updates(message)
    if not updates:
        return None
    update = updates[0]
    checkpoint = "T05" if update.state == "error" else None  # only the update to ERROR
    return LogEvent("nova.notification.instance_update", checkpoint, message.epoch,
                    "log:nova notification", server_id=update.instance_id,
                    detail=f"state {update.old_state} -> {update.state}")


def match_record(record: LogRecord) -> LogEvent | None:
    """The flow step ``record`` shows, or None."""
    for pattern in PATTERNS:
        if record.logger != pattern.logger or record.level != pattern.level:
            continue
        match = pattern.regex.match(record.message)
        if match is None:
            continue
        groups = match.groupdict()
        detail, duration = record.message, None
        if "status" in groups and "time" in groups:  # a nova-api request
            if not groups["status"].startswith("2"):
                return None
            duration = float(groups["time"])
            detail = f"{groups['method']} {groups['uri']} {groups['status']}"
        return LogEvent(pattern.kind, pattern.checkpoint, record.epoch, pattern.source,
                        alarm_id=groups.get("alarm"), server_id=groups.get("server"),
                        detail=detail, duration_s=duration)
    return _nova_notification(record)


def match_log(records: Iterable[LogRecord]) -> Iterator[LogEvent]:
    """Every flow step found in ``records``."""
    for record in records:
        event = match_record(record)
        if event is not None:
            yield event


def log_candidates(
    events: Iterable[LogEvent],
    alarm_servers: Mapping[str, str] | None = None,
    clock: ClockOffset | None = None,
) -> list[Candidate]:
    """Checkpoint candidates from matched log events.

    ``alarm_servers`` maps Aodh alarm ids to the server each alarm watches, so that Aodh
    lines count per server; when it is given, lines about other alarms are ignored.
    ``clock`` is the offset of the host that wrote the log.
    aodh-listener's receive line (``Received N messages in batch.``) is taken as T06 only
    for the last batch received before an alarm was triggered, since the listener receives
    every event Ceilometer publishes.
    """
    alarm_servers = alarm_servers or {}
    uncertainty = clock.uncertainty_ms if clock is not None else None

    def local(epoch: float) -> float:
        return clock.to_local(epoch) if clock is not None else epoch

    events = sorted(events, key=lambda e: e.epoch)
    received = [e for e in events if e.kind == "aodh.listener.received"]
    out: list[Candidate] = []
    for event in events:
        if event.checkpoint is None or event.kind == "aodh.listener.received":
            continue
        if alarm_servers and event.alarm_id and event.alarm_id not in alarm_servers:
            continue  # another tenant's or another run's alarm
        server = event.server_id or alarm_servers.get(event.alarm_id or "")
        note = event.detail[:200] if event.detail else None
        out.append(candidate(event.checkpoint, local(event.epoch), event.source, server=server,
                             uncertainty_ms=uncertainty, note=note))
        if event.kind == "aodh.listener.triggering":
            batch = [r for r in received if r.epoch <= event.epoch]
            if batch:
                out.append(candidate("T06", local(batch[-1].epoch), batch[-1].source,
                                     server=server, uncertainty_ms=uncertainty,
                                     note="received by aodh-listener (upper bound of T06)"))
    return out
