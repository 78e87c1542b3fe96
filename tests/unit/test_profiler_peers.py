"""The peers' steps and checkpoints from their own logs.

tests/unit/data/vitrage-15.0.1.log and masakari-22.0.0.log are excerpts of the logs of a
real vitrage-api/graph/notifier and masakari-api/engine (run off the lab against Keystone,
MariaDB and RabbitMQ of their own, without a Nova: the calls to Nova fail there); only
tracebacks' frames and Vitrage's payload lines were cut. Masakari's lines that need a Nova
(disable, the wait, evacuations) are made from the format strings in its sources.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from doctor_tests.profiler.sources.clock import ClockOffset
from doctor_tests.profiler.sources.oslo_log import parse_oslo_log
from doctor_tests.profiler.sources.peers_log import (
    PeerStep,
    match_peer_log,
    vitrage_candidates,
)

DATA = Path(__file__).parent / "data"


def at(hms: str) -> float:
    """Epoch of 2026-12-04 ``hms`` UTC (the excerpts' day)."""
    return datetime.fromisoformat("2026-12-04T%s+00:00" % hms).timestamp()


def steps(name: str) -> list[PeerStep]:
    lines = (DATA / name).read_text().splitlines()
    return list(match_peer_log(parse_oslo_log(lines)))


def test_vitrage_steps_of_a_host_down_and_up() -> None:
    found = steps("vitrage-15.0.1.log")
    assert [(s.kind, s.detail.split(" target")[0]) for s in found] == [
        ("vitrage.api.event", "compute.host.down down capture-down-1"),
        ("vitrage.graph.event", "doctor event down"),
        ("vitrage.evaluator.mark_down", "DO mark_down doctor_host_down-scenario0"),
        ("vitrage.evaluator.raise_alarm", "DO raise_alarm doctor_host_down-scenario1"),
        ("vitrage.notifier.force_down", "forced_down True"),
        ("vitrage.notifier.failed", found[5].detail),
        ("vitrage.evaluator.mark_down", "DO mark_down doctor_host_down-scenario2"),
        ("vitrage.notifier.reset_state", "state error"),
        ("vitrage.notifier.failed", found[8].detail),
        ("vitrage.api.event", "compute.host.down up capture-up-1"),
        ("vitrage.graph.event", "doctor event up"),
        ("vitrage.evaluator.mark_down", "UNDO mark_down doctor_host_down-scenario0"),
        ("vitrage.evaluator.raise_alarm", "UNDO raise_alarm doctor_host_down-scenario1"),
    ]
    api, graph = found[0], found[1]
    assert api.host == "dt-compute-0" and api.source == "log:vitrage-api"
    assert api.epoch == at("23:15:39.240") and graph.epoch == at("23:15:39.248")
    assert graph.source == "log:vitrage-graph"
    assert found[4].host == "dt-compute-0" and found[4].source == "log:vitrage-notifier"
    assert found[7].server_id == "0b7a6c1e-1f43-4d7b-9c2a-5d1e2f3a4b5c"
    assert "EndpointNotFound" in found[5].detail


def test_vitrage_t02_is_the_deduced_alarm_on_the_hosts_servers() -> None:
    found = steps("vitrage-15.0.1.log")
    [t02] = vitrage_candidates(found, "dt-compute-0")
    assert t02.checkpoint.name == "T02" and t02.server is None
    assert t02.checkpoint.epoch == at("23:15:39.404")
    assert t02.checkpoint.source == "log:vitrage-graph"
    assert "(1)" in (t02.checkpoint.note or "")
    # another host's fault, or a template of another name: nothing
    assert vitrage_candidates(found, "dt-compute-1") == []
    assert vitrage_candidates(found, "dt-compute-0", template="other") == []


def test_vitrage_t02_onto_the_runners_clock() -> None:
    clock = ClockOffset(offset_s=0.25, uncertainty_s=0.0004)  # the controller 250 ms ahead
    [t02] = vitrage_candidates(steps("vitrage-15.0.1.log"), "dt-compute-0", clock)
    assert abs(t02.checkpoint.epoch - (at("23:15:39.404") - 0.25)) < 1e-6
    assert t02.checkpoint.uncertainty_ms == clock.uncertainty_ms


def test_vitrage_t02_needs_the_down_event_first() -> None:
    """An evaluator line from before vitrage-api took this fault's event is another fault's."""
    found = [s for s in steps("vitrage-15.0.1.log") if s.kind != "vitrage.api.event"]
    assert vitrage_candidates(found, "dt-compute-0") == []


def test_masakari_steps_of_a_notification() -> None:
    found = steps("masakari-22.0.0.log")
    assert [s.kind for s in found] == [
        "masakari.api.notification", "masakari.engine.processing",
        "masakari.engine.maintenance", "masakari.engine.finished"]
    posted, processing, maintenance, finished = found
    assert posted.duration_s == 0.1779611 and posted.epoch == at("23:14:06.384")
    assert abs(posted.started - at("23:14:06.2060389")) < 1e-6
    assert posted.source == "log:masakari-api" and posted.detail == "POST /v1/notifications 202"
    uuid = "cda9f90b-dea6-4412-ae94-24a263557d7c"
    assert processing.notification == finished.notification == uuid
    assert maintenance.host == "dt-compute-0" and finished.detail == "error"
    # the refused second notification (409) and the GETs are not steps
    assert all(s.epoch < at("23:14:06.9") for s in found)


# Masakari's lines once it reaches Nova, from its format strings (compute/nova.py:154, 165,
# 184; engine/drivers/taskflow/host_failure.py:56-58).
RECOVERY = [
    "2026-12-04 23:20:00.100 4242 INFO masakari.compute.nova [req-1 req-2 masakari - - - - -]"
    " Disable nova-compute on lab-compute-0",
    "2026-12-04 23:20:00.180 4242 INFO masakari.engine.drivers.taskflow.host_failure"
    " [req-1 req-2 masakari - - - - -] Sleeping 180 sec before starting recovery thread until"
    " nova recognizes the node down.",
    "2026-12-04 23:23:00.200 4242 INFO masakari.compute.nova [req-1 req-2 masakari - - - - -]"
    " Fetch Server list on lab-compute-0",
    "2026-12-04 23:23:00.400 4242 INFO masakari.compute.nova [req-1 req-2 masakari - - - - -]"
    " Call evacuate command for instance 6b1f0c1e-1f43-4d7b-9c2a-5d1e2f3a4b5c on host None",
]


def test_masakari_recovery_steps() -> None:
    found = list(match_peer_log(parse_oslo_log(RECOVERY)))
    assert [(s.kind, s.host, s.server_id, s.detail) for s in found] == [
        ("masakari.nova.disable", "lab-compute-0", None, found[0].detail),
        ("masakari.engine.waiting", None, None, "waits 180 s"),
        ("masakari.nova.servers", "lab-compute-0", None, found[2].detail),
        ("masakari.nova.evacuate", None, "6b1f0c1e-1f43-4d7b-9c2a-5d1e2f3a4b5c", "to None"),
    ]
    assert all(s.source == "log:masakari-engine" for s in found)
    assert found[3].epoch - found[1].epoch > 180


def test_lines_of_other_services_or_levels_are_not_steps() -> None:
    lines = [
        # the same message at DEBUG, and Nova's own line
        "2026-12-04 23:15:39.420 1 DEBUG vitrage.notifier.plugins.nova.nova_notifier [-] Nova"
        " services.force_down - host id: h, is_down: True",
        "2026-12-04 23:15:39.420 1 INFO nova.api.openstack.requestlog [-] Disable nova-compute"
        " on h",
        # a non-doctor Vitrage event
        "2026-12-04 23:15:29.945 30837 INFO vitrage.entity_graph.driver_exec [-] EVENTS"
        " ENQUEUED:[compute.dt-compute-0] [compute.instance.create.end] ",
    ]
    assert list(match_peer_log(parse_oslo_log(lines))) == []


def test_an_unreadable_event_line_still_counts_without_a_host() -> None:
    line = ("2026-12-04 23:15:39.240 6932 INFO vitrage.api.controllers.v1.event [None req-1"
            " admin p - - - -] Post event called with args: {'time': <not python>}")
    [step] = match_peer_log(parse_oslo_log([line]))
    assert step.kind == "vitrage.api.event" and step.host is None
    assert datetime.fromtimestamp(step.epoch, timezone.utc).second == 39


def test_assembled_profile_beside_vitrage() -> None:
    """No inspector of Doctor's: T01 from the monitor, T02 from vitrage-graph's log."""
    from doctor_tests.profiler.assemble import assemble_profile

    lines = (DATA / "vitrage-15.0.1.log").read_text().splitlines()
    profile = assemble_profile(fault_epoch=at("23:15:38.980"), log_lines=lines, log_tz=0,
                               detected=(at("23:15:39.057"), "capture-down-1"),
                               vitrage_host="dt-compute-0")
    t01, t02 = profile.checkpoints["T01"], profile.checkpoints["T02"]
    assert (t01.source, t01.epoch, t01.note) == ("trace:monitor", at("23:15:39.057"),
                                                 "event capture-down-1")
    assert (t02.source, t02.epoch) == ("log:vitrage-graph", at("23:15:39.404"))
    # another host: T02 missing, with the reason
    other = assemble_profile(fault_epoch=at("23:15:38.980"), log_lines=lines, log_tz=0,
                             detected=(at("23:15:39.057"), None), vitrage_host="dt-compute-1")
    assert "T02" not in other.checkpoints
    assert "vitrage-graph's evaluator" in other.missing["T02"]
