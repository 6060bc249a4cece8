"""Scheduled backups run by a real cron daemon, retention runs, and NRPE monitoring.

The built charm renders /etc/cron.d/charm-duplicity-<unit>; the tests start Debian's cron
daemon (or reuse one already running), let it run the charm's runner every minute, and
follow the recorded outcome through update-status, the backup relation and the NRPE check
that charmhelpers writes for the nrpe-external-master relation.
"""

import datetime
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import time

import pytest
import yaml

from .helpers import NRPE_CONFDIR, REPO, make_tree, read_outcome, snapshot, unit_files

PASSPHRASE = "schedule-passphrase-51c9e"
OK, WARNING, CRITICAL = 0, 1, 2

# cron runs every file in /etc/cron.d and NRPE is one daemon per machine: these tests run
# after the other end-to-end tests, one after the other in one process (pytest.ini, Makefile)
pytestmark = pytest.mark.exclusive


# ---------------------------------------------------------------- fixtures

def _cron_running():
    proc = subprocess.run(["pgrep", "-x", "cron"], stdout=subprocess.PIPE)
    return proc.returncode == 0


@pytest.fixture
def cron_daemon():
    """Debian's cron daemon: the one already running, or one started for this test."""
    if _cron_running():
        yield None
        return
    if not os.path.exists("/usr/sbin/cron"):
        message = "/usr/sbin/cron is missing: run tests/setup/install-system.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.Popen(["/usr/sbin/cron", "-f"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ---------------------------------------------------------------- helpers

def wait_for_outcome(unit_name, kind, predicate, deadline_seconds, what):
    """Poll the unit's status file until its ``kind`` record satisfies predicate."""
    deadline = time.monotonic() + deadline_seconds
    record = None
    while time.monotonic() < deadline:
        try:
            record = read_outcome(unit_name).get(kind)
        except (OSError, ValueError):
            record = None
        if record and predicate(record):
            return record
        time.sleep(2)
    log = "/var/log/charm-duplicity/{}.log".format(unit_name.replace("/", "-"))
    tail = ""
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            tail = "".join(f.readlines()[-30:])
    pytest.fail("no {} within {}s; last {} record: {}\nrunner log tail:\n{}".format(
        what, deadline_seconds, kind, record, tail))


def utc_stamp(moment=None):
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def nrpe_check_file(unit_name):
    return os.path.join(NRPE_CONFDIR, "check_duplicity_backup_{}.cfg".format(
        unit_name.replace("/", "_").replace("-", "_")))


def run_rendered_check(unit_name):
    """Run the command line of the unit's rendered NRPE check, as the NRPE daemon would."""
    with open(nrpe_check_file(unit_name)) as f:
        lines = [line for line in f.read().splitlines() if line.startswith("command[")]
    assert len(lines) == 1, lines
    command = lines[0].split("]=", 1)[1]
    proc = subprocess.run(shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60)
    return proc.returncode, proc.stdout.decode()


