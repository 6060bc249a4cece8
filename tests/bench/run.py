#!/usr/bin/env python3
"""Benchmarks of what the charm costs and saves (issue 8); not tests, not in ``make test``.

    make bench                                  # about 500 MB, file and s3 backends
    python tests/bench/run.py --quick           # about 50 MB smoke run
    python tests/bench/run.py --size-mb 200 --backends file

Runs the BUILT charm through the local Juju agent harness (tests/harness) with real
duplicity (tests/.venvs/dup3 by default) and compares it with the same duplicity command run
bare (argv from the charm's log "run:" line, environment from the unit's spec and env files,
only the target URL, --archive-dir and --log-file changed). Prints a table with the command
behind every figure and writes the same as JSON to bench-results/.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
for _path in (os.path.join(REPO, "lib"), HERE, TESTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import data  # noqa: E402
import measure  # noqa: E402
from e2e.helpers import letters  # noqa: E402
from harness import Model, build_charm  # noqa: E402

WORK = os.path.join(TESTS, ".work")
RUN_DIR = os.path.join(WORK, "bench-run")
PASSPHRASE = "bench-passphrase-3c9d1e"
OTHER_PASSPHRASE = "bench-passphrase-other-77aa"
BUCKET = "bench"
SECRET_ENV = ("PASSPHRASE", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "FTP_PASSWORD",
              "BACKEND_PASSWORD", "AZURE_CONNECTION_STRING")
TARGETS = {"overhead": 1.05, "incr_bytes": 0.03, "incr_time": 0.20, "hook": 1.0}



def log(message):
    print("[bench {}] {}".format(time.strftime("%H:%M:%S"), message), flush=True)


def env_command(argv, env):
    """A copy-pasteable command line for argv run with exactly env (secrets masked)."""
    words = ["env", "-i"] + ["{}={}".format(k, "***" if k in SECRET_ENV else v)
                             for k, v in sorted(env.items())]
    return shlex.join(words + list(argv))


# ----------------------------------------------------------------- one backend

class BackendBench:
    """One deployment of the built charm on one backend, and the bare duplicity beside it."""

    def __init__(self, args, charm, backend, s3=None):
        from e2e.conftest import Deployment
        from e2e.helpers import duplicity_bin_dir

        self.args, self.backend, self.s3 = args, backend, s3
        self.dir = os.path.join(RUN_DIR, backend)
        os.makedirs(self.dir, exist_ok=True)
        self.bin_dir = duplicity_bin_dir(args.duplicity)
        if self.bin_dir is None:
            raise SystemExit("duplicity {} is not installed: run "
                             "tests/setup/install-duplicity-versions.sh".format(args.duplicity))
        self.model = Model(os.path.join(self.dir, "model"), juju_version="3.4.0",
                           timeout=args.step_timeout)
        name = "bench{}-{}".format(letters(os.getpid()), backend)
        log("{}: deploying the built charm as {}".format(backend, name))
        self.d = Deployment(self.model, charm, name, self.bin_dir)
        self.slug = self.d.unit_name.replace("/", "-")
        self.timer = measure.ToolTimer(self.d.unit, os.path.join(self.dir, "tool-times.txt"))
        self.spec_file = "/var/lib/charm-duplicity/{}/spec.json".format(self.slug)
        self.log_file = "/var/log/charm-duplicity/{}.log".format(self.slug)
        if backend == "file":
            self.file_target = os.path.join(self.dir, "target")
            self.config = {"backend": "file",
                           "remote_backup_url": "file://{}/charm".format(self.file_target)}
            self.charm_prefix = "file://{}/charm/".format(self.file_target)
            self.bare_prefix = "file://{}/bare/".format(self.file_target)
        else:
            self.config = {"backend": "s3", "remote_backup_url": "s3:///{}/charm".format(BUCKET),
                           "s3_endpoint_url": s3.endpoint_url, "s3_region_name": s3.region,
                           "aws_access_key_id": s3.access_key,
                           "aws_secret_access_key": s3.secret_key}
            self.charm_prefix = "s3:///{}/charm/".format(BUCKET)
            self.bare_prefix = "s3:///{}/bare/".format(BUCKET)
        self.config.update(encryption_passphrase=PASSPHRASE, backup_frequency="daily")
        self.results = {"unit": self.d.unit_name, "config": {
            k: ("***" if "secret" in k or "passphrase" in k or "access_key" in k else v)
            for k, v in self.config.items()}}

    # -- targets and commands
    def target_bytes(self, which):
        if self.backend == "file":
            return measure.dir_bytes(os.path.join(self.file_target, which, self.slug))
        return measure.s3_bytes(self.s3.client(), BUCKET, "{}/{}/".format(which, self.slug))

    def last_run_argv(self, log_offset):
        with open(self.log_file, errors="replace") as f:
            f.seek(log_offset)
            runs = [line.split(" run: ", 1)[1].rstrip("\n").split(" ")
                    for line in f if " run: " in line]
        if not runs:
            raise RuntimeError("no 'run:' line in {}".format(self.log_file))
        return runs[-1]

    def log_offset(self):
        return os.path.getsize(self.log_file) if os.path.exists(self.log_file) else 0

    def bare_command(self, charm_argv):
        """The charm's argv with another target, archive dir and log file; its env."""
        import duplicity_helper
        import duplicity_runner

        archive = os.path.join(self.dir, "bare-archive")
        os.makedirs(archive, mode=0o700, exist_ok=True)
        log_file = os.path.join(self.dir, "bare-duplicity.log")
        argv = []
        for arg in charm_argv:
            if arg.startswith("--archive-dir="):
                arg = "--archive-dir=" + archive
            elif arg.startswith("--log-file="):
                arg = "--log-file=" + log_file
            argv.append(arg)
        if not argv[-1].startswith(self.charm_prefix):
            raise RuntimeError("unexpected target URL {!r}".format(argv[-1]))
        argv[-1] = self.bare_prefix + argv[-1][len(self.charm_prefix):]
        runner = duplicity_runner.Runner.from_files(self.spec_file)
        env = duplicity_helper.merge_env(runner.base_env(), runner.secret_env)
        return argv, env

    # -- steps
    def backup_pair(self, kind, action_params):
        """Charm do-backup, then the same duplicity command bare; sizes and times."""
        before_charm = self.target_bytes("charm")
        offset = self.log_offset()
        with measure.deadline(self.args.step_timeout + 60, "charm " + kind):
            m = self.timer.measure(self.d.action, "do-backup", **action_params)
        result = m.pop("value")
        if result.status != "completed":
            raise RuntimeError("do-backup failed: {}".format(result.message))
        charm_argv = self.last_run_argv(offset)
        charm = {
            "wall": m["wall"], "cpu": m["cpu"], "load": m["load"],
            "duplicity_elapsed": float(result.results.get("elapsed-time", 0)),
            "backup_type": result.results.get("backup-type"),
            "bytes_written": self.target_bytes("charm") - before_charm,
            "tool_calls": m["tool_calls"], "tool_time": m["tool_time"],
            "command": "harness Unit.run_action('do-backup', {!r}) -> runner: {}".format(
                action_params, shlex.join(charm_argv)),
            "argv": charm_argv,
        }
        argv, env = self.bare_command(charm_argv)
        before_bare = self.target_bytes("bare")
        wall, cpu, rc, output = measure.run_bare(argv, env, self.args.step_timeout)
        if rc != 0:
            raise RuntimeError("bare duplicity exited {}:\n{}".format(rc, output[-3000:]))
        import duplicity_runner
        stats = duplicity_runner.parse_statistics(output)
        bare = {"wall": wall, "cpu": cpu, "load": os.getloadavg()[0],
                "duplicity_elapsed": float(stats.get("elapsed-time", 0)),
                "bytes_written": self.target_bytes("bare") - before_bare,
                "command": env_command(argv, env), "argv": argv,
                "env": {k: ("***" if k in SECRET_ENV else v) for k, v in env.items()}}
        ratio = charm["wall"] / bare["wall"]
        cpu_ratio = charm["cpu"] / bare["cpu"] if bare["cpu"] else None
        log("{} {}: charm {:.2f} s, bare {:.2f} s, ratio {:.3f} (CPU {:.3f}); written {} / {} "
            "bytes; load {:.1f}".format(self.backend, kind, charm["wall"], bare["wall"], ratio,
                                        cpu_ratio or 0, charm["bytes_written"],
                                        bare["bytes_written"], bare["load"]))
        return {"charm": charm, "bare": bare, "ratio": ratio, "cpu_ratio": cpu_ratio}

    def restore(self, src, rel_file):
        from e2e.helpers import snapshot

        out = {}
        one = os.path.join(self.dir, "restore-one")
        path = os.path.join(src, rel_file).lstrip("/")
        with measure.deadline(self.args.step_timeout + 60, "restore one file"):
            m = self.timer.measure(self.d.action, "restore", path=path, target=one)
        res = m.pop("value")
        if res.status != "completed":
            raise RuntimeError("restore failed: {}".format(res.message))
        with open(os.path.join(one, path), "rb") as f, \
                open(os.path.join(src, rel_file), "rb") as g:
            same = f.read() == g.read()
        out["one_file"] = {"wall": m["wall"], "identical": same, "path": path,
                           "command": "harness Unit.run_action('restore', path={!r}, "
                                      "target={!r})".format(path, one)}
        everything = os.path.join(self.dir, "restore-all")
        with measure.deadline(self.args.step_timeout + 60, "restore everything"):
            m = self.timer.measure(self.d.action, "restore", target=everything)
        res = m.pop("value")
        if res.status != "completed":
            raise RuntimeError("restore failed: {}".format(res.message))
        with measure.deadline(self.args.step_timeout, "comparing the restore"):
            same = snapshot(os.path.join(everything, src.lstrip("/"))) == snapshot(src)
        out["everything"] = {"wall": m["wall"], "identical": same,
                             "command": "harness Unit.run_action('restore', target={!r})".format(
                                 everything)}
        out["ratio_one_to_all"] = out["one_file"]["wall"] / out["everything"]["wall"]
        log("{} restore: one file {:.2f} s, everything {:.2f} s (identical: {}, {})".format(
            self.backend, out["one_file"]["wall"], out["everything"]["wall"],
            out["one_file"]["identical"], same))
        shutil.rmtree(everything, ignore_errors=True)
        shutil.rmtree(one, ignore_errors=True)
        return out

    def sample_hook(self, fn, repeats, what):
        samples = []
        for i in range(repeats):
            with measure.deadline(self.args.step_timeout, what):
                m = self.timer.measure(fn, i)
            value = m.pop("value")
            if value is not None and hasattr(value, "returncode") and value.returncode != 0:
                raise RuntimeError("{} failed".format(what))
            samples.append(m)
        walls = [s["wall"] for s in samples]
        return {"median": measure.median(walls), "min": min(walls), "max": max(walls),
                "samples": walls, "cpu": measure.median([s["cpu"] for s in samples]),
                "load": measure.median([s["load"] for s in samples]),
                "tool_calls": measure.median([s["tool_calls"] for s in samples]),
                "tool_time": measure.median([s["tool_time"] for s in samples]),
                "charm_time": measure.median([s["wall"] - s["tool_time"] for s in samples]),
                "tools": samples[-1]["tools"], "hooks": samples[-1]["hooks"]}

    def hook_costs(self, repeats):
        unit = self.d.unit
        out = {}
        out["update-status"] = self.sample_hook(
            lambda i: unit.run_hook("update-status"), repeats, "update-status")
        out["update-status"]["command"] = "harness Unit.run_hook('update-status')"
        out["config-changed (nothing changed)"] = self.sample_hook(
            lambda i: unit.run_hook("config-changed"), repeats, "config-changed")
        out["config-changed (nothing changed)"]["command"] = (
            "harness Unit.run_hook('config-changed') with the config unchanged")
        other = {"encryption_passphrase": OTHER_PASSPHRASE, "volsize": 100,
                 "backup_frequency": "hourly", "retention_period": "30d",
                 "deletion_frequency": "hourly", "exclude_paths": "**/*.tmp",
                 "full_if_older_than": "7D", "aux_backup_directory": os.path.join(
                     self.dir, "aux")}
        back = {k: self.d.app.config_options.get(k, {}).get("default") for k in other}
        back.update({k: v for k, v in self.config.items() if k in other})
        rendered = []

        def rerender(i):
            mark = len(unit.logs)
            self.d.app.set_config(run_hooks=False, **(other if i % 2 == 0 else back))
            result = unit.run_hook("config-changed")
            text = "\n".join(msg for _, msg in unit.logs[mark:])
            rendered.append("runner spec updated" in text and "schedule updated" in text)
            return result

        out["config-changed (re-render all)"] = self.sample_hook(
            rerender, repeats + (repeats % 2), "config-changed re-render")
        out["config-changed (re-render all)"].update(
            every_run_rewrote_spec_env_and_cron=all(rendered),
            command="harness Application.set_config(run_hooks=False, alternately {} and back) "
                    "+ Unit.run_hook('config-changed')".format(
                        {k: ("***" if "passphrase" in k else v) for k, v in other.items()}))
        for name, figure in out.items():
            log("{} {}: median {:.3f} s, {} tool calls ({:.3f} s in tools)".format(
                self.backend, name, figure["median"], figure["tool_calls"],
                figure["tool_time"]))
        return out

    def component_costs(self):
        """What an empty hook pays regardless of the charm's logic (for attribution)."""
        py = os.path.join(str(self.d.unit.venv_dir), "bin", "python")
        duplicity = os.path.join(self.bin_dir, "duplicity")
        tool = os.path.join(str(self.d.unit.tools_dir), "is-leader")
        out = {}
        for name, argv in (
                ("duplicity --version (configure runs it every hook)", [duplicity, "--version"]),
                ("unit venv python: import charms.reactive + hookenv",
                 [py, "-c", "import charms.reactive, charmhelpers.core.hookenv"]),
                ("action start: unit venv python + import lib/duplicity_actions",
                 [py, "-c", "import sys; sys.path.append({!r}); import duplicity_actions".format(
                     os.path.join(str(self.d.unit.charm_dir), "lib"))])):
            walls = []
            for _ in range(5):
                start = time.perf_counter()
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=120, check=False)
                walls.append(time.perf_counter() - start)
            out[name] = {"median": measure.median(walls), "command": shlex.join(argv)}
        # a hook tool outside any hook: the harness's per-call price
        walls = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([tool], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60, check=False)
            walls.append(time.perf_counter() - start)
        out["one harness hook-tool call (is-leader)"] = {
            "median": measure.median(walls), "command": tool}
        return out

    def scale(self, counts, repeats, src):
        root = os.path.join(self.dir, "scale")
        out = {}
        for n in counts:
            paths = []
            for i in range(n):
                p = os.path.join(root, "p{:04d}".format(i))
                os.makedirs(p, exist_ok=True)
                paths.append(p)
            fileset = ",".join(paths)
            with measure.deadline(self.args.step_timeout, "relation-changed"):
                m = self.timer.measure(self.d.declare, fileset=fileset)
            with open(self.spec_file) as f:
                declared = len(json.load(f)["includes"])
            status = self.d.unit.status
            upd = self.sample_hook(lambda i: self.d.unit.run_hook("update-status"), repeats,
                                   "update-status")
            cfg = self.sample_hook(lambda i: self.d.unit.run_hook("config-changed"), repeats,
                                   "config-changed")
            out[str(n)] = {
                "relation-changed (new fileset)": {
                    "wall": m["wall"], "tool_calls": m["tool_calls"],
                    "tool_time": m["tool_time"], "hooks": m["hooks"]},
                "update-status": upd, "config-changed (nothing changed)": cfg,
                "paths_in_spec": declared, "status": list(status),
                "command": "harness Relation.set_data(principal app, fileset=<{} comma-separated "
                           "absolute paths>) -> backup-relation-changed; then Unit.run_hook("
                           "'update-status'|'config-changed') x{}".format(n, repeats)}
            log("scale {} paths: relation-changed {:.3f} s, update-status {:.3f} s, "
                "config-changed {:.3f} s (spec has {} paths, {})".format(
                    n, m["wall"], upd["median"], cfg["median"], declared, status[0]))
        self.d.declare(fileset=src)
        return out

    def remove(self):
        from e2e.helpers import remove_unit

        try:
            remove_unit(self.d.unit)
        finally:
            if os.path.exists(self.log_file):
                os.unlink(self.log_file)


