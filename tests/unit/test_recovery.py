"""The recovery's timeline and verdict (pure logic; the scenario runs on the lab)."""

from __future__ import annotations

from doctor_tests.harness.recovery import (
    RecoveryFacts,
    Step,
    Timeline,
    masakari_steps,
    rebuild_steps,
    recovery_verdict,
)
from doctor_tests.profiler.sources.bus import Notification
from doctor_tests.profiler.sources.peers_log import PeerStep

T00 = 1000.0
T01 = 1000.08


def note(event: str, server: str, host: str, at: float) -> tuple[float, Notification]:
    return at, Notification(event, at - 0.01, "m", "compute.%s" % host, "INFO",
                            {"instance_id": server, "state": "active"})


def engine(kind: str, at: float, **kw: str) -> PeerStep:
    return PeerStep(kind, at, "log:masakari-engine", **kw)


def test_rebuilds_on_another_host_only() -> None:
    received = [
        note("compute.instance.rebuild.start", "s1", "c1", 1010.0),
        note("compute.instance.update", "s1", "c1", 1010.5),
        note("compute.instance.rebuild.end", "s1", "c1", 1011.0),
        note("compute.instance.rebuild.end", "s2", "c0", 1011.5),   # the failed host itself
        note("compute.instance.rebuild.end", "other", "c2", 1012.0),  # not the run's
    ]
    steps = rebuild_steps(received, ["s1", "s2"], "c0")
    assert [(s.name, s.server, s.epoch, s.detail) for s in steps] == [
        ("rebuilding", "s1", 1010.0, "on c1"), ("ACTIVE again", "s1", 1011.0, "on c1")]
    assert steps[1].source == "bus:compute.instance.rebuild.end"


def test_masakari_steps_of_the_failed_host() -> None:
    found = masakari_steps([
        engine("masakari.engine.processing", 1000.3, notification="n-other"),
        engine("masakari.engine.maintenance", 1000.31, host="c2"),
        engine("masakari.engine.finished", 1000.4, notification="n-other", detail="finished"),
        engine("masakari.engine.processing", 1000.5, notification="n1"),
        engine("masakari.engine.maintenance", 1000.51, host="c0"),
        engine("masakari.nova.disable", 1000.6, host="c0"),
        engine("masakari.engine.waiting", 1000.7, detail="waits 3 s"),
        engine("masakari.nova.servers", 1003.7, host="c0"),
        engine("masakari.nova.evacuate", 1003.8, server_id="s1"),
        engine("masakari.nova.evacuate", 1003.9, server_id="x9"),
        engine("masakari.engine.finished", 1012.0, notification="n1", detail="finished"),
    ], "c0", ["s1"])
    assert [s.name for s in found] == [
        "masakari: processing", "masakari: host on maintenance",
        "masakari: disable nova-compute", "masakari: waiting",
        "masakari: list the host's servers", "masakari: evacuate called",
        "masakari: notification done"]
    assert found[0].detail == "n1" and found[5].server == "s1"


def timeline() -> Timeline:
    t = Timeline(T00, T01, servers=("s1", "s2"))
    t.extend([
        Step("host forced down", 1000.2, "trace:inspector"),
        Step("notification accepted", 1000.3, "trace:monitor"),
        Step("masakari: disable nova-compute", 1000.6, "log:masakari-engine"),
        Step("masakari: waiting", 1000.7, "log:masakari-engine", detail="waits 3 s"),
        Step("masakari: evacuate called", 1003.8, "log:masakari-engine", "s1"),
        Step("masakari: evacuate called", 1003.9, "log:masakari-engine", "s2"),
        Step("rebuilding", 1004.5, "bus:x", "s1"),
        Step("ACTIVE again", 1005.8, "bus:x", "s1"),
        Step("ACTIVE again", 1006.9, "bus:x", "s2"),
        Step("ACTIVE again", 1007.0, "poll:nova", "s2"),
        Step("alarm received", 1006.0, "trace:consumer", "s1"),
        Step("alarm received", 1007.1, "trace:consumer", "s2"),
    ])
    return t


def test_the_recovery_time_is_the_last_server_active_elsewhere() -> None:
    f = timeline().figures()
    assert f["detection_ms"] == 80.0
    assert f["host_forced_down_ms"] == 120.0 and f["notification_accepted_ms"] == 220.0
    assert f["masakari_wait"] == "waits 3 s"
    assert f["recovery_ms"] == 6820.0 and f["recovery_from_fault_ms"] == 6900.0
    assert f["recovered_first_ms"] == 5720.0
    assert f["evacuation_per_server_median_ms"] == 2500.0
    assert f["alarm_last_ms"] == 7020.0 and f["servers_recovered"] == 2
    t = timeline()
    t.servers = ("s1", "s2", "s3")
    assert t.figures()["recovery_ms"] is None  # s3 never came back: no recovery time
    data = timeline().to_json()
    assert data["steps"][0] == {"name": "host forced down", "epoch": 1000.2, "ms": 200.0,
                                "source": "trace:inspector"}
    assert "masakari: evacuate called" in timeline().table()


def facts(**changes: object) -> RecoveryFacts:
    base: dict[str, object] = dict(
        host="c0", servers=["s1", "s2"],
        placement={"s1": ("ACTIVE", "c1"), "s2": ("ACTIVE", "c2")},
        port_hosts={"s1": "c1", "s2": "c2"}, alarmed={"s1", "s2"}, duplicates={},
        others_quiet=True, others_evidence="o1 ACTIVE", accepted=True,
        accepted_evidence="HTTP 202", notification_status="finished", disabled=True,
        forced_before_evacuation=True, fence_evidence="", timeline=timeline())
    base.update(changes)
    return RecoveryFacts(**base)  # type: ignore[arg-type]


def test_a_clean_recovery_passes() -> None:
    verdict = recovery_verdict(facts())
    assert verdict.passed, [c.line() for c in verdict.failures()]


def test_each_failed_part_of_a_recovery_fails_its_check() -> None:
    cases = {
        "Masakari accepted the notification": {"accepted": False},
        "nova-compute forced down before the first evacuation": {
            "forced_before_evacuation": False},
        "Masakari disabled the host's nova-compute": {"disabled": False},
        "every server ACTIVE on another host": {
            "placement": {"s1": ("ACTIVE", "c1"), "s2": ("ERROR", "c2")}},
        "every port bound on the server's new host": {"port_hosts": {"s1": "c0", "s2": "c2"}},
        "an evacuation alarm for every server": {"alarmed": {"s1"}},
        "every alarm delivered once": {"duplicates": {"a": [1, 2]}},
        "no alarm for the server that did not fail": {"others_quiet": False},
        "Masakari's notification finished": {"notification_status": "error"},
    }
    for name, change in cases.items():
        verdict = recovery_verdict(facts(**change))
        assert [c.name for c in verdict.failures()] == [name], (name, verdict.failures())
    stayed = recovery_verdict(facts(placement={"s1": ("ACTIVE", "c0"), "s2": ("ACTIVE", "c2")},
                                    port_hosts={"s1": "c0", "s2": "c2"}))
    assert [c.name for c in stayed.failures()] == ["every server ACTIVE on another host"]
