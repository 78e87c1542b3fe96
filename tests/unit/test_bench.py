"""doctor bench without a lab: options, figures, the results document, table and plot."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from doctor_tests.bench import machine, options, report, results
from doctor_tests.bench.options import BenchOptionError, Variant
from doctor_tests.bench.results import RunFigures
from doctor_tests.bench.runner import BenchConfig, partial_note, plan_variants, report_paths
from doctor_tests.cli import bench_defaults, build_parser

# --- options ------------------------------------------------------------------------------


def test_counts_are_positive_whole_numbers_sorted_once() -> None:
    assert options.parse_counts("50, 1,10,10") == (1, 10, 50)


@pytest.mark.parametrize("text", ["", "0", "1,,2", "-1", "1.5", "ten", "1,5001"])
def test_wrong_counts_name_the_option_and_what_is_allowed(text: str) -> None:
    with pytest.raises(BenchOptionError) as info:
        options.parse_counts(text)
    assert info.value.option == "--counts"
    assert "comma-separated whole numbers from 1" in str(info.value)


def test_runs_minutes_seconds() -> None:
    assert options.parse_positive_int("5", "--runs") == 5
    for bad in ("0", "-2", "x", "1001"):
        with pytest.raises(BenchOptionError, match="--runs"):
            options.parse_positive_int(bad, "--runs")
    assert options.parse_minutes("0") == 0.0
    assert options.parse_minutes("0.2") == pytest.approx(0.2)
    for bad in ("-1", "nan", "inf", "soon"):
        with pytest.raises(BenchOptionError, match="--soak-minutes"):
            options.parse_minutes(bad)
    with pytest.raises(BenchOptionError, match="--settle"):
        options.parse_seconds("-0.1", "--settle")
    assert options.parse_non_negative_int("0", "--ceiling-calls") == 0


def test_variants_by_name_and_combined() -> None:
    got = options.parse_variants("default,threads32,serial,shortcut+threads8,strategy-at_once,"
                                 "shortcut+pace4,ports2,default")
    assert [v.name for v in got] == ["default", "threads32", "serial", "shortcut+threads8",
                                     "strategy-at_once", "shortcut+pace4", "ports2"]
    assert [v.options for v in got] == [{}, {"concurrency": 32}, {"concurrency": 1},
                                        {"shortcut": True, "concurrency": 8},
                                        {"strategy": "at_once"},
                                        {"shortcut": True, "shortcut_pace": 4},
                                        {"port_pace": 2}]
    assert got[3].is_shortcut and not got[0].is_shortcut


@pytest.mark.parametrize("text", ["fast", "threads0", "threads", "serial+threads4", ",",
                                  "strategy-", "strategy-asyncio", "pace0"])
def test_unknown_variants_list_the_valid_names(text: str) -> None:
    with pytest.raises(BenchOptionError) as info:
        options.parse_variants(text)
    assert info.value.option == "--variants"
    assert "default" in str(info.value) and "threads" in str(info.value)


def test_a_variant_the_inspector_does_not_accept_is_skipped_with_the_reason() -> None:
    accepted = ["backend", "concurrency", "index_interval"]
    runnable, skipped = plan_variants(options.parse_variants("default,shortcut,serial"),
                                      accepted)
    assert [v.name for v in runnable] == ["default", "serial"]
    assert skipped == {"shortcut": "the Inspector constructor has no shortcut parameter"}


def test_command_line_errors_name_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["bench", "--counts", "1,0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--counts" in err and "'1,0' is not valid" in err and "allowed" in err
    args = parser.parse_args(["bench", "--counts", "10,1", "--runs", "2", "--soak-minutes", "0",
                              "--variants", "serial"])
    assert args.counts == (1, 10) and args.runs == 2 and args.soak_minutes == 0
    assert args.variants == (Variant("serial", {"concurrency": 1}),)
    defaults = bench_defaults(parser.parse_args(["bench"]))
    assert defaults.counts == (1, 10, 20, 50, 200, 500) and defaults.runs == 5
    assert defaults.output.name == "latest.json"
    side = bench_defaults(parser.parse_args(["bench", "--inspectors", "vitrage,sample"]))
    assert side.inspectors == ("vitrage", "sample") and side.counts == (1, 10, 50)
    assert side.runs == 3 and side.output.name == "peers.json"
    assert bench_defaults(parser.parse_args(["bench", "--inspectors", "sample", "--runs", "1",
                                             "--counts", "5"])).counts == (5,)
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--inspectors", "vitrage,masakari"])
    assert "with sample among them" in capsys.readouterr().err
    assert [v.name for v in defaults.variants] == ["default", "shortcut"]
    assert defaults.soak_minutes == 10
    assert [v.name for v in defaults.strategies] == ["strategy-parallel", "strategy-at_once",
                                                     "threads4", "shortcut+pace8"]
    assert defaults.strategies_at == (1, 50) and defaults.ceiling_repeats == 3
    assert parser.parse_args(["bench", "--strategies-at", "50,1"]).strategies_at == (1, 50)
    assert parser.parse_args(["bench", "--strategies", "none"]).strategies == ()
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--strategies", "fastest"])
    assert "--strategies" in capsys.readouterr().err


# --- figures --------------------------------------------------------------------------------


def test_first_alarm_per_server_and_duplicates() -> None:
    deliveries = [("a1", 10.30), ("a2", 10.50), ("a1", 10.90), ("ax", 10.40), ("other", 10.2)]
    alarm_servers = {"a1": "s1", "a2": "s2", "other": "s9"}
    got = results.first_alarm_latencies(deliveries, alarm_servers, ["s1", "s2", "s3"], 10.0)
    assert got == {"s1": 300.0, "s2": 500.0}
    assert results.count_duplicates(["a1", "a2", "a1", "a1"]) == 2
    assert results.count_duplicates([]) == 0


def test_cpu_per_server_in_ms_largest_first() -> None:
    assert results.cpu_per_server({"nova-api": 0.5, "aodh": 2.0, "idle": 0.0}, 10) == {
        "aodh": 200.0, "nova-api": 50.0}
    with pytest.raises(ValueError):
        results.cpu_per_server({}, 0)


def _run(count: int, variant: str, run: int, detection: float, last: float | None,
         dups: int = 0, stray: int = 0, rss: float | None = 3.0) -> RunFigures:
    lat = (40.0, last) if last is not None else (40.0,)
    return RunFigures(vm_count=count, variant=variant, run=run, detection_ms=detection,
                      first_alarm_ms=40.0, last_alarm_ms=last, server_latencies_ms=lat,
                      alarms_received=len(lat) + dups, missing_servers=0 if last else 1,
                      duplicates=dups, stray_alarms=stray, inspector_all_error_ms=20.0,
                      inspector_errors=0, inspector_peak_rss_mb=rss,
                      cpu_ms_per_server={"nova-api": 2.0 * run}, steps_s={"reset_s": 1.0})


def test_sweep_entry_has_the_issue_keys_and_the_shortcut_column() -> None:
    runs = {"default": [_run(10, "default", 1, 30.0, 300.0), _run(10, "default", 2, 50.0, 500.0,
                                                                  dups=1, stray=1)],
            "shortcut": [_run(10, "shortcut", 1, 30.0, 100.0, rss=None)]}
    entry = results.sweep_entry(10, runs, "default", "shortcut")
    for key in ("vm_count", "runs", "detection_p50_ms", "detection_p95_ms",
                "notification_p50_ms", "notification_p95_ms", "last_alarm_p50_ms",
                "last_alarm_p95_ms", "duplicate_alarms", "shortcut_last_alarm_p50_ms",
                "inspector_all_error_ms", "inspector_peak_rss_mb"):
        assert key in entry, key
    assert entry["runs"] == 2
    assert entry["detection_p50_ms"] == 40.0 and entry["detection_p95_ms"] == 49.0
    assert entry["last_alarm_p50_ms"] == 400.0
    assert entry["duplicate_alarms"] == 2  # one repeat + one alarm for the other host
    assert entry["shortcut_last_alarm_p50_ms"] == 100.0
    assert entry["inspector_reset_per_s"] == 500.0
    assert entry["cpu_ms_per_server"] == {"nova-api": 3.0}
    assert set(entry["variants"]) == {"default", "shortcut"}
    none = results.sweep_entry(10, {"default": runs["default"]}, "default", None,
                               {"shortcut": "no such parameter"})
    assert none["shortcut_last_alarm_p50_ms"] is None
    assert none["variants_skipped"] == {"shortcut": "no such parameter"}
    with pytest.raises(ValueError):
        results.sweep_entry(10, {"shortcut": runs["shortcut"]}, "default", None)


def test_a_run_with_a_missing_alarm_has_no_last_alarm() -> None:
    summary = results.summarise([_run(2, "default", 1, 30.0, None)])
    assert summary["last_alarm_p50_ms"] is None and summary["missing_alarms"] == 1


def test_efficiency_at_200_or_the_largest_count() -> None:
    sweep = [{"vm_count": 10, "inspector_reset_per_s": 50.0},
             {"vm_count": 200, "inspector_reset_per_s": 90.0}]
    assert results.efficiency(sweep, 100.0, 200) == (0.9, 200)
    assert results.efficiency(sweep[:1], 100.0, 200) == (0.5, 10)
    assert results.efficiency(sweep, None, 200) == (None, None)


def test_document_shape() -> None:
    sweep = [results.sweep_entry(1, {"default": [_run(1, "default", 1, 30.0, 80.0)]},
                                 "default", None)]
    doc = results.document(machine={"cpus": 2}, date="2026-01-01T00:00:00Z",
                           command="doctor bench", sweep=sweep,
                           ceiling={"best_per_s": 100.0, "best_concurrency": 16, "points": []},
                           soak={"minutes": 10, "false_alarms": 0}, settings={}, timings={},
                           note="reduced")
    assert set(doc) >= {"machine", "date", "sweep", "nova_reset_ceiling_per_s",
                        "inspector_efficiency", "soak"}
    assert doc["nova_reset_ceiling_per_s"] == 100.0 and doc["soak"]["false_alarms"] == 0
    assert doc["inspector_efficiency"] == 0.5 and doc["note"] == "reduced"


# --- the page -------------------------------------------------------------------------------


def _sweep() -> list[dict[str, object]]:
    return [results.sweep_entry(n, {"default": [_run(n, "default", 1, 30.0, 10.0 * n)],
                                    "shortcut": [_run(n, "shortcut", 1, 30.0, 5.0 * n)]},
                                "default", "shortcut") for n in (1, 10, 50)]


def cells(line: str) -> list[str]:
    """The cells of one markdown table line, without the padding."""
    assert line.startswith("|") and line.endswith("|"), line
    return [cell.strip() for cell in line[1:-1].split("|")]


def table_rows(text: str) -> list[list[str]]:
    """Every row of the markdown tables in ``text``, headers included, separators not."""
    return [cells(line) for line in text.splitlines()
            if line.startswith("|") and not set(line) <= set("|-: ")]


def test_markdown_table_one_row_per_count_with_targets() -> None:
    table = report.markdown_table(_sweep())
    lines = table.splitlines()
    assert len(lines) == 2 + 3
    assert cells(lines[0])[:3] == ["servers", "runs", "detection p50/p95 ms"]
    assert all(c.startswith("-") and c.endswith(":") for c in cells(lines[1]))  # figures right
    assert cells(lines[2])[:3] == ["1", "1", "30.0 / 30.0"]
    assert "≤ 120" in cells(lines[2]) and "≤ 1400" in cells(lines[4])
    assert report.markdown_table([]).count("\n") == 1


def test_plot_is_valid_svg_with_a_line_per_series() -> None:
    svg = report.render_plot(_sweep(), "title & more")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    assert len(root.findall(ns + "polyline")) == 4  # last p50, last p95, first p50, shortcut
    texts = [t.text for t in root.iter(ns + "text")]
    assert "title & more" in texts and "50" in texts
    ET.fromstring(report.render_plot(_sweep()[:1]))  # one point: no line, still valid
    ET.fromstring(report.render_plot([]))


def test_readme_quotes_the_command_table_plot_ceiling_and_soak() -> None:
    doc = results.document(machine={"hostname": "vm", "cpus": 2}, date="2026-01-01T00:00:00Z",
                           command="doctor bench --runs 5", sweep=_sweep(),
                           ceiling={"best_per_s": 80.0, "best_concurrency": 16, "points": []},
                           soak={"minutes": 10, "false_alarms": 0, "hosts": ["a", "b"],
                                 "cpu_hogs": 2, "probes_sent": 5, "probes_missed": 0},
                           settings={}, timings={}, note="A reduced run")
    page = report.render_readme(doc, "notification.svg", "latest.json")
    assert "doctor bench --runs 5" in page and "![notification time" in page
    assert "**A reduced run**" in page and "80.0 calls/s" in page and "0 false alarm" in page
    assert any(row[:2] == ["servers", "nova-api"] for row in table_rows(page))


def test_outputs_beside_the_json(tmp_path: Path) -> None:
    from doctor_tests.bench.runner import DEFAULT_OUTPUT

    md, svg = report_paths(DEFAULT_OUTPUT)
    assert md.name == "README.md" and svg.name == "notification.svg"
    assert report_paths(tmp_path / "small.json") == (tmp_path / "small.md",
                                                     tmp_path / "small.svg")


def test_a_reduced_run_says_so() -> None:
    assert partial_note(BenchConfig()) is None
    note = partial_note(BenchConfig(counts=(1, 10), runs=2, soak_minutes=0.2))
    assert note is not None and "1,10" in note and "2 run(s)" in note and "0.2 min" in note
    fewer = partial_note(BenchConfig(strategies=(), ceiling_repeats=1))
    assert fewer is not None and "no strategies compared" in fewer and "repeats 1" in fewer


def test_the_strategies_table_puts_every_variant_at_its_count_side_by_side() -> None:
    summary = {"last_alarm_p50_ms": 2066.0, "last_alarm_p95_ms": 2756.0,
               "notification_p50_ms": 317.0, "inspector_all_error_ms": 2031.0,
               "inspector_reset_per_s": 24.6, "duplicate_alarms": 0, "missing_alarms": 0}
    doc = {"settings": {"variants": {"default": {}, "shortcut": {"shortcut": True}},
                        "strategies": {"serial": {"concurrency": 1}},
                        "strategies_vm_count": 50},
           "sweep": [{"vm_count": 10, "variants": {"default": summary}},
                     {"vm_count": 50, "runs": 5, "variants": {
                         "default": summary, "shortcut": summary,
                         "serial": {**summary, "inspector_reset_per_s": 19.9}}}]}
    table = report.strategies_table(doc)
    assert "Strategies compared at 50 servers, in the same run" in table
    rows = {row[0]: row for row in table_rows(table)}
    assert rows["variant"][:3] == ["variant", "inspector options", "last alarm p50/p95 ms"]
    assert rows["default"] == ["default", "(defaults)", "2066 / 2756", "317", "2031", "24.6",
                               "0", "0", "-"]
    assert rows["serial"][:2] == ["serial", "concurrency=1"] and "19.9" in rows["serial"]
    assert rows["shortcut"][:2] == ["shortcut", "shortcut=True"]
    assert report.strategies_table({"settings": {"strategies": {}}, "sweep": []}) == ""
    # several counts: one table each
    doc["settings"] = {**doc["settings"], "strategies_vm_counts": [10, 50]}
    doc["sweep"][0]["runs"] = 5
    both = report.strategies_table(doc)
    assert "compared at 10 servers" in both and "compared at 50 servers" in both


def test_one_server_is_judged_against_the_predecessors_design_in_the_same_run() -> None:
    doc = {"sweep": [{"vm_count": 1, "last_alarm_p50_ms": 150.0, "variants": {
        "default": {"last_alarm_p50_ms": 150.0},
        "strategy-at_once": {"last_alarm_p50_ms": 162.5}}}]}
    rows = {row[0]: row for row in table_rows(report.targets_table(doc))}
    what = "last alarm, 1 server, against the predecessor's design in the same run (ms)"
    assert rows[what][1:] == ["<= 0", "-12.5", "yes"]
    doc["sweep"][0]["variants"]["strategy-at_once"]["last_alarm_p50_ms"] = 140.0
    rows = {row[0]: row for row in table_rows(report.targets_table(doc))}
    assert rows[what][2:] == ["+10.0", "**no**"]


# --- this machine -----------------------------------------------------------------------------


def test_proc_status_fields() -> None:
    text = "Name:\tpython\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\n"
    assert machine.status_kib(text, "VmHWM") == 20480
    assert machine.status_kib(text, "VmSwap") is None
    assert machine.cpu_model("processor\t: 0\nmodel name\t: Some  CPU @ 2GHz\n") == \
        "Some CPU @ 2GHz"
    assert set(machine.describe()) >= {"hostname", "cpus", "memory_gib"}


def test_targets_table_says_which_targets_are_met() -> None:
    from doctor_tests.bench.report import targets_table

    doc = {
        "sweep": [
            {"vm_count": 1, "last_alarm_p50_ms": 90.0, "shortcut_last_alarm_p50_ms": None,
             "duplicate_alarms": 0, "detection_p95_ms": 80.0},
            {"vm_count": 50, "last_alarm_p50_ms": 1500.0, "duplicate_alarms": 2,
             "detection_p95_ms": 95.0},
        ],
        "inspector_efficiency": 0.95,
        "soak": {"false_alarms": 0},
    }
    rows = {row[0]: row for row in table_rows(targets_table(doc))}
    assert rows["target"] == ["target", "limit", "measured", "met"]
    assert rows["last alarm, 1 server (ms)"] == ["last alarm, 1 server (ms)", "<= 120", "90.0",
                                                 "yes"]
    assert rows["last alarm, 1 server, shortcut (ms)"][3] == "not measured"
    assert rows["last alarm, 50 servers (ms)"][3] == "**no**"
    assert rows["alarms delivered twice (any point)"][3] == "**no**"
    assert rows["inspector efficiency"][3] == "yes"
    assert rows["last alarm, 200 servers (ms)"][3] == "not measured"
    above = {row[0]: row for row in table_rows(targets_table({**doc,
                                                              "inspector_efficiency": 1.051}))}
    assert above["inspector efficiency"] == ["inspector efficiency", ">= 0.95", "1.05",
                                             "yes"]  # not "1.1"


# --- the ceiling --------------------------------------------------------------------------


class _FakeNova:
    """Records reset-state calls; answers 202, or 409 for the servers in ``refuse``."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        import threading
        import types

        import requests

        self.calls: list[tuple[str, str]] = []
        self.refuse = refuse
        self._lock = threading.Lock()
        self.session = types.SimpleNamespace(session=requests.Session(),
                                             mount=lambda scheme, adapter: None)
        self.compute = self

    def post(self, url: str, json: dict, raise_exc: bool) -> object:
        import types

        server = url.split("/")[2]
        with self._lock:
            self.calls.append((server, json["os-resetState"]["state"]))
        status = 409 if server in self.refuse else 202
        return types.SimpleNamespace(status_code=status, text="conflict")


