"""Hostile config and relation data through the built charm's real hooks.

One deployment (file backend, duplicity 3.x) gets, one hook each: a remote_user with a space,
a URL whose password contains '/', a private key pasted into known_host_key, every string
key at once set to a huge value, a run_timeout past what the runner can wait for (the
longest it accepts then backs up as usual), and a principal publishing a 300 KB fileset. Every hook
exits 0 (the harness raises HookFailed otherwise), the unit is blocked with a short one-line
message naming the key or relation, and nothing of the password, the pasted key or a marker
planted in every key appears anywhere the harness captured (hook tool calls, juju-log,
status history, hook output), apart from config-get's answers, which are the config itself.
Fixing the config and the relation data makes the unit active again.
"""

import json
import re
import subprocess

from .helpers import make_tree

VERSION = "dup3"
MAX_RUN_TIMEOUT = 21 * 86400  # config.yaml: run_timeout is at most 1814400
PASSPHRASE = "validation-passphrase-4d2c7"
SLASH_PASSWORD = "Pq8/Zt3:w@Kd5"
MARKER = "Mv6Marker"
STATUS_MAX = 400


def captured_without_config(d):
    """What the harness captured for the unit, except config-get's answers."""
    text = d.unit.captured_text()
    for call in d.unit.calls_to("config-get"):
        text = text.replace(json.dumps(call, sort_keys=True), "")
        if call.get("stdout"):
            text = text.replace(call["stdout"], "")
    return text


def blocked_naming(d, *names):
    state, message = d.unit.status
    assert state == "blocked", (state, message)
    assert len(message) <= STATUS_MAX and "\n" not in message, message
    for name in names:
        assert name in message, message
    return message


def keygen(tmp_path, name, *args):
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", "", "-f", str(path)] + list(args),
                   check=True, stdout=subprocess.DEVNULL)
    return path.read_text(), " ".join((tmp_path / (name + ".pub")).read_text().split()[:2])


def test_hostile_config_and_relation_data_block_with_short_messages_and_no_failed_hook(
        deploy, tmp_path):
    data = tmp_path / "srv" / "app"
    make_tree(data, seed=3, files=4, size=512)
    d = deploy(VERSION)
    d.declare(fileset=str(data))
    valid = dict(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                 encryption_passphrase=PASSPHRASE)
    d.configure(**valid)
    assert d.unit.status[0] == "active", d.unit.status

    _, host_public = keygen(tmp_path, "host", "-t", "ed25519")
    leaked_key, _ = keygen(tmp_path, "leaked", "-t", "rsa", "-b", "1024", "-m", "PEM")
    sftp = dict(backend="sftp", remote_backup_url="127.0.0.1:2222/backups",
                remote_password="sftp-password-8c1d", known_host_key="[127.0.0.1]:2222 " + host_public)
    options = d.app.config_options
    strings = [key for key, option in options.items() if option.get("type", "string") == "string"]
    failures = []  # every step runs: a failure is recorded, the next step still checked

    def step(name, change, *names):
        try:
            change()  # a hook that exits non-zero raises HookFailed (an AssertionError)
            blocked_naming(d, *names)
        except AssertionError as err:
            failures.append("{}: {}".format(name, re.sub("x{20,}", "x..", str(err))[:300]))

    step("a user name the URL and ssh cannot carry blocks now, not a backup later",
         lambda: d.configure(remote_user="backup user", **sftp), "remote_user")
    step("user:password@ with a '/' in the password is refused",
         lambda: d.configure(remote_user="bk", remote_backup_url="bk:{}@127.0.0.1:2222/backups"
                             .format(SLASH_PASSWORD)),
         "remote_backup_url", "user:password@")
    step("a private key pasted where the host key goes is reported by line",
         lambda: d.configure(remote_backup_url=sftp["remote_backup_url"],
                             known_host_key=sftp["known_host_key"] + "\n" + leaked_key),
         "known_host_key", "line 2", "private key")
    step("every string key at once huge (the secret-carrying ones with a marker)",
         lambda: d.configure(**{key: "x" * 5000 + "\n" + MARKER for key in strings}), "backend")
    d.configure(**dict({key: options[key].get("default") for key in strings}, **valid))
    assert d.unit.status[0] == "active", d.unit.status
    step("a run_timeout longer than the runner can wait for blocks now, not every run later",
         lambda: d.configure(run_timeout=10 ** 10), "run_timeout")
    d.configure(run_timeout=MAX_RUN_TIMEOUT)  # the longest accepted: a backup runs as usual
    assert d.unit.status[0] == "active", d.unit.status
    assert d.ok("do-backup")["backup-type"] == "full"
    step("a principal publishing a 300 KB fileset",
         lambda: d.declare(fileset="/" + "x" * 300000), "backup:", "fileset")

    # every status the unit ever set was short; nothing secret was shown anywhere
    long_statuses = [message[:80] for _, message in d.unit.status_history
                     if len(message) > STATUS_MAX]
    if long_statuses:
        failures.append("status messages longer than {}: {}".format(STATUS_MAX, long_statuses))
    text = captured_without_config(d)
    for fragment in ("Pq8", "Zt3", "Kd5", MARKER) + tuple(
            line[:16] for line in leaked_key.splitlines()[1:-1]):
        at = text.find(fragment)
        if at >= 0:
            failures.append("{!r} shown: {}".format(fragment, re.sub(
                "x{20,}", "x..", text[max(0, at - 200):at + 300])))
    assert not failures, "\n".join(failures)

    # fixed: active again
    d.declare(fileset=str(data))
    assert d.unit.status[0] == "active", d.unit.status