def run_plugin(status_file, max_age=0):
    proc = subprocess.run([os.path.join(REPO, "files", "check_duplicity_backup"), status_file,
                           str(max_age)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60)
    return proc.returncode, proc.stdout.decode()


def backup_relation_unit_data(d):
    return d.unit.relation_data(d.relation)


def wait_until_unlocked(unit_name):
    """Block until no runner holds the unit's lock (a scheduled run may be in flight)."""
    import fcntl
    path = "/var/lib/charm-duplicity/{}/lock".format(unit_name.replace("/", "-"))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def load_runner_module():
    spec = importlib.util.spec_from_file_location(
        "duplicity_runner_for_tests", os.path.join(REPO, "lib", "duplicity_runner.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- tests

def test_cron_runs_scheduled_backups_whose_failure_blocks_the_unit_and_turns_nrpe_critical(
        nrpe_server, cron_daemon, deploy, tmp_path):  # nrpe_server first: torn down last
    # Two minute boundaries: the backup volume is missing at the first (the destination is a
    # symlink to a mount point that is not there: duplicity gives up at once on ENOENT, where
    # it retries other errors for minutes) and back at the second.
    data = tmp_path / "srv"
    make_tree(data, seed=11, files=8, size=2048)
    target = tmp_path / "backups"
    volume = tmp_path / "volume"
    os.symlink("/nonexistent-volume-{}/backups".format(tmp_path.name), target)

    d = deploy("dup3")
    slug = d.unit_name.replace("/", "-")
    d.declare(fileset=str(data))
    nrpe_app = d.model.add_application("nrpe")
    nrpe_app.add_unit(principal=d.principal)
    nrpe_rel = d.model.relate("{}:nrpe-external-master".format(d.app.name),
                              "nrpe:nrpe-external-master")
    d.configure(backend="file", remote_backup_url="file://{}".format(target),
                encryption_passphrase=PASSPHRASE, backup_frequency="* * * * *",
                backup_max_age="2h")
    assert d.unit.status == ("active", "ready; no backup yet")

    # the schedule: every minute, the runner called directly with the system python3
    cron_file = "/etc/cron.d/charm-duplicity-" + slug
    with open(cron_file) as f:
        entries = [line for line in f.read().splitlines() if line and line[0] in "*0123456789"]
    runner = os.path.join(str(d.unit.charm_dir), "lib", "duplicity_runner.py")
    assert entries == ["* * * * * root /usr/bin/python3 {} --spec "
                       "/var/lib/charm-duplicity/{}/spec.json backup "
                       ">>/var/log/charm-duplicity/{}.log 2>&1".format(runner, slug, slug)]
    assert "juju-run" not in open(cron_file).read() and "juju-exec" not in open(cron_file).read()

    # NRPE through charmhelpers: the check config and the monitors relation data
    check_file = nrpe_check_file(d.unit_name)
    assert os.path.exists(check_file), os.listdir(NRPE_CONFDIR)
    status_file = "/var/lib/charm-duplicity/status/{}.json".format(slug)
    with open(check_file) as f:
        assert "/usr/local/lib/nagios/plugins/check_duplicity_backup {} 7200".format(
            status_file) in f.read()
    published = d.unit.relation_data(nrpe_rel)
    monitors = yaml.safe_load(published["monitors"])["monitors"]["remote"]["nrpe"]
    shortname = "duplicity_backup_" + slug.replace("-", "_")
    assert monitors == {shortname: {"command": "check_" + shortname}}
    assert run_rendered_check(d.unit_name) == (WARNING, "WARNING: no successful backup recorded\n")

    # 1. the first scheduled run finds the volume gone and fails; the volume is put back
    # at once, so that the next minute's run finds it
    failed = wait_for_outcome(d.unit_name, "backup", lambda r: r.get("status") == "failed",
                              150, "failed scheduled backup")
    (data / "written-during-the-outage.txt").write_text("kept for the next good run\n")
    fixed_at = utc_stamp()
    os.unlink(target)
    volume.mkdir()
    os.symlink(str(volume), target)
    # the failure blocks the unit, is published on the backup relation, NRPE is critical
    assert failed["trigger"] == "schedule"
    assert PASSPHRASE not in failed["error"]
    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "blocked" and message.startswith("last backup failed at "), message
    assert backup_relation_unit_data(d)["last-backup-status"] == "failed"
    code, output = run_rendered_check(d.unit_name)
    assert code == CRITICAL and output.startswith("CRITICAL: last backup failed"), output

    # 2. the next scheduled run, on the volume again, succeeds and clears the failure
    good = wait_for_outcome(d.unit_name, "backup",
                            lambda r: r.get("status") == "ok" and r["time"] >= fixed_at,
                            150, "successful scheduled backup after the fix")
    assert good["trigger"] == "schedule" and good["type"] == "full"
    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "active" and message.startswith("last backup ok "), message
    bag = backup_relation_unit_data(d)
    assert bag["last-backup-status"] == "ok" and bag["last-backup-type"] == "full"
    code, output = run_rendered_check(d.unit_name)
    assert code == OK and output.startswith("OK: last backup "), output

    # what the scheduled run backed up restores byte for byte
    d.configure(backup_frequency="manual")
    assert not os.path.exists(cron_file)
    wait_until_unlocked(d.unit_name)
    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == snapshot(data)

    # stop/remove takes the schedule and the NRPE check away
    d.configure(backup_frequency="* * * * *")
    assert os.path.exists(cron_file)
    d.unit.remove()
    assert not os.path.exists(cron_file)
    assert not os.path.exists(check_file)
    for path in unit_files(d.unit_name):
        assert not os.path.exists(path), path


def test_retention_run_removes_chains_older_than_the_period_and_records_its_outcome(
        deploy, tmp_path):
    data = tmp_path / "srv"
    make_tree(data, seed=12, files=6, size=2048)
    target = tmp_path / "backups"

    d = deploy("dup3")
    slug = d.unit_name.replace("/", "-")
    d.declare(fileset=str(data))
    d.configure(backend="file", remote_backup_url="file://{}".format(target),
                encryption_passphrase=PASSPHRASE, retention_period="1d",
                deletion_frequency="daily")
    assert d.unit.status[0] == "active"

    # the retention entry, 30 minutes after the unit's spread minute, daily
    cron_file = "/etc/cron.d/charm-duplicity-" + slug
    with open(cron_file) as f:
        entries = [line for line in f.read().splitlines() if line and line[0] in "*0123456789"]
    assert len(entries) == 1, entries
    minute, hour, *rest = entries[0].split()[:5]
    assert rest == ["*", "*", "*"] and 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert entries[0].endswith("/var/lib/charm-duplicity/{}/spec.json retention "
                               ">>/var/log/charm-duplicity/{}.log 2>&1".format(slug, slug))

    # a full chain made three days ago (duplicity's own --current-time), then one now
    spec_file = "/var/lib/charm-duplicity/{}/spec.json".format(slug)
    runner_module = load_runner_module()
    runner = runner_module.Runner.from_files(spec_file)
    helper = runner_module.duplicity_helper
    three_days_ago = int(time.time()) - 3 * 86400
    argv = helper.build_argv("backup", runner.settings, runner.context(with_selection=True),
                             full=True)
    env = helper.merge_env(runner.base_env(), runner.secret_env, "")
    old = subprocess.run(argv + ["--current-time={}".format(three_days_ago)], env=env, cwd="/",
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    assert old.returncode == 0, old.stdout.decode()[-2000:]
    old_stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(three_days_ago))
    (data / "after-the-old-chain.txt").write_text("only in the new chain\n")
    new = d.ok("do-backup", full=True)
    assert d.ok("list-backups")["count"] == "2"
    assert any(old_stamp in name for name in os.listdir(target / slug))

    # the runner's retention, as cron calls it
    proc = subprocess.run(["/usr/bin/python3", "lib/duplicity_runner.py", "--spec", spec_file,
                           "retention"], cwd=str(d.unit.charm_dir), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout.decode()
    retention = read_outcome(d.unit_name)["retention"]
    assert retention["status"] == "ok" and retention["older-than"] == "1D"
    remaining = os.listdir(target / slug)
    assert not any(old_stamp in name for name in remaining), remaining
    listing = d.ok("list-backups")
    assert listing["count"] == "1"
    assert listing["backups"].splitlines()[2].startswith(new["backup-id"] + " | full")
    with open("/var/log/charm-duplicity/{}.log".format(slug)) as f:
        assert "remove-older-than 1D" in f.read() and "--force" in open(f.name).read()

    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == snapshot(data)

    # a failing retention run is recorded, and NRPE and the status warn about it
    os.rename(target / slug, tmp_path / "aside")
    os.symlink("/nonexistent-volume-{}/backups".format(slug), target / slug)
    proc = subprocess.run(["/usr/bin/python3", "lib/duplicity_runner.py", "--spec", spec_file,
                           "retention"], cwd=str(d.unit.charm_dir), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    retention = read_outcome(d.unit_name)["retention"]
    assert retention["status"] == "failed" and retention["error"]
    code, output = run_plugin("/var/lib/charm-duplicity/status/{}.json".format(slug))
    assert code == WARNING and "retention run failed" in output, output
    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "active" and "retention run failed" in message, message
    assert json.dumps(read_outcome(d.unit_name)).count(PASSPHRASE) == 0
