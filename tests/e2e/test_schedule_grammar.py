"""Schedules as Debian's cron daemon reads them.

Debian's cron drops a whole /etc/cron.d file when one line is bad, and says so only in its
log. These tests let the real daemon (/usr/sbin/cron) load the cron files the charm renders
and read its log: every schedule the charm accepts must load without an error, and every
schedule it refuses is either one the daemon refuses too or one it refuses for a stated
reason (the tables live in unit_tests/test_duplicity_cron.py).

The daemon runs in a private mount namespace: its /etc/cron.d holds only the files under
test, /run and /etc/crontab are empty, and /dev/log is a socket this test reads. So it never
runs another unit's schedule and needs no syslog daemon; it is stopped as soon as it has
loaded the files (it logs "Running @reboot jobs" right after), well before a minute passes.
"""

import importlib.util
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from .helpers import REPO, make_tree, read_outcome, snapshot, unit_files

if os.path.join(REPO, "lib") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "lib"))

import duplicity_charm  # noqa: E402
import duplicity_cron  # noqa: E402
from duplicity_paths import UnitPaths  # noqa: E402

pytestmark = pytest.mark.exclusive
_ROOTS = itertools.count()

CRON = "/usr/sbin/cron"
LOADED = "(CRON) INFO (Running @reboot jobs)"
NAMESPACE_SCRIPT = r"""
set -e
files=$1; sock=$2; work=$3
mkdir -p "$work/dev"
mount --rbind /dev "$work/dev"
mount -t tmpfs -o mode=0755 cron.d /etc/cron.d
cp -p "$files"/* /etc/cron.d/
chown root:root /etc/cron.d/*; chmod 0644 /etc/cron.d/*
: > "$work/crontab"; mount --bind "$work/crontab" /etc/crontab
if [ -d /var/spool/cron/crontabs ]; then mount -t tmpfs crontabs /var/spool/cron/crontabs; fi
mount -t tmpfs run /run
mount -t tmpfs -o mode=0755 dev /dev
touch /dev/null /dev/log
mount --bind "$work/dev/null" /dev/null
mount --bind "$sock" /dev/log
exec /usr/sbin/cron -f -L 15
"""