def test_ceiling_rounds_alternate_the_states_so_every_call_changes_one() -> None:
    from doctor_tests.bench import ceiling

    nova = _FakeNova()
    point = ceiling.measure_point(nova, ["a", "b"], 2, rounds=3, states=("error", "active"))
    assert sorted(nova.calls) == sorted([("a", "error"), ("b", "error"), ("a", "active"),
                                         ("b", "active"), ("a", "error"), ("b", "error")])
    assert point.calls == 6 and point.errors == 0 and point.per_s > 0


def test_ceiling_counts_refused_calls_as_errors_not_as_calls() -> None:
    from doctor_tests.bench import ceiling

    point = ceiling.measure_point(_FakeNova(frozenset({"b"})), ["a", "b", "c"], 3)
    assert (point.calls, point.errors) == (2, 1)
    with pytest.raises(ValueError, match="at least one state"):
        ceiling.measure_point(_FakeNova(), ["a"], 1, states=())


def test_ceiling_prepares_before_the_warm_up_and_before_every_concurrency() -> None:
    from doctor_tests.bench import ceiling

    nova, prepared = _FakeNova(), []
    result = ceiling.measure_ceiling(nova, ["a", "b"], concurrencies=(1, 4), rounds=1,
                                     prepare=lambda: prepared.append(len(nova.calls)))
    # before the warm-up (2 calls), before concurrency 1 (2 more), before concurrency 4
    assert prepared == [0, 2, 4]
    assert [p.concurrency for p in result.points] == [1, 4]
    assert result.best_per_s == max(p.per_s for p in result.points)
    with pytest.raises(ValueError, match="needs servers"):
        ceiling.measure_ceiling(nova, [])


