"""``doctor bench --inspectors sample,vitrage,masakari``: the same fault handled by each
inspector, side by side, at each server count (issue 20).

The fault is the link of a compute host going down, detected by Doctor's ICMP monitor,
whose report goes to the inspector under test:

- ``sample``: Doctor's inspector (forces the host down, resets its servers to error, sets
  their ports DOWN); measured: the notification time, the last server's alarm
  (``compute.instance.update`` to error) after detection;
- ``vitrage``: Vitrage's event API; its template forces the host down and resets the
  servers; measured as for ``sample``; each run ends with the host's "up" and Vitrage's
  undo;
- ``masakari``: Doctor's inspector forcing the host down only, then Masakari's
  notifications API; Masakari evacuates the servers; measured: the recovery time, the last
  server ACTIVE on another host after detection (the rebuild's notification), and the
  tenant's alarm on ``compute.instance.rebuild.end``. Masakari moves the servers away, so
  each of its runs boots its own servers on another host of the lab (the third one) and
  deletes them afterwards; the other inspectors' servers stay on theirs. Its wait after
  disabling the host is the lab's (short); one more run at one server measures Masakari's
  default (180 s).

For every run: detection, the time measured, duplicates (an alarm delivered twice),
servers without an alarm, and the CPU each component spent from the fault to the last
alarm; the inspector's own CPU is Doctor's process for ``sample`` (the inspector with the
monitor and the consumer: an upper bound), the vitrage-* programs for ``vitrage``, the
masakari-* programs for ``masakari``. Run k of every inspector before run k+1 of any, so a
slow spell of the shared machine falls on all of them.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from openstack.connection import Connection

from doctor_tests import cloud, lab, locking, preflight, resources
from doctor_tests.bench import cpu, machine
from doctor_tests.bench.faultrun import PIPELINE, RunConfig, wait_alarm_cache, wait_quiet
from doctor_tests.bench.fleet import Fleet
from doctor_tests.bench.results import count_duplicates, first_alarm_latencies, ms, pct
from doctor_tests.cleanup import Cleanup, sigterm_as_interrupt
from doctor_tests.config import Settings
from doctor_tests.consumer import Consumer
from doctor_tests.fault import LinkFault
from doctor_tests.harness.env import CloudEnv, environment, make_installer
from doctor_tests.harness.prepare import SharedPreparation, prepare_for_session
from doctor_tests.harness.reach import start_consumer
from doctor_tests.harness.recovery import (
    REBUILD_END,
    Step,
    Timeline,
    rebuild_steps,
    wait_notification,
    wait_recovered,
)
from doctor_tests.harness.run import (
    choose_hosts,
    host_back_after_evacuation,
    service_back,
    start_inspector,
    start_monitor,
)
from doctor_tests.monitor.report import InspectorReporter
from doctor_tests.paths import source_root
from doctor_tests.peers import leftovers as peer_leftovers
from doctor_tests.peers import masakari, vitrage
from doctor_tests.peers.auth import SessionTokens
from doctor_tests.profiler.sources.recorder import BusRecorder
from doctor_tests.timeutil import iso_utc
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

INSPECTORS = ("sample", "vitrage", "masakari")
DEFAULT_COUNTS = (1, 10, 50)
DEFAULT_RUNS = 3
REPO_ROOT = source_root() or Path.cwd()
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "peers.json"
#: the programs whose CPU is the inspector's own
INSPECTOR_CPU: dict[str, tuple[str, ...]] = {
    "sample": ("doctor",),
    "vitrage": ("vitrage-api", "vitrage-graph", "vitrage-notifier", "vitrage-persistor"),
    "masakari": ("masakari-api", "masakari-engine"),
}
#: what each inspector's time is
MEASURE = {"sample": "notification", "vitrage": "notification", "masakari": "recovery"}
MASAKARI_DEFAULT_WAIT_S = 180
RECOVERY_TIMEOUT_S = 120.0
RECOVERY_PER_SERVER_S = 10.0


class PeersBenchError(RuntimeError):
    """The side-by-side benchmark cannot run; says why."""


def parse_inspectors(text: str) -> tuple[str, ...]:
    """``"sample,vitrage,masakari"`` -> the inspectors, in order, each once; ``sample`` is
    the reference the others are compared with, so it must be among them."""
    names = [n.strip() for n in text.split(",")]
    unknown = [n for n in names if n not in INSPECTORS]
    if not text.strip() or unknown or "" in names:
        raise ValueError("comma-separated %s" % ", ".join(INSPECTORS))
    if "sample" not in names:
        raise ValueError("comma-separated %s, with sample among them (the reference the "
                         "others are compared with)" % ", ".join(INSPECTORS))
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class PeersConfig:
    inspectors: tuple[str, ...] = INSPECTORS
    counts: tuple[int, ...] = DEFAULT_COUNTS
    runs: int = DEFAULT_RUNS
    output: Path = DEFAULT_OUTPUT
    #: one more Masakari run at one server with its default wait (0: none)
    masakari_default_wait_s: int = MASAKARI_DEFAULT_WAIT_S
    run: RunConfig = field(default_factory=RunConfig)
    command: str = "doctor bench --inspectors"


@dataclass
class PeerRun:
    """One fault handled by one inspector."""

    inspector: str
    vm_count: int
    run: int
    host: str
    measure: str                          # notification | recovery
    detection_ms: float | None = None
    time_ms: float | None = None          # the measure: last alarm, or last server ACTIVE
    first_ms: float | None = None         # the first alarm, or the first server ACTIVE
    alarm_last_ms: float | None = None    # the tenant's last alarm (recovery: rebuild.end)
    duplicates: int = 0
    missing: int = 0                      # servers with no alarm (recovery: not recovered)
    inspector_cpu_ms: float | None = None
    doctor_cpu_ms: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)
    masakari_wait_s: int | None = None
    steps_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_figures(spent: Mapping[str, float], inspector: str) -> tuple[float, float,
                                                                      dict[str, float]]:
    per = {k: round(v * 1000, 1) for k, v in spent.items() if v > 0}
    own = sum(per.get(name, 0.0) for name in INSPECTOR_CPU[inspector])
    return round(own, 1), per.get("doctor", 0.0), per


def notification_run(settings: Settings, env: CloudEnv, admin: Connection, fleet: Fleet,
                     consumer: Consumer, inspector: str, index: int, config: RunConfig,
                     tokens: SessionTokens) -> PeerRun:
    """One fault of ``fleet``'s host with the sample inspector or Vitrage; the notification
    time (the last server's alarm after detection)."""
    result = PeerRun(inspector, len(fleet.servers), index, fleet.host, MEASURE[inspector])
    mark = time.monotonic()
    fleet.reset()
    consumer.clear()
    result.steps_s["reset_s"] = round(time.monotonic() - mark, 2)
    cache_expires = time.monotonic() + config.cache_ttl_s
    stack = Cleanup()
    try:
        target = env.ssh_target(fleet.host)
        if inspector == "sample":
            _, server = start_inspector(settings, stack, fleet.host, fleet.server_ids)
            monitor = start_monitor(settings, stack, fleet.host, target, server.url)
        else:
            stack.add("Vitrage: the up of %s, and its undo" % fleet.host,
                      peer_leftovers.vitrage_up, admin, fleet.host, fleet.server_ids)
            reporter = vitrage.VitrageReporter(tokens)
            reporter.prepare()
            monitor = start_monitor(settings, stack, fleet.host, target, None, [reporter])
        result.steps_s["quiet_s"] = round(wait_quiet(PIPELINE, config.quiet_cpu,
                                                     config.quiet_timeout_s), 2)
        wait_alarm_cache(cache_expires)
        fault = _fault(stack, env, admin, fleet.host, config)
        before = cpu.snapshot()
        mark = time.monotonic()
        fault.inject()
        detected = monitor.wait_down(10)
        if detected is None:
            raise WaitTimeout("the monitor to detect %s down" % fleet.host, 10)
        expected = set(fleet.alarm_servers_on_host)
        try:
            wait_until(lambda: expected <= {a.alarm_id for a in consumer.alarms()},
                       config.alarm_timeout_s + config.alarm_timeout_per_server_s
                       * len(expected), "an alarm for each of the %d servers on %s"
                       % (len(expected), fleet.host), interval=0.02)
        except WaitTimeout as exc:
            result.error = str(exc)
            LOG.error("%s; recording the run with the servers that got none", exc)
        result.inspector_cpu_ms, result.doctor_cpu_ms, result.cpu_ms = _cpu_figures(
            cpu.difference(before, cpu.snapshot()), inspector)
        result.steps_s["fault_to_alarms_s"] = round(time.monotonic() - mark, 2)
        fault.restore()
        t00 = fault.fault_time(60)
        stack.run()
    finally:
        stack.run()
    deliveries = [(a.alarm_id, a.received_at) for a in consumer.alarms()]
    latencies = first_alarm_latencies(deliveries, fleet.alarms, fleet.server_ids,
                                      detected.detected_at)
    result.detection_ms = ms(detected.detected_at - t00)
    result.first_ms = min(latencies.values()) if latencies else None
    result.time_ms = (max(latencies.values()) if len(latencies) == len(fleet.servers)
                      else None)
    result.alarm_last_ms = result.time_ms
    result.missing = len(fleet.servers) - len(latencies)
    result.duplicates = count_duplicates(a for a, _ in deliveries
                                         if a in fleet.alarm_servers_on_host)
    return result


def _fault(stack: Cleanup, env: CloudEnv, admin: Connection, host: str,
           config: RunConfig, evacuated: bool = False) -> LinkFault:
    fault = LinkFault(env.ssh_target(host), config.fault_duration_s,
                      lambda: env.restore_link(host))
    if evacuated:  # its nova-compute restarted first (run.host_back_after_evacuation)
        stack.add("nova-compute on %s up again" % host, host_back_after_evacuation, admin,
                  env, host, 120.0)
    else:
        stack.add("nova-compute on %s up again" % host, service_back, admin, host, 120.0)
    stack.add("fault script on %s" % host, fault.end_script)
    stack.add("link of %s" % host, fault.restore)
    return fault


def recovery_run(settings: Settings, env: CloudEnv, admin: Connection, fleet: Fleet,
                 host: str, consumer: Consumer, count: int, index: int, config: RunConfig,
                 tokens: SessionTokens) -> PeerRun:
    """One fault of ``host`` with Masakari: ``count`` servers booted there for the run
    (deleted after it), Doctor's inspector forcing the host down, Masakari evacuating; the
    recovery time (the last server ACTIVE on another host after detection)."""
    result = PeerRun("masakari", count, index, host, MEASURE["masakari"],
                     masakari_wait_s=lab.masakari_wait())
    consumer.clear()
    stack = Cleanup()
    started = time.time()
    try:
        mark = time.monotonic()
        prefix = "%s-r%d-%d" % (fleet.name, count, index)
        servers = resources.boot_servers(fleet.conn, stack, prefix, count, host, fleet.flavor,
                                         fleet.image, fleet.network)
        alarms = resources.create_alarms(fleet.conn, stack, prefix, servers,
                                         fleet.action_url, state="active",
                                         event_type=REBUILD_END)
        cache_expires = time.monotonic() + config.cache_ttl_s
        result.steps_s["boot_s"] = round(time.monotonic() - mark, 2)
        ids = [s.id for s in servers]
        stack.add("Masakari: %s settled, in service" % host, peer_leftovers.masakari_back,
                  admin, host, started)
        _, server = start_inspector(settings, stack, host, ids, host_only=True)
        reporter = masakari.MasakariReporter(tokens)
        reporter.prepare()
        target = env.ssh_target(host)
        monitor = start_monitor(settings, stack, host, target, None,
                                [InspectorReporter(server.url), reporter])
        bus = _bus(env, stack)
        result.steps_s["quiet_s"] = round(wait_quiet(PIPELINE, config.quiet_cpu,
                                                     config.quiet_timeout_s), 2)
        wait_alarm_cache(cache_expires)
        fault = _fault(stack, env, admin, host, config, evacuated=True)
        before = cpu.snapshot()
        mark = time.monotonic()
        fault.inject()
        detected = monitor.wait_down(10)
        if detected is None:
            raise WaitTimeout("the monitor to detect %s down" % host, 10)
        polled = wait_recovered(admin, host, ids, started, RECOVERY_TIMEOUT_S
                                + (result.masakari_wait_s or 0)
                                + RECOVERY_PER_SERVER_S * count)
        try:
            wait_until(lambda: set(alarms) <= {a.alarm_id for a in consumer.alarms()},
                       config.alarm_timeout_s, "an evacuation alarm for each of the %d "
                       "servers" % count, interval=0.1)
        except WaitTimeout as exc:
            result.error = str(exc)
            LOG.error("%s", exc)
        result.inspector_cpu_ms, result.doctor_cpu_ms, result.cpu_ms = _cpu_figures(
            cpu.difference(before, cpu.snapshot()), "masakari")
        result.steps_s["fault_to_recovered_s"] = round(time.monotonic() - mark, 2)
        status = wait_notification(admin, host, started)
        if status != "finished":
            result.error = "Masakari's notification: %s" % status
        fault.restore()
        t00 = fault.fault_time(60)
        timeline = Timeline(t00, detected.detected_at, servers=tuple(ids))
        timeline.extend(rebuild_steps([(m.received, n) for m, n in bus.notifications()]
                                      if bus else [], ids, host))
        on_bus = timeline.per_server("ACTIVE again")
        timeline.extend(Step("ACTIVE again", at, "poll:nova", sid)
                        for sid, at in polled.items() if sid not in on_bus)
        deliveries = [(a.alarm_id, a.received_at) for a in consumer.alarms()]
        timeline.extend(Step("alarm received", at, "trace:consumer", alarms.get(a))
                        for a, at in deliveries if a in alarms)
        figures = timeline.figures()
        result.detection_ms = figures["detection_ms"]
        result.time_ms = figures["recovery_ms"]
        result.first_ms = figures["recovered_first_ms"]
        result.alarm_last_ms = figures["alarm_last_ms"]
        result.missing = count - len(timeline.per_server("ACTIVE again"))
        result.duplicates = count_duplicates(a for a, _ in deliveries if a in alarms)
        mark = time.monotonic()
        stack.run()
        result.steps_s["cleanup_s"] = round(time.monotonic() - mark, 2)
    finally:
        stack.run()
    return result


def _bus(env: CloudEnv, stack: Cleanup) -> BusRecorder | None:
    url = env.bus_url()
    if not url:
        return None
    bus = BusRecorder(url)
    bus.start()
    stack.add("bus recorder", bus.stop)
    return bus


def summarise(runs: Sequence[PeerRun]) -> dict[str, Any]:
    """p50/p95 of one inspector's runs at one count."""
    def median(values: Sequence[float | None]) -> float | None:
        data = [v for v in values if v is not None]
        return round(statistics.median(data), 1) if data else None

    return {
        "runs": len(runs),
        "measure": runs[0].measure if runs else None,
        "detection_p50_ms": pct([r.detection_ms for r in runs], 50),
        "time_p50_ms": pct([r.time_ms for r in runs], 50),
        "time_p95_ms": pct([r.time_ms for r in runs], 95),
        "first_p50_ms": pct([r.first_ms for r in runs], 50),
        "alarm_last_p50_ms": pct([r.alarm_last_ms for r in runs], 50),
        "duplicates": sum(r.duplicates for r in runs),
        "missing": sum(r.missing for r in runs),
        "inspector_cpu_ms_median": median([r.inspector_cpu_ms for r in runs]),
        "doctor_cpu_ms_median": median([r.doctor_cpu_ms for r in runs]),
        # Keystone's, for what the inspector's calls make it do (Masakari: a token per call)
        "keystone_cpu_ms_median": median([r.cpu_ms.get("keystone-api", 0.0) for r in runs]),
        "errors": [r.error for r in runs if r.error],
    }


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return round(value / reference, 2)


def compare(by_count: Mapping[int, Mapping[str, Sequence[PeerRun]]]) -> list[dict[str, Any]]:
    """One entry per count: each inspector's summary and its ratios to ``sample``."""
    out = []
    for count in sorted(by_count):
        entry: dict[str, Any] = {"vm_count": count, "inspectors": {}}
        reference = summarise(by_count[count].get("sample", []))
        for inspector, runs in by_count[count].items():
            summary = summarise(runs)
            summary["time_p50_ratio_to_sample"] = _ratio(summary["time_p50_ms"],
                                                         reference["time_p50_ms"])
            summary["cpu_ratio_to_sample"] = _ratio(summary["inspector_cpu_ms_median"],
                                                    reference["inspector_cpu_ms_median"])
            entry["inspectors"][inspector] = summary
        out.append(entry)
    return out


def render_page(doc: Mapping[str, Any]) -> str:
    """The markdown page: the side-by-side table and what each figure is."""
    lines = [
        "# Doctor's inspector, Vitrage and Masakari, side by side",
        "",
        "`%s`, %s, on %s (%s)." % (doc["command"], doc["date"], doc["machine"].get("cpu_model"),
                                  "%s cores" % doc["machine"].get("cpus")),
        "",
        "The same fault (a compute host's link down, seen by Doctor's ICMP monitor) with each "
        "inspector; %d run(s) per point. *Time* is the notification time for `sample` and "
        "`vitrage` (the last server's alarm after detection: the Doctor requirement is under "
        "1 s) and the recovery time for `masakari` (the last server ACTIVE on another host "
        "after detection; Masakari's wait after disabling the host was %s s). The inspector's "
        "CPU is Doctor's process for `sample` (with the monitor and the consumer: an upper "
        "bound), the vitrage-* programs for `vitrage`, the masakari-* programs for "
        "`masakari`, from the fault to the last alarm (recovery: to the last server "
        "recovered). Ratios are to `sample` at the same count." % (
            doc["settings"]["runs"], doc["settings"].get("masakari_wait_s")),
        "",
        "| servers | inspector | measure | detection p50 ms | time p50 ms | time p95 ms | "
        "x sample | tenant's last alarm p50 ms | duplicates | missing | inspector CPU ms | "
        "x sample | Keystone CPU ms |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(value: object) -> str:
        return "-" if value is None else str(value)

    for entry in doc["comparison"]:
        for name, s in entry["inspectors"].items():
            lines.append("| %s |" % " | ".join(cell(v) for v in (
                entry["vm_count"], name, s["measure"], s["detection_p50_ms"], s["time_p50_ms"],
                s["time_p95_ms"], s["time_p50_ratio_to_sample"], s["alarm_last_p50_ms"],
                s["duplicates"], s["missing"], s["inspector_cpu_ms_median"],
                s["cpu_ratio_to_sample"], s.get("keystone_cpu_ms_median"))))
    default = doc.get("masakari_default_wait")
    if default:
        lines += ["", "Masakari with its default wait (%s s), one run at %d server(s): "
                  "recovery %s ms after detection, the tenant's alarm %s ms." % (
                      default["masakari_wait_s"], default["vm_count"], cell(default["time_ms"]),
                      cell(default["alarm_last_ms"]))]
    errors = [(e["vm_count"], n, err) for e in doc["comparison"]
              for n, s in e["inspectors"].items() for err in s["errors"]]
    if errors:
        lines += ["", "Errors:", ""] + ["- %d servers, %s: %s" % e for e in errors]
    lines += ["", "Every run, with the CPU of each component: `%s`." % doc["json_name"], ""]
    return "\n".join(lines)


def run_peers_bench(settings: Settings, config: PeersConfig) -> dict[str, Any]:
    """The side-by-side benchmark on the lab; returns the document (also written)."""
    if settings.installer_type != "local":
        raise PeersBenchError("doctor bench runs on the lab (INSTALLER_TYPE=local), not on %r"
                              % settings.installer_type)
    missing = [p for p in config.inspectors if p != "sample" and p not in lab.peers()]
    if missing:
        raise PeersBenchError("the lab does not run %s (inventory lab_peers)"
                              % ", ".join(missing))
    env = environment(settings)
    admin = cloud.admin_connection(settings.os_cloud)
    preflight.check_cloud(admin)
    ttl = env.event_alarm_cache_ttl()
    run_config = RunConfig(settle_s=config.run.settle_s,
                           cache_ttl_s=float(ttl if ttl is not None else 60))
    tokens = SessionTokens(admin.session, region_name=admin.config.get_region_name())
    started, date = time.monotonic(), iso_utc(time.time())
    calibration = machine.cpu_calibration()
    by_count: dict[int, dict[str, list[PeerRun]]] = {}
    default_run: PeerRun | None = None
    with locking.scenario_lock(), sigterm_as_interrupt():
        stack = Cleanup()
        try:
            if "vitrage" in config.inspectors:
                _prepare_for_vitrage(settings, admin, stack)
            consumer = start_consumer(settings, env, stack)
            host, other = choose_hosts(admin, settings.fault_host)
            third = _third_host(admin, {host, other})
            fleet = Fleet.create(admin, stack, resources.run_name(), host, other,
                                 settings.image_name, consumer.failure_url)
            LOG.info("bench --inspectors %s: failing %s (masakari: %s), counts %s, %d run(s)",
                     ",".join(config.inspectors), host, third,
                     ",".join(map(str, config.counts)), config.runs)
            for count in config.counts:
                fleet.grow_to(count)
                by_count[count] = {name: [] for name in config.inspectors}
                for k in range(config.runs):
                    for inspector in config.inspectors:
                        LOG.info("bench: %d servers, %s, run %d of %d", count, inspector,
                                 k + 1, config.runs)
                        if inspector == "masakari":
                            figures = recovery_run(settings, env, admin, fleet, third,
                                                   consumer.consumer, count, k + 1,
                                                   run_config, tokens)
                        else:
                            figures = notification_run(settings, env, admin, fleet,
                                                       consumer.consumer, inspector, k + 1,
                                                       run_config, tokens)
                        LOG.info("%s", figures.to_json())
                        by_count[count][inspector].append(figures)
                _write(_doc(config, settings, date, calibration, started, by_count, None),
                       config.output.with_suffix(".partial.json"))
            if "masakari" in config.inspectors and config.masakari_default_wait_s > 0:
                default_run = _with_masakari_wait(
                    config.masakari_default_wait_s,
                    lambda: recovery_run(settings, env, admin, fleet, third,
                                         consumer.consumer, 1, 1, run_config, tokens))
        finally:
            stack.run()
    doc = _doc(config, settings, date, calibration, started, by_count, default_run)
    _write(doc, config.output)
    config.output.with_suffix(".md").write_text(render_page(doc))
    config.output.with_suffix(".partial.json").unlink(missing_ok=True)
    return doc


def _prepare_for_vitrage(settings: Settings, admin: Connection, stack: Cleanup) -> None:
    """Nova's notifications on Vitrage's topic too (prepare.yml for Vitrage, its restore
    registered first), for the whole side-by-side run: every inspector is measured on the
    same cloud, whose Nova feeds Vitrage, as one that runs Vitrage does."""
    installer = make_installer(settings)
    shared = SharedPreparation.for_installer(installer)
    prepare_for_session(shared, installer,
                        lambda restore: stack.add("restore the cloud's configuration", restore),
                        "vitrage")
    cloud.warm_apis(admin)


def _with_masakari_wait(seconds: int, run: Callable[[], PeerRun]) -> PeerRun:
    before = lab.set_masakari_wait(seconds)
    try:
        return run()
    finally:
        lab.set_masakari_wait(before)


def _third_host(admin: Connection, taken: set[str]) -> str:
    healthy = sorted(s.host for s in cloud.compute_services(admin)
                     if s.state == "up" and s.status == "enabled" and not s.is_forced_down
                     and s.host not in taken)
    if not healthy:
        raise PeersBenchError("Masakari's runs need a third healthy compute host (its servers "
                              "are evacuated, the others' must stay): the lab has 3")
    return healthy[0]


def _doc(config: PeersConfig, settings: Settings, date: str, calibration: dict[str, Any],
         started: float, by_count: Mapping[int, Mapping[str, Sequence[PeerRun]]],
         default_run: PeerRun | None) -> dict[str, Any]:
    return {
        "command": config.command,
        "date": date,
        "machine": machine.describe(calibration),
        "source": machine.source_revision(REPO_ROOT),
        "json_name": config.output.name,
        "settings": {"inspectors": list(config.inspectors), "counts": list(config.counts),
                     "runs": config.runs, "masakari_wait_s": lab.masakari_wait(),
                     "monitor_interval_s": settings.monitor_interval_s,
                     "monitor_misses": settings.monitor_misses,
                     "inspector_cpu_programs": {k: list(v) for k, v in INSPECTOR_CPU.items()}},
        "comparison": compare(by_count),
        "masakari_default_wait": default_run.to_json() if default_run else None,
        "runs": [r.to_json() for runs in by_count.values() for rs in runs.values()
                 for r in rs],
        "total_s": round(time.monotonic() - started, 1),
    }


def rerender(path: Path) -> Path:
    """Recompute the comparison of a saved document from its runs and write it and its page
    again (after a change to how runs are summarised); returns the page's path."""
    doc = json.loads(path.read_text())
    by_count: dict[int, dict[str, list[PeerRun]]] = {}
    for run in doc["runs"]:
        by_count.setdefault(run["vm_count"], {}).setdefault(run["inspector"], []).append(
            PeerRun(**run))
    doc["comparison"] = compare(by_count)
    _write(doc, path)
    page = path.with_suffix(".md")
    page.write_text(render_page(doc))
    return page


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m doctor_tests.bench.peers FILE.json``: :func:`rerender`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m doctor_tests.bench.peers",
                                     description="re-render a saved side-by-side benchmark")
    parser.add_argument("document", type=Path, help="peers.json of doctor bench --inspectors")
    args = parser.parse_args(argv)
    print("written %s" % rerender(args.document))
    return 0


def _write(doc: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    LOG.info("written: %s", path)


if __name__ == "__main__":
    raise SystemExit(main())