def unit_table():
    """The value tables of unit_tests/test_duplicity_cron.py."""
    path = os.path.join(REPO, "unit_tests", "test_duplicity_cron.py")
    spec = importlib.util.spec_from_file_location("duplicity_cron_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cron_load(files, tmp_path, timeout=20):
    """Let Debian's cron load ``files`` ({name: text}) as its whole /etc/cron.d.

    Returns {name: error} for each file the daemon refused, and the daemon's log."""
    if not os.path.exists(CRON) or not shutil.which("unshare"):
        message = "{} or unshare is missing: run tests/setup/install-system.sh".format(CRON)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path / "cron.d"
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    sock_path = str(tmp_path / "log.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SCRIPT, "sh",
         str(directory), sock_path, str(tmp_path / "ns")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    log = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                log.append(sock.recv(65536).decode(errors="replace"))
            except socket.timeout:
                continue
            if LOADED in log[-1]:
                break
    finally:
        sock.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=10)[0].decode(errors="replace")
    text = "\n".join(log)
    if os.environ.get("CI") is None and "Operation not permitted" in output:
        pytest.skip("no mount namespace here: " + output[-200:])
    assert LOADED in text, "cron did not load its files:\n{}\n{}".format(text, output)
    errors = {}
    for m in re.finditer(r"Error: (.+?); while reading /etc/cron\.d/(\S+)", text):
        errors[m.group(2)] = m.group(1)
    return errors, text


def rendered(config, unit, tmp_path):
    """The cron file render_schedule writes for config (the charm's own code and template)."""
    paths = UnitPaths.for_unit(unit, root=str(tmp_path / "root-{}".format(next(_ROOTS))))
    os.makedirs(os.path.dirname(paths.cron_file))
    os.makedirs(os.path.dirname(paths.logrotate_file))
    duplicity_charm.render_schedule(config, paths, REPO)
    with open(paths.cron_file) as f:
        return f.read()


def raw(when):
    """A cron file with the charm's line for a schedule it refuses (as the old code wrote)."""
    return ("SHELL=/bin/sh\n{} root /usr/bin/python3 /nonexistent/duplicity_runner.py --spec "
            "/nonexistent/spec.json backup >>/dev/null 2>&1\n".format(when))


def test_debian_cron_loads_every_schedule_the_charm_accepts_and_refuses_the_rest(tmp_path):
    tables = unit_table()
    files, accepted, cron_refuses, we_refuse = {}, [], [], []
    for n, (value, _) in enumerate(tables.ACCEPTED):
        for key in ("backup_frequency", "deletion_frequency"):
            config = {"backup_frequency": "manual", "deletion_frequency": "daily",
                      "retention_period": "30d", key: value}
            assert duplicity_cron.frequency(value)[1] is None
            name = "accepted_{}_{}".format(n, key.split("_")[0])
            files[name] = rendered(config, "duplicity/{}".format(n), tmp_path)
            accepted.append(name)
    for n, unit in enumerate(["duplicity/0", "mysql-backup/7", "a/12"]):
        for backup in ("hourly", "daily\n", "weekly", "monthly", " 15 3 * * mon-fri "):
            for deletion in ("hourly", "daily", "15 3 * * mon-fri"):
                name = "named_{}_{}_{}".format(n, backup.strip()[:6].replace(" ", "_"),
                                               deletion[:6].replace(" ", "_"))
                files[name] = rendered({"backup_frequency": backup, "deletion_frequency": deletion,
                                        "retention_period": "8w"}, unit, tmp_path)
                accepted.append(name)
    for n, (value, _) in enumerate(tables.REJECTED_BY_CRON):
        name = "cron_refuses_{}".format(n)
        files[name] = raw(duplicity_cron.normalise(value))
        cron_refuses.append(name)
    for n, (value, _) in enumerate(tables.REFUSED_THOUGH_CRON_LOADS):
        name = "we_refuse_{}".format(n)
        files[name] = raw(duplicity_cron.normalise(value))
        we_refuse.append(name)

    errors, log = cron_load(files, tmp_path)

    assert {name: errors[name] for name in accepted if name in errors} == {}, log
    assert sorted(name for name in cron_refuses if name not in errors) == [], log
    # cron loads these, and the charm refuses them for the reason its message states
    assert {name: errors[name] for name in we_refuse if name in errors} == {}, log
    assert set(errors) == set(cron_refuses)


def test_the_old_rendering_of_a_trailing_newline_made_cron_drop_the_whole_file(tmp_path):
    """Why values are normalised: the value's newline ends the line early; cron then reads
    the rest as a line of its own, finds it bad and ignores the file, backups included."""
    errors, log = cron_load({"newline": raw("0 3 * * *\n"),
                             "normalised": raw(duplicity_cron.normalise("0 3 * * *\n"))},
                            tmp_path)
    assert list(errors) == ["newline"], log


# ---------------------------------------------------------------- on the built charm

def test_the_built_charm_normalises_schedules_and_blocks_those_cron_cannot_run(
        deploy, tmp_path):
    data = tmp_path / "srv"
    make_tree(data, seed=31, files=4, size=1024)
    target = tmp_path / "backups"
    d = deploy("dup3")
    slug = d.unit_name.replace("/", "-")
    cron_file = "/etc/cron.d/charm-duplicity-" + slug
    d.declare(fileset=str(data))

    # `juju config --file` with YAML block scalars gives values ending in a newline
    d.configure(backend="file", remote_backup_url="file://{}".format(target),
                encryption_passphrase="grammar-passphrase-0c1f", backup_frequency="daily\n",
                deletion_frequency="daily\n", retention_period="30d")
    assert d.unit.status == ("active", "ready; no backup yet")
    with open(cron_file) as f:
        text = f.read()
    entries = [line for line in text.splitlines() if line[:1].isdigit()]
    when = duplicity_charm.cron_fields("daily", d.unit_name)
    assert len(entries) == 1 and entries[0].startswith(when + " root /usr/bin/python3 ")
    backup_part, retention_part = entries[0][len(when + " root "):].split("; ")
    assert backup_part.endswith(" backup >>/var/log/charm-duplicity/{}.log 2>&1".format(slug))
    assert retention_part.endswith(" retention >>/var/log/charm-duplicity/{}.log 2>&1".format(
        slug))
    errors, log = cron_load({"unit": text}, tmp_path / "cron-unit")
    assert errors == {}, log

    # the line works: run its command as cron would (/bin/sh, the file's PATH): the backup,
    # then the retention run, both recorded; what it backed up restores byte for byte
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "SHELL": "/bin/sh", "HOME": "/root", "LOGNAME": "root"}
    proc = subprocess.run(["/bin/sh", "-c", entries[0][len(when + " root "):]], cwd="/", env=env,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0
    outcome = read_outcome(d.unit_name)
    assert outcome["backup"]["status"] == "ok" and outcome["backup"]["trigger"] == "schedule"
    assert outcome["retention"]["status"] == "ok"
    assert outcome["retention"]["time"] >= outcome["backup"]["end"]
    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == snapshot(data)

    # croniter would take these; Debian's cron drops the file / never runs it: blocked, named,
    # and no hook fails (set_config raises HookFailed on a failing hook), update-status too
    for value, reason in [("0 0 L * *", "Debian's cron has no L or W"),
                          ("0 0 31 2 *", "never runs")]:
        d.configure(backup_frequency=value)
        state, message = d.unit.status
        assert state == "blocked", (value, message)
        assert message.startswith("backup_frequency {!r}: ".format(value)), message
        assert reason in message, message
        assert not os.path.exists(cron_file)  # no schedule while the config is invalid
    d.unit.run_hook("update-status")  # max_age_seconds runs in every hook
    assert d.unit.status[1].startswith("backup_frequency '0 0 31 2 *': never runs")
    d.configure(deletion_frequency="0 0 30 2 *", backup_frequency="hourly")
    state, message = d.unit.status
    assert state == "blocked" and message.startswith("deletion_frequency '0 0 30 2 *': never "
                                                     "runs"), message
    d.configure(deletion_frequency="daily")
    d.unit.run_hook("update-status")
    assert d.unit.status[0] == "active", d.unit.status
    with open(cron_file) as f:
        errors, log = cron_load({"unit": f.read()}, tmp_path / "cron-fixed")
    assert errors == {}, log

    # removing the unit takes the schedule and the unit's files away and keeps its log
    log_file = "/var/log/charm-duplicity/{}.log".format(slug)
    d.unit.remove()
    for path in unit_files(d.unit_name):
        assert not os.path.exists(path), path
    with open(log_file) as f:
        assert "scheduled backup done" in f.read()
    os.unlink(log_file)