def test_ceiling_is_the_best_finalists_median_of_fresh_repeats_not_a_lucky_scan() -> None:
    from doctor_tests.bench import ceiling

    # calls/s each concurrency gives, sample after sample: 4 is lucky once in the scan
    rates = {1: [10.0], 4: [40.0, 20.0, 21.0, 19.0], 8: [30.0, 27.0, 26.0, 28.0]}
    order: list[int] = []

    def point(conn: object, ids: list[str], concurrency: int, rounds: int = 1,
              states: tuple[str, ...] = ("error",)) -> ceiling.CeilingPoint:
        if len(ids) <= 10:  # the warm-up
            return ceiling.CeilingPoint(concurrency, len(ids), 1.0, 1.0, 0)
        order.append(concurrency)
        return ceiling.CeilingPoint(concurrency, len(ids), 1.0, rates[concurrency].pop(0), 0)

    ids = ["s%d" % i for i in range(20)]
    prepared: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ceiling, "measure_point", point)
        result = ceiling.measure_ceiling(object(), ids, concurrencies=(1, 4, 8), repeats=3,
                                         prepare=lambda: prepared.append(1))
        with pytest.raises(ValueError, match="repeats >= 0 and finalists >= 1"):
            ceiling.measure_ceiling(object(), ids, repeats=-1)
    assert order == [1, 4, 8, 4, 8, 4, 8, 4, 8]  # the scan, then the two best interleaved
    assert len(prepared) == 1 + len(order)        # before the warm-up and every sample
    assert [(f.concurrency, f.samples, f.median_per_s) for f in result.finalists] == [
        (4, [20.0, 21.0, 19.0], 20.0), (8, [27.0, 26.0, 28.0], 27.0)]
    # the lucky scan sample (40/s) neither picks the ceiling nor enters a median
    assert (result.best_per_s, result.best_concurrency) == (27.0, 8)
    assert len(result.repeat_points) == 6 and result.repeats == 3
    assert [p.per_s for p in result.points] == [10.0, 40.0, 30.0]


