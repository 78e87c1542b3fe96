"""Results-database record in the OPNFV TestAPI / Xtesting shape, written and uploaded.

The record::

    {"project_name": "doctor", "case_name": "fault_management", "installer": "local",
     "scenario": "os-nosdn-nofeature-noha", "pod_name": "lab-1", "build_tag": "...",
     "version": "...", "criteria": "PASS", "start_date": "2026-11-24 19:01:00",
     "stop_date": "2026-11-24 19:01:30", "details": {<profile.json or the summary>}}

``write_record`` always writes ``<results>/results.json``. ``upload_record`` sends it to
``TEST_DB_URL``: ``http(s)://`` is a JSON POST (one retry at most, on a connection error,
a timeout or a 5xx), ``file://`` appends one JSON line to that file. A failed upload is a
warning and ``False``: it never changes the verdict.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from doctor_tests.httpjson import CallFailed, JsonClient
from doctor_tests.profiler.model import Profile
from doctor_tests.profiler.report import to_json, write_json

LOG = logging.getLogger(__name__)

PROJECT = "doctor"
RESULTS_JSON = "results.json"
REQUIRED = ("project_name", "case_name", "installer", "scenario", "pod_name", "build_tag",
            "version", "criteria", "start_date", "stop_date", "details")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
UNKNOWN = "unknown"
# The results database may be behind the CI's proxy: honour http(s)_proxy and no_proxy,
# but loopback is always direct.
_CLIENT = JsonClient(direct=False)


def format_date(when: float | datetime) -> str:
    """Epoch seconds or a datetime (naive = UTC) as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if isinstance(when, datetime):
        moment = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(when, timezone.utc)
    return moment.astimezone(timezone.utc).strftime(DATE_FORMAT)


def build_record(
    result: Profile | Mapping[str, Any],
    case_name: str,
    installer: str | None,
    criteria: str | bool,
    start: float | datetime,
    stop: float | datetime,
    version: str | None,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """One results record. ``result`` is a profile or an already made JSON document
    (``profile.json`` or the repeated-runs summary). ``installer`` falls back to
    ``INSTALLER_TYPE``; scenario, pod and build tag come from ``DEPLOY_SCENARIO``,
    ``NODE_NAME``, ``BUILD_TAG`` in ``env`` ("unknown" when unset)."""
    if isinstance(criteria, bool):
        criteria = "PASS" if criteria else "FAIL"
    if criteria not in ("PASS", "FAIL"):
        raise ValueError(f"criteria must be 'PASS' or 'FAIL', got {criteria!r}")
    if not case_name:
        raise ValueError("case_name must be a non-empty string")
    details = to_json(result) if isinstance(result, Profile) else dict(result)
    return {
        "project_name": PROJECT,
        "case_name": case_name,
        "installer": installer or env.get("INSTALLER_TYPE") or UNKNOWN,
        "scenario": env.get("DEPLOY_SCENARIO") or UNKNOWN,
        "pod_name": env.get("NODE_NAME") or UNKNOWN,
        "build_tag": env.get("BUILD_TAG") or UNKNOWN,
        "version": version or UNKNOWN,
        "criteria": criteria,
        "start_date": format_date(start),
        "stop_date": format_date(stop),
        "details": details,
    }


def write_record(record: Mapping[str, Any], results_dir: str | os.PathLike[str]) -> Path:
    """Write ``<results_dir>/results.json`` (always, whatever happens to the upload)."""
    return write_json(record, Path(results_dir) / RESULTS_JSON)


def _upload_http(record: Mapping[str, Any], url: str, timeout: float) -> bool:
    data = json.dumps(record).encode("utf-8")
    for attempt in (1, 2):
        try:
            reply = _CLIENT.send("POST", url, data, timeout)
        except CallFailed as exc:  # refused, unreachable, timeout
            retry = True
            LOG.warning("results upload to %s failed (attempt %d): %s", url, attempt, exc.reason)
        else:
            if reply.ok:
                LOG.info("results uploaded to %s (HTTP %d)", url, reply.status)
                return True
            retry = reply.status >= 500
            LOG.warning("results upload to %s: HTTP %s %s (attempt %d)", url, reply.status,
                        reply.text(200), attempt)
        if not retry:
            break
    return False


def _upload_file(record: Mapping[str, Any], url: str) -> bool:
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
    except OSError as exc:
        LOG.warning("results could not be appended to %s: %s", path, exc)
        return False
    LOG.info("results appended to %s", path)
    return True


def upload_record(record: Mapping[str, Any], url: str, timeout: float = 10.0) -> bool:
    """Send the record to ``url`` (TEST_DB_URL). True when stored; False (and a warning)
    when not. Raises ValueError only for a URL scheme other than http, https, file."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return _upload_http(record, url, timeout)
    if scheme == "file":
        return _upload_file(record, url)
    raise ValueError(f"TEST_DB_URL must be an http://, https:// or file:// URL, got {url!r}")
