"""One verdict per run: the checks evaluated once, read by JUnit, results.json and the upload.

::

    verdict = Verdict("fault_management")
    verdict.check("alarm for every server", not missing, "no alarm for %s" % missing)
    ...
    publish(verdict, ...)      # results.json (+ TEST_DB_URL), JUnit properties
    verdict.assert_passed()    # the test's own result, from the same checks

Nothing else decides PASS or FAIL, so a record can never say PASS for a run whose test
failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctor_tests.config import Settings
from doctor_tests.profiler.model import Profile
from doctor_tests.profiler.results_db import build_record, upload_record, write_record

LOG = logging.getLogger(__name__)

MAIN_CASE = "fault_management"


@dataclass(frozen=True)
class Check:
    """One thing the run must show; ``detail`` says what was seen when it failed. A check
    that does not apply to this run (``applicable`` false: not the inspector's job) is
    named with the reason, and neither passes nor fails the run."""

    name: str
    passed: bool
    detail: str = ""     # what was wrong (shown when the check failed)
    evidence: str = ""   # what was seen (shown always); why, for a check that does not apply
    applicable: bool = True

    @property
    def status(self) -> str:
        return "N/A" if not self.applicable else "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        said = [t for t in ((self.detail if not self.passed else ""), self.evidence) if t]
        return "%s %s%s" % (self.status, self.name, ": " + "; ".join(said) if said else "")


@dataclass
class Verdict:
    """The checks of one run, in the order they were made."""

    case: str
    checks: list[Check] = field(default_factory=list)

    def check(self, name: str, passed: object, detail: str = "", evidence: str = "") -> bool:
        """Record one check (``passed`` is taken for its truth); ``detail`` says what was wrong
        if it failed, ``evidence`` what was seen either way. Returns whether it passed."""
        result = Check(name, bool(passed), detail, evidence)
        self.checks.append(result)
        LOG.info("check: %s", result.line())
        return result.passed

    def not_applicable(self, name: str, reason: str) -> None:
        """Record that check ``name`` does not apply to this run, and why (it is shown, not
        dropped: a reader sees what was not checked)."""
        result = Check(name, True, evidence=reason, applicable=False)
        self.checks.append(result)
        LOG.info("check: %s", result.line())

    @property
    def passed(self) -> bool:
        return any(c.applicable for c in self.checks) and all(c.passed for c in self.checks)

    @property
    def criteria(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        checks = []
        for c in self.checks:
            entry: dict[str, Any] = {"name": c.name, "passed": c.passed}
            if not c.applicable:
                entry["applicable"] = False
            if not c.passed and c.detail:
                entry["detail"] = c.detail
            if c.evidence:
                entry["evidence"] = c.evidence
            checks.append(entry)
        return {"criteria": self.criteria, "checks": checks}

    def properties(self) -> list[tuple[str, str]]:
        """JUnit properties: ``check_<name>`` = PASS/FAIL, and ``criteria``."""
        out = [("criteria", self.criteria)]
        for c in self.checks:
            out.append(("check_" + c.name.replace(" ", "_"), c.status))
        return out

    def assert_passed(self) -> None:
        """Raise AssertionError listing every failed check (none: returns)."""
        if not any(c.applicable for c in self.checks):
            raise AssertionError("%s: no check was made" % self.case)
        failed = self.failures()
        if failed:
            raise AssertionError("%s FAILED %d of %d checks:\n%s" % (
                self.case, len(failed), len(self.checks),
                "\n".join("  " + c.line() for c in failed)))


@dataclass
class FaultFacts:
    """What a host-fault run saw, gathered once (the fault-management scenario, the
    Xtesting driver and the benchmark's single runs read the same facts)."""

    host: str
    servers_on_host: set[str]
    alarmed_servers: set[str]
    others_quiet: bool
    others_evidence: str
    duplicates: Mapping[str, Any]
    inspector_record: Mapping[str, Any] | None
    forced_down: bool
    server_states: Mapping[str, str]
    notification_ms: float | None
    threshold_ms: float
    missing_checkpoints: Mapping[str, str] = field(default_factory=dict)
    #: who handled the fault: Doctor's sample inspector, or a peer (Vitrage)
    inspector: str = "sample"
    #: what was seen of the inspector's handling (a peer's own state and log)
    inspector_evidence: str = ""
    #: the ``data_plane_status`` of the host's servers' ports (None: not read)
    port_states: Mapping[str, Any] | None = None
    #: why the ports are not this inspector's job ("": they are)
    ports_not_applicable: str = ""


def fault_management_verdict(facts: FaultFacts, case: str = MAIN_CASE) -> Verdict:
    """The checks of a host fault, each evaluated once; the ports' check is recorded as not
    applicable, with the reason, for an inspector whose job they are not (Vitrage)."""
    verdict = Verdict(case)
    missing = facts.servers_on_host - facts.alarmed_servers
    verdict.check("alarm for every server on the host", not missing,
                  "no alarm for %d of %d servers on %s: %s"
                  % (len(missing), len(facts.servers_on_host), facts.host, sorted(missing)))
    verdict.check("no alarm for the server that did not fail", facts.others_quiet,
                  evidence=facts.others_evidence)
    verdict.check("every alarm delivered once", not facts.duplicates,
                  "delivered more than once: %s" % dict(facts.duplicates))
    record = facts.inspector_record
    verdict.check("the inspector handled the fault", record is not None,
                  "the inspector (%s) recorded no round for %s" % (facts.inspector, facts.host)
                  if facts.inspector == "sample" else
                  "%s shows no handling of %s" % (facts.inspector, facts.host),
                  evidence=facts.inspector_evidence)
    errors = (record or {}).get("errors")
    verdict.check("no inspector action failed", not errors,
                  "inspector actions failed: %s" % errors)
    verdict.check("nova-compute forced down", facts.forced_down,
                  "nova-compute on %s is not forced down" % facts.host)
    states = dict(facts.server_states)
    verdict.check("servers on the host ERROR", bool(states) and set(states.values()) == {"ERROR"},
                  "servers on %s not all ERROR: %s" % (facts.host, states))
    if facts.ports_not_applicable:
        verdict.not_applicable("ports on the host DOWN", facts.ports_not_applicable)
    elif facts.port_states is not None:
        ports = dict(facts.port_states)
        verdict.check("ports on the host DOWN", bool(ports) and set(ports.values()) == {"DOWN"},
                      "data_plane_status of the ports on %s not all DOWN: %s"
                      % (facts.host, ports))
    ms = facts.notification_ms
    verdict.check("notification under the threshold", ms is not None and ms < facts.threshold_ms,
                  "over the threshold" if ms is not None else
                  "no notification time: missing %s" % dict(facts.missing_checkpoints),
                  evidence="%s ms (limit %.0f ms)" % (
                      "none" if ms is None else "%.0f" % ms, facts.threshold_ms))
    return verdict


def publish(verdict: Verdict, profile: Profile | Mapping[str, Any], settings: Settings,
            started: float, stopped: float,
            record_property: Callable[[str, object], None] | None = None,
            results_dir: Path | None = None) -> dict[str, Any]:
    """Write ``results.json`` (and upload it to ``TEST_DB_URL``) with the verdict's criteria
    and checks, and give JUnit the same checks as properties; returns the record."""
    record = build_record(profile, verdict.case, settings.installer_type, verdict.criteria,
                          started, stopped, settings.build_tag,
                          {"DEPLOY_SCENARIO": settings.deploy_scenario or "",
                           "NODE_NAME": settings.node_name or "",
                           "BUILD_TAG": settings.build_tag or ""})
    details = record["details"]
    if "verdict" in details:  # a profile's own PASS/FAIL judges the notification time alone
        details["notification_verdict"] = details.pop("verdict")
    details["checks"] = verdict.to_json()["checks"]
    if results_dir is None:  # the main case's record is results/results.json
        results_dir = (settings.results_dir if verdict.case == MAIN_CASE
                       else settings.results_dir / verdict.case)
    write_record(record, results_dir)
    if settings.test_db_url:
        upload_record(record, settings.test_db_url)
    if record_property is not None:
        for key, value in verdict.properties():
            record_property(key, value)
    return record