def test_every_ceiling_call_with_state_changes_costs_what_a_fault_call_costs() -> None:
    """200 servers and 300 calls: one round ACTIVE -> ERROR over the 200 (a second round
    back to ``active`` fires no alarm, is cheaper, and would raise the ceiling); the
    reference scan without state changes still makes its 300+ calls."""
    import types

    from doctor_tests.bench import ceiling, runner

    calls: list[dict] = []

    def fake_ceiling(conn: object, ids: list[str], **kw: object) -> ceiling.Ceiling:
        calls.append({"ids": len(ids), **kw})
        return ceiling.Ceiling(40.0, 4, [])

    fleet = types.SimpleNamespace(server_ids=["s%d" % i for i in range(200)],
                                  reset=lambda: {})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ceiling, "measure_ceiling", fake_ceiling)
        mp.setattr(runner.cloud, "admin_connection", lambda name: object())
        doc = runner._measure_ceiling(types.SimpleNamespace(os_cloud="lab"), fleet, 300, 3,
                                      runner.RunConfig())
    changing, unchanged = calls
    assert changing["ids"] == 200 and changing.get("rounds", 1) == 1
    assert changing["states"] == ("error",) and changing["repeats"] == 3
    assert unchanged["ids"] == 200 and unchanged["rounds"] == 2
    assert (doc["servers"], doc["rounds"], doc["vm_count"]) == (200, 1, 200)
    assert doc["without_state_changes"]["rounds"] == 2
    assert "one scan of 400 calls" in report.ceiling_text(doc)


