"""``doctor bench``: the sweep, the reset-state ceiling and the soak, in one run on the lab.

Steps (the whole run holds the machine-wide scenario lock; everything it makes is removed
at the end, also after a failure, Ctrl-C or SIGTERM):

1. preflight (Keystone, Nova, Neutron, Aodh; Aodh's event-alarm cache off), the consumer;
2. one project, image, flavor and network; one server with its alarm on the other host;
3. for each server count (ascending): boot the missing servers on the failed host with
   their alarms, then K fault runs per inspector variant, interleaved (:mod:`.faultrun`);
   at one count (``--strategies-at``, 50) the inspector strategies compared run too;
4. the ceiling, right after the fault runs at the count efficiency is taken at (200, or
   the largest count swept): a plain concurrent client resetting the same servers
   (:mod:`.ceiling`);
5. clean-up, then the soak: the monitor on every healthy host with both cores loaded
   (:mod:`.soak`);
6. the results document (JSON), a markdown page with the table and the plot (SVG).

A partial document (``<output>.partial.json``) is written after each server count, so a
sweep that fails at 500 servers still leaves the smaller counts.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctor_tests import cloud, lab, locking, preflight, resources
from doctor_tests.bench import ceiling, machine, report, soak
from doctor_tests.bench.faultrun import (
    PIPELINE,
    RunConfig,
    run_fault,
    wait_alarm_cache,
    wait_quiet,
)
from doctor_tests.bench.fleet import Fleet
from doctor_tests.bench.options import (
    DEFAULT_CEILING_REPEATS,
    DEFAULT_COUNTS,
    DEFAULT_RUNS,
    DEFAULT_SOAK_MINUTES,
    DEFAULT_STRATEGIES,
    DEFAULT_STRATEGIES_AT,
    Variant,
    parse_variants,
    unsupported,
)
from doctor_tests.bench.results import RunFigures, document, sweep_entry, swept_count
from doctor_tests.cleanup import Cleanup, sigterm_as_interrupt
from doctor_tests.config import Settings, as_dict
from doctor_tests.harness.env import environment
from doctor_tests.harness.reach import start_consumer
from doctor_tests.harness.run import choose_hosts
from doctor_tests.inspector import Inspector
from doctor_tests.paths import source_root
from doctor_tests.timeutil import iso_utc

LOG = logging.getLogger(__name__)

# the results belong to the source checkout (committed under docs/benchmarks); from an
# installed package they go to the current directory
REPO_ROOT = source_root() or Path.cwd()
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "latest.json"
BUS_URL_PARAMETERS = ("bus_url", "transport_url")


class BenchError(RuntimeError):
    """The benchmark cannot run here; says why."""


@dataclass(frozen=True)
class BenchConfig:
    counts: tuple[int, ...] = DEFAULT_COUNTS
    runs: int = DEFAULT_RUNS
    variants: tuple[Variant, ...] = (Variant("default"),)
    # compared with variants[0] at one count only (item 3 of the issue: in the same run)
    strategies: tuple[Variant, ...] = field(
        default_factory=lambda: parse_variants(",".join(DEFAULT_STRATEGIES)))
    strategies_at: tuple[int, ...] = DEFAULT_STRATEGIES_AT
    soak_minutes: float = DEFAULT_SOAK_MINUTES
    output: Path = DEFAULT_OUTPUT
    ceiling_calls: int = 300
    ceiling_repeats: int = DEFAULT_CEILING_REPEATS
    run: RunConfig = field(default_factory=RunConfig)
    command: str = "doctor bench"


def report_paths(output: Path) -> tuple[Path, Path]:
    """(markdown page, plot) for a JSON output: README.md and notification.svg beside the
    default ``docs/benchmarks/latest.json``; ``<stem>.md`` and ``<stem>.svg`` elsewhere."""
    if output.resolve() == DEFAULT_OUTPUT.resolve():
        return output.parent / "README.md", output.parent / "notification.svg"
    return output.with_suffix(".md"), output.with_suffix(".svg")


def partial_note(config: BenchConfig) -> str | None:
    """Says so when the run is smaller than the issue's full benchmark."""
    short = []
    if config.counts != DEFAULT_COUNTS:
        short.append("server counts %s" % ",".join(map(str, config.counts)))
    if config.runs < DEFAULT_RUNS:
        short.append("%d run(s) per point" % config.runs)
    if config.soak_minutes < DEFAULT_SOAK_MINUTES:
        short.append("soak %g min" % config.soak_minutes)
    if not config.strategies:
        short.append("no strategies compared")
    if config.ceiling_calls <= 0:
        short.append("no ceiling")
    elif config.ceiling_repeats < DEFAULT_CEILING_REPEATS:
        short.append("ceiling repeats %d" % config.ceiling_repeats)
    if not short:
        return None
    return "A reduced run, not the full benchmark: %s." % "; ".join(short)