def bench_backend(args, charm, backend, base_data, s3=None):
    b = BackendBench(args, charm, backend, s3)
    res = b.results
    try:
        src = os.path.join(b.dir, "src")
        data.working_copy(base_data, src)
        measure.read_ahead(src)
        b.d.declare(fileset=src)
        b.d.configure(**b.config)
        if b.d.unit.status[0] != "active":
            raise RuntimeError("unit not active: {}".format(b.d.unit.status))
        res["full"] = b.backup_pair("full", {"full": True})
        time.sleep(1.1)  # backup-ids have a resolution of one second
        res["change"] = data.change_fraction(src, args.change / 100.0)
        measure.read_ahead(src)
        res["incremental"] = b.backup_pair("incremental", {})
        if res["incremental"]["charm"]["backup_type"] != "incremental":
            raise RuntimeError("the second backup was not incremental")
        res["incremental_vs_full"] = {
            who: {"bytes": res["incremental"][who]["bytes_written"] /
                  max(1, res["full"][who]["bytes_written"]),
                  "time": res["incremental"][who]["wall"] / res["full"][who]["wall"]}
            for who in ("charm", "bare")}
        rel_file = sorted(os.path.relpath(os.path.join(d, n), src)
                          for d, _, names in os.walk(os.path.join(src, "small"))
                          for n in names)[0]
        res["restore"] = b.restore(src, rel_file)
        res["hooks"] = b.hook_costs(args.hook_repeats)
        res["components"] = b.component_costs()
        if backend == "file" and not args.skip_scale:
            res["scale"] = b.scale(args.scale_counts, max(3, args.hook_repeats // 2), src)
    except Exception as err:
        res["error"] = "".join(traceback.format_exception_only(type(err), err)).strip()
        log("{} FAILED: {}".format(backend, res["error"]))
        traceback.print_exc()
    finally:
        try:
            b.remove()
        except Exception as err:
            res["remove_error"] = "".join(traceback.format_exception_only(type(err), err))[:2000]
            log("{}: removing the unit failed: {}".format(backend, res["remove_error"][:300]))
        if not args.keep:
            shutil.rmtree(b.dir, ignore_errors=True)
    return res


# ----------------------------------------------------------------- schedule spread

def schedule_spread(count=1000, trials=200):
    import duplicity_charm

    def spread(units):
        hourly = collections.Counter(int(duplicity_charm.cron_fields("hourly", u).split()[0])
                                     for u in units)
        daily = collections.Counter()
        for u in units:
            minute, hour = duplicity_charm.cron_fields("daily", u).split()[:2]
            daily[int(hour) * 60 + int(minute)] += 1
        daily_hours = collections.Counter(m // 60 for m in daily.elements())
        return {"hourly_max_per_minute": max(hourly.values()),
                "hourly_min_per_minute": min(hourly.get(m, 0) for m in range(60)),
                "hourly_empty_minutes": sum(1 for m in range(60) if not hourly.get(m)),
                "daily_max_per_minute": max(daily.values()),
                "daily_max_per_hour": max(daily_hours.values()),
                "daily_min_per_hour": min(daily_hours.get(h, 0) for h in range(24))}

    rng = random.Random(1)
    rand_hour = [max(collections.Counter(rng.randrange(60) for _ in range(count)).values())
                 for _ in range(trials)]
    rand_day = [max(collections.Counter(rng.randrange(1440) for _ in range(count)).values())
                for _ in range(trials)]
    return {
        "one app, {} units (duplicity/0..{})".format(count, count - 1):
            spread(["duplicity/{}".format(i) for i in range(count)]),
        "{} apps x 10 units".format(count // 10):
            spread(["app{}/{}".format(a, i) for a in range(count // 10) for i in range(10)]),
        "uniform random (mean of {} draws)".format(trials): {
            "hourly_max_per_minute": sum(rand_hour) / trials,
            "daily_max_per_minute": sum(rand_day) / trials},
        "ideal": {"hourly_max_per_minute": -(-count // 60),
                  "daily_max_per_minute": -(-count // 1440),
                  "daily_max_per_hour": -(-count // 24)},
        "command": "lib/duplicity_charm.cron_fields('hourly'|'daily', unit) for {} unit "
                   "names".format(count),
    }


# ----------------------------------------------------------------- report

def fmt_s(x):
    return "-" if x is None else "{:.2f} s".format(x) if x >= 0.1 else "{:.0f} ms".format(
        x * 1000)


def fmt_b(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return "{:.1f} {}".format(n, unit) if unit != "B" else "{} B".format(n)
        n /= 1024.0


def verdict(value, target):
    return "ok" if value <= target else "OVER"


def report(results):
    rows = []

    def row(figure, value, target="", command=()):
        rows.append((figure, value, target, command))

    for backend, res in results["backends"].items():
        if "error" in res:
            row("[{}] ERROR".format(backend), res["error"])
        for kind in ("full", "incremental"):
            if kind not in res:
                continue
            r = res[kind]
            row("[{}] {} backup: charm / bare wall time".format(backend, kind),
                "{} / {} = {:.3f} (load {:.1f} on {} CPUs)".format(
                    fmt_s(r["charm"]["wall"]), fmt_s(r["bare"]["wall"]), r["ratio"],
                    r["bare"]["load"], results["machine"]["cpus"]),
                "<= {} {}".format(TARGETS["overhead"], verdict(r["ratio"], TARGETS["overhead"])),
                [("charm", r["charm"]["command"]), ("bare", r["bare"]["command"])])
            if r.get("cpu_ratio"):
                row("[{}] {} backup: charm / bare CPU time (all child processes)".format(
                    backend, kind), "{} / {} = {:.3f}".format(
                        fmt_s(r["charm"]["cpu"]), fmt_s(r["bare"]["cpu"]), r["cpu_ratio"]),
                    "<= {} {}".format(TARGETS["overhead"],
                                      verdict(r["cpu_ratio"], TARGETS["overhead"])))
            row("[{}] {} backup: charm fixed cost (wall - duplicity ElapsedTime)".format(
                backend, kind),
                "{} ({} tool calls, {} in tools); bare: {}".format(
                    fmt_s(r["charm"]["wall"] - r["charm"]["duplicity_elapsed"]),
                    r["charm"]["tool_calls"], fmt_s(r["charm"]["tool_time"]),
                    fmt_s(r["bare"]["wall"] - r["bare"]["duplicity_elapsed"])))
            row("[{}] {} backup: bytes written to the target (charm / bare)".format(
                backend, kind), "{} / {}".format(fmt_b(r["charm"]["bytes_written"]),
                                                 fmt_b(r["bare"]["bytes_written"])))
        if "incremental_vs_full" in res:
            ivf = res["incremental_vs_full"]["charm"]
            change = res["change"]
            row("[{}] incremental / full after changing {:.2%} ({}) : bytes".format(
                backend, change["fraction"], fmt_b(change["changed_bytes"])),
                "{:.2%}".format(ivf["bytes"]),
                "<= 3% {}".format(verdict(ivf["bytes"], TARGETS["incr_bytes"])),
                [("", "same commands as the full and incremental rows above")])
            row("[{}] incremental / full: wall time".format(backend),
                "{:.2%}".format(ivf["time"]),
                "<= 20% {}".format(verdict(ivf["time"], TARGETS["incr_time"])))
        if "restore" in res:
            r = res["restore"]
            row("[{}] restore one file / everything".format(backend),
                "{} / {} = {:.3f} (identical: {}, {})".format(
                    fmt_s(r["one_file"]["wall"]), fmt_s(r["everything"]["wall"]),
                    r["ratio_one_to_all"], r["one_file"]["identical"],
                    r["everything"]["identical"]), "",
                [("one", r["one_file"]["command"]), ("all", r["everything"]["command"])])
        for name, h in (res.get("hooks") or {}).items():
            row("[{}] hook {}: median (min-max)".format(backend, name),
                "{} ({}-{}); {:g} tool calls = {}, charm {}; CPU {}; load {:.1f}".format(
                    fmt_s(h["median"]), fmt_s(h["min"]), fmt_s(h["max"]), h["tool_calls"],
                    fmt_s(h["tool_time"]), fmt_s(h["charm_time"]), fmt_s(h["cpu"]), h["load"]),
                "< 1 s {}".format(verdict(h["median"], TARGETS["hook"])),
                [("", h["command"])])
        for name, c in (res.get("components") or {}).items():
            row("[{}] component: {}".format(backend, name), fmt_s(c["median"]), "",
                [("", c["command"])])
        for n, s in (res.get("scale") or {}).items():
            rc = s["relation-changed (new fileset)"]
            row("[{}] scale {} declared paths: relation-changed / update-status / "
                "config-changed".format(backend, n),
                "{} / {} / {} ({}/{}/{:g} tool calls; spec has {} paths)".format(
                    fmt_s(rc["wall"]), fmt_s(s["update-status"]["median"]),
                    fmt_s(s["config-changed (nothing changed)"]["median"]), rc["tool_calls"],
                    s["update-status"]["tool_calls"],
                    s["config-changed (nothing changed)"]["tool_calls"], s["paths_in_spec"]),
                "< 1 s {}".format(verdict(max(rc["wall"], s["update-status"]["median"]),
                                          TARGETS["hook"])),
                [("", s["command"])])
    spread = results.get("schedule_spread")
    if spread:
        ideal = spread["ideal"]
        rnd = [v for k, v in spread.items() if k.startswith("uniform")][0]
        for name, s in spread.items():
            if name in ("ideal", "command") or name.startswith("uniform"):
                continue
            row("schedule spread, {}: most units in one minute, hourly".format(name),
                "{} (ideal {}, random {:.1f}; {} empty minutes)".format(
                    s["hourly_max_per_minute"], ideal["hourly_max_per_minute"],
                    rnd["hourly_max_per_minute"], s["hourly_empty_minutes"]), "",
                [("", spread["command"])])
            row("schedule spread, {}: most units in one minute / hour, daily".format(name),
                "{} / {} (ideal {} / {}, random {:.1f} per minute)".format(
                    s["daily_max_per_minute"], s["daily_max_per_hour"],
                    ideal["daily_max_per_minute"], ideal["daily_max_per_hour"],
                    rnd["daily_max_per_minute"]))
    width = max(len(r[0]) for r in rows)
    lines = ["", "figure".ljust(width) + " | value | target", "-" * (width + 30)]
    for figure, value, target, commands in rows:
        lines.append("{} | {}{}".format(figure.ljust(width), value,
                                        " | " + target if target else ""))
        for label, command in commands:
            lines.append("    {}{}".format(label + ": " if label else "", command))
    return "\n".join(lines)


# ----------------------------------------------------------------- main

def built_charm():
    """The charm built from this tree, reused across runs while the sources are unchanged.

    charm build refuses a build directory inside the source tree: builds live under
    $TMPDIR/duplicity-bench-build/<digest of the sources>.
    """
    from harness import build as harness_build

    digest = harness_build._tree_digest(REPO, harness_build.LAYERS_DIR,
                                        harness_build.INTERFACES_DIR)[:16]
    root = os.path.join(tempfile.gettempdir(), "duplicity-bench-build")
    out = os.path.join(root, digest)
    done = os.path.join(out, ".bench-complete")
    if os.path.exists(done):
        log("reusing the charm built from these sources: {}".format(out))
        return os.path.join(out, "duplicity"), True
    if os.path.isdir(root):
        for name in os.listdir(root):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    log("building the charm into {}".format(out))
    charm = build_charm(REPO, out)
    open(done, "w").close()
    return str(charm), False


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 50 MB, fewer hook repeats, scale up to 100 paths")
    p.add_argument("--size-mb", type=int, default=None, help="data size (default 500, quick 50)")
    p.add_argument("--backends", default="file,s3", help="comma-separated: file, s3")
    p.add_argument("--duplicity", default="dup3", choices=("dup3", "dup21", "dup08"))
    p.add_argument("--change", type=float, default=1.0, help="percent of the data changed")
    p.add_argument("--hook-repeats", type=int, default=None, help="samples per hook figure")
    p.add_argument("--scale", default=None, help="declared path counts (default 1,10,100,1000)")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--step-timeout", type=int, default=1800, help="seconds per step")
    p.add_argument("--keep", action="store_true", help="keep tests/.work/bench-run")
    p.add_argument("--out", default=os.path.join(REPO, "bench-results"))
    args = p.parse_args(argv)
    if args.size_mb is None:
        args.size_mb = 50 if args.quick else 500
    if args.hook_repeats is None:
        args.hook_repeats = 5 if args.quick else 7
    args.scale_counts = [int(x) for x in (args.scale or ("1,10,100" if args.quick else
                                                         "1,10,100,1000")).split(",")]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in args.backends:
        if b not in ("file", "s3"):
            p.error("unknown backend {}".format(b))
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: the charm writes under /var/lib, /var/cache, /etc/cron.d")
    started = datetime.datetime.now(datetime.timezone.utc)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    os.makedirs(RUN_DIR)
    from servers.duplicity_versions import duplicity_path, duplicity_version

    results = {
        "command": shlex.join([sys.executable, os.path.relpath(__file__, REPO)] + argv),
        "args": {k: v for k, v in vars(args).items()},
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "duplicity": {"id": args.duplicity, "path": duplicity_path(args.duplicity),
                      "version": ".".join(map(str, duplicity_version(
                          duplicity_path(args.duplicity))))
                      if duplicity_path(args.duplicity) else None},
        "backends": {},
    }
    with measure.deadline(args.step_timeout, "generating data"):
        log("data: {} MB (cached under tests/.work/bench-data)".format(args.size_mb))
        base, manifest = data.dataset(os.path.join(WORK, "bench-data"), args.size_mb << 20)
        results["data"] = dict(manifest, path=base)
    with measure.deadline(args.step_timeout, "charm build"):
        charm, cached = built_charm()
    results["charm"] = {"path": charm, "reused_build": cached}
    for backend in args.backends:
        if backend == "s3":
            from servers.s3 import S3Server

            with S3Server(os.path.join(RUN_DIR, "moto")) as server:
                server.create_bucket(BUCKET)
                results["backends"]["s3"] = bench_backend(args, charm, "s3", base, server)
        else:
            results["backends"][backend] = bench_backend(args, charm, backend, base)
    results["schedule_spread"] = schedule_spread()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    text = report(results)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "bench-{}-{}mb.json".format(
        started.strftime("%Y%m%dT%H%M%SZ"), args.size_mb))
    with open(out, "w") as f:
        json.dump(results, f, indent=1, default=str)
    print("\nresults: {}\ncommand: {}".format(out, results["command"]))
    if not args.keep:
        shutil.rmtree(RUN_DIR, ignore_errors=True)
    return 1 if any("error" in r for r in results["backends"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