def test_the_ceiling_is_measured_at_the_count_efficiency_is_taken_at() -> None:
    assert results.swept_count((1, 10, 50, 200, 500)) == 200
    assert results.swept_count((1, 10, 50)) == 50
    sweep = [{"vm_count": 50, "inspector_reset_per_s": 20.0},
             {"vm_count": 200, "inspector_reset_per_s": 27.0}]
    assert results.efficiency(sweep, 30.0) == (0.9, 200)


def test_readme_names_the_finalists_medians_and_where_the_ceiling_was_taken() -> None:
    text = report.ceiling_text({
        "state_changes": True, "servers": 200, "rounds": 2, "vm_count": 200, "repeats": 3,
        "points": [{"concurrency": 4, "per_s": 30.7}, {"concurrency": 8, "per_s": 28.0}],
        "finalists": [{"concurrency": 4, "samples": [26.0, 27.5, 25.1], "median_per_s": 26.0},
                      {"concurrency": 8, "samples": [27.0, 26.8, 28.2], "median_per_s": 27.0}]})
    assert "right after the fault runs at 200 servers" in text
    assert "sampled 3 more times each" in text and "median of those repeats" in text
    assert "concurrency 8: 27.0, 26.8, 28.2, median 27.0" in text
    assert "best single sample" in report.ceiling_text(
        {"state_changes": True, "servers": 50, "rounds": 1, "points": []})