def plan_variants(variants: Sequence[Variant], accepted: Sequence[str]
                  ) -> tuple[list[Variant], dict[str, str]]:
    """(the variants the inspector can run, {name: why not} for the others)."""
    runnable, skipped = [], {}
    for variant in variants:
        reason = unsupported(variant, accepted)
        if reason is None:
            runnable.append(variant)
        else:
            skipped[variant.name] = reason
            LOG.warning("variant %s skipped: %s (its column is null)", variant.name, reason)
    return runnable, skipped


def write_outputs(doc: dict[str, Any], output: Path) -> list[Path]:
    markdown, plot = report_paths(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    plot.write_text(report.render_plot(doc["sweep"]) + "\n")
    markdown.write_text(report.render_readme(doc, plot.name, output.name))
    return [output, markdown, plot]


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def step_medians(runs: Sequence[RunFigures]) -> dict[str, float | None]:
    keys = sorted({k for r in runs for k in r.steps_s})
    return {k: _median([r.steps_s[k] for r in runs if k in r.steps_s]) for k in keys}


def run_bench(settings: Settings, config: BenchConfig) -> dict[str, Any]:
    """The whole benchmark; returns the results document (also written to the output)."""
    if settings.installer_type != "local":
        raise BenchError("doctor bench runs on the lab (INSTALLER_TYPE=local), not on %r"
                         % settings.installer_type)
    env = environment(settings)
    admin = cloud.admin_connection(settings.os_cloud)
    preflight.check_cloud(admin)
    ttl = env.event_alarm_cache_ttl()
    cache_ttl = float(ttl if ttl is not None else 60)
    if cache_ttl > 0:
        LOG.warning("Aodh caches event alarms for %.0f s (event_alarm_cache_ttl): each run "
                    "waits that long after putting the alarms back to 'insufficient data', "
                    "and after creating alarms", cache_ttl)
    config = dataclasses.replace(config, run=dataclasses.replace(config.run,
                                                                 cache_ttl_s=cache_ttl))
    accepted = list(inspect.signature(Inspector).parameters)
    runnable, skipped = plan_variants(config.variants, accepted)
    if not runnable:
        raise BenchError("no variant can run: %s" % skipped)
    primary = runnable[0].name
    strategies, strategies_skipped = plan_variants(
        [v for v in config.strategies if v.name not in {r.name for r in runnable}], accepted)
    skipped.update(strategies_skipped)
    shortcut = next((v.name for v in runnable if v.is_shortcut), None)
    if shortcut is None:
        LOG.warning("no shortcut variant runs (%s): shortcut_last_alarm_p50_ms will be null",
                    "; ".join("%s: %s" % kv for kv in skipped.items()) or
                    "none asked for in --variants")

    def extra_options(variant: Variant) -> dict[str, Any]:
        if not variant.is_shortcut:
            return {}
        return {p: env.bus_url() for p in BUS_URL_PARAMETERS
                if p in accepted and p not in variant.options}

    # The ceiling is measured right after the fault runs its efficiency is taken at, on
    # the same servers, so both see the same fleet and (nearly) the same machine.
    ceiling_at = swept_count(config.counts)
    strategies_at = ([c for c in config.strategies_at if c in config.counts]
                     or [swept_count(config.counts, None)])
    started, date = time.monotonic(), iso_utc(time.time())
    source = machine.source_revision(REPO_ROOT)
    calibration = machine.cpu_calibration()  # before the lab is busy with the runs
    LOG.info("CPU calibration: %.1f ms for the fixed loop (best of %d)",
             calibration["python_loop_ms"], len(calibration["samples_ms"]))
    sweep: list[dict[str, Any]] = []
    all_runs: list[RunFigures] = []
    timings: dict[str, Any] = {}
    ceiling_doc: dict[str, Any] | None = None
    soak_doc: dict[str, Any] | None = None

    def make_doc() -> dict[str, Any]:
        timings["total_s"] = round(time.monotonic() - started, 1)
        timings["run_steps_median_s"] = step_medians(all_runs)
        return document(machine=machine.describe(calibration), date=date, command=config.command,
                        sweep=sweep, ceiling=ceiling_doc, soak=soak_doc,
                        settings=_settings_doc(settings, config, runnable, strategies,
                                               strategies_at, skipped),
                        timings=timings, note=partial_note(config), source=source)

    partial = config.output.with_suffix(".partial.json")
    with locking.scenario_lock(), sigterm_as_interrupt():
        stack = Cleanup()
        try:
            consumer = start_consumer(settings, environment(settings), stack)
            host, other = choose_hosts(admin, settings.fault_host)
            LOG.info("bench: failing %s (servers %s), control server on %s; variants %s",
                     host, ",".join(map(str, config.counts)), other,
                     ", ".join(v.name for v in runnable))
            mark = time.monotonic()
            fleet = Fleet.create(admin, stack, resources.run_name(), host, other,
                                 settings.image_name, consumer.failure_url)
            timings["setup_s"] = round(time.monotonic() - mark, 1)
            for count in config.counts:
                fleet.grow_to(count)
                timings["boot"] = [b.to_json() for b in fleet.batches]
                by_variant: dict[str, list[RunFigures]] = {}
                here = runnable + (strategies if count in strategies_at else [])
                # run k of every variant before run k+1 of any: a slow spell of the shared
                # machine then falls on all the variants compared, not on one
                for k in range(config.runs):
                    for variant in here:
                        LOG.info("bench: %d servers, variant %s, run %d of %d", count,
                                 variant.name, k + 1, config.runs)
                        figures = run_fault(settings, env, admin, fleet, consumer.consumer,
                                            variant, k + 1, config.run, extra_options)
                        by_variant.setdefault(variant.name, []).append(figures)
                        all_runs.append(figures)
                entry = sweep_entry(count, by_variant, primary, shortcut, skipped)
                entry["runs_detail"] = [r.to_json() for runs in by_variant.values()
                                        for r in runs]
                sweep.append(entry)
                if config.ceiling_calls > 0 and count == ceiling_at:
                    ceiling_doc = _measure_ceiling(settings, fleet, config.ceiling_calls,
                                                   config.ceiling_repeats, config.run)
                    timings["ceiling_s"] = ceiling_doc.pop("seconds")
                _write_partial(make_doc(), partial)
        except BaseException as exc:
            # said before the undo, which takes minutes with hundreds of servers
            LOG.error("bench stopped by %s: %s; undoing what it made in the cloud (the "
                      "points measured so far are in %s)", type(exc).__name__, exc,
                      partial if sweep else "no file: no point was finished")
            raise
        finally:
            mark = time.monotonic()
            stack.run()
            timings["cleanup_s"] = round(time.monotonic() - mark, 1)
        if config.soak_minutes > 0:
            mark = time.monotonic()
            hosts = [(h.name, h.address) for h in lab.hosts() if h.link_up]
            soak_doc = soak.run_soak(
                hosts, config.soak_minutes,
                collectd_port=settings.collectd_port if lab.runs_collectd() else None).to_json()
            timings["soak_s"] = round(time.monotonic() - mark, 1)
    doc = make_doc()
    for path in write_outputs(doc, config.output):
        LOG.info("written: %s", path)
    partial.unlink(missing_ok=True)
    return doc


def _measure_ceiling(settings: Settings, fleet: Fleet, calls: int, repeats: int,
                     run: RunConfig) -> dict[str, Any]:
    """Nova's reset-state ceiling over the host's servers, with a fresh admin connection
    (the client's pool is its own).

    First with state changes, the ceiling efficiency is computed against: each sample
    moves up to ``calls`` servers ACTIVE -> ERROR once, their alarms armed, so every call
    costs what a fault's call costs (Nova's notification, Ceilometer, Aodh firing the
    alarm, the consumer); the finalists are repeated ``repeats`` times. A second round
    back to ``active`` would be cheaper (no alarm fires) and would raise the ceiling, so
    there is none: with fewer servers than ``calls``, a sample has fewer calls. Then
    without state changes (ERROR -> ERROR, Nova notifies nothing: the API alone, for
    reference, one scan of ``calls`` calls)."""
    ids = fleet.server_ids
    fault_like = ids[:calls]
    rounds = max(1, math.ceil(calls / len(ids)))
    ids_unchanged = ids if rounds > 1 else ids[:calls]

    def armed() -> None:
        fleet.reset()
        cache_expires = time.monotonic() + run.cache_ttl_s
        wait_quiet(PIPELINE, run.quiet_cpu, run.quiet_timeout_s)
        wait_alarm_cache(cache_expires)

    conn = cloud.admin_connection(settings.os_cloud)
    LOG.info("ceiling with state changes: %d servers ACTIVE -> ERROR per sample, the best "
             "two concurrencies %d more times each", len(fault_like), repeats)
    mark = time.monotonic()
    changing = ceiling.measure_ceiling(conn, fault_like, states=("error",), prepare=armed,
                                       repeats=repeats)
    changing_s = time.monotonic() - mark
    LOG.info("ceiling without state changes (servers already ERROR)")
    mark = time.monotonic()
    unchanged = ceiling.measure_ceiling(conn, ids_unchanged, rounds=rounds,
                                        states=("error",),
                                        prepare=lambda: _all_error(conn, ids_unchanged))
    doc = changing.to_json()
    doc.update(vm_count=len(ids), servers=len(fault_like), rounds=1, state_changes=True,
               without_state_changes={**unchanged.to_json(), "servers": len(ids_unchanged),
                                      "rounds": rounds},
               seconds=round(changing_s + time.monotonic() - mark, 1))
    return doc


def _all_error(conn: Any, server_ids: Sequence[str]) -> None:
    """Put the servers in ERROR (untimed) so the measured calls change nothing."""
    ceiling.measure_point(conn, server_ids, 8, 1, ("error",))


def _write_partial(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    LOG.info("partial results: %s", path)


def _settings_doc(settings: Settings, config: BenchConfig, runnable: Sequence[Variant],
                  strategies: Sequence[Variant], strategies_at: Sequence[int],
                  skipped: dict[str, str]) -> dict[str, Any]:
    keep = ("monitor_interval_s", "monitor_timeout_s", "monitor_misses",
            "inspector_concurrency", "fault_host", "os_cloud")
    plain = as_dict(settings)
    return {
        **{k: plain[k] for k in keep},
        "counts": list(config.counts),
        "runs": config.runs,
        "variants": {v.name: v.options for v in runnable},
        "strategies": {v.name: v.options for v in strategies},
        "strategies_vm_counts": list(strategies_at) if strategies else [],
        "variants_skipped": skipped,
        "soak_minutes": config.soak_minutes,
        "ceiling_calls": config.ceiling_calls,
        "ceiling_repeats": config.ceiling_repeats,
        "settle_s": config.run.settle_s,
        "quiet_cpu_cores": config.run.quiet_cpu,
        "aodh_event_alarm_cache_ttl_s": config.run.cache_ttl_s,
    }

