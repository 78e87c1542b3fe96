"""Layout runs: each installer's prepare/restore/collect_logs against its file layout.

    .venv/bin/python tests/ansible/run_layouts.py [--keep] [devstack apex mcp kolla local]

For every installer, the layout of ``inventory/<installer>`` is built under
``/var/lib/doctor-lab/layouts/<installer>/`` on the lab's namespace host
lab-compute-1 (reached over SSH with the lab's key, its host key checked), from
the stock configuration files the service packages ship (the samples
oslo-config-generator writes from the lab's installed Nova, Neutron and Aodh,
and Ceilometer's own pipeline data), at the paths the installer plugin reads
from the inventory (the host shares this machine's file system). Then, through the installer plugin
(``doctor_tests.installer``), the same playbooks a real run uses:

    prepare -> prepare (changes nothing) -> prepare for Vitrage (Nova's notifications on
    its topic too; only Nova restarts) -> the same again (changes nothing) -> restore
    -> restore (changes nothing) -> collect_logs

and for devstack also a prepare that fails on a missing file (aodh.conf: every file is
looked for before any is changed, so nothing changes and nothing restarts), then
restore -> restore; with restarts recorded in ``<prefix>/restarts.log`` instead of done (the test
inventories in ``tests/ansible/layouts/``). Checks: every file of the layout is
byte for byte, mode and owner the same after the restore as before the prepare;
the prepared files hold what Doctor needs, read by oslo.config's and Ceilometer's
own code; the right services were restarted after prepare and after restore; no
backup is left; the logs arrive in ``results/layouts/<installer>/logs/``.
Prints a checksum table per installer; exits 1 if anything is off. The layouts
are removed after a pass (``--keep`` keeps them), kept after a failure.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import checksums

from doctor_tests.config import Settings
from doctor_tests.installer import SERVICES, PlaybookFailed, get_installer
from doctor_tests.installer.base import Installer

LOG = logging.getLogger("run_layouts")

REPO = Path(__file__).resolve().parents[2]
LAB = Path("/var/lib/doctor-lab")
LAB_PYTHON = LAB / "venv" / "bin" / "python"
LAYOUTS_ROOT = LAB / "layouts"
STOCK = LAYOUTS_ROOT / ".stock"
RESULTS = REPO / "results" / "layouts"
INSTALLERS = ("devstack", "apex", "mcp", "kolla", "local")

# stock file -> the oslo-config-generator namespaces it is the sample of
GENERATED = {
    "nova.conf": ("nova.conf", "oslo.messaging", "oslo.log"),
    "aodh.conf": ("aodh", "oslo.messaging"),
    "ml2_conf.ini": ("neutron.ml2",),
    "neutron.conf": ("neutron", "oslo.messaging"),
}
CEILOMETER_DATA = LAB / "venv/lib/python3.11/site-packages/ceilometer/pipeline/data"
COPIED = ("event_pipeline.yaml", "event_definitions.yaml")
# logical file (the layout's doctor_files) -> stock file; the lab keeps ML2's options in
# neutron.conf, the installers in ml2_conf.ini
STOCK_OF = {"nova": "nova.conf", "ceilometer_pipeline": "event_pipeline.yaml",
            "ceilometer_definitions": "event_definitions.yaml", "aodh": "aodh.conf",
            "neutron_ml2": "ml2_conf.ini"}


@dataclass
class LayoutRun:
    installer: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    changed: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, list[str]] = field(default_factory=dict)
    verify: str = ""
    table: str = ""
    logs: list[str] = field(default_factory=list)

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.ok = False
            self.problems.append(problem)


def ensure_stock() -> None:
    """Generate (once) the stock files every layout is built from."""
    STOCK.mkdir(parents=True, exist_ok=True)
    for name, namespaces in GENERATED.items():
        if not (STOCK / name).is_file():
            cmd = [str(LAB / "venv/bin/oslo-config-generator"), "--output-file", str(STOCK / name)]
            for ns in namespaces:
                cmd += ["--namespace", ns]
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    for name in COPIED:
        data = (CEILOMETER_DATA / name).read_bytes()
        if not (STOCK / name).is_file() or (STOCK / name).read_bytes() != data:
            (STOCK / name).write_bytes(data)


def installer_for(name: str, prefix_name: str | None = None) -> tuple[Installer, Path]:
    prefix = LAYOUTS_ROOT / (prefix_name or name)
    extra: dict[str, object] = {}
    if prefix_name:  # another prefix than the test inventory's
        extra["doctor_root"] = str(prefix)
        extra["doctor_restart_command"] = "sh -c 'echo restart {unit} >> %s/restarts.log'" % prefix
    if name == "local":
        extra["lab_dir"] = str(prefix)
    settings = Settings(installer_type=name, results_dir=RESULTS / name)
    kwargs: dict[str, object] = {}
    if name == "local":  # the plugin's lab directory is the layout's
        kwargs["lab_dir"] = lambda: prefix
    installer = get_installer(
        name, settings, limit="layout-%s" % name, extra_vars=extra,
        inventories=[REPO / "inventory" / name, REPO / "tests/ansible/layouts" / ("%s.yml" % name)],
        **kwargs)
    return installer, prefix


def build(installer: Installer, prefix: Path) -> None:
    """Lay the stock files out where the installer's layout keeps them (every path from the
    plugin's reading of the inventory, so the playbooks find them only if both agree), with
    a few log lines where it keeps its logs. The host's file system is this machine's."""
    if prefix.parent != LAYOUTS_ROOT:
        raise RuntimeError("%s is not a test prefix under %s" % (prefix, LAYOUTS_ROOT))
    if prefix.exists():
        shutil.rmtree(prefix)
    files = installer.files()
    for key, stock in STOCK_OF.items():
        if installer.name == "local" and key == "neutron_ml2":
            stock = "neutron.conf"
        path = Path(files[key])
        if prefix not in path.parents:
            raise RuntimeError("%s: %s is outside the test prefix %s" % (key, path, prefix))
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STOCK / stock, path)
        # one file with another mode, to show that the restore keeps modes too
        path.chmod(0o600 if key == "aodh" else 0o640)
    Path(files["neutron_policy"]).parent.mkdir(parents=True, exist_ok=True)
    host = installer.service_host("nova")
    logs = [str(p).replace("*", "0") for p in installer.var(host, "doctor_log_files", [])]
    logs += [str(prefix / "journal" / ("%s.log" % u))
             for u in installer.var(host, "doctor_log_units", [])]
    for log in logs:
        path = Path(log)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join("2025-01-01 00:00:0%d.000 1 INFO layout.test [-] line %d of %s\n"
                                % (i, i, path.name) for i in range(2)))


def restarts(prefix: Path) -> list[str]:
    log = prefix / "restarts.log"
    return log.read_text().split("\n")[:-1] if log.exists() else []


def expected_restarts(installer: Installer, services: tuple[str, ...] = SERVICES) -> list[str]:
    units = []
    for service in services:
        units += ["restart " + c.rsplit("echo restart ", 1)[1].split(" >>")[0]
                  for c in installer.service(service).restart_commands]
    return units


def run(name: str) -> LayoutRun:
    result = LayoutRun(name)
    try:
        installer, prefix = installer_for(name)
        build(installer, prefix)
        exclude = ["restarts.log"]
        before = checksums.snapshot(checksums.tree(prefix, exclude), prefix)
        # then prepared for Vitrage on top (Nova's notifications on its topic too: Nova's
        # files change and only Nova restarts), as a Vitrage session does after a sample one
        steps = [("prepare", installer.prepare), ("prepare again", installer.prepare),
                 ("prepare for vitrage", lambda: installer.prepare("vitrage")),
                 ("prepare for vitrage again", lambda: installer.prepare("vitrage")),
                 ("restore", installer.restore), ("restore again", installer.restore)]
        prepared: checksums.Snapshot = {}
        for step, call in steps:
            res = call()
            result.changed[step] = res.changed
            result.seconds[step] = res.seconds
            if step == "prepare":
                prepared = checksums.snapshot(checksums.tree(prefix, exclude), prefix)
                result.restarts["prepare"] = restarts(prefix)
                result.verify, ok = verify(installer)
                result.expect(ok, "the prepared files do not hold what Doctor needs")
            if step == "prepare for vitrage":
                result.restarts["vitrage"] = restarts(prefix)[len(result.restarts["prepare"]):]
                text, ok = verify(installer, "vitrage")
                result.verify += "\nprepared for vitrage:\n" + text
                result.expect(ok, "the files prepared for Vitrage do not hold what it needs")
            if step == "restore":
                result.restarts["restore"] = restarts(prefix)[
                    len(result.restarts["prepare"]) + len(result.restarts["vitrage"]):]
        after = checksums.snapshot(checksums.tree(prefix, exclude), prefix)
        result.table, equal = checksums.table(before, prepared, after)
        t0 = time.monotonic()
        dest = RESULTS / name / "logs"
        installer.collect_logs(dest)
        result.seconds["collect_logs"] = time.monotonic() - t0
        result.logs = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())

        result.expect(equal, "files differ after restore")
        config = {str(Path(p).relative_to(prefix)) for s in SERVICES
                  for p in installer.service(s).config_files}
        # a file absent before and after prepare is an optional one the layout does not
        # have (doctor_optional_files; a missing required file fails the prepare)
        unchanged = sorted(k for k in config if (k in before or k in prepared)
                           and prepared.get(k) == before.get(k))
        result.expect(not unchanged, "prepare left unchanged: %s" % ", ".join(unchanged))
        result.expect(result.changed["prepare"] > 0, "prepare changed nothing")
        result.expect(result.changed["prepare again"] == 0, "second prepare changed something")
        result.expect(result.changed["prepare for vitrage"] > 0,
                      "prepare for vitrage changed nothing")
        result.expect(result.changed["prepare for vitrage again"] == 0,
                      "second prepare for vitrage changed something")
        nova = expected_restarts(installer, ("nova",))
        result.expect(result.restarts["vitrage"] == nova, "restarts after prepare for vitrage "
                      "%s, expected %s" % (result.restarts["vitrage"], nova))
        result.expect(result.changed["restore"] > 0, "restore changed nothing")
        result.expect(result.changed["restore again"] == 0, "second restore changed something")
        want = expected_restarts(installer)
        result.expect(result.restarts["prepare"] == want,
                      "restarts after prepare %s, expected %s" % (result.restarts["prepare"], want))
        result.expect(result.restarts["restore"] == want,
                      "restarts after restore %s, expected %s" % (result.restarts["restore"], want))
        backup = [k for k in after if "doctor/backup" in k or "doctor-backup" in k]
        result.expect(not backup, "backups left: %s" % backup)
        result.expect(len(result.logs) >= 3, "logs fetched: %s" % result.logs)
    except Exception as exc:  # noqa: BLE001 - reported per layout
        result.expect(False, "%s: %s" % (type(exc).__name__, exc))
    return result


def run_failure(name: str = "devstack") -> LayoutRun:
    """A prepare that fails on a missing file (aodh.conf): it looks for every file before it
    changes any, so it changes and restarts nothing, and restore has nothing to do."""
    result = LayoutRun(name + " (prepare fails on a missing file)")
    try:
        installer, prefix = installer_for(name, name + "-failure")
        build(installer, prefix)
        missing = Path(installer.files()["aodh"])
        missing.unlink()
        before = checksums.snapshot(checksums.tree(prefix, ["restarts.log"]), prefix)
        try:
            installer.prepare()
            result.expect(False, "prepare did not fail without %s" % missing)
        except PlaybookFailed as exc:
            result.expect(any(str(missing) in line for line in exc.tail),
                          "the failure does not name %s: %s" % (missing, exc.tail))
            result.verify = "prepare failed (exit %d): %s" % (exc.rc, exc.tail[0][:160])
        prepared = checksums.snapshot(checksums.tree(prefix, ["restarts.log"]), prefix)
        result.restarts["prepare"] = restarts(prefix)
        for step in ("restore", "restore again"):
            res = installer.restore()
            result.changed[step] = res.changed
            result.seconds[step] = res.seconds
        result.restarts["restore"] = restarts(prefix)[len(result.restarts["prepare"]):]
        after = checksums.snapshot(checksums.tree(prefix, ["restarts.log"]), prefix)
        result.table, equal = checksums.table(before, prepared, after)
        result.expect(equal, "files differ after restore")
        result.expect(prepared == before, "the failed prepare changed files")
        result.expect(result.restarts["prepare"] == [],
                      "restarts after the failed prepare: %s" % result.restarts["prepare"])
        result.expect(result.restarts["restore"] == [], "restarts after restore: %s"
                      % result.restarts["restore"])
        result.expect(result.changed["restore"] == 0, "restore changed something")
        result.expect(result.changed["restore again"] == 0, "second restore changed something")
    except Exception as exc:  # noqa: BLE001 - reported per layout
        result.expect(False, "%s: %s" % (type(exc).__name__, exc))
    return result


def verify(installer: Installer, *extra: str) -> tuple[str, bool]:
    """Check the prepared files with oslo.config's and Ceilometer's own code (``vitrage``:
    prepared for Vitrage too)."""
    files = installer.files()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(files, f)
    res = subprocess.run([str(LAB_PYTHON), str(REPO / "tests/ansible/verify_prepared.py"),
                          f.name, *extra,
                          # the lab's inventory keeps its 2 s; the role's default is 0
                          "aodh_cache_ttl=%s"
                          % installer.layout_var("doctor_config_aodh_cache_ttl", 0)],
                         capture_output=True, text=True, timeout=120)
    Path(f.name).unlink()
    return res.stdout.strip() or res.stderr.strip()[-2000:], res.returncode == 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    keep = "--keep" in argv
    names = [a for a in argv if a != "--keep"] or list(INSTALLERS)
    started = time.monotonic()
    ensure_stock()
    stock_s = time.monotonic() - started
    with ThreadPoolExecutor(max_workers=len(names) + 1) as pool:
        jobs = [pool.submit(run, name) for name in names]
        if "devstack" in names:
            jobs.append(pool.submit(run_failure, "devstack"))
        results = [job.result() for job in jobs]
    total = time.monotonic() - started
    summary = {}
    for r in results:
        print("\n=== %s: %s" % (r.installer, "PASS" if r.ok else "FAIL"))
        print(r.table)
        print("changed: " + ", ".join("%s=%d" % kv for kv in r.changed.items()))
        print("seconds: " + ", ".join("%s=%.1f" % kv for kv in r.seconds.items()))
        print("restarts after prepare: %s" % ", ".join(r.restarts.get("prepare", [])))
        print("restarts after prepare for vitrage: %s"
              % ", ".join(r.restarts.get("vitrage", [])))
        print("restarts after restore: %s" % ", ".join(r.restarts.get("restore", [])))
        print("prepared files, read by the services' own code:\n  "
              + r.verify.replace("\n", "\n  "))
        print("logs fetched: %s" % ", ".join(r.logs))
        for p in r.problems:
            print("PROBLEM: %s" % p)
        summary[r.installer] = {"ok": r.ok, "changed": r.changed, "seconds": r.seconds,
                                "problems": r.problems}
        out = RESULTS / r.installer.split(" ")[0]
        out.mkdir(parents=True, exist_ok=True)
        name = "checksums-failure.txt" if " " in r.installer else "checksums.txt"
        (out / name).write_text(r.table + "\n")
    print("\nall layouts in %.1f s (stock files %.1f s)" % (total, stock_s))
    if not keep and all(r.ok for r in results):  # a failed layout stays for a look
        for path in LAYOUTS_ROOT.iterdir():
            if path != STOCK:
                shutil.rmtree(path)
    (RESULTS / "summary.json").write_text(json.dumps(
        {"seconds": round(total, 1), "layouts": summary}, indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