def test_readme_explains_a_ceiling_with_state_changes_and_quotes_both() -> None:
    text = report.ceiling_text({
        "state_changes": True, "servers": 300, "rounds": 1,
        "points": [{"concurrency": 4, "per_s": 41.5}, {"concurrency": 16, "per_s": 33.0}],
        "without_state_changes": {"best_per_s": 52.4, "best_concurrency": 8,
                                  "points": [{"concurrency": 8, "per_s": 52.4}]}})
    assert "300 servers put ACTIVE" in text and "4: 41.5/s" in text
    assert "once each" in text and "back to `active`" not in text
    assert "2 rounds, every second one back to `active`" in report.ceiling_text(
        {"state_changes": True, "servers": 50, "rounds": 2, "points": []})
    assert "Without state changes" in text and "52.4 calls/s at concurrency 8" in text
    assert "state changes" not in report.ceiling_text({"points": []})


def test_the_document_names_the_commit_it_ran_from(tmp_path: Path) -> None:
    import subprocess

    from doctor_tests.bench.runner import REPO_ROOT

    here = machine.source_revision(REPO_ROOT)
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip()
    assert here["commit"] == head
    assert machine.source_revision(tmp_path) == {"commit": None, "changed_files": []}
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                        *args], capture_output=True, check=True)

    git("init", "-q")
    for name in ("a.py", "pkg/b.py"):
        (repo / name).write_text("x = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    (repo / "a.py").write_text("x = 2\n")           # changed, not staged (listed first)
    (repo / "pkg" / "b.py").write_text("x = 3\n")
    git("add", "pkg/b.py")                            # changed, staged
    (repo / "new.py").write_text("")                  # untracked: not the code that ran
    assert machine.source_revision(repo)["changed_files"] == ["a.py", "pkg/b.py"]
    assert "commit `%s`, no uncommitted" % ("a" * 12) in report.source_text(
        {"commit": "a" * 40, "changed_files": []})
    assert "`x.py`" in report.source_text({"commit": "b" * 40, "changed_files": ["x.py"]})
    assert "not recorded" in report.source_text(None)


def test_the_servers_subnet_holds_the_largest_sweep_and_is_never_routed() -> None:
    import ipaddress

    from doctor_tests import resources

    subnet = ipaddress.ip_network(resources.SERVER_SUBNET)
    assert subnet.num_addresses - 3 >= options.MAX_COUNT + 1  # network, broadcast, gateway
    assert subnet.subnet_of(ipaddress.ip_network("198.18.0.0/15"))  # RFC 2544


def test_the_fleet_grows_in_waves_whose_prefixes_stay_distinct() -> None:
    from doctor_tests.bench.fleet import BOOT_WAVE, boot_waves

    assert boot_waves(1) == [1]
    assert boot_waves(120, 50) == [50, 50, 20]
    assert boot_waves(150, 50) == [50, 50, 50]
    assert boot_waves(0) == []
    assert sum(boot_waves(options.MAX_COUNT)) == options.MAX_COUNT
    # wave prefixes are "-w%02d": two digits must number every wave of the largest step,
    # or "-w1" would also match "-w10"'s servers when a wave is cleaned up
    assert len(boot_waves(options.MAX_COUNT)) <= 100
    assert max(boot_waves(options.MAX_COUNT)) == BOOT_WAVE
    with pytest.raises(ValueError, match="wave must be >= 1"):
        boot_waves(10, 0)


def test_big_server_listings_are_polled_less_often() -> None:
    from doctor_tests import resources

    assert resources.listing_interval(1) == 0.5
    assert resources.listing_interval(resources.MANY_SERVERS) == 0.5
    assert resources.listing_interval(resources.MANY_SERVERS + 1) == 2.0
    assert resources.listing_interval(500, 0.2, 1.0) == 1.0


def test_the_alarm_cache_wait_only_waits_for_a_deadline_still_ahead() -> None:
    import time

    from doctor_tests.bench.faultrun import wait_alarm_cache

    assert wait_alarm_cache(time.monotonic() - 1.0) == 0.0
    waited = wait_alarm_cache(time.monotonic() + 0.05)
    assert 0.0 < waited <= 0.05


def test_consistency_window_is_how_long_the_tenant_knew_before_nova() -> None:
    deliveries = [("a1", 10.100), ("a2", 10.300), ("a1", 10.500), ("a3", 10.2)]
    alarm_servers = {"a1": "vm-1", "a2": "vm-2", "a3": "vm-3"}
    nova = {"vm-1": 10.350, "vm-2": 10.250}  # vm-3's reset never returned
    # vm-1: told at 10.100 (its first delivery), Nova at 10.350; vm-2: Nova first
    assert results.consistency_windows(deliveries, alarm_servers, nova) == (0.0, 250.0)
    runs = [dataclasses.replace(_run(10, "shortcut", 1, 30.0, 100.0),
                                consistency_windows_ms=(0.0, 250.0)),
            dataclasses.replace(_run(10, "shortcut", 2, 30.0, 100.0),
                                consistency_windows_ms=(100.0, 120.0))]
    summary = results.summarise(runs)
    assert summary["consistency_window_max_ms"] == 250.0
    assert summary["consistency_window_p50_ms"] == 110.0
    entry = results.sweep_entry(10, {"default": [_run(10, "default", 1, 30.0, 90.0)],
                                     "shortcut": runs}, "default", "shortcut")
    assert entry["shortcut_consistency_window_p95_ms"] == summary["consistency_window_p95_ms"]


def test_cpu_calibration_times_a_fixed_loop_in_cpu_time() -> None:
    cal = machine.cpu_calibration(samples=2, loop=10_000)
    assert cal["loop"] == 10_000 and len(cal["samples_ms"]) == 2
    assert cal["python_loop_ms"] == min(cal["samples_ms"]) and cal["python_loop_ms"] >= 0
    assert machine.describe(cal)["calibration"] is cal


# --- doctor bench --inspectors: the side-by-side comparison ------------------------------------
def test_side_by_side_summary_and_ratios_to_sample() -> None:
    from doctor_tests.bench.peers import PeerRun, compare, render_page

    def run(name: str, k: int, time_ms: float, cpu_ms: float, dups: int = 0) -> PeerRun:
        measure = "recovery" if name == "masakari" else "notification"
        return PeerRun(name, 10, k, "c0", measure, detection_ms=80.0, time_ms=time_ms,
                       first_ms=time_ms / 2, alarm_last_ms=time_ms + 50, duplicates=dups,
                       inspector_cpu_ms=cpu_ms, doctor_cpu_ms=20.0)

    by_count = {10: {"sample": [run("sample", k, t, 100.0) for k, t in
                                enumerate((400.0, 500.0, 600.0), 1)],
                     "vitrage": [run("vitrage", k, t, 900.0, dups=k == 2) for k, t in
                                 enumerate((1000.0, 1200.0, 1100.0), 1)],
                     "masakari": [run("masakari", 1, 9000.0, 400.0),
                                  PeerRun("masakari", 10, 2, "c2", "recovery", error="boom")]}}
    [entry] = compare(by_count)
    s, v, m = (entry["inspectors"][n] for n in ("sample", "vitrage", "masakari"))
    assert s["time_p50_ms"] == 500.0 and s["time_p50_ratio_to_sample"] == 1.0
    assert v["time_p50_ms"] == 1100.0 and v["time_p50_ratio_to_sample"] == 2.2
    assert v["cpu_ratio_to_sample"] == 9.0 and v["duplicates"] == 1
    assert m["measure"] == "recovery" and m["time_p50_ms"] == 9000.0 and m["errors"] == ["boom"]
    doc = {"command": "doctor bench --inspectors sample,vitrage,masakari", "date": "d",
           "machine": {"cpu_model": "EPYC", "cpus": 2}, "json_name": "peers.json",
           "settings": {"runs": 3, "masakari_wait_s": 3}, "comparison": [entry],
           "masakari_default_wait": {"masakari_wait_s": 180, "vm_count": 1,
                                     "time_ms": 185000.0, "alarm_last_ms": 185100.0}}
    page = render_page(doc)
    assert "| 10 | vitrage | notification | 80.0 | 1100.0 |" in page
    assert "default wait (180 s)" in page and "- 10 servers, masakari: boom" in page
